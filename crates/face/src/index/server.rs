//! The server index: a collection on a Qdrant server or cluster, reached over gRPC with
//! `qdrant-client`. Same layout and search settings as the embedded index; the collection is
//! created when missing, with the shard and replica counts given.
//!
//! With cells, the centroids live on the cluster too, in the companion collection
//! `COLLECTION_cells` (point `i` is cell `i`, each carrying the cell count so a partial write is
//! seen), so every process that connects files and searches faces alike.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    BinaryQuantizationBuilder, CollectionStatus, Condition, CountPointsBuilder,
    CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance,
    FieldType, Filter, HasIdCondition, HnswConfigDiffBuilder, IntegerIndexParamsBuilder, PointId,
    PointStruct, PointsIdsList, QuantizationSearchParamsBuilder, QueryPointsBuilder,
    RetrievedPoint, ScalarQuantizationBuilder, ScrollPointsBuilder, SearchParamsBuilder,
    UpsertPointsBuilder, VectorParamsBuilder, point_id::PointIdOptions, vector_output::Vector,
};

use super::cells::parallel_map;
use super::codes::{CodeTable, ReadBack};
use super::{
    CELL_FIELD, CELL_TRAINING_ROUNDS, Candidate, Cells, CodeStatus, FaceId, FaceIndex, HOME_FIELD,
    IndexConfig, Quantization, cell_numbers, check_k,
};
use crate::{Embedding, FaceError};

/// How long [`FaceIndex::optimize`] waits for the server to finish indexing.
const OPTIMIZE_DEADLINE: Duration = Duration::from_secs(3600);

/// A face index in a collection on a Qdrant server or cluster.
pub struct ServerIndex {
    client: Qdrant,
    runtime: Arc<tokio::runtime::Runtime>,
    collection: String,
    config: IndexConfig,
    /// The trained cells, once there are (see the edge index: the same rules).
    cells: RwLock<Option<Arc<Cells>>>,
    /// The faces' binary codes (see the edge index: the same rules).
    codes: CodeTable,
}

impl std::fmt::Debug for ServerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIndex")
            .field("collection", &self.collection)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Where the collection lives and how it is spread over the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPlacement {
    /// gRPC address of any node, e.g. `http://127.0.0.1:6334`.
    pub url: String,
    /// Collection name.
    pub collection: String,
    /// Shards (at least the node count, to spread the data).
    pub shards: u32,
    /// Copies of each shard (2 survives the loss of a node).
    pub replicas: u32,
}

impl ServerIndex {
    /// Connect, and create the collection when it does not exist yet.
    pub fn connect(
        placement: &ServerPlacement,
        config: IndexConfig,
    ) -> Result<ServerIndex, FaceError> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| FaceError::index(format!("starting the Qdrant client runtime: {e}")))?;
        let client = {
            let _guard = runtime.enter();
            Qdrant::from_url(&placement.url)
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| FaceError::index(format!("Qdrant at {}: {e}", placement.url)))?
        };
        let collection = placement.collection.clone();
        let exists = runtime
            .block_on(client.collection_exists(&collection))
            .map_err(|e| FaceError::index(format!("Qdrant at {}: {e}", placement.url)))?;
        if !exists {
            let mut vectors = VectorParamsBuilder::new(config.dimension as u64, Distance::Euclid)
                .on_disk(config.vectors_on_disk);
            match config.quantization {
                Quantization::None => {}
                Quantization::Scalar => {
                    vectors = vectors.quantization_config(
                        ScalarQuantizationBuilder::default()
                            .quantile(0.99)
                            .always_ram(true),
                    );
                }
                Quantization::Binary => {
                    vectors = vectors.quantization_config(BinaryQuantizationBuilder::new(true));
                }
            }
            let create = CreateCollectionBuilder::new(&collection)
                .vectors_config(vectors)
                .hnsw_config(
                    HnswConfigDiffBuilder::default()
                        .m(config.hnsw_m as u64)
                        .ef_construct(config.hnsw_ef_construct as u64),
                )
                .shard_number(placement.shards.max(1))
                .replication_factor(placement.replicas.max(1))
                .on_disk_payload(true);
            runtime
                .block_on(client.create_collection(create))
                .map_err(|e| FaceError::index(format!("creating collection {collection}: {e}")))?;
        }
        let index = ServerIndex {
            client,
            runtime: Arc::new(runtime),
            collection,
            config,
            cells: RwLock::new(None),
            codes: CodeTable::new(1),
        };
        if index.config.cells > 0
            && let Some(cells) = index.read_cells()?
        {
            index.install(cells, false)?;
        }
        Ok(index)
    }

    fn cells_collection(&self) -> String {
        format!("{}_cells", self.collection)
    }

    fn read_cells(&self) -> Result<Option<Cells>, FaceError> {
        let name = self.cells_collection();
        if !self
            .runtime
            .block_on(self.client.collection_exists(&name))
            .map_err(FaceError::index)?
        {
            return Ok(None);
        }
        let mut rows: Vec<(u64, Vec<f32>, i64)> = Vec::new();
        self.scroll_all(&name, None, |point| {
            let id = point_number(point.id.as_ref())?;
            let count = point
                .payload
                .get("count")
                .and_then(|v| v.as_integer())
                .unwrap_or(-1);
            rows.push((id, dense(&point)?, count));
            Ok(())
        })?;
        rows.sort_by_key(|r| r.0);
        let count = rows.len();
        if count == 0
            || rows
                .iter()
                .enumerate()
                .any(|(i, r)| r.0 != i as u64 || r.2 != count as i64)
        {
            return Err(FaceError::index(format!(
                "collection {name} does not hold a whole set of cells (a partial write?): \
                 install the cells again"
            )));
        }
        let dimension = rows[0].1.len();
        let centroids = rows.into_iter().flat_map(|r| r.1).collect();
        Cells::from_parts(dimension, centroids).map(Some)
    }

    /// Scroll every point of `collection` matching `filter`, vectors included.
    fn scroll_all(
        &self,
        collection: &str,
        filter: Option<Filter>,
        mut each: impl FnMut(RetrievedPoint) -> Result<(), FaceError>,
    ) -> Result<(), FaceError> {
        let mut offset: Option<PointId> = None;
        loop {
            let mut request = ScrollPointsBuilder::new(collection)
                .limit(4096)
                .with_vectors(true)
                .with_payload(true);
            if let Some(filter) = &filter {
                request = request.filter(filter.clone());
            }
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let response = self
                .runtime
                .block_on(self.client.scroll(request))
                .map_err(FaceError::index)?;
            for point in response.result {
                each(point)?;
            }
            match response.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The trained cells, if the collection is partitioned.
    pub fn cells(&self) -> Option<Arc<Cells>> {
        self.cells.read().ok().and_then(|c| c.clone())
    }

    /// Partition the collection with `cells`: saves them on the cluster, files every face not
    /// yet filed, then searches use them.
    pub fn install_cells(&self, cells: Cells) -> Result<(), FaceError> {
        self.install(cells, true)
    }

    fn install(&self, cells: Cells, save: bool) -> Result<(), FaceError> {
        self.config.check_cells(&cells)?;
        let mut slot = self
            .cells
            .write()
            .map_err(|_| FaceError::index("the cell lock was poisoned"))?;
        for (field, principal) in [(CELL_FIELD, false), (HOME_FIELD, true)] {
            self.runtime
                .block_on(
                    self.client.create_field_index(
                        CreateFieldIndexCollectionBuilder::new(
                            &self.collection,
                            field,
                            FieldType::Integer,
                        )
                        .field_index_params(
                            IntegerIndexParamsBuilder::new(true, false).is_principal(principal),
                        )
                        .wait(true),
                    ),
                )
                .map_err(FaceError::index)?;
        }
        if save {
            let name = self.cells_collection();
            let block = |e| FaceError::index(format!("collection {name}: {e}"));
            if self
                .runtime
                .block_on(self.client.collection_exists(&name))
                .map_err(block)?
            {
                self.runtime
                    .block_on(self.client.delete_collection(&name))
                    .map_err(block)?;
            }
            self.runtime
                .block_on(self.client.create_collection(
                    CreateCollectionBuilder::new(&name).vectors_config(VectorParamsBuilder::new(
                        cells.dimension() as u64,
                        Distance::Euclid,
                    )),
                ))
                .map_err(block)?;
            let count = cells.count() as i64;
            let points: Vec<PointStruct> = (0..cells.count())
                .map(|cell| {
                    let mut payload = qdrant_client::Payload::new();
                    payload.insert("count", count);
                    PointStruct::new(cell as u64, cells.centroid(cell).to_vec(), payload)
                })
                .collect();
            for chunk in points.chunks(4096) {
                self.runtime
                    .block_on(
                        self.client.upsert_points(
                            UpsertPointsBuilder::new(&name, chunk.to_vec()).wait(true),
                        ),
                    )
                    .map_err(block)?;
            }
        }
        let unfiled = Filter::must([Condition::is_empty(CELL_FIELD)]);
        let mut batch = Vec::new();
        let collection = self.collection.clone();
        self.scroll_all(&collection, Some(unfiled), |point| {
            batch.push((
                point_number(point.id.as_ref())?,
                Embedding::parse(dense(&point)?)?,
            ));
            if batch.len() == 4096 {
                self.upsert_with(&std::mem::take(&mut batch), Some(&cells))?;
            }
            Ok(())
        })?;
        self.upsert_with(&batch, Some(&cells))?;
        if self.config.short_list > 0 {
            self.read_codes(&cells)?;
        }
        *slot = Some(Arc::new(cells));
        Ok(())
    }

    /// Start reading every face's binary code back from the collection on a thread of its own.
    fn read_codes(&self, cells: &Cells) -> Result<(), FaceError> {
        let (client, runtime) = (self.client.clone(), self.runtime.clone());
        let collection = self.collection.clone();
        let mut offset: Option<PointId> = None;
        let mut done = false;
        let page = move || {
            if done {
                return Ok(None);
            }
            let mut request = ScrollPointsBuilder::new(&collection)
                .limit(4096)
                .with_vectors(true)
                .with_payload(true);
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let response = runtime
                .block_on(client.scroll(request))
                .map_err(FaceError::index)?;
            match response.next_page_offset {
                Some(next) => offset = Some(next),
                None => done = true,
            }
            response
                .result
                .iter()
                .map(read_back)
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
        self.codes.read_back(cells, vec![page])
    }

    /// Where the binary codes stand.
    pub fn code_status(&self) -> CodeStatus {
        self.codes.status()
    }

    fn train_if_due(&self) -> Result<(), FaceError> {
        if self.cells().is_some() {
            return Ok(());
        }
        let Some((wanted, every)) = self.config.training_plan(self.len()?) else {
            return Ok(());
        };
        let mut sample = Vec::with_capacity(wanted);
        let mut seen = 0usize;
        let collection = self.collection.clone();
        self.scroll_all(&collection, None, |point| {
            if seen.is_multiple_of(every) && sample.len() < wanted {
                sample.push(Embedding::parse(dense(&point)?)?);
            }
            seen += 1;
            Ok(())
        })?;
        let cells = Cells::train(&sample, self.config.cells, CELL_TRAINING_ROUNDS)?;
        self.install(cells, true)
    }

    fn upsert_with(
        &self,
        faces: &[(FaceId, Embedding)],
        cells: Option<&Cells>,
    ) -> Result<(), FaceError> {
        if faces.is_empty() {
            return Ok(());
        }
        for (_, embedding) in faces {
            self.config.check(embedding)?;
        }
        let filed = parallel_map(faces, |(id, embedding)| {
            let mut payload = qdrant_client::Payload::new();
            let mut at = Vec::new();
            if let Some(cells) = cells {
                let (home, filed) = self.config.filing(cells, embedding);
                at = cell_numbers(&filed);
                payload.insert(HOME_FIELD, home);
                payload.insert(CELL_FIELD, filed);
            }
            (
                PointStruct::new(*id, embedding.values().to_vec(), payload),
                at,
            )
        });
        let (points, homes): (Vec<PointStruct>, Vec<Vec<u32>>) = filed.into_iter().unzip();
        let _order = self.codes.write_order(0)?;
        self.runtime
            .block_on(
                self.client
                    .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true)),
            )
            .map_err(FaceError::index)?;
        self.codes.insert(
            faces
                .iter()
                .zip(&homes)
                .map(|((id, embedding), filed)| (*id, filed.as_slice(), embedding.values())),
        )
    }

    /// Drop the whole collection (tests and re-builds).
    pub fn drop_collection(&self) -> Result<(), FaceError> {
        self.runtime
            .block_on(self.client.delete_collection(&self.collection))
            .map_err(FaceError::index)?;
        Ok(())
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
            if short.is_empty() {
                return Ok(Vec::new());
            }
            // Qdrant scores the short list as the embedded index does.
            let query = QueryPointsBuilder::new(&self.collection)
                .query(embedding.values().to_vec())
                .limit(k as u64)
                .filter(Filter::must([Condition::from(HasIdCondition {
                    has_id: short.into_iter().map(PointId::from).collect(),
                })]))
                .params(self.search_params(k, false));
            return self.run_query(query);
        }
        let mut query = QueryPointsBuilder::new(&self.collection)
            .query(embedding.values().to_vec())
            .limit(k as u64)
            .params(self.search_params(k, exact));
        if !exact && let Some(cells) = self.config.probe_cells(self.cells().as_deref(), embedding) {
            // One `should` clause a cell, as the embedded index does (see there why).
            query = query.filter(Filter::should(
                cells
                    .into_iter()
                    .map(|cell| Condition::matches(CELL_FIELD, cell)),
            ));
        }
        self.run_query(query)
    }

    fn search_params(&self, k: usize, exact: bool) -> SearchParamsBuilder {
        let mut params = SearchParamsBuilder::default()
            .hnsw_ef(self.config.hnsw_ef.max(k) as u64)
            .exact(exact);
        if self.config.quantization != Quantization::None {
            params = params.quantization(
                QuantizationSearchParamsBuilder::default()
                    .ignore(exact)
                    .rescore(true)
                    .oversampling(self.config.oversampling),
            );
        }
        params
    }

    fn run_query(&self, query: QueryPointsBuilder) -> Result<Vec<Candidate>, FaceError> {
        let response = self
            .runtime
            .block_on(self.client.query(query))
            .map_err(FaceError::index)?;
        response
            .result
            .into_iter()
            .map(|point| match point.id.and_then(|id| id.point_id_options) {
                Some(PointIdOptions::Num(id)) => Ok(Candidate {
                    id,
                    distance: point.score,
                }),
                other => Err(FaceError::index(format!("unexpected point id {other:?}"))),
            })
            .collect()
    }

    /// The exact `k` nearest: the reference answer for measuring recall.
    pub fn search_exact(
        &self,
        embedding: &Embedding,
        k: usize,
    ) -> Result<Vec<Candidate>, FaceError> {
        self.search_with(embedding, k, true)
    }
}

impl FaceIndex for ServerIndex {
    fn upsert_batch(&self, faces: &[(FaceId, Embedding)]) -> Result<(), FaceError> {
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
        // As an upsert: not while cells are installed, in one order for collection and codes.
        let _cells = self
            .cells
            .read()
            .map_err(|_| FaceError::index("the cell lock was poisoned"))?;
        let _order = self.codes.write_order(0)?;
        let ids = PointsIdsList {
            ids: vec![PointId::from(id)],
        };
        self.runtime
            .block_on(
                self.client.delete_points(
                    DeletePointsBuilder::new(&self.collection)
                        .points(ids)
                        .wait(true),
                ),
            )
            .map_err(FaceError::index)?;
        self.codes.remove(id)
    }

    fn len(&self) -> Result<usize, FaceError> {
        let response = self
            .runtime
            .block_on(
                self.client
                    .count(CountPointsBuilder::new(&self.collection).exact(true)),
            )
            .map_err(FaceError::index)?;
        Ok(response.result.map_or(0, |r| r.count as usize))
    }

    fn optimize(&self) -> Result<(), FaceError> {
        self.train_if_due()?;
        let started = Instant::now();
        loop {
            let info = self
                .runtime
                .block_on(self.client.collection_info(&self.collection))
                .map_err(FaceError::index)?;
            let status = info.result.map(|r| r.status);
            if status == Some(CollectionStatus::Green as i32) {
                return Ok(());
            }
            if started.elapsed() > OPTIMIZE_DEADLINE {
                return Err(FaceError::index(format!(
                    "collection {} still indexing after {} s",
                    self.collection,
                    OPTIMIZE_DEADLINE.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn point_number(id: Option<&PointId>) -> Result<u64, FaceError> {
    match id.and_then(|id| id.point_id_options.as_ref()) {
        Some(PointIdOptions::Num(id)) => Ok(*id),
        other => Err(FaceError::index(format!("unexpected point id {other:?}"))),
    }
}

/// A scrolled point as the code reader takes it.
fn read_back(point: &RetrievedPoint) -> Result<ReadBack, FaceError> {
    let number =
        |v: &qdrant_client::qdrant::Value| v.as_integer().and_then(|c| u32::try_from(c).ok());
    let filed = match point.payload.get(CELL_FIELD) {
        Some(value) => match value.as_list() {
            Some(cells) => cells.iter().filter_map(number).collect(),
            None => number(value).into_iter().collect(),
        },
        None => Vec::new(),
    };
    Ok((point_number(point.id.as_ref())?, filed, dense(point)?))
}

fn dense(point: &RetrievedPoint) -> Result<Vec<f32>, FaceError> {
    match point.vectors.as_ref().and_then(|v| v.get_vector()) {
        Some(Vector::Dense(dense)) => Ok(dense.data),
        _ => Err(FaceError::index(format!(
            "point {:?} has no single dense vector",
            point.id
        ))),
    }
}
