#!/usr/bin/python3
"""Adjusted Rand index of two labelings (one label a line), as scikit-learn
computes it; noise (-1) counts as one more label. Usage: ari.py A B"""
import sys
from sklearn.metrics import adjusted_rand_score

a, b = ([l.strip() for l in open(p)] for p in sys.argv[1:3])
print(f"{adjusted_rand_score(a, b):.4f}")
