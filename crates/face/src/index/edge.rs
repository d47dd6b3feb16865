//! The embedded index: a Qdrant Edge shard in a local folder, in-process, no server.

use std::path::{Path, PathBuf};

use qdrant_edge::{
    BinaryQuantizationConfig, CountRequest, DEFAULT_VECTOR_NAME, Distance, EdgeConfigBuilder,
    EdgeShard, EdgeVectorParamsBuilder, HnswIndexConfig, NamedQuery, PointId,
    PointInsertOperations, PointOperations, PointStructPersisted, QuantizationConfig,
    QuantizationSearchParams, QueryEnum, ScalarQuantizationConfig, ScalarType, SearchParams,
    SearchRequest, UpdateOperation, VectorInternal, VectorStructPersisted,
};

use super::{Candidate, FaceId, FaceIndex, IndexConfig, Quantization, check_k};
use crate::{Embedding, FaceError};

/// A face index in a local folder (Qdrant Edge).
pub struct EdgeIndex {
    shard: EdgeShard,
    config: IndexConfig,
    path: PathBuf,
}

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
        let existing = folder.join("edge_config.json").is_file();
        let shard = if existing {
            EdgeShard::load(folder, Some(edge_config))
        } else {
            EdgeShard::new(folder, edge_config)
        }
        .map_err(|e| FaceError::index(format!("opening {}: {e}", folder.display())))?;
        Ok(EdgeIndex {
            shard,
            config,
            path: folder.to_path_buf(),
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
        let quantization =
            (self.config.quantization != Quantization::None).then_some(QuantizationSearchParams {
                ignore: exact,
                rescore: Some(true),
                oversampling: Some(self.config.oversampling),
            });
        let request = SearchRequest {
            query: QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::Dense(embedding.values().to_vec()),
                using: None,
            }),
            filter: None,
            params: Some(SearchParams {
                hnsw_ef: Some(self.config.hnsw_ef.max(k)),
                exact,
                quantization,
                indexed_only: false,
                acorn: None,
            }),
            limit: k,
            offset: 0,
            with_payload: None,
            with_vector: None,
            score_threshold: None,
        };
        let points = self.shard.search(request).map_err(FaceError::index)?;
        points
            .into_iter()
            .map(|point| match point.id {
                PointId::NumId(id) => Ok(Candidate {
                    id,
                    distance: point.score,
                }),
                other => Err(FaceError::index(format!("unexpected point id {other}"))),
            })
            .collect()
    }

    /// The exact `k` nearest (no graph, no quantization): the reference answer for measuring recall.
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
        let mut points = Vec::with_capacity(faces.len());
        for (id, embedding) in faces {
            self.config.check(embedding)?;
            points.push(PointStructPersisted {
                id: PointId::NumId(*id),
                vector: VectorStructPersisted::Single(embedding.values().to_vec()),
                payload: None,
            });
        }
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(points)),
            ))
            .map_err(FaceError::index)
    }

    fn search(&self, embedding: &Embedding, k: usize) -> Result<Vec<Candidate>, FaceError> {
        self.search_with(embedding, k, false)
    }

    fn delete(&self, id: FaceId) -> Result<(), FaceError> {
        self.shard
            .update(UpdateOperation::PointOperation(
                PointOperations::DeletePoints {
                    ids: vec![PointId::NumId(id)],
                },
            ))
            .map_err(FaceError::index)
    }

    fn len(&self) -> Result<usize, FaceError> {
        self.shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(FaceError::index)
    }

    fn optimize(&self) -> Result<(), FaceError> {
        self.shard.optimize().map_err(FaceError::index)?;
        Ok(())
    }
}
