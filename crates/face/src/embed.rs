//! Embeddings: the vector a face model gives for an aligned chip, and the distance between two.
//!
//! Comparisons use Euclidean distance on the raw vectors, the scale dlib's published threshold
//! (0.6) refers to; the dimension comes from the model, so a 512-d model plugs in unchanged.

use image::RgbImage;

use crate::FaceError;
use crate::runtime::Model;

/// Largest embedding dimension accepted.
pub const MAX_DIMENSION: usize = 4096;

/// A face embedding: finite values, 1 to [`MAX_DIMENSION`] of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    values: Vec<f32>,
}

impl Embedding {
    /// Check and wrap raw values.
    pub fn parse(values: Vec<f32>) -> Result<Embedding, FaceError> {
        if values.is_empty() || values.len() > MAX_DIMENSION {
            return Err(FaceError::BadEmbedding {
                reason: format!(
                    "{} dimensions; 1 to {MAX_DIMENSION} are accepted",
                    values.len()
                ),
            });
        }
        if let Some(position) = values.iter().position(|v| !v.is_finite()) {
            return Err(FaceError::BadEmbedding {
                reason: format!("value {position} is not a finite number"),
            });
        }
        Ok(Embedding { values })
    }

    /// The values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Number of dimensions.
    pub fn dimension(&self) -> usize {
        self.values.len()
    }

    /// Euclidean distance; an error when the dimensions differ.
    pub fn distance(&self, other: &Embedding) -> Result<f32, FaceError> {
        if self.values.len() != other.values.len() {
            return Err(FaceError::BadEmbedding {
                reason: format!(
                    "cannot compare a {}-d embedding with a {}-d one (different models)",
                    self.values.len(),
                    other.values.len()
                ),
            });
        }
        Ok(euclidean(&self.values, &other.values))
    }

    /// Little-endian f32 bytes (what is encrypted at rest).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Read back [`Embedding::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Embedding, FaceError> {
        if !bytes.len().is_multiple_of(4) {
            return Err(FaceError::BadEmbedding {
                reason: format!("{} bytes is not a whole number of f32 values", bytes.len()),
            });
        }
        Embedding::parse(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// Euclidean distance of two equally long slices.
pub fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// The embedding model and its input convention.
#[derive(Debug)]
pub(crate) struct Embedder {
    model: Model,
    side: usize,
    pixel_mean: f32,
    pixel_scale: f32,
}

impl Embedder {
    pub(crate) fn new(
        model: Model,
        side: u32,
        pixel_mean: f32,
        pixel_scale: f32,
    ) -> Result<Embedder, FaceError> {
        let shape = model.input_shape()?;
        let side = side as usize;
        let fits = shape.len() == 4
            && (shape[1] == 3)
            && (shape[2] == -1 || shape[2] == side as i64)
            && (shape[3] == -1 || shape[3] == side as i64);
        if !fits {
            return Err(FaceError::model(format!(
                "embedding model input is {shape:?}; the chip template needs [1, 3, {side}, {side}]"
            )));
        }
        Ok(Embedder {
            model,
            side,
            pixel_mean,
            pixel_scale,
        })
    }

    /// Embed an aligned RGB chip.
    pub(crate) fn embed_chip(&self, chip: &RgbImage) -> Result<Embedding, FaceError> {
        let side = self.side;
        if chip.width() as usize != side || chip.height() as usize != side {
            return Err(FaceError::model(format!(
                "chip is {}x{}, the model needs {side}x{side}",
                chip.width(),
                chip.height()
            )));
        }
        let mut input = vec![0f32; 3 * side * side];
        for (x, y, pixel) in chip.enumerate_pixels() {
            let offset = y as usize * side + x as usize;
            for c in 0..3 {
                input[c * side * side + offset] =
                    (f32::from(pixel[c]) - self.pixel_mean) * self.pixel_scale;
            }
        }
        self.embed_tensor(input)
    }

    /// Embed a ready NCHW tensor (used by the reference check).
    pub(crate) fn embed_tensor(&self, input: Vec<f32>) -> Result<Embedding, FaceError> {
        let side = self.side;
        let outputs = self.model.run([1, 3, side, side], input)?;
        let output = outputs
            .into_iter()
            .next()
            .ok_or_else(|| FaceError::model("embedding model gave no output"))?;
        Embedding::parse(output.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refuses_empty_and_nan() {
        assert!(Embedding::parse(vec![]).is_err());
        let error = Embedding::parse(vec![0.0, f32::NAN]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "embedding invalid: value 1 is not a finite number"
        );
    }

    #[test]
    fn bytes_round_trip() {
        let embedding = Embedding::parse(vec![0.25, -1.5, 3.0]).unwrap();
        assert_eq!(
            Embedding::from_bytes(&embedding.to_bytes()).unwrap(),
            embedding
        );
        assert!(Embedding::from_bytes(&[0, 1, 2]).is_err());
    }

    #[test]
    fn distance_needs_equal_dimensions() {
        let a = Embedding::parse(vec![0.0, 0.0]).unwrap();
        let b = Embedding::parse(vec![3.0, 4.0]).unwrap();
        assert_eq!(a.distance(&b).unwrap(), 5.0);
        let c = Embedding::parse(vec![1.0]).unwrap();
        assert!(a.distance(&c).is_err());
    }
}
