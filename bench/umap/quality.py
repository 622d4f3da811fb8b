#!/usr/bin/python3
"""Quality of a 2-D embedding as bench/umap measures it: trustworthiness
(scikit-learn's definition, k = 10) and the accuracy of a 10-NN classifier
of the labels in the embedding (5-fold cross-validation).
Usage: quality.py HIGH.npy LOW.npy LABELS [METRIC]"""
import sys
import numpy as np
from sklearn.manifold import trustworthiness
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier


def quality(x, y, labels, metric="euclidean", max_n=10000, seed=0):
    # trustworthiness is O(n^2) memory: measure it on a fixed subsample for large n
    idx = np.arange(len(x))
    if len(x) > max_n:
        idx = np.random.default_rng(seed).choice(len(x), max_n, replace=False)
    t = trustworthiness(x[idx], y[idx], n_neighbors=10, metric=metric)
    acc = cross_val_score(KNeighborsClassifier(10), y, labels, cv=5).mean()
    return t, acc


if __name__ == "__main__":
    x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
    labels = np.array(open(sys.argv[3]).read().split())
    t, acc = quality(x, y, labels, sys.argv[4] if len(sys.argv) > 4 else "euclidean")
    print(f"trustworthiness {t:.4f} knn_accuracy {acc:.4f}")
