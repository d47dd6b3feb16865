//! 1:N face search behind one interface with two implementations: the embedded Qdrant Edge shard
//! (the default: in-process, files on local disk) and a Qdrant server cluster through
//! `qdrant-client` (for deployments that outgrow one machine). Both use the same collection layout
//! — one unnamed dense vector, Euclidean distance, original vectors on disk, a quantized copy in
//! memory, HNSW, rescoring of the quantized candidates with the originals — and return the same
//! answers for exact search; approximate (HNSW) searches reach the same recall, though two graphs
//! built separately do not always miss the same mates.

mod cells;
#[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
mod codes;
#[cfg(feature = "edge")]
mod edge;
#[cfg(feature = "server")]
mod server;

use serde::{Deserialize, Serialize};

#[cfg(feature = "edge")]
pub use edge::EdgeIndex;
#[cfg(feature = "server")]
pub use server::{ServerIndex, ServerPlacement};

pub use cells::{Cells, MAX_CELLS};

use crate::{Embedding, FaceError};

/// The payload field holding the cells a face is filed under.
#[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
pub(crate) const CELL_FIELD: &str = "cell";
/// The payload field holding a face's nearest cell alone, indexed as Qdrant's principal key so
/// that building a segment stores the faces of one cell next to each other (a search then reads
/// runs of neighbouring vectors instead of scattered ones).
#[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
pub(crate) const HOME_FIELD: &str = "home";

/// A person's face in the index: the enrolment's identifier.
pub type FaceId = u64;

/// One search result: who, and how far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    /// The enrolment's identifier.
    pub id: FaceId,
    /// Euclidean distance to the probe.
    pub distance: f32,
}

/// A vector index of face embeddings.
///
/// Calls block; from async code run them on a blocking thread. A possible duplicate is a result:
/// callers compare `distance` with the engine's threshold.
pub trait FaceIndex: Send + Sync + std::fmt::Debug {
    /// Insert or replace the embedding of `id`.
    fn upsert(&self, id: FaceId, embedding: &Embedding) -> Result<(), FaceError> {
        self.upsert_batch(&[(id, embedding.clone())])
    }
    /// Insert or replace many embeddings at once (bulk enrolment and migration).
    fn upsert_batch(&self, faces: &[(FaceId, Embedding)]) -> Result<(), FaceError>;
    /// The `k` nearest enrolled faces, nearest first.
    fn search(&self, embedding: &Embedding, k: usize) -> Result<Vec<Candidate>, FaceError>;
    /// Remove `id` (absent ids are not an error: deletion is idempotent).
    fn delete(&self, id: FaceId) -> Result<(), FaceError>;
    /// Number of faces in the index.
    fn len(&self) -> Result<usize, FaceError>;
    /// Whether the index is empty.
    fn is_empty(&self) -> Result<bool, FaceError> {
        Ok(self.len()? == 0)
    }
    /// Build the search structures (HNSW, quantized vectors) after a bulk load; returns when the
    /// index is ready. The server builds in the background and this waits for it.
    fn optimize(&self) -> Result<(), FaceError>;
}

/// Where the binary codes of an index stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeStatus {
    /// No codes: no cells yet, or `short_list` is 0; searches read the cells through Qdrant.
    Off,
    /// Being read back from the index (this many so far); searches read the cells through Qdrant
    /// meanwhile.
    Reading(usize),
    /// Every face's code is in memory; searches scan them.
    Ready(usize),
    /// Reading them back failed (why); searches read the cells through Qdrant.
    Failed(String),
}

/// How vectors are compressed in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Quantization {
    /// Full 32-bit floats in memory (9.2 GB for 18 million 128-d faces).
    None,
    /// One byte per dimension (2.3 GB for 18 million 128-d faces), candidates rescored with the originals.
    #[default]
    Scalar,
    /// One bit per dimension (288 MB for 18 million 128-d faces), candidates rescored with the originals.
    Binary,
}

/// Layout and search settings of a face collection; the same for the embedded and server indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// Embedding dimension (128 for the dlib model).
    pub dimension: usize,
    /// Quantized copy kept in memory.
    #[serde(default)]
    pub quantization: Quantization,
    /// Keep the original vectors on disk (memory-mapped) rather than in memory.
    #[serde(default = "yes")]
    pub vectors_on_disk: bool,
    /// HNSW edges per node; 0 builds no graph: every search is a full scan of the in-memory
    /// quantized vectors, the `oversampling × k` best rescored with the originals (no build time,
    /// no graph memory, cost linear in the population).
    #[serde(default = "default_m")]
    pub hnsw_m: usize,
    /// HNSW build-time beam width.
    #[serde(default = "default_ef_construct")]
    pub hnsw_ef_construct: usize,
    /// HNSW search beam width (higher: better recall, slower).
    #[serde(default = "default_ef")]
    pub hnsw_ef: usize,
    /// Quantized candidates fetched per result before rescoring.
    #[serde(default = "default_oversampling")]
    pub oversampling: f64,
    /// Cells (an inverted-file partition, k-means on the enrolled faces) to split the collection
    /// into; 0 for none. A search then scores only the faces filed under the `cell_probes` cells
    /// nearest to the probe. Trained by [`FaceIndex::optimize`] once the index holds
    /// `CELL_TRAINING_FACES` faces a cell; until then every search reads everything.
    #[serde(default)]
    pub cells: usize,
    /// Cells read by a search (more: better recall, slower).
    #[serde(default = "default_cell_probes")]
    pub cell_probes: usize,
    /// Cells each face is filed under (its nearest ones): catches mates just across a boundary.
    #[serde(default = "default_cell_spill")]
    pub cell_spill: usize,
    /// With cells: faces a search passes from its binary-code scan of the probe's cells (one bit
    /// a dimension, kept in memory, about a nanosecond a face) to Qdrant, which scores them
    /// exactly; at least `k`. 0 has Qdrant itself read every face filed under those cells through
    /// its payload index (no codes in memory, several times slower).
    #[serde(default = "default_short_list")]
    pub short_list: usize,
    /// Embedded index only: Qdrant Edge shards in the folder, searched in parallel (one a
    /// processor puts every core on each search; a face lives in shard `id % shards`). A
    /// cluster's shards are set in `ServerPlacement`.
    #[serde(default = "default_shards")]
    pub shards: usize,
}

/// Faces a cell the index needs before it trains its cells (and the sample it trains on).
pub const CELL_TRAINING_FACES: usize = 32;
/// Lloyd rounds when training the cells.
pub const CELL_TRAINING_ROUNDS: usize = 6;

fn yes() -> bool {
    true
}
fn default_m() -> usize {
    16
}
fn default_ef_construct() -> usize {
    100
}
fn default_ef() -> usize {
    128
}
fn default_oversampling() -> f64 {
    4.0
}
fn default_cell_probes() -> usize {
    32
}
fn default_cell_spill() -> usize {
    2
}
fn default_short_list() -> usize {
    256
}
fn default_shards() -> usize {
    1
}

impl IndexConfig {
    /// The default layout for `dimension`-d embeddings.
    pub fn new(dimension: usize) -> IndexConfig {
        IndexConfig {
            dimension,
            quantization: Quantization::Scalar,
            vectors_on_disk: true,
            hnsw_m: default_m(),
            hnsw_ef_construct: default_ef_construct(),
            hnsw_ef: default_ef(),
            oversampling: default_oversampling(),
            cells: 0,
            cell_probes: default_cell_probes(),
            cell_spill: default_cell_spill(),
            short_list: default_short_list(),
            shards: default_shards(),
        }
    }

    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    /// How a search reads the cells: the filter's cell numbers for `probe`, or none (read all).
    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn probe_cells(&self, cells: Option<&Cells>, probe: &Embedding) -> Option<Vec<i64>> {
        let cells = cells?;
        Some(
            cells
                .nearest(probe.values(), self.cell_probes)
                .into_iter()
                .map(i64::from)
                .collect(),
        )
    }

    /// The short list of `probe`'s `k` nearest from the binary codes of the probe's nearest cells:
    /// none when the search must take Qdrant's own path (no codes configured, no cells yet, or the
    /// codes still being read back).
    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn code_short_list(
        &self,
        cells: Option<&Cells>,
        codes: &codes::CodeTable,
        probe: &Embedding,
        k: usize,
    ) -> Result<Option<Vec<FaceId>>, FaceError> {
        let Some(cells) = cells.filter(|_| self.short_list > 0) else {
            return Ok(None);
        };
        let probe_cells = cells.nearest(probe.values(), self.cell_probes);
        codes.short_list(probe.values(), &probe_cells, self.short_list.max(k))
    }

    /// Where a face is filed: its nearest cell (the `home` field) and the `cell_spill` nearest
    /// (the `cell` field), nearest first.
    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn filing(&self, cells: &Cells, face: &Embedding) -> (i64, Vec<i64>) {
        let filed: Vec<i64> = cells
            .nearest(face.values(), self.cell_spill)
            .into_iter()
            .map(i64::from)
            .collect();
        (filed.first().copied().unwrap_or_default(), filed)
    }

    /// Whether an index of this layout may take `cells`.
    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn check_cells(&self, cells: &Cells) -> Result<(), FaceError> {
        if self.cells == 0 {
            return Err(FaceError::index(
                "this index has cells = 0 in its configuration: set cells to partition it",
            ));
        }
        if cells.dimension() != self.dimension {
            return Err(FaceError::index(format!(
                "{}-d cells for a {}-d face index",
                cells.dimension(),
                self.dimension
            )));
        }
        Ok(())
    }

    /// When an untrained index holding `len` faces should train its cells: the sample size and
    /// the stride (every how many faces, in id order) it is taken at.
    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn training_plan(&self, len: usize) -> Option<(usize, usize)> {
        let wanted = self.cells * CELL_TRAINING_FACES;
        (self.cells > 0 && len >= wanted).then(|| (wanted, (len / wanted).max(1)))
    }

    pub(crate) fn check(&self, embedding: &Embedding) -> Result<(), FaceError> {
        if embedding.dimension() != self.dimension {
            return Err(FaceError::BadEmbedding {
                reason: format!(
                    "{}-d embedding for a {}-d face index",
                    embedding.dimension(),
                    self.dimension
                ),
            });
        }
        Ok(())
    }

    #[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
    pub(crate) fn validate(&self) -> Result<(), FaceError> {
        let mut problems = Vec::new();
        if !(1..=crate::MAX_DIMENSION).contains(&self.dimension) {
            problems.push(format!(
                "dimension {} must be 1 to {}",
                self.dimension,
                crate::MAX_DIMENSION
            ));
        }
        if self.hnsw_m != 0 && !(4..=128).contains(&self.hnsw_m) {
            problems.push(format!(
                "hnsw_m {} must be 4 to 128, or 0 for a quantized full scan",
                self.hnsw_m
            ));
        }
        if !(4..=4096).contains(&self.hnsw_ef_construct) || !(1..=4096).contains(&self.hnsw_ef) {
            problems.push("hnsw_ef_construct must be 4 to 4096 and hnsw_ef 1 to 4096".to_string());
        }
        if !(self.oversampling >= 1.0 && self.oversampling <= 64.0) {
            problems.push(format!(
                "oversampling {} must be 1 to 64",
                self.oversampling
            ));
        }
        if !(1..=64).contains(&self.shards) {
            problems.push(format!("shards {} must be 1 to 64", self.shards));
        }
        if self.cells > MAX_CELLS {
            problems.push(format!("cells {} must be 0 to {MAX_CELLS}", self.cells));
        }
        if self.cells > 0 && !(1..=self.cells).contains(&self.cell_probes) {
            problems.push(format!(
                "cell_probes {} must be 1 to the {} cells",
                self.cell_probes, self.cells
            ));
        }
        if self.cells > 0 && !(1..=8.min(self.cells)).contains(&self.cell_spill) {
            problems.push(format!(
                "cell_spill {} must be 1 to 8 (and at most the cells)",
                self.cell_spill
            ));
        }
        if self.short_list > MAX_SHORT_LIST {
            problems.push(format!(
                "short_list {} must be 0 to {MAX_SHORT_LIST}",
                self.short_list
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(FaceError::Config { problems })
        }
    }
}

/// Cell numbers from the `cell` field as the binary codes take them.
#[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
pub(crate) fn cell_numbers(filed: &[i64]) -> Vec<u32> {
    filed
        .iter()
        .filter_map(|&cell| u32::try_from(cell).ok())
        .collect()
}

/// Longest short list a binary-code scan may pass on.
pub const MAX_SHORT_LIST: usize = 100_000;

/// Largest `k` a search accepts.
pub const MAX_CANDIDATES: usize = 1000;

#[cfg_attr(not(any(feature = "edge", feature = "server")), allow(dead_code))]
pub(crate) fn check_k(k: usize) -> Result<(), FaceError> {
    if (1..=MAX_CANDIDATES).contains(&k) {
        Ok(())
    } else {
        Err(FaceError::index(format!(
            "k = {k}: ask for 1 to {MAX_CANDIDATES} candidates"
        )))
    }
}
