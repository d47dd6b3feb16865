"""The same 1:N search with qdrant-edge-py (PyPI), for comparison with the Rust engine.

Reads the vectors the Rust benchmark wrote with `--dump DIR` (enrolled.f32: identity i's enrolled
sample in row i; probes.f32 and probes.ids: a second sample of some identities), builds the same
layout (Euclid, originals on disk, scalar int8 in RAM, HNSW m 16 / ef_construct 100), searches with
hnsw_ef 128 and 4x oversampling with rescoring, prints load/optimize time, p50/p99 latency and the
share of probes whose true mate comes first.

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
config = q.EdgeConfig(
    vectors=q.EdgeVectorParams(size=dim, distance=q.Distance.Euclid, on_disk=True),
    hnsw_config=q.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10000),
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
    started = time.time()
    batch = 10000
    for start in range(0, len(enrolled), batch):
        points = [q.Point(int(i), enrolled[i].tolist()) for i in range(start, min(start + batch, len(enrolled)))]
        shard.update(q.UpdateOperation.upsert_points(points))
    loaded = time.time() - started
    shard.optimize()
    print(f"qdrant-edge-py: {len(enrolled)} faces, load {loaded:.1f} s, optimize {time.time() - started - loaded:.1f} s")
params = q.SearchParams(hnsw_ef=128, quantization=q.QuantizationSearchParams(rescore=True, oversampling=4.0))
times, first = [], 0
for probe, mate in zip(probes, ids):
    t = time.perf_counter()
    result = shard.query(q.QueryRequest(limit=10, query=q.Query.Nearest(probe.tolist()), params=params))
    times.append((time.perf_counter() - t) * 1000)
    if result and result[0].id == int(mate):
        first += 1
times.sort()
p = lambda x: times[round(x / 100 * (len(times) - 1))]
print(f"qdrant-edge-py HNSW + int8      p50 {p(50):8.2f} ms  p99 {p(99):8.2f} ms  mate first {100 * first / len(ids):.2f} % ({first}/{len(ids)})")
