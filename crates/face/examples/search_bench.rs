//! 1:N search benchmark on synthetic clustered identities: each identity is a centre in 128-d
//! space (centres about 0.9 apart, like different people under the dlib model) with noisy samples
//! about 0.28 from the centre (two samples of one person about 0.4 apart, like the model's genuine
//! pairs). One sample per identity is enrolled; another sample of `probes` identities spread over
//! the population is searched. Reports build time, memory, disk, p50/p99 latency, the share of searches whose
//! true mate comes first, and the same for an exact scan (and for a Qdrant server when
//! `--server URL` is given).
//!
//! cargo run --release -p face --example search_bench -- --identities 1000000 --probes 1000 --folder /tmp/face-bench
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use face::{
    EdgeIndex, Embedding, FaceIndex, IndexConfig, Quantization, ServerIndex, ServerPlacement,
};

const DIMENSION: usize = 128;
const CENTRE_SIGMA: f32 = 0.056;
const SAMPLE_SIGMA: f32 = 0.025;

/// SplitMix64 then Box-Muller: identity `i`'s centre and sample `s` are reproducible on their own.
struct Normal(u64);
impl Normal {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn next(&mut self) -> f32 {
        let u1 = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

/// Added to every coordinate (`--offset`): distances do not change, but real dlib embeddings sit
/// about 1.3 from the origin (see `embedding_stats`), which is what binary quantization's
/// sign bits see.
static OFFSET: std::sync::OnceLock<f32> = std::sync::OnceLock::new();

fn sample(identity: u64, sample: u64) -> Vec<f32> {
    let offset = *OFFSET.get().unwrap_or(&0.0);
    let mut centre = Normal(identity.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA5A5);
    let mut noise = Normal((identity << 8 | sample).wrapping_mul(0x9E37_79B9) ^ 0x5A5A_0000);
    (0..DIMENSION)
        .map(|_| centre.next() * CENTRE_SIGMA + noise.next() * SAMPLE_SIGMA + offset)
        .collect()
}

/// Poll an index's binary codes until they are no longer being read back.
fn wait_for_codes(status: impl Fn() -> face::CodeStatus) -> face::CodeStatus {
    loop {
        match status() {
            face::CodeStatus::Reading(_) => {
                std::thread::sleep(std::time::Duration::from_millis(100))
            }
            other => return other,
        }
    }
}

fn memory_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn disk_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let p = entry.path();
            total += if p.is_dir() {
                disk_bytes(&p)
            } else {
                entry.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

fn percentile(times: &mut [f64], p: f64) -> f64 {
    times.sort_by(f64::total_cmp);
    times[((p / 100.0) * (times.len() - 1) as f64).round() as usize]
}

fn report(name: &str, times: &mut [f64], mate_first: usize, probes: usize) {
    println!(
        "{name:<28} p50 {:8.2} ms  p99 {:8.2} ms  mate first {:.2} % ({mate_first}/{probes})",
        percentile(times, 50.0),
        percentile(times, 99.0),
        100.0 * mate_first as f64 / probes as f64
    );
}

fn main() {
    let mut identities = 100_000u64;
    let mut probes = 1000u64;
    let mut folder = PathBuf::from("/tmp/face-bench");
    let mut server: Option<String> = None;
    let mut quantization = Quantization::Scalar;
    let mut hnsw_ef = 128usize;
    let mut exact = true;
    let mut dump: Option<PathBuf> = None;
    let mut hnsw_m = 16usize;
    let mut oversampling = 4.0f64;
    let mut cells = 0usize;
    let mut cell_probes = 32usize;
    let mut cell_spill = 2usize;
    let mut exact_probes = usize::MAX;
    let mut shards = 1usize;
    let mut short_list = IndexConfig::new(DIMENSION).short_list;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--identities" => identities = value().parse().unwrap(),
            "--probes" => probes = value().parse().unwrap(),
            "--folder" => folder = PathBuf::from(value()),
            "--server" => server = Some(value()),
            "--hnsw-ef" => hnsw_ef = value().parse().unwrap(),
            "--no-exact" => exact = false,
            "--offset" => OFFSET.set(value().parse().unwrap()).unwrap(),
            "--hnsw-m" => hnsw_m = value().parse().unwrap(),
            "--oversampling" => oversampling = value().parse().unwrap(),
            "--dump" => dump = Some(PathBuf::from(value())),
            "--cells" => cells = value().parse().unwrap(),
            "--cell-probes" => cell_probes = value().parse().unwrap(),
            "--cell-spill" => cell_spill = value().parse().unwrap(),
            "--shards" => shards = value().parse().unwrap(),
            "--short-list" => short_list = value().parse().unwrap(),
            "--exact-probes" => exact_probes = value().parse().unwrap(),
            "--quantization" => {
                quantization = match value().as_str() {
                    "none" => Quantization::None,
                    "scalar" => Quantization::Scalar,
                    "binary" => Quantization::Binary,
                    other => panic!("unknown quantization {other}"),
                }
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let probes = probes.min(identities);
    let mut config = IndexConfig::new(DIMENSION);
    config.quantization = quantization;
    config.hnsw_ef = hnsw_ef;
    config.hnsw_m = hnsw_m;
    config.oversampling = oversampling;
    config.cells = cells;
    config.cell_probes = cell_probes;
    config.cell_spill = cell_spill;
    config.shards = shards;
    config.short_list = short_list;
    println!(
        "{identities} identities, {probes} probes, {quantization:?} quantization, hnsw_m {hnsw_m} (0: quantized full scan), hnsw_ef {hnsw_ef}, oversampling {oversampling}, cells {cells} (probes {cell_probes}, spill {cell_spill}, short list {short_list}), {shards} embedded shards"
    );

    let fresh = !folder.join("edge_config.json").is_file() && !folder.join("shard-0").is_dir();
    let opening = Instant::now();
    let edge = EdgeIndex::open(&folder, config.clone()).unwrap();
    if !fresh {
        let opened = opening.elapsed().as_secs_f64();
        // The codes are read back on threads of their own: wait for them.
        let status = wait_for_codes(|| edge.code_status());
        println!(
            "reopened in {opened:.1} s, binary codes {status:?} after {:.1} s, RSS {:.2} GB",
            opening.elapsed().as_secs_f64(),
            memory_kb("VmRSS:") as f64 / 1e6,
        );
    }
    if fresh && cells > 0 {
        // Train the cells on an even sample of the enrolled faces, as `optimize` would from the
        // index, then install them before the load so every face is filed as it arrives.
        let started = Instant::now();
        let wanted = (cells * face::CELL_TRAINING_FACES) as u64;
        let every = (identities / wanted).max(1);
        let sample: Vec<Embedding> = (0..identities)
            .step_by(every as usize)
            .take(wanted as usize)
            .map(|id| Embedding::parse(sample(id, 0)).unwrap())
            .collect();
        let trained = face::Cells::train(&sample, cells, face::CELL_TRAINING_ROUNDS).unwrap();
        edge.install_cells(trained).unwrap();
        println!(
            "cells: {cells} trained on {} faces in {:.1} s",
            sample.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let batch = 10_000u64;
    let started = Instant::now();
    let mut start = 0;
    while start < identities {
        let end = (start + batch).min(identities);
        let faces: Vec<(u64, Embedding)> = (start..end)
            .map(|id| (id, Embedding::parse(sample(id, 0)).unwrap()))
            .collect();
        if fresh {
            edge.upsert_batch(&faces).unwrap();
        }
        start = end;
    }
    let loaded = started.elapsed().as_secs_f64();
    edge.optimize().unwrap();
    println!(
        "embedded (Qdrant Edge): load {loaded:.1} s, optimize (HNSW, quantization) {:.1} s{}, {} faces, disk {:.2} GB, RSS {:.2} GB (peak {:.2} GB)",
        started.elapsed().as_secs_f64() - loaded,
        if fresh { "" } else { " (reopened)" },
        edge.len().unwrap(),
        disk_bytes(&folder) as f64 / 1e9,
        memory_kb("VmRSS:") as f64 / 1e6,
        memory_kb("VmHWM:") as f64 / 1e6,
    );

    let queries: Vec<(u64, Embedding)> = (0..probes)
        .map(|i| {
            // Spread the probes over the whole population.
            let id = i * (identities / probes);
            (id, Embedding::parse(sample(id, 1)).unwrap())
        })
        .collect();

    if let Some(dump) = &dump {
        // For benches/qdrant_edge_py.py: the same vectors, little-endian f32 rows.
        use std::io::Write;
        std::fs::create_dir_all(dump).unwrap();
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(dump.join("enrolled.f32")).unwrap());
        for id in 0..identities {
            for v in sample(id, 0) {
                file.write_all(&v.to_le_bytes()).unwrap();
            }
        }
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(dump.join("probes.f32")).unwrap());
        let mut ids =
            std::io::BufWriter::new(std::fs::File::create(dump.join("probes.ids")).unwrap());
        for (id, probe) in &queries {
            for v in probe.values() {
                file.write_all(&v.to_le_bytes()).unwrap();
            }
            ids.write_all(&id.to_le_bytes()).unwrap();
        }
        if let Some(cells) = edge.cells() {
            let mut file =
                std::io::BufWriter::new(std::fs::File::create(dump.join("cells.f32")).unwrap());
            for cell in 0..cells.count() {
                for v in cells.centroid(cell) {
                    file.write_all(&v.to_le_bytes()).unwrap();
                }
            }
            std::fs::write(
                dump.join("config.txt"),
                format!(
                    "cell_probes {cell_probes}\ncell_spill {cell_spill}\noversampling {oversampling}\n"
                ),
            )
            .unwrap();
        }
    }

    let mut times = Vec::new();
    let mut mate_first = 0;
    let mut answers = Vec::new();
    for (id, probe) in &queries {
        let t = Instant::now();
        let candidates = edge.search(probe, 10).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if candidates.first().map(|c| c.id) == Some(*id) {
            mate_first += 1;
        }
        answers.push(candidates.first().map(|c| c.id));
    }
    report(
        if cells > 0 && short_list > 0 {
            "embedded, cells + binary codes + exact short list"
        } else if cells > 0 {
            "embedded, cells + rescoring"
        } else if hnsw_m == 0 {
            "embedded, quantized scan + rescoring"
        } else {
            "embedded, HNSW + quantized"
        },
        &mut times,
        mate_first,
        queries.len(),
    );

    if exact {
        // The exact answer: Qdrant's full scan of the original vectors (no graph, no quantization).
        let mut times = Vec::new();
        let mut mate_first = 0;
        let mut agree = 0;
        for ((id, probe), answer) in queries.iter().zip(&answers).take(exact_probes) {
            let t = Instant::now();
            let best = edge.search_exact(probe, 10).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            let best = best.first().map(|c| c.id);
            if best == Some(*id) {
                mate_first += 1;
            }
            if best == *answer {
                agree += 1;
            }
        }
        let checked = times.len();
        report("embedded, exact scan", &mut times, mate_first, checked);
        println!(
            "index top-1 equals the exact top-1 for {:.2} % of {checked} probes",
            100.0 * agree as f64 / checked as f64
        );
    }

    if let Some(url) = server {
        let placement = ServerPlacement {
            url,
            collection: format!("bench_{identities}"),
            shards: 1,
            replicas: 1,
        };
        let started = Instant::now();
        let server = ServerIndex::connect(&placement, config).unwrap();
        // The same cells as the embedded index, installed before the load so faces are filed as
        // they arrive.
        if let (None, Some(cells)) = (server.cells(), edge.cells()) {
            server.install_cells((*cells).clone()).unwrap();
        }
        if server.len().unwrap() as u64 != identities {
            let mut start = 0;
            while start < identities {
                let end = (start + batch).min(identities);
                let faces: Vec<(u64, Embedding)> = (start..end)
                    .map(|id| (id, Embedding::parse(sample(id, 0)).unwrap()))
                    .collect();
                server.upsert_batch(&faces).unwrap();
                start = end;
            }
        }
        server.optimize().unwrap();
        let status = wait_for_codes(|| server.code_status());
        println!(
            "Qdrant server: load, index and read back the binary codes ({status:?}) {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut times = Vec::new();
        let mut mate_first = 0;
        let mut agree = 0;
        for ((id, probe), answer) in queries.iter().zip(&answers) {
            let t = Instant::now();
            let candidates = server.search(probe, 10).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            if candidates.first().map(|c| c.id) == Some(*id) {
                mate_first += 1;
            }
            if candidates.first().map(|c| c.id) == *answer {
                agree += 1;
            }
        }
        report(
            if cells > 0 && short_list > 0 {
                "server, cells + binary codes + short list"
            } else if cells > 0 {
                "server, cells + rescoring"
            } else {
                "server, HNSW or quantized scan"
            },
            &mut times,
            mate_first,
            queries.len(),
        );
        println!(
            "server top-1 equals the embedded top-1 for {:.2} % of probes",
            100.0 * agree as f64 / queries.len() as f64
        );
    }
}
