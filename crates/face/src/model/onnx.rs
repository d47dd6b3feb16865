//! Writes a parsed dlib network as an ONNX model (IR 7, opset 13): the subset of `onnx.proto`
//! the graph needs, as `prost` messages with the field numbers of the ONNX specification, and a
//! builder that follows the tensor shapes so that dlib's size-mismatched additions become
//! explicit zero padding.

use super::dlib::{Layer, Network};
use crate::FaceError;

/// `onnx.ModelProto` (fields used here).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ModelProto {
    #[prost(int64, optional, tag = "1")]
    pub ir_version: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub producer_name: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub producer_version: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub doc_string: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `onnx.OperatorSetIdProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OperatorSetIdProto {
    #[prost(string, optional, tag = "1")]
    pub domain: Option<String>,
    #[prost(int64, optional, tag = "2")]
    pub version: Option<i64>,
}

/// `onnx.GraphProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, optional, tag = "2")]
    pub name: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `onnx.NodeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub op_type: Option<String>,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `onnx.AttributeProto` (INT, INTS and STRING attributes).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AttributeProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    /// `AttributeType`: INT 2, STRING 3, INTS 7.
    #[prost(int32, optional, tag = "20")]
    pub r#type: Option<i32>,
}

/// `onnx.TensorProto` with its values as little-endian `raw_data`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `DataType`: FLOAT 1, INT64 7.
    #[prost(int32, optional, tag = "2")]
    pub data_type: Option<i32>,
    #[prost(string, optional, tag = "8")]
    pub name: Option<String>,
    #[prost(bytes = "vec", optional, tag = "9")]
    pub raw_data: Option<Vec<u8>>,
}

/// `onnx.ValueInfoProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ValueInfoProto {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `onnx.TypeProto` (tensor types only).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
}

/// `onnx.TypeProto.Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TypeProtoTensor {
    #[prost(int32, optional, tag = "1")]
    pub elem_type: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `onnx.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `onnx.TensorShapeProto.Dimension` (fixed sizes only).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Dimension {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
}

const FLOAT: i32 = 1;
const INT64: i32 = 7;

/// Name of the model's input: float32 `[1, 3, side, side]`, RGB 0–255, NCHW.
pub(crate) const INPUT: &str = "image";
/// Name of the model's output: float32 `[1, 128]`.
pub(crate) const OUTPUT: &str = "descriptor";

fn attribute_ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        ints: values.iter().map(|v| *v as i64).collect(),
        r#type: Some(7),
        ..AttributeProto::default()
    }
}

fn attribute_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        i: Some(value),
        r#type: Some(2),
        ..AttributeProto::default()
    }
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(FLOAT),
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|d| Dimension {
                            dim_value: Some(*d as i64),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// A value of the graph under construction with its (static) shape, NCHW.
#[derive(Debug, Clone)]
struct Value {
    name: String,
    shape: [usize; 4],
}

/// Output side of a window sliding with a stride over `input + 2·padding` (floor, as dlib and ONNX).
fn slide(input: usize, window: usize, stride: usize, padding: usize) -> Result<usize, FaceError> {
    let padded = padding
        .checked_mul(2)
        .and_then(|p| p.checked_add(input))
        .unwrap_or(usize::MAX);
    if window == 0 || stride == 0 || padded < window || padded == usize::MAX {
        return Err(FaceError::model(format!(
            "window {window} with stride {stride} does not fit an input of {input} (padding {padding})"
        )));
    }
    Ok((padded - window) / stride + 1)
}

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

impl Builder {
    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}_{}", self.counter)
    }

    fn constant(&mut self, what: &str, dims: &[usize], values: &[f32]) -> String {
        let name = self.fresh(what);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|d| *d as i64).collect(),
            data_type: Some(FLOAT),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        });
        name
    }

    fn constant_i64(&mut self, what: &str, values: &[i64]) -> String {
        let name = self.fresh(what);
        self.initializers.push(TensorProto {
            dims: vec![values.len() as i64],
            data_type: Some(INT64),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        });
        name
    }

    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        output: Option<&str>,
    ) -> String {
        let output = output.map_or_else(|| self.fresh(&op.to_lowercase()), str::to_string);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: Some(format!("{op}_{}", self.nodes.len())),
            op_type: Some(op.to_string()),
            attribute: attributes,
        });
        output
    }

    /// Zero-pads `value` at the end of each axis up to `shape` (dlib's `tt::add` of unequal sizes).
    fn pad_to(&mut self, value: &Value, shape: [usize; 4]) -> Value {
        if value.shape == shape {
            return value.clone();
        }
        let mut pads = vec![0i64; 4];
        pads.extend(shape.iter().zip(value.shape).map(|(t, s)| (t - s) as i64));
        let pads = self.constant_i64("pads", &pads);
        let name = self.node("Pad", &[&value.name, &pads], vec![], None);
        Value { name, shape }
    }
}

/// Builds the ONNX model of a parsed network and encodes it.
pub(crate) fn to_onnx(network: &Network) -> Result<Vec<u8>, FaceError> {
    let mut builder = Builder::default();
    let side = network.side;
    // dlib's input layer: (pixel − mean) / 256 per channel.
    let mean = builder.constant("mean", &[1, 3, 1, 1], &network.mean_rgb);
    let scale = builder.constant("scale", &[], &[256.0]);
    let centred = builder.node("Sub", &[INPUT, &mean], vec![], None);
    let scaled = builder.node("Div", &[&centred, &scale], vec![], None);
    let mut current = Value {
        name: scaled,
        shape: [1, 3, side, side],
    };
    let mut tags: [Option<Value>; 10] = Default::default();
    let mut descriptor = None;
    for layer in &network.layers {
        if descriptor.is_some() {
            return Err(FaceError::model(
                "the fully connected layer must be the last layer",
            ));
        }
        match layer {
            Layer::Conv {
                filters,
                shape,
                bias,
                stride,
                padding,
                relu,
            } => {
                if shape[1] != current.shape[1] {
                    return Err(FaceError::model(format!(
                        "convolution expects {} channels, gets {}",
                        shape[1], current.shape[1]
                    )));
                }
                let weights = builder.constant("conv_w", shape, filters);
                let mut inputs = vec![current.name.clone(), weights];
                if let Some(bias) = bias {
                    inputs.push(builder.constant("conv_b", &[shape[0]], bias));
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let out_shape = [
                    1,
                    shape[0],
                    slide(current.shape[2], shape[2], stride[0], padding[0])?,
                    slide(current.shape[3], shape[3], stride[1], padding[1])?,
                ];
                let mut name = builder.node(
                    "Conv",
                    &inputs,
                    vec![
                        attribute_ints("kernel_shape", &[shape[2], shape[3]]),
                        attribute_ints("strides", stride),
                        attribute_ints("pads", &[padding[0], padding[1], padding[0], padding[1]]),
                    ],
                    None,
                );
                if *relu {
                    name = builder.node("Relu", &[&name], vec![], None);
                }
                current = Value {
                    name,
                    shape: out_shape,
                };
            }
            Layer::Affine { gamma, beta, shape } => {
                let dims = [1, shape[0], shape[1], shape[2]];
                let gamma = builder.constant("gamma", &dims, gamma);
                let beta = builder.constant("beta", &dims, beta);
                let scaled = builder.node("Mul", &[&current.name, &gamma], vec![], None);
                current.name = builder.node("Add", &[&scaled, &beta], vec![], None);
            }
            Layer::Relu => {
                current.name = builder.node("Relu", &[&current.name], vec![], None);
            }
            Layer::MaxPool {
                window,
                stride,
                padding,
            }
            | Layer::AvgPool {
                window,
                stride,
                padding,
            } if window[0] > 0 => {
                let op = if matches!(layer, Layer::MaxPool { .. }) {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let shape = [
                    1,
                    current.shape[1],
                    slide(current.shape[2], window[0], stride[0], padding[0])?,
                    slide(current.shape[3], window[1], stride[1], padding[1])?,
                ];
                let name = builder.node(
                    op,
                    &[&current.name],
                    vec![
                        attribute_ints("kernel_shape", window),
                        attribute_ints("strides", stride),
                        attribute_ints("pads", &[padding[0], padding[1], padding[0], padding[1]]),
                    ],
                    None,
                );
                current = Value { name, shape };
            }
            Layer::MaxPool { .. } => {
                return Err(FaceError::model(
                    "max pooling over the whole plane is not supported",
                ));
            }
            Layer::AvgPool { .. } => {
                let name = builder.node("GlobalAveragePool", &[&current.name], vec![], None);
                current = Value {
                    name,
                    shape: [1, current.shape[1], 1, 1],
                };
            }
            Layer::Tag { tag } | Layer::Skip { tag } | Layer::AddPrev { tag } => {
                let slot = tags
                    .get_mut(usize::from(*tag))
                    .ok_or_else(|| FaceError::model(format!("tag {tag} out of range")))?;
                match layer {
                    Layer::Tag { .. } => *slot = Some(current.clone()),
                    _ => {
                        let tagged = slot.clone().ok_or_else(|| {
                            FaceError::model(format!("tag {tag} used before it was set"))
                        })?;
                        if matches!(layer, Layer::Skip { .. }) {
                            current = tagged;
                        } else {
                            let shape: [usize; 4] = std::array::from_fn(|axis| {
                                current.shape[axis].max(tagged.shape[axis])
                            });
                            let a = builder.pad_to(&current, shape);
                            let b = builder.pad_to(&tagged, shape);
                            let name = builder.node("Add", &[&a.name, &b.name], vec![], None);
                            current = Value { name, shape };
                        }
                    }
                }
            }
            Layer::Fc {
                weights,
                inputs,
                outputs,
                bias,
            } => {
                let flat: usize = current.shape[1..].iter().product();
                if flat != *inputs {
                    return Err(FaceError::model(format!(
                        "fully connected layer takes {inputs} inputs, gets {flat}"
                    )));
                }
                let flattened = builder.node(
                    "Flatten",
                    &[&current.name],
                    vec![attribute_int("axis", 1)],
                    None,
                );
                let matrix = builder.constant("fc_w", &[*inputs, *outputs], weights);
                let name = match bias {
                    None => builder.node("MatMul", &[&flattened, &matrix], vec![], Some(OUTPUT)),
                    Some(bias) => {
                        let product = builder.node("MatMul", &[&flattened, &matrix], vec![], None);
                        let bias = builder.constant("fc_b", &[*outputs], bias);
                        builder.node("Add", &[&product, &bias], vec![], Some(OUTPUT))
                    }
                };
                descriptor = Some((name, *outputs));
            }
        }
    }
    let (_, outputs) = descriptor
        .ok_or_else(|| FaceError::model("the network has no fully connected output layer"))?;
    let model = ModelProto {
        ir_version: Some(7),
        producer_name: Some("dspp-face".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: Some(
            "dlib_face_recognition_resnet_model_v1 (CC0) converted by dspp's face crate"
                .to_string(),
        ),
        graph: Some(GraphProto {
            node: builder.nodes,
            name: Some("dlib_resnet_v1".to_string()),
            initializer: builder.initializers,
            input: vec![value_info(INPUT, &[1, 3, side, side])],
            output: vec![value_info(OUTPUT, &[1, outputs])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
    };
    Ok(prost::Message::encode_to_vec(&model))
}
