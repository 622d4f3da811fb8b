#!/usr/bin/python3
"""tfidf.py TRAIN.tsv TEST.tsv: accuracy of TF-IDF + logistic regression.

scikit-learn defaults (TfidfVectorizer with word 1-2-grams, sublinear tf;
LogisticRegression C=1, lbfgs), the usual strong few-shot baseline.
"""
import sys

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def read(path):
    rows = [l.rstrip("\n").split("\t", 1) for l in open(path, encoding="utf-8") if l.strip()]
    return [r[0] for r in rows], [r[1] if len(r) > 1 else "" for r in rows]


ytr, xtr = read(sys.argv[1])
yte, xte = read(sys.argv[2])
vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
clf = LogisticRegression(max_iter=2000).fit(vec.fit_transform(xtr), ytr)
pred = clf.predict(vec.transform(xte))
print("%.4f" % (sum(p == y for p, y in zip(pred, yte)) / len(yte)))
