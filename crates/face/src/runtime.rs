//! ONNX Runtime, loaded at run time from `libonnxruntime.so` (the PyPI `onnxruntime` wheel's copy),
//! and the sessions of the detector and the embedding model.
//!
//! ONNX Runtime allows one environment per process, so the first engine created fixes the library;
//! later engines reuse that environment whatever path they name.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::Session;
use ort::value::Tensor;

use crate::FaceError;

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Where ONNX Runtime is looked for when the configuration names no path: `ORT_DYLIB_PATH`.
pub fn default_runtime_path() -> Option<PathBuf> {
    std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from)
}

fn environment(runtime: &Path) -> Result<Environment, FaceError> {
    let result = ENVIRONMENT.get_or_init(|| {
        if !runtime.is_file() {
            return Err(format!(
                "ONNX Runtime library {} not found (set ORT_DYLIB_PATH or onnxruntime in the face configuration; scripts/fetch-face-runtime obtains it from PyPI)",
                runtime.display()
            ));
        }
        ort::init_from(runtime)
            .map_err(|e| format!("loading {}: {e}", runtime.display()))?
            .with_name("dspp-face")
            .build()
            .map_err(|e| e.to_string())
    });
    result.clone().map_err(FaceError::model)
}

/// One loaded ONNX model with a single float input and float outputs: a pool of sessions, so that a server runs as
/// many inferences at once as it has sessions (a session runs one at a time).
#[derive(Debug)]
pub(crate) struct Model {
    sessions: Vec<Mutex<Session>>,
    /// Where the next run starts looking for a free session.
    next: std::sync::atomic::AtomicUsize,
    input_name: String,
    path: PathBuf,
}

impl Model {
    pub(crate) fn load(
        runtime: &Path,
        path: &Path,
        threads: usize,
        sessions: usize,
    ) -> Result<Model, FaceError> {
        let environment = environment(runtime)?;
        if !path.is_file() {
            return Err(FaceError::model(format!(
                "model file {} not found",
                path.display()
            )));
        }
        let context = |e: &dyn std::fmt::Display| {
            FaceError::model(format!("loading {}: {e}", path.display()))
        };
        let mut pool = Vec::with_capacity(sessions.max(1));
        for _ in 0..sessions.max(1) {
            let session = Session::builder(&environment)
                .map_err(|e| context(&e))?
                .with_intra_threads(threads)
                .map_err(|e| context(&e))?
                .commit_from_file(path)
                .map_err(|e| context(&e))?;
            pool.push(Mutex::new(session));
        }
        let input_name = pool
            .first()
            .and_then(|session| session.lock().ok())
            .and_then(|session| {
                session
                    .inputs()
                    .first()
                    .map(|input| input.name().to_string())
            })
            .ok_or_else(|| FaceError::model(format!("{} has no input", path.display())))?;
        Ok(Model {
            sessions: pool,
            next: std::sync::atomic::AtomicUsize::new(0),
            input_name,
            path: path.to_path_buf(),
        })
    }

    /// Run the model on an NCHW tensor; return every output as (name, shape, values).
    pub(crate) fn run(&self, shape: [usize; 4], input: Vec<f32>) -> Result<Vec<Output>, FaceError> {
        let context = |e: &dyn std::fmt::Display| {
            FaceError::model(format!("running {}: {e}", self.path.display()))
        };
        let tensor = Tensor::from_array((shape, input)).map_err(|e| context(&e))?;
        let mut session = self.session()?;
        let outputs = session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| context(&e))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            let (_, values) = value.try_extract_tensor::<f32>().map_err(|e| context(&e))?;
            result.push(Output {
                name: name.to_string(),
                values: values.to_vec(),
            });
        }
        Ok(result)
    }

    /// A free session, or the next one in turn when all are busy (then this waits for it).
    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, FaceError> {
        use std::sync::atomic::Ordering;
        let n = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for k in 0..n {
            if let Some(session) = self.sessions.get((start + k) % n)
                && let Ok(guard) = session.try_lock()
            {
                return Ok(guard);
            }
        }
        self.sessions
            .get(start % n.max(1))
            .ok_or_else(|| FaceError::model("no model session"))?
            .lock()
            .map_err(|_| FaceError::model("model session poisoned by an earlier failure"))
    }

    /// The input's declared shape (-1 for a free dimension).
    pub(crate) fn input_shape(&self) -> Result<Vec<i64>, FaceError> {
        let session = self.session()?;
        let input = session
            .inputs()
            .first()
            .ok_or_else(|| FaceError::model("model has no input"))?;
        match input.dtype() {
            ort::value::ValueType::Tensor { shape, .. } => Ok(shape.to_vec()),
            other => Err(FaceError::model(format!(
                "{}: input is {other}, expected a tensor",
                self.path.display()
            ))),
        }
    }
}

/// One output of a model run.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) name: String,
    pub(crate) values: Vec<f32>,
}
