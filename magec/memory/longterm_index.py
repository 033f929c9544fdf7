"""``VectorIndex``: the in-process cosine index of :class:`~magec.memory.sql_longterm.SqlLongTermStore`.

One index per (app, user, embedding model, dim), built from the scope's rows and cached until the
scope's write generation moves (see ``sql_longterm``). Two modes:

* **exact** (fewer than :attr:`VectorIndex.ivf_min_rows` rows): one float32 mat-vec over the whole
  contiguous, row-normalised matrix, ``argpartition`` for the top ``k`` (no full sort). The answer
  is the true nearest ``limit``, as before.
* **IVF** (at least ``ivf_min_rows``): a brute-force mat-vec over 100k × 384 float32 reads 150 MB
  per query, memory-bound at 10–20 ms on one core, so big sets are split into ~√n clusters by a
  few rounds of spherical k-means (trained on a sample), the matrix is stored **sorted by
  cluster** (each cluster is one contiguous slice, no gather copy), and a query scores exactly
  only the rows of the clusters whose centroids are nearest to it — at least
  :attr:`probe_fraction` of the rows and :attr:`min_probe` rows. Scores of the returned rows are
  exact cosines; only rows in clusters not probed can be missed (recall@10 is measured by
  ``bench/memory_bench.py``; pgvector's HNSW is approximate in the same way).

Building is CPU work (k-means, assignment): callers run :func:`build` off the event loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class VectorIndex:
    ids: np.ndarray  # int64, row order of ``matrix``
    matrix: np.ndarray  # float32, C-contiguous, unit rows (zero rows stay zero)
    centroids: np.ndarray | None = None  # float32 (nlist, dim), unit rows; None = exact mode
    offsets: np.ndarray | None = None  # int64 (nlist + 1): cluster c is rows offsets[c]:offsets[c+1]

    #: Below this many rows a query scans the whole matrix (exact; ~1 ms at 20k × 384).
    ivf_min_rows = 20_000
    #: An IVF query scores at least this fraction of the rows …
    probe_fraction = 1 / 16
    #: … and at least this many rows.
    min_probe = 4_096
    kmeans_iterations = 8
    #: Training sample per cluster (k-means runs on ``nlist × train_per_list`` rows at most).
    train_per_list = 48

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def is_ivf(self) -> bool:
        return self.centroids is not None

    def search(self, q: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """The ``limit`` rows most similar to unit vector ``q``, best first: ``(id, cosine)``."""
        if len(self.ids) == 0:
            return []
        if self.centroids is None or self.offsets is None:
            return _top(_scores(self.matrix, q), self.ids, limit)
        order = np.argsort(-(self.centroids @ q))
        sizes = np.diff(self.offsets)[order]
        want = max(self.min_probe, limit, math.ceil(len(self.ids) * self.probe_fraction))
        nprobe = int(np.searchsorted(np.cumsum(sizes), want)) + 1
        sims, ids = [], []
        for c in order[:nprobe]:
            lo, hi = int(self.offsets[c]), int(self.offsets[c + 1])
            if hi > lo:
                sims.append(_scores(self.matrix[lo:hi], q))
                ids.append(self.ids[lo:hi])
        return _top(np.concatenate(sims), np.concatenate(ids), limit)

    def probed_rows(self, q: np.ndarray, limit: int) -> int:
        """How many rows a query scores (for tests and the bench)."""
        if self.centroids is None or self.offsets is None:
            return len(self.ids)
        sizes = np.diff(self.offsets)[np.argsort(-(self.centroids @ q))]
        want = max(self.min_probe, limit, math.ceil(len(self.ids) * self.probe_fraction))
        return int(np.cumsum(sizes)[min(len(sizes) - 1, int(np.searchsorted(np.cumsum(sizes), want)))])


def _scores(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``matrix @ q`` without BLAS. OpenBLAS splits a mat-vec of this size across its threads, and
    on a machine whose cores are busy each call then waits for a worker thread to be scheduled:
    measured 20–30 ms for a 3k × 384 mat-vec that takes 0.07 ms when it gets the cores (and 0.1 ms
    with BLAS held to one thread). ``einsum`` runs numpy's own single-threaded SIMD loop: a
    little slower at best, never stalled."""
    return np.einsum("ij,j->i", matrix, q)


def _top(sims: np.ndarray, ids: np.ndarray, limit: int) -> list[tuple[int, float]]:
    k = min(limit, len(sims))
    if k <= 0:
        return []
    top = np.argpartition(sims, len(sims) - k)[len(sims) - k :] if k < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    return [(int(ids[i]), float(sims[i])) for i in top]


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Unit rows, float32, C-contiguous (zero rows stay zero)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms)


def build(
    ids: np.ndarray,
    matrix: np.ndarray,
    *,
    ivf_min_rows: int | None = None,
    seed: int = 0,
    centroids: np.ndarray | None = None,
) -> VectorIndex:
    """An index over ``matrix`` (rows = ``ids``); IVF when there are at least ``ivf_min_rows`` rows.

    ``centroids`` (of the previous index of the same scope) skip the k-means training when they
    still fit the row count (within 2× of √n clusters): a rebuild after a few writes then only
    re-assigns rows, and the clusters stay good because the data moved little."""
    matrix = normalise(matrix)
    threshold = VectorIndex.ivf_min_rows if ivf_min_rows is None else ivf_min_rows
    n = len(ids)
    if n < threshold or n < 2:
        return VectorIndex(ids=np.ascontiguousarray(ids, dtype=np.int64), matrix=matrix)
    nlist = max(2, int(math.sqrt(n)))
    if centroids is not None and centroids.shape[1] == matrix.shape[1] and nlist / 2 <= len(centroids) <= nlist * 2:
        return _ivf(ids, matrix, normalise(centroids))
    rng = np.random.default_rng(seed)
    sample = matrix[rng.choice(n, size=min(n, nlist * VectorIndex.train_per_list), replace=False)]
    centroids = sample[rng.choice(len(sample), size=nlist, replace=False)].copy()
    for _ in range(VectorIndex.kmeans_iterations):
        assign = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, sample)
        empty = np.bincount(assign, minlength=nlist) == 0
        sums[empty] = centroids[empty]  # an empty cluster keeps its centroid
        centroids = normalise(sums)
    return _ivf(ids, matrix, centroids)


def _ivf(ids: np.ndarray, matrix: np.ndarray, centroids: np.ndarray) -> VectorIndex:
    """Assign every row to its nearest centroid and store the matrix sorted by cluster."""
    nlist = len(centroids)
    assign = _assign(matrix, centroids)
    order = np.argsort(assign, kind="stable")
    offsets = np.zeros(nlist + 1, dtype=np.int64)
    np.cumsum(np.bincount(assign, minlength=nlist), out=offsets[1:])
    return VectorIndex(
        ids=np.ascontiguousarray(np.asarray(ids, dtype=np.int64)[order]),
        matrix=np.ascontiguousarray(matrix[order]),
        centroids=centroids,
        offsets=offsets,
    )


def _assign(matrix: np.ndarray, centroids: np.ndarray, chunk: int = 16_384) -> np.ndarray:
    """Nearest centroid of every row, in chunks (bounded temporary memory)."""
    out = np.empty(len(matrix), dtype=np.int64)
    for lo in range(0, len(matrix), chunk):
        out[lo : lo + chunk] = np.argmax(matrix[lo : lo + chunk] @ centroids.T, axis=1)
    return out
