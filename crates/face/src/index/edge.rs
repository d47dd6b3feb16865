//! The embedded index: a Qdrant Edge shard in a local folder, in-process, no server.
//!
//! With cells ([`IndexConfig::cells`]) the trained centroids are kept beside the shard in
//! `dspp-cells.bin` (checksummed, replaced atomically); each point carries the cells it is filed
//! under in an integer payload field with a lookup index, and a search filters on the probe's
//! nearest cells. The faces' binary codes ([`super::codes`]) are read back from the shards when
//! the index opens; a search scans them for the probe's cells and has Qdrant score the short list.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use qdrant_edge::{
    BinaryQuantizationConfig, Condition, CountRequest, CreateIndex, DEFAULT_VECTOR_NAME, Distance,
    EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations,
    Filter, HasIdCondition, HnswIndexConfig, IntegerIndexParams, JsonPath, Match, NamedQuery,
    Payload, PayloadFieldSchema, PayloadSchemaParams, PointId, PointInsertOperations,
    PointOperations, PointStructPersisted, QuantizationConfig, QuantizationSearchParams, QueryEnum,
    ScalarQuantizationConfig, ScalarType, ScrollRequest, SearchParams, SearchRequest,
    UpdateOperation, VectorInternal, VectorStructInternal, VectorStructPersisted,
    WithPayloadInterface, WithVector,
};

use super::cells::parallel_map;
use super::codes::{CodeTable, ReadBack};
use super::{
    CELL_FIELD, CELL_TRAINING_ROUNDS, Candidate, Cells, CodeStatus, FaceId, FaceIndex, HOME_FIELD,
    IndexConfig, Quantization, cell_numbers, check_k,
};
use crate::{Embedding, FaceError};

/// The centroids of a partitioned index, beside Qdrant's own files.
const CELLS_FILE: &str = "dspp-cells.bin";

/// A face index in a local folder (Qdrant Edge).
pub struct EdgeIndex {
    /// One Qdrant Edge shard, or several (`IndexConfig::shards`) searched in parallel; a face
    /// lives in shard `id % shards`.
    shards: Arc<Vec<EdgeShard>>,
    config: IndexConfig,
    path: PathBuf,
    /// The trained cells, once there are; written while they are installed, so a search never
    /// sees cells that some faces are not yet filed under.
    cells: RwLock<Option<Arc<Cells>>>,
    /// The faces' binary codes, with the cells (and `short_list` > 0); read back from the shards
    /// by a thread of their own when the index opens, searched once complete.
    codes: CodeTable,
}

/// Where a face is filed: its home cell and the cells it is filed under.
type Filing = Option<(i64, Vec<i64>)>;

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(super) fn quantization_config(quantization: Quantization) -> Option<QuantizationConfig> {
    match quantization {
        Quantization::None => None,
        Quantization::Scalar => Some(QuantizationConfig::from(ScalarQuantizationConfig {
            r#type: ScalarType::Int8,
            quantile: Some(0.99),
            always_ram: Some(true),
        })),
        Quantization::Binary => Some(QuantizationConfig::from(BinaryQuantizationConfig {
            always_ram: Some(true),
            encoding: None,
            query_encoding: None,
        })),
    }
}

fn field_path(field: &str) -> Result<JsonPath, FaceError> {
    JsonPath::try_from(field).map_err(|()| FaceError::index(format!("bad field name {field}")))
}

impl EdgeIndex {
    /// Open the index in `folder`, creating it when the folder holds none.
    pub fn open(folder: &Path, config: IndexConfig) -> Result<EdgeIndex, FaceError> {
        config.validate()?;
        std::fs::create_dir_all(folder).map_err(|e| FaceError::io(folder, e))?;
        let mut vector = EdgeVectorParamsBuilder::new(config.dimension, Distance::Euclid)
            .on_disk(config.vectors_on_disk);
        if let Some(quantization) = quantization_config(config.quantization) {
            vector = vector.quantization_config(quantization);
        }
        let hnsw = HnswIndexConfig {
            m: config.hnsw_m,
            ef_construct: config.hnsw_ef_construct,
            ..HnswIndexConfig::default()
        };
        let edge_config = EdgeConfigBuilder::new()
            .vector(DEFAULT_VECTOR_NAME, vector.build())
            .hnsw_config(hnsw)
            .on_disk_payload(true)
            .build();
        let count = config.shards;
        let folders: Vec<PathBuf> = if count == 1 {
            vec![folder.to_path_buf()]
        } else {
            (0..count)
                .map(|i| folder.join(format!("shard-{i}")))
                .collect()
        };
        // A folder written with another shard count would scatter faces: refuse it.
        let single = folder.join("edge_config.json").is_file();
        let extra = folder.join(format!("shard-{count}")).is_dir();
        if (count > 1 && single) || (count == 1 && folder.join("shard-0").is_dir()) || extra {
            return Err(FaceError::index(format!(
                "{} holds a face index with another number of shards than the {count} configured",
                folder.display()
            )));
        }
        let mut shards = Vec::with_capacity(count);
        for path in &folders {
            std::fs::create_dir_all(path).map_err(|e| FaceError::io(path, e))?;
            let shard = if path.join("edge_config.json").is_file() {
                EdgeShard::load(path, Some(edge_config.clone()))
            } else {
                EdgeShard::new(path, edge_config.clone())
            }
            .map_err(|e| FaceError::index(format!("opening {}: {e}", path.display())))?;
            shards.push(shard);
        }
        let index = EdgeIndex {
            shards: Arc::new(shards),
            config,
            path: folder.to_path_buf(),
            cells: RwLock::new(None),
            codes: CodeTable::new(count),
        };
        let file = folder.join(CELLS_FILE);
        if index.config.cells > 0 && file.is_file() {
            let bytes = std::fs::read(&file).map_err(|e| FaceError::io(&file, e))?;
            let cells = Cells::from_bytes(&bytes)
                .map_err(|e| FaceError::index(format!("{}: {e}", file.display())))?;
            // A crash while cells were being installed leaves faces not yet filed: file them.
            index.install(cells, false)?;
        }
        Ok(index)
    }

    /// The trained cells, if the index is partitioned.
    pub fn cells(&self) -> Option<Arc<Cells>> {
        self.cells.read().ok().and_then(|c| c.clone())
    }

    /// Partition the index with `cells` (trained elsewhere, or shared with another index so both
    /// file faces alike): saves them, files every face not yet filed, then searches use them.
    pub fn install_cells(&self, cells: Cells) -> Result<(), FaceError> {
        self.install(cells, true)
    }

    fn install(&self, cells: Cells, save: bool) -> Result<(), FaceError> {
        self.config.check_cells(&cells)?;
        let mut slot = self
            .cells
            .write()
            .map_err(|_| FaceError::index("the cell lock was poisoned"))?;
        self.each_shard(|shard| {
            for (field, principal) in [(CELL_FIELD, false), (HOME_FIELD, true)] {
                shard
                    .update(UpdateOperation::FieldIndexOperation(
                        FieldIndexOperations::CreateIndex(CreateIndex {
                            field_name: field_path(field)?,
                            field_schema: Some(PayloadFieldSchema::FieldParams(
                                PayloadSchemaParams::Integer(IntegerIndexParams {
                                    lookup: Some(true),
                                    range: Some(false),
                                    is_principal: Some(principal),
                                    ..IntegerIndexParams::default()
                                }),
                            )),
                        }),
                    ))
                    .map_err(FaceError::index)?;
            }
            Ok(())
        })?;
        if save {
            let file = self.path.join(CELLS_FILE);
            let temporary = self.path.join(format!("{CELLS_FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut out = std::fs::File::create(&temporary)?;
                out.write_all(&cells.to_bytes())?;
                out.sync_all()?;
                std::fs::rename(&temporary, &file)?;
                std::fs::File::open(&self.path)?.sync_all()
            };
            write().map_err(|e| FaceError::io(&file, e))?;
        }
        // File every face that carries no cell yet (all of them on a first install).
        self.each_shard(|shard| file_unfiled(shard, &self.config, &cells))?;
        if self.config.short_list > 0 {
            self.read_codes(&cells)?;
        }
        *slot = Some(Arc::new(cells));
        Ok(())
    }

    /// Start reading every face's binary code back from the shards (from its vector and the
    /// cells it is filed under), a thread a shard.
    fn read_codes(&self, cells: &Cells) -> Result<(), FaceError> {
        let pages = (0..self.shards.len())
            .map(|number| {
                let shards = self.shards.clone();
                let mut offset = None;
                let mut done = false;
                move || {
                    if done {
                        return Ok(None);
                    }
                    let (records, next) =
                        scroll_page(&shards[number], offset, None, Some(CELL_FIELD))?;
                    match next {
                        Some(next) => offset = Some(next),
                        None => done = true,
                    }
                    records
                        .into_iter()
                        .map(read_back)
                        .collect::<Result<_, _>>()
                        .map(Some)
                }
            })
            .collect();
        self.codes.read_back(cells, pages)
    }

    /// Where the binary codes stand.
    pub fn code_status(&self) -> CodeStatus {
        self.codes.status()
    }

    /// Train cells on the faces in the index and install them, when it is partitioned, not yet
    /// trained and holds enough faces.
    fn train_if_due(&self) -> Result<(), FaceError> {
        if self.cells().is_some() {
            return Ok(());
        }
        let Some((wanted, every)) = self.config.training_plan(self.len()?) else {
            return Ok(());
        };
        let mut sample = Vec::with_capacity(wanted);
        let mut seen = 0usize;
        for shard in self.shards.iter() {
            let mut offset = None;
            loop {
                let (records, next) = scroll_page(shard, offset, None, None)?;
                for record in records {
                    if seen.is_multiple_of(every)
                        && sample.len() < wanted
                        && let Some(VectorStructInternal::Single(values)) = record.vector
                    {
                        sample.push(Embedding::parse(values)?);
                    }
                    seen += 1;
                }
                match next {
                    Some(next) if sample.len() < wanted => offset = Some(next),
                    _ => break,
                }
            }
        }
        let cells = Cells::train(&sample, self.config.cells, CELL_TRAINING_ROUNDS)?;
        self.install(cells, true)
    }

    fn upsert_with(
        &self,
        faces: &[(FaceId, Embedding)],
        cells: Option<&Cells>,
    ) -> Result<(), FaceError> {
        for (_, embedding) in faces {
            self.config.check(embedding)?;
        }
        let filings = filings(&self.config, faces, cells);
        if self.shards.len() == 1 {
            return self.upsert_part(0, faces, &filings);
        }
        let count = self.shards.len() as u64;
        type Part = (Vec<(FaceId, Embedding)>, Vec<Filing>);
        let mut parts: Vec<Part> = vec![(Vec::new(), Vec::new()); self.shards.len()];
        for (face, filing) in faces.iter().zip(&filings) {
            let part = &mut parts[(face.0 % count) as usize];
            part.0.push(face.clone());
            part.1.push(filing.clone());
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .enumerate()
                .filter(|(_, part)| !part.0.is_empty())
                .map(|(number, part)| {
                    scope.spawn(move || self.upsert_part(number, &part.0, &part.1))
                })
                .collect();
            join_all(handles).map(|_| ())
        })
    }

    /// Write faces of shard `number` to it, then to the codes, in the shard's write order.
    fn upsert_part(
        &self,
        number: usize,
        faces: &[(FaceId, Embedding)],
        filings: &[Filing],
    ) -> Result<(), FaceError> {
        let _order = self.codes.write_order(number)?;
        upsert_shard(&self.shards[number], faces, filings)?;
        let filed: Vec<Vec<u32>> = filings
            .iter()
            .map(|filing| {
                filing
                    .as_ref()
                    .map(|(_, filed)| cell_numbers(filed))
                    .unwrap_or_default()
            })
            .collect();
        self.codes.insert(
            faces
                .iter()
                .zip(&filed)
                .map(|((id, embedding), filed)| (*id, filed.as_slice(), embedding.values())),
        )
    }

    /// `f` on every shard, in parallel when there are several.
    fn each_shard<R: Send>(
        &self,
        f: impl Fn(&EdgeShard) -> Result<R, FaceError> + Sync,
    ) -> Result<Vec<R>, FaceError> {
        if self.shards.len() == 1 {
            return Ok(vec![f(&self.shards[0])?]);
        }
        std::thread::scope(|scope| {
            let f = &f;
            let handles: Vec<_> = self
                .shards
                .iter()
                .map(|shard| scope.spawn(move || f(shard)))
                .collect();
            join_all(handles)
        })
    }

    /// The folder of the index.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The search settings.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    fn search_with(
        &self,
        embedding: &Embedding,
        k: usize,
        exact: bool,
    ) -> Result<Vec<Candidate>, FaceError> {
        self.config.check(embedding)?;
        check_k(k)?;
        if !exact
            && let Some(short) =
                self.config
                    .code_short_list(self.cells().as_deref(), &self.codes, embedding, k)?
        {
            return self.score_short_list(embedding, k, short);
        }
        let cells = if exact {
            None
        } else {
            self.config.probe_cells(self.cells().as_deref(), embedding)
        };
        // One `should` clause a cell, not one "any of" match: Qdrant reads each clause's posting
        // list and drops repeats with a bit set, where "any of" keeps a hash set of every point.
        let filter = match cells {
            None => None,
            Some(cells) => {
                let path = field_path(CELL_FIELD)?;
                Some(Filter {
                    should: Some(
                        cells
                            .into_iter()
                            .map(|cell| {
                                Condition::Field(FieldCondition::new_match(
                                    path.clone(),
                                    Match::from(cell),
                                ))
                            })
                            .collect(),
                    ),
                    min_should: None,
                    must: None,
                    must_not: None,
                })
            }
        };
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::Dense(embedding.values().to_vec()),
                using: None,
            }),
            filter,
            params: Some(self.search_params(k, exact)),
            limit: k,
            offset: 0,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
        };
        self.search_shards(|_| Some(request.clone()), k)
    }

    /// The `k` of `short` nearest to `embedding`, scored by Qdrant (rescored with the original
    /// vectors).
    fn score_short_list(
        &self,
        embedding: &Embedding,
        k: usize,
        short: Vec<FaceId>,
    ) -> Result<Vec<Candidate>, FaceError> {
        let count = self.shards.len() as u64;
        let mut parts: Vec<Vec<PointId>> = vec![Vec::new(); self.shards.len()];
        for id in short {
            parts[(id % count) as usize].push(PointId::NumId(id));
        }
        let parts: Vec<Option<SearchRequest>> = parts
            .into_iter()
            .map(|ids| {
                (!ids.is_empty()).then(|| SearchRequest {
                    query: QueryEnum::Nearest(NamedQuery {
                        query: VectorInternal::Dense(embedding.values().to_vec()),
                        using: None,
                    }),
                    filter: Some(Filter::new_must(Condition::HasId(
                        HasIdCondition::from_iter(ids),
                    ))),
                    // The quantized copy in memory picks the `oversampling × k` best of the
                    // short list, whose originals are then read (from disk) to rescore them.
                    params: Some(self.search_params(k, false)),
                    limit: k,
                    offset: 0,
                    with_payload: None,
                    with_vector: None,
                    score_threshold: None,
                })
            })
            .collect();
        self.search_shards(|shard| parts[shard].clone(), k)
    }

    fn search_params(&self, k: usize, exact: bool) -> SearchParams {
        let quantization =
            (self.config.quantization != Quantization::None).then_some(QuantizationSearchParams {
                ignore: exact,
                rescore: Some(true),
                oversampling: Some(self.config.oversampling),
            });
        SearchParams {
            hnsw_ef: Some(self.config.hnsw_ef.max(k)),
            exact,
            quantization,
            indexed_only: false,
            acorn: None,
        }
    }

    /// Run each shard's request (none: skip the shard), merge, keep the `k` nearest.
    fn search_shards(
        &self,
        request: impl Fn(usize) -> Option<SearchRequest> + Sync,
        k: usize,
    ) -> Result<Vec<Candidate>, FaceError> {
        let numbered: Vec<(usize, &EdgeShard)> = self.shards.iter().enumerate().collect();
        let search = |(number, shard): &(usize, &EdgeShard)| -> Result<Vec<Candidate>, FaceError> {
            let Some(request) = request(*number) else {
                return Ok(Vec::new());
            };
            shard
                .search(request)
                .map_err(FaceError::index)?
                .into_iter()
                .map(|point| match point.id {
                    PointId::NumId(id) => Ok(Candidate {
                        id,
                        distance: point.score,
                    }),
                    other => Err(FaceError::index(format!("unexpected point id {other}"))),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let found = if numbered.len() == 1 {
            vec![search(&numbered[0])?]
        } else {
            parallel_map(&numbered, search)
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut candidates: Vec<Candidate> = found.into_iter().flatten().collect();
        candidates.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
        candidates.truncate(k);
        Ok(candidates)
    }

    /// The exact `k` nearest (no cells, no graph, no quantization): the reference answer for
    /// measuring recall.
    pub fn search_exact(
        &self,
        embedding: &Embedding,
        k: usize,
    ) -> Result<Vec<Candidate>, FaceError> {
        self.search_with(embedding, k, true)
    }
}

impl FaceIndex for EdgeIndex {
    fn upsert_batch(&self, faces: &[(FaceId, Embedding)]) -> Result<(), FaceError> {
        // Held for reading: cells being installed wait for the batch, and the batch for them.
        let cells = self
            .cells
            .read()
            .map_err(|_| FaceError::index("the cell lock was poisoned"))?;
        self.upsert_with(faces, cells.as_deref())
    }

    fn search(&self, embedding: &Embedding, k: usize) -> Result<Vec<Candidate>, FaceError> {
        self.search_with(embedding, k, false)
    }

    fn delete(&self, id: FaceId) -> Result<(), FaceError> {
        // As an upsert: not while cells are installed, in one order for shards and codes.
        let _cells = self
            .cells
            .read()
            .map_err(|_| FaceError::index("the cell lock was poisoned"))?;
        let number = (id % self.shards.len() as u64) as usize;
        let _order = self.codes.write_order(number)?;
        self.shards[number]
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePoints {
                    ids: vec![PointId::NumId(id)],
                },
            ))
            .map_err(FaceError::index)?;
        self.codes.remove(id)
    }

    fn len(&self) -> Result<usize, FaceError> {
        let counts = self.each_shard(|shard| {
            shard
                .count(CountRequest {
                    filter: None,
                    exact: true,
                })
                .map_err(FaceError::index)
        })?;
        Ok(counts.into_iter().sum())
    }

    fn optimize(&self) -> Result<(), FaceError> {
        self.train_if_due()?;
        // One shard at a time: an optimisation's peak memory is one shard's.
        for shard in self.shards.iter() {
            shard.optimize().map_err(FaceError::index)?;
        }
        Ok(())
    }
}

fn join_all<R>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Result<R, FaceError>>>,
) -> Result<Vec<R>, FaceError> {
    handles
        .into_iter()
        .map(|h| match h.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

/// Where each of `faces` is filed under `cells` (none without cells), on every processor.
fn filings(
    config: &IndexConfig,
    faces: &[(FaceId, Embedding)],
    cells: Option<&Cells>,
) -> Vec<Filing> {
    match cells {
        None => vec![None; faces.len()],
        Some(cells) => parallel_map(faces, |(_, embedding)| {
            Some(config.filing(cells, embedding))
        }),
    }
}

fn upsert_shard(
    shard: &EdgeShard,
    faces: &[(FaceId, Embedding)],
    filings: &[Filing],
) -> Result<(), FaceError> {
    let points = faces
        .iter()
        .zip(filings)
        .map(|((id, embedding), filing)| PointStructPersisted {
            id: PointId::NumId(*id),
            vector: VectorStructPersisted::Single(embedding.values().to_vec()),
            payload: filing.as_ref().map(|(home, filed)| {
                let mut payload = Payload::default();
                payload.0.insert(HOME_FIELD.to_string(), (*home).into());
                payload
                    .0
                    .insert(CELL_FIELD.to_string(), filed.clone().into());
                payload
            }),
        })
        .collect();
    shard
        .update(UpdateOperation::PointOperation(
            PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
        ))
        .map_err(FaceError::index)
}

/// File the faces of `shard` that carry no cell yet, reading their vectors back.
fn file_unfiled(shard: &EdgeShard, config: &IndexConfig, cells: &Cells) -> Result<(), FaceError> {
    let unfiled: Condition = qdrant_edge::external::serde_json::from_value(
        qdrant_edge::external::serde_json::json!({ "is_empty": { "key": CELL_FIELD } }),
    )
    .map_err(FaceError::index)?;
    let unfiled = Filter::new_must(unfiled);
    let mut offset = None;
    loop {
        let (records, next) = scroll_page(shard, offset, Some(&unfiled), None)?;
        if records.is_empty() {
            return Ok(());
        }
        let mut faces = Vec::with_capacity(records.len());
        for record in records {
            let (PointId::NumId(id), Some(VectorStructInternal::Single(values))) =
                (record.id, record.vector)
            else {
                return Err(FaceError::index(format!(
                    "point {} has no single dense vector",
                    record.id
                )));
            };
            faces.push((id, Embedding::parse(values)?));
        }
        upsert_shard(shard, &faces, &filings(config, &faces, Some(cells)))?;
        match next {
            Some(next) => offset = Some(next),
            None => return Ok(()),
        }
    }
}

/// A scrolled point as the code reader takes it.
fn read_back(record: qdrant_edge::Record) -> Result<ReadBack, FaceError> {
    let filed = match record.payload.as_ref().and_then(|p| p.0.get(CELL_FIELD)) {
        Some(qdrant_edge::external::serde_json::Value::Array(cells)) => cells
            .iter()
            .filter_map(|cell| cell.as_u64().and_then(|cell| u32::try_from(cell).ok()))
            .collect(),
        Some(cell) => cell
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    match (record.id, record.vector) {
        (PointId::NumId(id), Some(VectorStructInternal::Single(values))) => Ok((id, filed, values)),
        (id, _) => Err(FaceError::index(format!(
            "point {id} has no single dense vector"
        ))),
    }
}

/// One page of `shard`'s points from `offset`, vectors included, with the payload (all of it, or
/// the one field given).
fn scroll_page(
    shard: &EdgeShard,
    offset: Option<PointId>,
    filter: Option<&Filter>,
    field: Option<&str>,
) -> Result<(Vec<qdrant_edge::Record>, Option<PointId>), FaceError> {
    let with_payload = field
        .map(|field| field_path(field).map(|path| WithPayloadInterface::Fields(vec![path])))
        .transpose()?;
    shard
        .scroll(ScrollRequest {
            offset,
            limit: Some(4096),
            filter: filter.cloned(),
            with_payload,
            with_vector: WithVector::Bool(true),
            order_by: None,
        })
        .map_err(FaceError::index)
}
