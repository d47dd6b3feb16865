//! Fuzz the reader of dlib's serialized face model: any bytes give an ONNX model or an error,
//! never a panic or an allocation larger than the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = face::dlib_resnet_to_onnx(data);
});
