#!/usr/bin/python3
"""scikit-learn's TSNE on X.npy (the peer of ctk-umap --method tsne): writes
the embedding, prints the time and peak resident memory.
Usage: tsne_sklearn.py X.npy OUT.npy [SEED]"""
import resource, sys, time
import numpy as np
from sklearn.manifold import TSNE

x = np.load(sys.argv[1])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
t0 = time.perf_counter()
y = TSNE(n_components=2, perplexity=30.0, early_exaggeration=12.0, learning_rate="auto", init="pca",
         random_state=seed).fit_transform(x)
dt = time.perf_counter() - t0
np.save(sys.argv[2], y.astype(np.float32))
print(f"seconds {dt:.3f} peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
