#!/usr/bin/python3
# logreg_ref.py -- the scikit-learn reference for ctk's logistic-regression
# head (lib/logreg.c, ctk-fit-head, ctk-predict).
#
# Writes, for each case, into tests/golden/logreg/ (run from the source tree:
#   /usr/bin/python3 tests/ref/logreg_ref.py):
#   CASE.tsv        the training rows: label<TAB>x1 x2 ... xD (float32, exact)
#   CASE.classes    the class (label) names, one a line, scikit-learn's order
#   CASE.coef       coef_, one row a line, space-separated
#   CASE.intercept  intercept_, one a line
#   CASE.proba      predict_proba of the training rows, one row a line
#
# The estimator is LogisticRegression(C=C, solver='lbfgs',
# multi_class='multinomial', class_weight=..., tol=1e-12, max_iter=100000),
# for multi-label rows OneVsRestClassifier over it. scipy's L-BFGS-B also
# stops on a small relative decrease of f (ftol, which scikit-learn does not
# expose), so each fit is continued with warm_start until coef_ no longer
# moves: the fixtures hold the optimum of scikit-learn's objective.
# Needs Debian's python3-sklearn (1.2) and python3-numpy.
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "logreg")


def fit_lr(X, y, C, cw):
    lr = LogisticRegression(C=C, solver="lbfgs", multi_class="multinomial",
                            class_weight=cw, tol=1e-12, max_iter=100000, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr.fit(X, y)
        for _ in range(50):
            before = lr.coef_.copy()
            lr.fit(X, y)
            if np.max(np.abs(lr.coef_ - before)) < 1e-11:
                break
    return lr


def clusters(rng, counts, d, spread, normalize):
    """Gaussian blobs, one per class, as float32 (optionally unit rows)."""
    centres = rng.normal(size=(len(counts), d))
    X = np.concatenate([c + spread * rng.normal(size=(n, d)) for c, n in zip(centres, counts)])
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)])
    if normalize:
        X /= np.linalg.norm(X, axis=1, keepdims=True)
    X = X.astype(np.float32)
    perm = rng.permutation(len(y))
    return X[perm], y[perm]


def fmt(v):
    return "%.17g" % v


def write(case, X, labels, classes, coef, intercept, proba):
    with open(os.path.join(OUT, case + ".tsv"), "w") as f:
        for lab, row in zip(labels, X):
            f.write(lab + "\t" + " ".join("%.9g" % v for v in row) + "\n")
    with open(os.path.join(OUT, case + ".classes"), "w") as f:
        f.write("".join(c + "\n" for c in classes))
    with open(os.path.join(OUT, case + ".coef"), "w") as f:
        f.write("".join(" ".join(fmt(v) for v in row) + "\n" for row in coef))
    with open(os.path.join(OUT, case + ".intercept"), "w") as f:
        f.write("".join(fmt(v) + "\n" for v in intercept))
    with open(os.path.join(OUT, case + ".proba"), "w") as f:
        f.write("".join(" ".join(fmt(v) for v in row) + "\n" for row in proba))


def single(case, X, names, y, C, cw):
    labels = [names[k] for k in y]
    lr = fit_lr(X.astype(np.float64), np.array(labels), C, cw)
    write(case, X, labels, list(lr.classes_), lr.coef_, lr.intercept_,
          lr.predict_proba(X.astype(np.float64)))
    print("%s: classes %s coef %s |coef|max %.3g" % (case, list(lr.classes_), lr.coef_.shape,
                                                     np.abs(lr.coef_).max()))


def multilabel(case, X, label_sets, C, cw):
    mlb = MultiLabelBinarizer()
    Y = mlb.fit_transform(label_sets)
    est = OneVsRestClassifier(LogisticRegression(C=C, solver="lbfgs", multi_class="multinomial",
                                                 class_weight=cw, tol=1e-12, max_iter=100000))
    est.fit(X.astype(np.float64), Y)
    # Refit each label with the warm-started loop above so every model is at its optimum.
    coef, icpt = [], []
    for k in range(Y.shape[1]):
        lr = fit_lr(X.astype(np.float64), Y[:, k], C, cw)
        assert np.max(np.abs(lr.coef_ - est.estimators_[k].coef_)) < 1e-3
        est.estimators_[k] = lr
        coef.append(lr.coef_[0])
        icpt.append(lr.intercept_[0])
    labels = [",".join(s) for s in label_sets]
    write(case, X, labels, list(mlb.classes_), np.array(coef), np.array(icpt),
          est.predict_proba(X.astype(np.float64)))
    print("%s: labels %s" % (case, list(mlb.classes_)))


def main():
    os.makedirs(OUT, exist_ok=True)
    print("scikit-learn", sklearn.__version__, file=sys.stderr)
    rng = np.random.default_rng(20240601)

    X, y = clusters(rng, [20, 20], 8, 1.2, True)
    single("binary", X, ["build", "plan"], y, 1.0, None)
    single("binary_c10", X, ["build", "plan"], y, 10.0, None)

    X, y = clusters(rng, [30, 25, 15, 10], 12, 1.0, True)
    names = ["anger", "joy", "sadness", "surprise"]
    single("multiclass", X, names, y, 1.0, None)
    single("multiclass_balanced", X, names, y, 1.0, "balanced")

    X, y = clusters(rng, [12, 18, 9], 6, 0.8, False)
    single("unnormalized_c01", X, ["a", "b", "c"], y, 0.1, "balanced")

    X, y = clusters(rng, [25, 15], 10, 1.5, True)
    single("binary_balanced", X, ["neg", "pos"], y, 1.0, "balanced")

    # Multi-label: three labels, each row has zero to three of them, driven
    # by the sign of a noisy projection.
    n, d = 60, 8
    X = rng.normal(size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    X = X.astype(np.float32)
    P = rng.normal(size=(d, 3))
    S = X.astype(np.float64) @ P + 0.3 * rng.normal(size=(n, 3))
    names = ["billing", "bug", "urgent"]
    sets = [tuple(names[k] for k in range(3) if S[i, k] > 0.2) for i in range(n)]
    multilabel("multilabel", X, sets, 1.0, None)
    multilabel("multilabel_balanced", X, sets, 1.0, "balanced")


if __name__ == "__main__":
    main()
