#!/usr/bin/python3
# mlp_ref.py -- the scikit-learn reference for ctk's MLP head
# (lib/mlp_head.c): MLPClassifier(hidden_layer_sizes=(H,), activation='relu',
# solver='lbfgs', alpha) fitted on small nonlinear data. Writes into
# tests/golden/mlp/ (run from the source tree: /usr/bin/python3 tests/ref/mlp_ref.py):
#   CASE.tsv      label<TAB>x1 ... xD (float32, exact)
#   CASE.classes  class names, scikit-learn's order
#   CASE.params   the fitted weights in ctk's layout, one number a line:
#                 W1 (H, D) = coefs_[0].T, b1, W2 (K, H) = coefs_[1].T, b2
#   CASE.meta     H alpha loss_ (the objective at those weights)
#   CASE.proba    predict_proba of the rows
# The C test puts these weights into a ctk MLP and checks that its
# probabilities and its objective equal scikit-learn's: the same model and
# the same loss. (Training itself is non-convex; the test checks that ctk's
# own fit separates what a linear head cannot.)
import os

import numpy as np
from sklearn.neural_network import MLPClassifier

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "mlp")


def rings(rng, n_per, d):
    """Three concentric rings in the first two coordinates, noise in the rest."""
    X, y = [], []
    for k, radius in enumerate([0.3, 1.0, 1.7]):
        a = rng.uniform(0, 2 * np.pi, n_per)
        r = radius + 0.08 * rng.normal(size=n_per)
        pts = np.zeros((n_per, d))
        pts[:, 0], pts[:, 1] = r * np.cos(a), r * np.sin(a)
        pts[:, 2:] = 0.1 * rng.normal(size=(n_per, d - 2))
        X.append(pts)
        y += [k] * n_per
    X = np.concatenate(X).astype(np.float32)
    y = np.array(y)
    p = rng.permutation(len(y))
    return X[p], y[p]


def save(case, X, labels, classes, mlp, proba):
    with open(os.path.join(OUT, case + ".tsv"), "w") as f:
        for lab, row in zip(labels, X):
            f.write(lab + "\t" + " ".join("%.9g" % v for v in row) + "\n")
    with open(os.path.join(OUT, case + ".classes"), "w") as f:
        f.write("".join(c + "\n" for c in classes))
    parts = [mlp.coefs_[0].T.ravel(), mlp.intercepts_[0], mlp.coefs_[1].T.ravel(),
             mlp.intercepts_[1]]
    with open(os.path.join(OUT, case + ".params"), "w") as f:
        f.write("".join("%.17g\n" % v for v in np.concatenate(parts)))
    with open(os.path.join(OUT, case + ".meta"), "w") as f:
        f.write("%d %.17g %.17g\n" % (mlp.coefs_[0].shape[1], mlp.alpha, mlp.loss_))
    with open(os.path.join(OUT, case + ".proba"), "w") as f:
        f.write("".join(" ".join("%.17g" % v for v in row) + "\n" for row in proba))
    print(case, "loss_", mlp.loss_)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(7)

    X, y = rings(rng, 30, 4)
    names = np.array(["inner", "middle", "outer"])
    labels = list(names[y])
    mlp = MLPClassifier(hidden_layer_sizes=(8,), activation="relu", solver="lbfgs",
                        alpha=1e-2, max_iter=2000, random_state=0)
    mlp.fit(X.astype(np.float64), np.array(labels))
    save("rings", X, labels, list(mlp.classes_), mlp, mlp.predict_proba(X.astype(np.float64)))

    # Multi-label: label "a" inside radius 1, "b" on the right half; logistic outputs.
    X2 = rng.uniform(-1.5, 1.5, size=(60, 3)).astype(np.float32)
    Y = np.stack([(np.hypot(X2[:, 0], X2[:, 1]) < 1).astype(int), (X2[:, 0] > 0).astype(int)], 1)
    mlp2 = MLPClassifier(hidden_layer_sizes=(6,), activation="relu", solver="lbfgs",
                         alpha=1e-1, max_iter=2000, random_state=1)
    mlp2.fit(X2.astype(np.float64), Y)
    labels2 = [",".join(n for n, v in zip(["a", "b"], row) if v) for row in Y]
    save("multilabel", X2, labels2, ["a", "b"], mlp2, mlp2.predict_proba(X2.astype(np.float64)))


if __name__ == "__main__":
    main()
