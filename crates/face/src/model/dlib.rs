//! Reads dlib's binary serialization of `dlib_face_recognition_resnet_model_v1.dat`: the
//! `loss_metric<fc_no_bias<128, avg_pool_everything<...>>>` ResNet of dlib's
//! `dnn_face_recognition_ex.cpp`, layer by layer, into plain weights.
//!
//! The format (dlib `serialize.h`, `dnn/core.h`, `dnn/layers.h`, `cuda/tensor.h`):
//! - integers: a control byte (bit 7 the sign, bits 0–3 the number of bytes that follow, bits
//!   4–6 zero), then the magnitude little-endian in that many bytes;
//! - floats: two integers, a mantissa and an exponent, the value `mantissa · 2^exponent`
//!   (exponents 32000, 32001, 32002 mean +∞, −∞, NaN);
//! - strings: the length as an integer, then the bytes; booleans: the character `'1'` or `'0'`;
//! - tensors: version 2, the four dimensions (samples, k, rows, columns), then every value as a
//!   4-byte little-endian IEEE float; an alias tensor (a view into a layer's parameters): version 1
//!   and its four dimensions;
//! - a network from the outside in: each `add_layer` writes its version, then its sub-network
//!   (so the versions of all layers come first, outermost first), then its layer's details and
//!   its bookkeeping (three booleans and three tensors, empty in a saved model); tag and skip
//!   layers write only a version; the innermost `add_layer` also writes the input layer.
//!
//! The layer structure is not in the file (it is the C++ type), so the reader walks the known
//! template ([`architecture`]) and checks each layer's name and shape against it.

use crate::FaceError;

/// A dlib layer with its parameters, in the order the network applies them (input first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Layer {
    /// Convolution: filters `[out, in, rows, cols]` row-major, one bias per filter (or none).
    Conv {
        filters: Vec<f32>,
        shape: [usize; 4],
        bias: Option<Vec<f32>>,
        stride: [usize; 2],
        padding: [usize; 2],
        relu: bool,
    },
    /// `gamma · x + beta`, `gamma` and `beta` of shape `[k, rows, cols]` (rows = cols = 1 per channel).
    Affine {
        gamma: Vec<f32>,
        beta: Vec<f32>,
        shape: [usize; 3],
    },
    /// Rectifier.
    Relu,
    /// Max pooling, window and stride in rows and columns, padding.
    MaxPool {
        window: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Average pooling; a zero window averages the whole plane (`avg_pool_everything`).
    AvgPool {
        window: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Adds the output tagged `tag` to the current one; sizes may differ (missing values are 0).
    AddPrev { tag: u8 },
    /// Remembers the current output under `tag`.
    Tag { tag: u8 },
    /// Continues from the output tagged `tag`.
    Skip { tag: u8 },
    /// Fully connected: weights `[inputs, outputs]` row-major (`output = input · weights`).
    Fc {
        weights: Vec<f32>,
        inputs: usize,
        outputs: usize,
        bias: Option<Vec<f32>>,
    },
}

/// The parsed network: the input layer's per-channel means and the layers from input to output.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Network {
    /// Mean of red, green and blue subtracted before the /256 scaling.
    pub mean_rgb: [f32; 3],
    /// Side of the square input image.
    pub side: usize,
    pub layers: Vec<Layer>,
}

/// What the template says a layer is; the reader checks the file against it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Expected {
    Conv {
        filters: usize,
        window: usize,
        stride: usize,
    },
    Affine,
    Relu,
    MaxPool {
        window: usize,
        stride: usize,
    },
    AvgPool {
        window: usize,
        stride: usize,
    },
    AddPrev {
        tag: u8,
    },
    Tag {
        tag: u8,
    },
    Skip {
        tag: u8,
    },
    FcNoBias {
        outputs: usize,
    },
}

/// dlib's `block<N, affine, stride, SUBNET>`, outermost layer first.
fn block(filters: usize, stride: usize, out: &mut Vec<Expected>) {
    out.extend([
        Expected::Affine,
        Expected::Conv {
            filters,
            window: 3,
            stride: 1,
        },
        Expected::Relu,
        Expected::Affine,
        Expected::Conv {
            filters,
            window: 3,
            stride,
        },
    ]);
}

/// `ares<N>`: `relu<add_prev1<block<N,affine,1,tag1<SUBNET>>>>`.
fn ares(filters: usize, out: &mut Vec<Expected>) {
    out.extend([Expected::Relu, Expected::AddPrev { tag: 1 }]);
    block(filters, 1, out);
    out.push(Expected::Tag { tag: 1 });
}

/// `ares_down<N>`: `relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<N,affine,2,tag1<SUBNET>>>>>>>>`.
fn ares_down(filters: usize, out: &mut Vec<Expected>) {
    out.extend([
        Expected::Relu,
        Expected::AddPrev { tag: 2 },
        Expected::AvgPool {
            window: 2,
            stride: 2,
        },
        Expected::Skip { tag: 1 },
        Expected::Tag { tag: 2 },
    ]);
    block(filters, 2, out);
    out.push(Expected::Tag { tag: 1 });
}

/// The layers of dlib's face recognition ResNet (`anet_type` in `dnn_face_recognition_ex.cpp`)
/// below the loss, outermost first, the order in which the file writes their versions.
pub(crate) fn architecture() -> Vec<Expected> {
    let mut out = vec![
        Expected::FcNoBias { outputs: 128 },
        Expected::AvgPool {
            window: 0,
            stride: 1,
        },
    ];
    // alevel0
    ares_down(256, &mut out);
    // alevel1
    ares(256, &mut out);
    ares(256, &mut out);
    ares_down(256, &mut out);
    // alevel2
    ares(128, &mut out);
    ares(128, &mut out);
    ares_down(128, &mut out);
    // alevel3
    ares(64, &mut out);
    ares(64, &mut out);
    ares(64, &mut out);
    ares_down(64, &mut out);
    // alevel4
    ares(32, &mut out);
    ares(32, &mut out);
    ares(32, &mut out);
    out.extend([
        Expected::MaxPool {
            window: 3,
            stride: 2,
        },
        Expected::Relu,
        Expected::Affine,
        Expected::Conv {
            filters: 32,
            window: 7,
            stride: 2,
        },
    ]);
    out
}

/// Side of `input_rgb_image_sized<150>`.
const INPUT_SIDE: usize = 150;

/// A cursor over the file with dlib's primitive readers; every error names the byte offset.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn error(&self, what: impl std::fmt::Display) -> FaceError {
        FaceError::model(format!("dlib model file, byte {}: {what}", self.position))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FaceError> {
        let end = self
            .position
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| {
                self.error(format!(
                    "needs {n} more bytes, the file ends after {}",
                    self.bytes.len() - self.position
                ))
            })?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    /// dlib's `unpack_int`, for any integral type up to 64 bits.
    fn int(&mut self) -> Result<i64, FaceError> {
        let control = self.take(1)?[0];
        let size = usize::from(control & 0x0F);
        if control & 0x70 != 0 || size == 0 || size > 8 {
            return Err(self.error(format!("0x{control:02x} is not an integer control byte")));
        }
        let mut magnitude: u64 = 0;
        for (shift, byte) in self.take(size)?.iter().enumerate() {
            magnitude |= u64::from(*byte) << (8 * shift);
        }
        let value = i64::try_from(magnitude)
            .map_err(|_| self.error(format!("integer {magnitude} out of range")))?;
        Ok(if control & 0x80 != 0 { -value } else { value })
    }

    fn size(&mut self, what: &str) -> Result<usize, FaceError> {
        let value = self.int()?;
        usize::try_from(value).map_err(|_| self.error(format!("{what} is {value}")))
    }

    /// dlib's `float_details`: mantissa · 2^exponent.
    fn float(&mut self) -> Result<f32, FaceError> {
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            32000 => f32::INFINITY,
            32001 => f32::NEG_INFINITY,
            32002 => f32::NAN,
            e if (-1100..1100).contains(&e) => {
                // `e` fits in i32: checked by the range above.
                (mantissa as f64 * 2f64.powi(e as i32)) as f32
            }
            e => return Err(self.error(format!("float exponent {e} out of range"))),
        })
    }

    fn string(&mut self) -> Result<String, FaceError> {
        let length = self.size("string length")?;
        let bytes = self.take(length)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    fn boolean(&mut self) -> Result<bool, FaceError> {
        match self.take(1)?[0] {
            b'1' => Ok(true),
            b'0' => Ok(false),
            other => Err(self.error(format!("0x{other:02x} is not a boolean ('0' or '1')"))),
        }
    }

    fn version(
        &mut self,
        what: &str,
        accepted: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, FaceError> {
        let version = self.int()?;
        if accepted.contains(&version) {
            Ok(version)
        } else {
            Err(self.error(format!(
                "{what} version {version}; this reader knows {}..={}",
                accepted.start(),
                accepted.end()
            )))
        }
    }

    fn dims(&mut self) -> Result<[usize; 4], FaceError> {
        Ok([
            self.size("tensor samples")?,
            self.size("tensor k")?,
            self.size("tensor rows")?,
            self.size("tensor columns")?,
        ])
    }

    /// A `resizable_tensor`: version 2, dimensions, raw little-endian floats.
    fn tensor(&mut self) -> Result<Vec<f32>, FaceError> {
        self.version("tensor", 2..=2)?;
        let dims = self.dims()?;
        let count = dims
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
            .filter(|count| count.checked_mul(4).is_some())
            .ok_or_else(|| self.error(format!("tensor of {dims:?} values is too large")))?;
        let bytes = self.take(count * 4)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// An `alias_tensor`: version 1 and its dimensions.
    fn alias(&mut self) -> Result<[usize; 4], FaceError> {
        self.version("alias tensor", 1..=1)?;
        self.dims()
    }

    /// The three booleans and three tensors `add_layer` writes after its details.
    fn bookkeeping(&mut self, tensors: usize) -> Result<(), FaceError> {
        for _ in 0..3 {
            self.boolean()?;
        }
        for _ in 0..tensors {
            self.tensor()?;
        }
        Ok(())
    }
}

/// Number of values in a tensor of `dims`, saturating (a view that large never fits the parameters).
fn count(dims: [usize; 4]) -> usize {
    dims.iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .unwrap_or(usize::MAX)
}

/// Splits `params` into consecutive views of the given shapes (dlib's `alias_tensor` offsets).
fn views(
    reader: &Reader<'_>,
    params: &[f32],
    shapes: &[[usize; 4]],
) -> Result<Vec<Vec<f32>>, FaceError> {
    let total = shapes
        .iter()
        .try_fold(0usize, |acc, s| acc.checked_add(count(*s)))
        .unwrap_or(usize::MAX);
    if total != params.len() {
        return Err(reader.error(format!(
            "parameters hold {} values, the views {shapes:?} need {total}",
            params.len()
        )));
    }
    let mut offset = 0;
    Ok(shapes
        .iter()
        .map(|shape| {
            let view = params[offset..offset + count(*shape)].to_vec();
            offset += count(*shape);
            view
        })
        .collect())
}

fn learning_rates(reader: &mut Reader<'_>) -> Result<(), FaceError> {
    for _ in 0..4 {
        reader.float()?;
    }
    Ok(())
}

/// Reads one layer's details (what `serialize(item.details)` wrote) and checks it against the template.
fn details(reader: &mut Reader<'_>, expected: Expected) -> Result<Layer, FaceError> {
    let name = reader.string()?;
    let mismatch = |reader: &Reader<'_>, found: &str| {
        reader.error(format!(
            "found {found}, the network template has {expected:?} here"
        ))
    };
    let layer = match name.as_str() {
        "con_4" | "con_5" | "con_6" => {
            let params = reader.tensor()?;
            let filters = reader.size("filters")?;
            let rows = reader.size("filter rows")?;
            let cols = reader.size("filter columns")?;
            let stride = [reader.size("stride")?, reader.size("stride")?];
            let padding = [reader.size("padding")?, reader.size("padding")?];
            let filter_shape = reader.alias()?;
            let bias_shape = reader.alias()?;
            learning_rates(reader)?;
            let use_bias = if name != "con_4" {
                reader.boolean()?
            } else {
                true
            };
            let relu = name == "con_6" && reader.boolean()?;
            if padding[0] >= rows.max(1) || padding[1] >= cols.max(1) {
                return Err(reader.error(format!(
                    "convolution padding {padding:?} for a {rows}x{cols} filter"
                )));
            }
            if filter_shape[0] != filters || filter_shape[2] != rows || filter_shape[3] != cols {
                return Err(reader.error(format!(
                    "convolution of {filters} {rows}x{cols} filters has a filter view {filter_shape:?}"
                )));
            }
            let bias_shape = if use_bias && count(bias_shape) > 0 {
                Some(bias_shape)
            } else {
                None
            };
            let mut shapes = vec![filter_shape];
            shapes.extend(bias_shape);
            let mut parts = views(reader, &params, &shapes)?.into_iter();
            let weights = parts.next().unwrap_or_default();
            match expected {
                Expected::Conv {
                    filters: f,
                    window,
                    stride: s,
                } if f == filters && window == rows && window == cols && stride == [s, s] => {}
                _ => {
                    return Err(mismatch(
                        reader,
                        &format!("{name} with {filters} {rows}x{cols} filters, stride {stride:?}"),
                    ));
                }
            }
            Layer::Conv {
                filters: weights,
                shape: filter_shape,
                bias: parts.next(),
                stride,
                padding,
                relu,
            }
        }
        "affine_" | "affine_2" => {
            let params = reader.tensor()?;
            let gamma_shape = reader.alias()?;
            let beta_shape = reader.alias()?;
            let _mode = reader.int()?;
            let disabled = name == "affine_2" && reader.boolean()?;
            if gamma_shape != beta_shape || gamma_shape[0] != 1 {
                return Err(reader.error(format!(
                    "affine layer with gamma {gamma_shape:?} and beta {beta_shape:?}"
                )));
            }
            if expected != Expected::Affine {
                return Err(mismatch(reader, &name));
            }
            if disabled {
                // A disabled affine layer is the identity.
                let shape = [gamma_shape[1], gamma_shape[2], gamma_shape[3]];
                let n = count(gamma_shape);
                Layer::Affine {
                    gamma: vec![1.0; n],
                    beta: vec![0.0; n],
                    shape,
                }
            } else {
                let mut parts = views(reader, &params, &[gamma_shape, beta_shape])?.into_iter();
                Layer::Affine {
                    gamma: parts.next().unwrap_or_default(),
                    beta: parts.next().unwrap_or_default(),
                    shape: [gamma_shape[1], gamma_shape[2], gamma_shape[3]],
                }
            }
        }
        "bn_con2" | "bn_fc2" => {
            return Err(reader.error(format!(
                "{name}: batch normalization in training form; only networks saved for inference (affine layers) are supported"
            )));
        }
        "relu_" | "relu_2" => {
            if name == "relu_2" && reader.boolean()? {
                return Err(reader.error("disabled relu layers are not supported"));
            }
            if expected != Expected::Relu {
                return Err(mismatch(reader, &name));
            }
            Layer::Relu
        }
        "max_pool_2" | "avg_pool_2" => {
            let rows = reader.size("pool rows")?;
            let cols = reader.size("pool columns")?;
            let stride = [reader.size("stride")?, reader.size("stride")?];
            let padding = [reader.size("padding")?, reader.size("padding")?];
            let fits =
                |window: usize, s: usize| rows == window && cols == window && stride == [s, s];
            match (name.as_str(), expected) {
                ("max_pool_2", Expected::MaxPool { window, stride: s }) if fits(window, s) => {
                    Layer::MaxPool {
                        window: [rows, cols],
                        stride,
                        padding,
                    }
                }
                ("avg_pool_2", Expected::AvgPool { window, stride: s }) if fits(window, s) => {
                    Layer::AvgPool {
                        window: [rows, cols],
                        stride,
                        padding,
                    }
                }
                _ => {
                    return Err(mismatch(
                        reader,
                        &format!("{name} {rows}x{cols} stride {stride:?}"),
                    ));
                }
            }
        }
        "add_prev_" => match expected {
            Expected::AddPrev { tag } => Layer::AddPrev { tag },
            _ => return Err(mismatch(reader, &name)),
        },
        "fc_2" | "fc_3" => {
            let outputs = reader.size("fc outputs")?;
            let inputs = reader.size("fc inputs")?;
            let params = reader.tensor()?;
            let weight_shape = reader.alias()?;
            let bias_shape = reader.alias()?;
            let bias_mode = reader.int()?;
            learning_rates(reader)?;
            let use_bias = if name == "fc_3" {
                reader.boolean()?
            } else {
                true
            };
            // fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1.
            let has_bias = bias_mode == 0 && use_bias && count(bias_shape) > 0;
            if Some(count(weight_shape)) != inputs.checked_mul(outputs) {
                return Err(reader.error(format!(
                    "fc layer {inputs}→{outputs} has a weight view {weight_shape:?}"
                )));
            }
            let mut shapes = vec![weight_shape];
            if has_bias {
                shapes.push(bias_shape);
            }
            let mut parts = views(reader, &params, &shapes)?.into_iter();
            match expected {
                Expected::FcNoBias { outputs: o } if o == outputs && !has_bias => {}
                _ => {
                    return Err(mismatch(
                        reader,
                        &format!("{name} {inputs}→{outputs}, bias {has_bias}"),
                    ));
                }
            }
            Layer::Fc {
                weights: parts.next().unwrap_or_default(),
                inputs,
                outputs,
                bias: parts.next(),
            }
        }
        other => return Err(reader.error(format!("unknown layer '{other}'"))),
    };
    Ok(layer)
}

/// Parses the whole file; every byte must be accounted for.
pub(crate) fn parse(bytes: &[u8]) -> Result<Network, FaceError> {
    let mut reader = Reader { bytes, position: 0 };
    reader.version("add_loss_layer", 1..=1)?;
    let loss = reader.string()?;
    match loss.as_str() {
        "loss_metric_" => {}
        "loss_metric_2" => {
            reader.float()?;
            reader.float()?;
        }
        other => {
            return Err(reader.error(format!(
                "the network's loss is '{other}', not dlib's metric loss (loss_metric_)"
            )));
        }
    }
    let template = architecture();
    // The versions, outermost first; the innermost layer is the input-side add_layer.
    let mut versions = Vec::with_capacity(template.len());
    for (index, expected) in template.iter().enumerate() {
        let innermost = index + 1 == template.len();
        let version = match expected {
            Expected::Tag { .. } => reader.version("add_tag_layer", 1..=1)?,
            Expected::Skip { .. } => reader.version("add_skip_layer", 1..=1)?,
            _ if innermost => reader.version("input add_layer", 2..=3)?,
            _ => reader.version("add_layer", 1..=2)?,
        };
        versions.push(version);
    }
    // The input layer.
    let input = reader.string()?;
    if input != "input_rgb_image_sized" {
        return Err(reader.error(format!(
            "input layer '{input}'; dlib's face model has input_rgb_image_sized"
        )));
    }
    let mean_rgb = [reader.float()?, reader.float()?, reader.float()?];
    let rows = reader.size("input rows")?;
    let cols = reader.size("input columns")?;
    if rows != INPUT_SIDE || cols != INPUT_SIDE {
        return Err(reader.error(format!(
            "input is {rows}x{cols}; the face model takes {INPUT_SIDE}x{INPUT_SIDE}"
        )));
    }
    // Details from the innermost layer out.
    let mut layers = Vec::with_capacity(template.len());
    for (index, expected) in template.iter().enumerate().rev() {
        let innermost = index + 1 == template.len();
        match *expected {
            Expected::Tag { tag } => layers.push(Layer::Tag { tag }),
            Expected::Skip { tag } => layers.push(Layer::Skip { tag }),
            expected => {
                layers.push(details(&mut reader, expected)?);
                if innermost {
                    // x_grad, cached_output, grad_final, then (version 3) the sample expansion factor.
                    reader.bookkeeping(3)?;
                    if versions[index] >= 3 {
                        reader.int()?;
                    }
                } else {
                    // x_grad, cached_output, then (version 2) params_grad.
                    reader.bookkeeping(if versions[index] >= 2 { 3 } else { 2 })?;
                }
            }
        }
    }
    if reader.position != bytes.len() {
        return Err(reader.error(format!(
            "{} bytes left after the network",
            bytes.len() - reader.position
        )));
    }
    Ok(Network {
        mean_rgb,
        side: INPUT_SIDE,
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_int(bytes: &[u8]) -> Result<i64, FaceError> {
        Reader { bytes, position: 0 }.int()
    }

    #[test]
    fn integers_follow_dlib_pack_int() {
        assert_eq!(read_int(&[0x01, 0x00]).unwrap(), 0);
        assert_eq!(read_int(&[0x01, 0x02]).unwrap(), 2);
        assert_eq!(read_int(&[0x81, 0x05]).unwrap(), -5);
        assert_eq!(read_int(&[0x02, 0x34, 0x12]).unwrap(), 0x1234);
        assert!(read_int(&[0x00]).is_err());
        assert!(read_int(&[0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(read_int(&[0x31, 0x00]).is_err());
        let error = read_int(&[0x03, 0x01]).unwrap_err().to_string();
        assert!(error.contains("needs 3 more bytes"), "{error}");
    }

    #[test]
    fn floats_are_mantissa_times_two_to_the_exponent() {
        // 0.75 = 3 · 2^-2: mantissa 01 03, exponent 81 02.
        let mut reader = Reader {
            bytes: &[0x01, 0x03, 0x81, 0x02, 0x01, 0x00, 0x02, 0x00, 0x7d],
            position: 0,
        };
        assert_eq!(reader.float().unwrap(), 0.75);
        assert_eq!(reader.float().unwrap(), f32::INFINITY);
    }

    #[test]
    fn the_template_has_the_published_layer_count() {
        // fc and avg_pool_everything, 10 ares blocks of 8 layers, 4 ares_down of 11, and the
        // con/affine/relu/max_pool stem: 130 below the loss (dlib's net printout has 132 with
        // the loss and the input).
        let layers = architecture();
        assert_eq!(layers.len(), 2 + 10 * 8 + 4 * 11 + 4);
        let convolutions = layers
            .iter()
            .filter(|l| matches!(l, Expected::Conv { .. }))
            .count();
        assert_eq!(convolutions, 29);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let error = parse(&[]).unwrap_err().to_string();
        assert!(error.contains("byte 0"), "{error}");
        let mut foreign = vec![0x01, 0x01, 0x01, 0x09];
        foreign.extend_from_slice(b"loss_mmod");
        let error = parse(&foreign).unwrap_err().to_string();
        assert!(error.contains("loss_mmod"), "{error}");
    }
}
