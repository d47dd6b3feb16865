//! 1:N search: the embedded Qdrant Edge index and a real Qdrant server (the binary in
//! `shared/tools/qdrant`) on synthetic clustered embeddings; both give the same answers.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use face::{EdgeIndex, Embedding, FaceIndex, IndexConfig, ServerIndex, ServerPlacement};

/// A small deterministic generator (xorshift), so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// `people` identities, each a centre plus `samples` noisy embeddings; returns (id, embedding)
/// with id = person * 10 + sample.
fn population(people: u64, samples: u64, seed: u64) -> Vec<(u64, Embedding)> {
    let mut rng = Rng(seed);
    let mut faces = Vec::new();
    for person in 0..people {
        let centre: Vec<f32> = (0..128).map(|_| rng.next() * 0.35).collect();
        for sample in 0..samples {
            let values = centre.iter().map(|c| c + rng.next() * 0.05).collect();
            faces.push((person * 10 + sample, Embedding::parse(values).unwrap()));
        }
    }
    faces
}

fn small_config() -> IndexConfig {
    IndexConfig::new(128)
}

#[test]
fn edge_index_finds_the_mate_deletes_and_persists() {
    let folder = tempfile::tempdir().unwrap();
    let faces = population(300, 2, 7);
    let enrolled: Vec<_> = faces
        .iter()
        .filter(|(id, _)| id % 10 == 0)
        .cloned()
        .collect();
    {
        let index = EdgeIndex::open(folder.path(), small_config()).unwrap();
        index.upsert_batch(&enrolled).unwrap();
        index.optimize().unwrap();
        assert_eq!(index.len().unwrap(), 300);
        for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(50) {
            let candidates = index.search(probe, 3).unwrap();
            assert_eq!(candidates[0].id, id - 1, "{candidates:?}");
            assert!(candidates[0].distance < candidates[1].distance);
            assert_eq!(index.search_exact(probe, 3).unwrap()[0].id, id - 1);
        }
        index.delete(0).unwrap();
        index.delete(0).unwrap();
        assert_eq!(index.len().unwrap(), 299);
        assert_ne!(index.search(&faces[1].1, 1).unwrap()[0].id, 0);
    }
    let reopened = EdgeIndex::open(folder.path(), small_config()).unwrap();
    assert_eq!(reopened.len().unwrap(), 299);
    let wrong = Embedding::parse(vec![0.0; 64]).unwrap();
    assert!(reopened.search(&wrong, 1).is_err());
    assert!(reopened.search(&faces[3].1, 0).is_err());
}

#[test]
fn quantized_full_scan_without_a_graph_finds_the_mate() {
    let mut config = IndexConfig::new(128);
    config.hnsw_m = 0;
    config.quantization = face::Quantization::Binary;
    config.oversampling = 8.0;
    let folder = tempfile::tempdir().unwrap();
    let faces = population(300, 2, 11);
    let index = EdgeIndex::open(folder.path(), config.clone()).unwrap();
    let enrolled: Vec<_> = faces
        .iter()
        .filter(|(id, _)| id % 10 == 0)
        .cloned()
        .collect();
    index.upsert_batch(&enrolled).unwrap();
    index.optimize().unwrap();
    for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(50) {
        let found = index.search(probe, 3).unwrap();
        assert_eq!(found[0].id, id - 1, "{found:?}");
        // The mate is rescored with the original vector: the same distance as the exact scan.
        // (Farther neighbours may differ: one bit per dimension ranks them only roughly.)
        assert_eq!(found[0], index.search_exact(probe, 3).unwrap()[0]);
    }
    config.hnsw_m = 2;
    let error = EdgeIndex::open(tempfile::tempdir().unwrap().path(), config)
        .unwrap_err()
        .to_string();
    assert!(error.contains("hnsw_m 2 must be 4 to 128, or 0"), "{error}");
}

fn cell_config() -> IndexConfig {
    let mut config = IndexConfig::new(128);
    config.hnsw_m = 0;
    config.cells = 8;
    config.cell_probes = 3;
    config.cell_spill = 2;
    config
}

/// Of `faces` (id = person * 10 + sample), sample 0 of each person is enrolled.
fn enrolled(faces: &[(u64, Embedding)]) -> Vec<(u64, Embedding)> {
    faces
        .iter()
        .filter(|(id, _)| id % 10 == 0)
        .cloned()
        .collect()
}

#[test]
fn cells_are_trained_when_enough_faces_are_in_and_searches_read_only_the_nearest_cells() {
    let folder = tempfile::tempdir().unwrap();
    let faces = population(400, 2, 5);
    let config = cell_config();
    {
        let index = EdgeIndex::open(folder.path(), config.clone()).unwrap();
        // Too few faces to train 8 cells on (32 a cell): every search reads everything.
        index.upsert_batch(&enrolled(&faces)[..200]).unwrap();
        index.optimize().unwrap();
        assert!(index.cells().is_none());
        index.upsert_batch(&enrolled(&faces)[200..]).unwrap();
        index.optimize().unwrap();
        let cells = index.cells().expect("trained at 400 faces");
        assert_eq!(cells.count(), 8);
        for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(60) {
            let found = index.search(probe, 3).unwrap();
            assert_eq!(found[0].id, id - 1, "{found:?}");
            assert_eq!(found[0], index.search_exact(probe, 1).unwrap()[0]);
        }
        // A search reads only its cells: a face filed far away is not among its candidates.
        let (probe, stranger) = faces
            .iter()
            .flat_map(|(_, probe)| (0..8usize).map(move |c| (probe, c)))
            .find_map(|(probe, c)| {
                let near = cells.nearest(probe.values(), 3);
                let stranger = Embedding::parse(cells.centroid(c).to_vec()).unwrap();
                let filed = cells.nearest(stranger.values(), 2);
                filed
                    .iter()
                    .all(|c| !near.contains(c))
                    .then_some((probe, stranger))
            })
            .expect("a probe and a face filed away from the probe's cells");
        index.upsert(9_999_999, &stranger).unwrap();
        let all = index.search(probe, 400).unwrap();
        assert!(all.iter().all(|c| c.id != 9_999_999));
        assert!(
            index
                .search_exact(probe, 401)
                .unwrap()
                .iter()
                .any(|c| c.id == 9_999_999)
        );
    }
    // Reopened: the same cells, read from the folder.
    let reopened = EdgeIndex::open(folder.path(), config.clone()).unwrap();
    assert_eq!(reopened.cells().unwrap().count(), 8);
    let (id, probe) = &faces[21];
    assert_eq!(reopened.search(probe, 1).unwrap()[0].id, id - 1);
    drop(reopened);
    // A damaged cell file is refused with its name, not used.
    let file = folder.path().join("dspp-cells.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[40] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let error = EdgeIndex::open(folder.path(), config)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("dspp-cells.bin") && error.contains("checksum"),
        "{error}"
    );
}

/// Wait for an index's binary codes to be read back; how many there are.
fn codes_ready(status: impl Fn() -> face::CodeStatus) -> usize {
    let started = std::time::Instant::now();
    loop {
        match status() {
            face::CodeStatus::Ready(held) => return held,
            face::CodeStatus::Reading(_) if started.elapsed().as_secs() < 120 => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => panic!("the codes are {other:?}"),
        }
    }
}

#[test]
fn binary_codes_find_what_the_cell_filter_finds_and_follow_every_write() {
    let faces = population(300, 2, 21);
    let mut coded_config = cell_config();
    coded_config.short_list = 12;
    let mut filter_config = cell_config();
    filter_config.short_list = 0;
    let folder = tempfile::tempdir().unwrap();
    let coded = EdgeIndex::open(folder.path(), coded_config.clone()).unwrap();
    assert_eq!(coded.code_status(), face::CodeStatus::Off);
    coded.upsert_batch(&enrolled(&faces)).unwrap();
    coded.optimize().unwrap();
    let cells = coded.cells().expect("trained at 300 faces");
    assert_eq!(codes_ready(|| coded.code_status()), 300);
    let filter_folder = tempfile::tempdir().unwrap();
    let filter = EdgeIndex::open(filter_folder.path(), filter_config).unwrap();
    filter.install_cells((*cells).clone()).unwrap();
    filter.upsert_batch(&enrolled(&faces)).unwrap();
    assert_eq!(filter.code_status(), face::CodeStatus::Off);
    let probes: Vec<&(u64, Embedding)> = faces.iter().filter(|(id, _)| id % 10 == 1).collect();
    for (id, probe) in probes.iter().take(60) {
        let a = coded.search(probe, 5).unwrap();
        let b = filter.search(probe, 5).unwrap();
        assert_eq!(a[0].id, id - 1, "{a:?}");
        assert_eq!(a[0].id, b[0].id);
        // The short list is scored exactly, with the original vectors.
        let exact = coded.search_exact(probe, 1).unwrap()[0];
        assert!(
            (a[0].distance - exact.distance).abs() < 1e-5,
            "{a:?} {exact:?}"
        );
        assert!(a.len() == 5 && a.windows(2).all(|w| w[0].distance <= w[1].distance));
    }
    // Every write reaches the codes at once: a new face, a face replaced, a face removed.
    let (_, near) = probes[0];
    coded.upsert(7_000_000, near).unwrap();
    assert_eq!(coded.search(near, 1).unwrap()[0].id, 7_000_000);
    let (mate, moved_to) = (probes[1].0 - 1, probes[2].1.clone());
    coded.upsert(mate, &moved_to).unwrap();
    assert_ne!(coded.search(&probes[1].1, 1).unwrap()[0].id, mate);
    let found = coded.search(&moved_to, 2).unwrap();
    assert!(found.iter().any(|c| c.id == mate), "{found:?}");
    coded.delete(7_000_000).unwrap();
    assert_ne!(coded.search(near, 1).unwrap()[0].id, 7_000_000);
    assert_eq!(codes_ready(|| coded.code_status()), 300);
    drop(coded);
    // Reopened: the codes are read back from the shards and give the same answers.
    let reopened = EdgeIndex::open(folder.path(), coded_config).unwrap();
    assert_eq!(codes_ready(|| reopened.code_status()), 300);
    assert_eq!(reopened.search(near, 1).unwrap()[0].id, probes[0].0 - 1);
    assert!(
        reopened
            .search(&moved_to, 2)
            .unwrap()
            .iter()
            .any(|c| c.id == mate)
    );
    for (id, probe) in probes.iter().skip(3).take(40) {
        assert_eq!(reopened.search(probe, 1).unwrap()[0].id, id - 1);
    }
}

#[test]
fn faces_left_unfiled_by_an_interrupted_install_are_filed_at_the_next_open() {
    let folder = tempfile::tempdir().unwrap();
    let faces = population(300, 2, 9);
    let config = cell_config();
    let cells = face::Cells::train(
        &enrolled(&faces)
            .into_iter()
            .map(|f| f.1)
            .collect::<Vec<_>>(),
        8,
        4,
    )
    .unwrap();
    {
        let index = EdgeIndex::open(folder.path(), config.clone()).unwrap();
        index.upsert_batch(&enrolled(&faces)).unwrap();
    }
    // As if a process had saved the cells and stopped before filing any face.
    std::fs::write(folder.path().join("dspp-cells.bin"), cells.to_bytes()).unwrap();
    let index = EdgeIndex::open(folder.path(), config).unwrap();
    assert_eq!(*index.cells().unwrap(), cells);
    for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(60) {
        assert_eq!(index.search(probe, 1).unwrap()[0].id, id - 1);
    }
    // An index configured without cells will not take any.
    let plain = EdgeIndex::open(tempfile::tempdir().unwrap().path(), small_config()).unwrap();
    assert!(plain.install_cells(cells).is_err());
}

#[test]
fn a_sharded_embedded_index_answers_like_one_shard_and_keeps_its_shard_count() {
    let faces = population(300, 2, 17);
    let mut config = cell_config();
    config.shards = 3;
    let folder = tempfile::tempdir().unwrap();
    let sharded = EdgeIndex::open(folder.path(), config.clone()).unwrap();
    sharded.upsert_batch(&enrolled(&faces)).unwrap();
    sharded.optimize().unwrap();
    assert_eq!(sharded.len().unwrap(), 300);
    let cells = sharded.cells().expect("trained over the three shards");
    let single_folder = tempfile::tempdir().unwrap();
    let single = EdgeIndex::open(single_folder.path(), cell_config()).unwrap();
    single.install_cells((*cells).clone()).unwrap();
    single.upsert_batch(&enrolled(&faces)).unwrap();
    for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(50) {
        let a = sharded.search(probe, 5).unwrap();
        assert_eq!(a[0].id, id - 1);
        let ids = |c: &[face::Candidate]| c.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&single.search(probe, 5).unwrap()));
    }
    sharded.delete(10).unwrap();
    assert_eq!(sharded.len().unwrap(), 299);
    drop(sharded);
    let error = EdgeIndex::open(folder.path(), cell_config())
        .unwrap_err()
        .to_string();
    assert!(error.contains("another number of shards"), "{error}");
    config.shards = 2;
    assert!(EdgeIndex::open(folder.path(), config.clone()).is_err());
    config.shards = 3;
    let reopened = EdgeIndex::open(folder.path(), config).unwrap();
    assert_eq!(reopened.len().unwrap(), 299);
}

/// A single Qdrant node on free loopback ports, stopped (by its process id) when dropped.
struct QdrantNode {
    child: Child,
    grpc_port: u16,
    _storage: tempfile::TempDir,
}

impl Drop for QdrantNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_qdrant() -> QdrantNode {
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/tools/qdrant/qdrant");
    let storage = tempfile::tempdir().unwrap();
    let (http_port, grpc_port) = (free_port(), free_port());
    let mut child = Command::new(&binary)
        .arg("--disable-telemetry")
        .current_dir(storage.path())
        .env("QDRANT__SERVICE__HOST", "127.0.0.1")
        .env("QDRANT__SERVICE__HTTP_PORT", http_port.to_string())
        .env("QDRANT__SERVICE__GRPC_PORT", grpc_port.to_string())
        .env(
            "QDRANT__STORAGE__STORAGE_PATH",
            storage.path().join("storage"),
        )
        .env("QDRANT__LOG_LEVEL", "INFO")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    // Ready when the server says its gRPC listener is up: read its log, with a deadline.
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("gRPC listening") {
                let _ = ready_tx.send(());
            }
        }
    });
    let node = QdrantNode {
        child,
        grpc_port,
        _storage: storage,
    };
    ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("Qdrant did not report its gRPC listener within 60 s");
    // The log line comes just before the socket is bound: connect until it accepts, bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", grpc_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "Qdrant gRPC port {grpc_port} never accepted"
        );
        std::thread::yield_now();
    }
    node
}

#[test]
fn server_index_gives_the_same_answers_as_the_embedded_one() {
    let node = start_qdrant();
    let placement = ServerPlacement {
        url: format!("http://127.0.0.1:{}", node.grpc_port),
        collection: "faces".to_string(),
        shards: 1,
        replicas: 1,
    };
    let server = ServerIndex::connect(&placement, small_config()).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let edge = EdgeIndex::open(folder.path(), small_config()).unwrap();

    let faces = population(200, 2, 11);
    let enrolled: Vec<_> = faces
        .iter()
        .filter(|(id, _)| id % 10 == 0)
        .cloned()
        .collect();
    server.upsert_batch(&enrolled).unwrap();
    edge.upsert_batch(&enrolled).unwrap();
    server.optimize().unwrap();
    edge.optimize().unwrap();
    assert_eq!(server.len().unwrap(), 200);

    for (_, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(40) {
        let a = server.search(probe, 5).unwrap();
        let b = edge.search(probe, 5).unwrap();
        let ids = |c: &[face::Candidate]| c.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
        for (x, y) in a.iter().zip(&b) {
            assert!((x.distance - y.distance).abs() < 1e-3, "{a:?} {b:?}");
        }
    }
    server.delete(0).unwrap();
    assert_eq!(server.len().unwrap(), 199);
    // Reconnecting finds the collection rather than re-creating it.
    let again = ServerIndex::connect(&placement, small_config()).unwrap();
    assert_eq!(again.len().unwrap(), 199);
}

#[test]
fn server_and_embedded_indexes_with_the_same_cells_give_the_same_answers() {
    let node = start_qdrant();
    let placement = ServerPlacement {
        url: format!("http://127.0.0.1:{}", node.grpc_port),
        collection: "celled".to_string(),
        shards: 2,
        replicas: 1,
    };
    let config = cell_config();
    let faces = population(300, 2, 13);
    let server = ServerIndex::connect(&placement, config.clone()).unwrap();
    server.upsert_batch(&enrolled(&faces)).unwrap();
    // The server trains its cells from its own faces; the embedded index takes the same cells.
    server.optimize().unwrap();
    let cells = server.cells().expect("trained on the server");
    let folder = tempfile::tempdir().unwrap();
    let edge = EdgeIndex::open(folder.path(), config.clone()).unwrap();
    edge.install_cells((*cells).clone()).unwrap();
    edge.upsert_batch(&enrolled(&faces)).unwrap();
    edge.optimize().unwrap();
    // Both search through their binary codes.
    assert_eq!(codes_ready(|| server.code_status()), 300);
    assert_eq!(codes_ready(|| edge.code_status()), 300);
    for (id, probe) in faces.iter().filter(|(id, _)| id % 10 == 1).take(40) {
        let a = server.search(probe, 5).unwrap();
        let b = edge.search(probe, 5).unwrap();
        assert_eq!(a[0].id, id - 1);
        let ids = |c: &[face::Candidate]| c.iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b));
    }
    // Another process connecting reads the cells from the cluster, and the codes back.
    let again = ServerIndex::connect(&placement, config).unwrap();
    assert_eq!(*again.cells().unwrap(), *cells);
    assert_eq!(codes_ready(|| again.code_status()), 300);
    server.delete(0).unwrap();
    let (_, probe) = &faces[1];
    assert_ne!(server.search(probe, 1).unwrap()[0].id, 0);
}
