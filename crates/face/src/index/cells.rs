//! Cells: a k-means partition of embedding space (the coarse quantizer of an inverted-file index).
//!
//! A face is filed under the `spill` cells whose centroids are nearest to it; a search reads the
//! `probes` cells nearest to the probe and scores only the faces filed there. Filing a face under
//! more than one cell costs a few bytes of payload (no vector is copied) and catches the mates that
//! fall just across a cell boundary from their probe. Pure arithmetic: the indexes store the cell
//! numbers as a payload field and read the cells through Qdrant's payload index.

use sha2::{Digest, Sha256};

use crate::{Embedding, FaceError};

const MAGIC: &[u8; 8] = b"DSPPCEL1";
/// Header: magic, dimension (u32), count (u32).
const HEADER: usize = 16;
const CHECKSUM: usize = 32;

/// A trained partition: `count` centroids in `dimension`-d space.
#[derive(Clone, PartialEq)]
pub struct Cells {
    dimension: usize,
    /// `count × dimension`, row-major.
    centroids: Vec<f32>,
    /// Squared norm of each centroid.
    norms: Vec<f32>,
}

impl std::fmt::Debug for Cells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cells")
            .field("dimension", &self.dimension)
            .field("count", &self.count())
            .finish()
    }
}

impl Cells {
    /// Lloyd's k-means on `sample`, `count` cells, `iterations` rounds, on every processor.
    /// Starts from sample points spread by a fixed stride (deterministic: the same sample gives
    /// the same cells); a cell left empty by a round takes over the point farthest from its own
    /// centroid. Needs at least `count` sample points, all of one dimension.
    pub fn train(
        sample: &[Embedding],
        count: usize,
        iterations: usize,
    ) -> Result<Cells, FaceError> {
        let Some(first) = sample.first() else {
            return Err(FaceError::index("no sample to train the cells on"));
        };
        let dimension = first.dimension();
        if count == 0 || count > MAX_CELLS {
            return Err(FaceError::index(format!(
                "{count} cells: choose 1 to {MAX_CELLS}"
            )));
        }
        if sample.len() < count {
            return Err(FaceError::index(format!(
                "{} sample faces cannot train {count} cells: at least one face a cell is needed, \
                 30 or more a cell give good cells",
                sample.len()
            )));
        }
        if let Some(other) = sample.iter().find(|e| e.dimension() != dimension) {
            return Err(FaceError::BadEmbedding {
                reason: format!(
                    "{}-d embedding in a {dimension}-d training sample",
                    other.dimension()
                ),
            });
        }
        let stride = sample.len() / count;
        let mut centroids: Vec<f32> = (0..count)
            .flat_map(|j| sample[j * stride].values().iter().copied())
            .collect();
        for _ in 0..iterations {
            let cells = Cells::from_centroids(dimension, centroids.clone());
            let assigned = parallel_map(sample, |e| cells.nearest_one(e.values()));
            let mut sums = vec![0f64; count * dimension];
            let mut sizes = vec![0usize; count];
            for (e, &(cell, _)) in sample.iter().zip(&assigned) {
                sizes[cell] += 1;
                for (s, v) in sums[cell * dimension..(cell + 1) * dimension]
                    .iter_mut()
                    .zip(e.values())
                {
                    *s += f64::from(*v);
                }
            }
            // Empty cells restart on the points worst served by their centroid.
            let mut worst: Vec<usize> = (0..sample.len()).collect();
            worst.sort_by(|&a, &b| assigned[b].1.total_cmp(&assigned[a].1));
            let mut worst = worst.into_iter();
            for cell in 0..count {
                let row = &mut centroids[cell * dimension..(cell + 1) * dimension];
                if sizes[cell] == 0 {
                    if let Some(point) = worst.next() {
                        row.copy_from_slice(sample[point].values());
                    }
                } else {
                    for (c, s) in row.iter_mut().zip(&sums[cell * dimension..]) {
                        *c = (*s / sizes[cell] as f64) as f32;
                    }
                }
            }
        }
        Ok(Cells::from_centroids(dimension, centroids))
    }

    /// Cells from their centroids, `centroids.len() / dimension` of them (as read back from a
    /// server's cell collection).
    pub fn from_parts(dimension: usize, centroids: Vec<f32>) -> Result<Cells, FaceError> {
        let count = centroids.len().checked_div(dimension).unwrap_or(0);
        if !(1..=crate::MAX_DIMENSION).contains(&dimension)
            || !(1..=MAX_CELLS).contains(&count)
            || count * dimension != centroids.len()
        {
            return Err(FaceError::index(format!(
                "{} centroid values do not make whole {dimension}-d cells",
                centroids.len()
            )));
        }
        if centroids.iter().any(|v| !v.is_finite()) {
            return Err(FaceError::index("a centroid coordinate is not finite"));
        }
        Ok(Cells::from_centroids(dimension, centroids))
    }

    fn from_centroids(dimension: usize, centroids: Vec<f32>) -> Cells {
        let norms = centroids
            .chunks_exact(dimension)
            .map(|c| c.iter().map(|v| v * v).sum())
            .collect();
        Cells {
            dimension,
            centroids,
            norms,
        }
    }

    /// Number of cells.
    pub fn count(&self) -> usize {
        self.norms.len()
    }

    /// Dimension of the embeddings.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Centroid of `cell`.
    pub fn centroid(&self, cell: usize) -> &[f32] {
        &self.centroids[cell * self.dimension..(cell + 1) * self.dimension]
    }

    /// Squared distance to every centroid less |x|² (the same order): |c|² − 2 x·c.
    fn scores<'a>(&'a self, x: &'a [f32]) -> impl Iterator<Item = f32> + 'a {
        self.centroids
            .chunks_exact(self.dimension)
            .zip(&self.norms)
            .map(move |(c, n)| n - 2.0 * dot(c, x))
    }

    fn nearest_one(&self, x: &[f32]) -> (usize, f32) {
        let mut best = (0, f32::INFINITY);
        for (cell, score) in self.scores(x).enumerate() {
            if score < best.1 {
                best = (cell, score);
            }
        }
        let norm: f32 = x.iter().map(|v| v * v).sum();
        (best.0, best.1 + norm)
    }

    /// The `n` cells nearest to `x`, nearest first.
    pub fn nearest(&self, x: &[f32], n: usize) -> Vec<u32> {
        let n = n.clamp(1, self.count());
        let mut scored: Vec<(f32, u32)> = self
            .scores(x)
            .enumerate()
            .map(|(cell, score)| (score, cell as u32))
            .collect();
        if n < scored.len() {
            scored.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
            scored.truncate(n);
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        scored.into_iter().map(|(_, cell)| cell).collect()
    }

    /// The stored form: magic, dimension and count (little-endian u32), the centroids as
    /// little-endian f32, then the SHA-256 of everything before it.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.centroids.len() * 4 + CHECKSUM);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dimension as u32).to_le_bytes());
        out.extend_from_slice(&(self.count() as u32).to_le_bytes());
        for v in &self.centroids {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Read the stored form, refusing anything truncated, altered or not finite.
    pub fn from_bytes(bytes: &[u8]) -> Result<Cells, FaceError> {
        let bad = |reason: String| FaceError::index(format!("cell file: {reason}"));
        if bytes.len() < HEADER + CHECKSUM {
            return Err(bad(format!(
                "{} bytes is shorter than the {} of an empty file",
                bytes.len(),
                HEADER + CHECKSUM
            )));
        }
        if &bytes[..8] != MAGIC {
            return Err(bad("does not start with DSPPCEL1".to_string()));
        }
        let (body, digest) = bytes.split_at(bytes.len() - CHECKSUM);
        if Sha256::digest(body).as_slice() != digest {
            return Err(bad("checksum mismatch (truncated or altered)".to_string()));
        }
        let word =
            |at: usize| u32::from_le_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        let dimension = word(8) as usize;
        let count = word(12) as usize;
        if !(1..=crate::MAX_DIMENSION).contains(&dimension) || !(1..=MAX_CELLS).contains(&count) {
            return Err(bad(format!("{count} cells of dimension {dimension}")));
        }
        let expected = HEADER + count * dimension * 4;
        if body.len() != expected {
            return Err(bad(format!(
                "{} bytes of centroids where {count} × {dimension} need {}",
                body.len() - HEADER,
                expected - HEADER
            )));
        }
        let centroids: Vec<f32> = body[HEADER..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if centroids.iter().any(|v| !v.is_finite()) {
            return Err(bad("a centroid coordinate is not finite".to_string()));
        }
        Ok(Cells::from_centroids(dimension, centroids))
    }
}

/// Dot product in eight lanes (a sum in one lane is not vectorised: floating-point addition is not
/// associative, so the compiler keeps its order).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Most cells an index may have.
pub const MAX_CELLS: usize = 1 << 20;

/// `f` over `items` on every processor, in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(part) => part,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blobs() -> Vec<Embedding> {
        // Four tight blobs at the corners of a square in 4-d.
        let corners = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]];
        (0..200)
            .map(|i| {
                let c = corners[i % 4];
                let jitter = (i as f32 * 0.618).fract() * 0.05;
                Embedding::parse(vec![c[0] + jitter, c[1] - jitter, jitter, 0.0]).unwrap()
            })
            .collect()
    }

    #[test]
    fn k_means_finds_the_blobs_and_nearest_orders_the_cells() {
        let cells = Cells::train(&blobs(), 4, 10).unwrap();
        let mut corners: Vec<(i32, i32)> = (0..4)
            .map(|c| {
                let x = cells.centroid(c);
                (x[0].round() as i32, x[1].round() as i32)
            })
            .collect();
        corners.sort();
        assert_eq!(corners, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        let order = cells.nearest(&[0.9, 0.1, 0.0, 0.0], 4);
        let first = cells.centroid(order[0] as usize);
        assert_eq!((first[0].round(), first[1].round()), (1.0, 0.0));
        let last = cells.centroid(order[3] as usize);
        assert_eq!((last[0].round(), last[1].round()), (0.0, 1.0));
    }

    #[test]
    fn the_stored_form_round_trips_and_damage_is_refused() {
        let cells = Cells::train(&blobs(), 4, 3).unwrap();
        let bytes = cells.to_bytes();
        assert_eq!(Cells::from_bytes(&bytes).unwrap(), cells);
        let mut altered = bytes.clone();
        altered[20] ^= 1;
        assert!(
            Cells::from_bytes(&altered)
                .unwrap_err()
                .to_string()
                .contains("checksum mismatch")
        );
        assert!(
            Cells::from_bytes(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .to_string()
                .contains("checksum mismatch")
        );
        assert!(
            Cells::from_bytes(b"DSPPCEL1")
                .unwrap_err()
                .to_string()
                .contains("shorter")
        );
        for len in 0..bytes.len() {
            assert!(Cells::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn the_eight_lane_dot_product_is_the_dot_product() {
        for len in 0..40 {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-4, "{len}");
        }
    }

    #[test]
    fn training_needs_enough_faces_of_one_dimension() {
        let sample = blobs();
        assert!(
            Cells::train(&sample[..3], 4, 1)
                .unwrap_err()
                .to_string()
                .contains("3 sample faces")
        );
        assert!(Cells::train(&[], 4, 1).is_err());
        let mut mixed = sample.clone();
        mixed.push(Embedding::parse(vec![0.0; 5]).unwrap());
        assert!(Cells::train(&mixed, 4, 1).is_err());
    }
}
