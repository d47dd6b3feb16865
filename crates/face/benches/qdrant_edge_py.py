"""The same 1:N search with qdrant-edge-py (PyPI), for comparison with the Rust engine.

Reads the vectors the Rust benchmark wrote with `--dump DIR` (enrolled.f32: identity i's enrolled
sample in row i; probes.f32 and probes.ids: a second sample of some identities; with `--cells`,
cells.f32: the trained centroids, and config.txt: cell_probes and cell_spill) and builds the same
layout (Euclid, originals on disk, scalar int8 in RAM). Without cells: HNSW m 16 / ef_construct
100, searched with hnsw_ef 128. With cells: no graph (m 0), each point filed under its
`cell_spill` nearest centroids in an integer payload field with a lookup index and under its
nearest one in a principal field `home`, each search filtered on the probe's `cell_probes`
nearest cells (one should-clause a cell), as `face::EdgeIndex` does, in one shard. Rescoring with 4x
(or `oversampling` from config.txt) oversampling. Prints load/optimize time, p50/p99 latency and
the share of probes whose true mate comes first.

    python3 -m venv /tmp/qe && /tmp/qe/bin/pip install qdrant-edge-py numpy
    /tmp/qe/bin/python crates/face/benches/qdrant_edge_py.py DIR /tmp/qe-shard
"""
import os, shutil, sys, time

import numpy as np
import qdrant_edge as q

dump, folder = sys.argv[1], sys.argv[2]
dim = 128
enrolled = np.fromfile(os.path.join(dump, "enrolled.f32"), dtype="<f4").reshape(-1, dim)
probes = np.fromfile(os.path.join(dump, "probes.f32"), dtype="<f4").reshape(-1, dim)
ids = np.fromfile(os.path.join(dump, "probes.ids"), dtype="<u8")
settings = {}
if os.path.exists(os.path.join(dump, "config.txt")):
    for line in open(os.path.join(dump, "config.txt")):
        key, value = line.split()
        settings[key] = float(value)
centroids = None
if os.path.exists(os.path.join(dump, "cells.f32")):
    centroids = np.fromfile(os.path.join(dump, "cells.f32"), dtype="<f4").reshape(-1, dim)
    norms = (centroids * centroids).sum(axis=1)
cell_probes = int(settings.get("cell_probes", 32))
cell_spill = int(settings.get("cell_spill", 2))
oversampling = settings.get("oversampling", 4.0)


def nearest_cells(x, n):
    """The n cells nearest to each row of x (|c|^2 - 2 x.c orders them as the distance does)."""
    scores = norms[None, :] - 2.0 * (x @ centroids.T)
    part = np.argpartition(scores, n - 1, axis=1)[:, :n]
    return part


config = q.EdgeConfig(
    vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Euclid, on_disk=True),
    hnsw_config=q.HnswIndexConfig(m=0 if centroids is not None else 16, ef_construct=100, full_scan_threshold=10000),
    quantization_config=q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, always_ram=True),
)
if os.path.exists(os.path.join(folder, "edge_config.json")):
    # Built by an earlier run: search only.
    shard = q.EdgeShard.load(folder)
    print(f"qdrant-edge-py: reopened {folder}")
else:
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    shard = q.EdgeShard.create(folder, config)
    if centroids is not None:
        shard.update(q.UpdateOperation.create_field_index("cell", q.IntegerIndexParams(lookup=True, range=False)))
        # The nearest cell alone, principal: segments store the faces of one cell side by side.
        shard.update(q.UpdateOperation.create_field_index("home", q.IntegerIndexParams(lookup=True, range=False, is_principal=True)))
    started = time.time()
    batch = 10000
    for start in range(0, len(enrolled), batch):
        rows = enrolled[start:start + batch]
        cells = nearest_cells(rows, cell_spill) if centroids is not None else None
        points = [
            q.Point(start + i, rows[i].tolist(),
                    None if cells is None else {"cell": [int(c) for c in cells[i]], "home": int(nearest_cells(rows[i:i + 1], 1)[0][0])})
            for i in range(len(rows))
        ]
        shard.update(q.UpdateOperation.upsert_points(points))
    loaded = time.time() - started
    shard.optimize()
    print(f"qdrant-edge-py: {len(enrolled)} faces, load {loaded:.1f} s, optimize {time.time() - started - loaded:.1f} s")
params = q.SearchParams(hnsw_ef=128, quantization=q.QuantizationSearchParams(rescore=True, oversampling=oversampling))
times, first = [], 0
for probe, mate in zip(probes, ids):
    t = time.perf_counter()
    search_filter = None
    if centroids is not None:
        cells = nearest_cells(probe[None, :], cell_probes)[0]
        # One should-clause a cell, as face::EdgeIndex does.
        search_filter = q.Filter(should=[q.FieldCondition("cell", match=q.MatchValue(int(c))) for c in cells])
    result = shard.query(q.QueryRequest(limit=10, query=q.Query.Nearest(probe.tolist()), filter=search_filter, params=params))
    times.append((time.perf_counter() - t) * 1000)
    if result and result[0].id == int(mate):
        first += 1
times.sort()
p = lambda x: times[round(x / 100 * (len(times) - 1))]
name = "cells + int8" if centroids is not None else "HNSW + int8"
print(f"qdrant-edge-py {name:<16} p50 {p(50):8.2f} ms  p99 {p(99):8.2f} ms  mate first {100 * first / len(ids):.2f} % ({first}/{len(ids)})")
