//! The server index: a collection on a Qdrant server or cluster, reached over gRPC with
//! `qdrant-client`. Same layout and search settings as the embedded index; the collection is
//! created when missing, with the shard and replica counts given.

use std::time::{Duration, Instant};

use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    BinaryQuantizationBuilder, CollectionStatus, CountPointsBuilder, CreateCollectionBuilder,
    DeletePointsBuilder, Distance, HnswConfigDiffBuilder, PointId, PointStruct, PointsIdsList,
    QuantizationSearchParamsBuilder, QueryPointsBuilder, ScalarQuantizationBuilder,
    SearchParamsBuilder, UpsertPointsBuilder, VectorParamsBuilder, point_id::PointIdOptions,
};

use super::{Candidate, FaceId, FaceIndex, IndexConfig, Quantization, check_k};
use crate::{Embedding, FaceError};

/// How long [`FaceIndex::optimize`] waits for the server to finish indexing.
const OPTIMIZE_DEADLINE: Duration = Duration::from_secs(3600);

/// A face index in a collection on a Qdrant server or cluster.
pub struct ServerIndex {
    client: Qdrant,
    runtime: tokio::runtime::Runtime,
    collection: String,
    config: IndexConfig,
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
        Ok(ServerIndex {
            client,
            runtime,
            collection,
            config,
        })
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
        let query = QueryPointsBuilder::new(&self.collection)
            .query(embedding.values().to_vec())
            .limit(k as u64)
            .params(params);
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
        let mut points = Vec::with_capacity(faces.len());
        for (id, embedding) in faces {
            self.config.check(embedding)?;
            points.push(PointStruct::new(
                *id,
                embedding.values().to_vec(),
                qdrant_client::Payload::new(),
            ));
        }
        self.runtime
            .block_on(
                self.client
                    .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true)),
            )
            .map_err(FaceError::index)?;
        Ok(())
    }

    fn search(&self, embedding: &Embedding, k: usize) -> Result<Vec<Candidate>, FaceError> {
        self.search_with(embedding, k, false)
    }

    fn delete(&self, id: FaceId) -> Result<(), FaceError> {
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
        Ok(())
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
