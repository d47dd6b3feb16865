//! A running API server for a test, and a client that names its actor.

use dspp_testkit::Harness;
use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub client: Client,
    _shutdown: tokio_util::sync::DropGuard,
}

pub async fn start(h: &Harness) -> Server {
    start_with(h.registry.clone()).await
}

/// A server over a registry set up by the test (e.g. with biometrics).
pub async fn start_with(registry: dspp_service::Registry) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let state = dspp_web::AppState { registry };
    tokio::spawn(dspp_web::serve(listener, state, shutdown.clone()));
    Server {
        base: format!("http://{address}"),
        client: Client::new(),
        _shutdown: shutdown.drop_guard(),
    }
}

impl Server {
    pub fn as_officer(&self, builder: RequestBuilder) -> RequestBuilder {
        builder
            .header("dspp-actor", "officer.sokha")
            .header("dspp-role", "officer")
            .header("dspp-scope", "commune:120101")
            .header("dspp-purpose", "enrolment")
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.as_officer(self.client.get(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str) -> RequestBuilder {
        self.as_officer(self.client.post(format!("{}{path}", self.base)))
    }

    pub fn put(&self, path: &str) -> RequestBuilder {
        self.as_officer(self.client.put(format!("{}{path}", self.base)))
    }
}

pub fn person(
    family_km: &str,
    given_km: &str,
    family_latin: &str,
    given_latin: &str,
    sex: &str,
    birth_date: &str,
) -> Value {
    json!({
        "family_km": family_km, "given_km": given_km, "family_latin": family_latin, "given_latin": given_latin,
        "sex": sex, "birth_date": birth_date
    })
}

/// The household of the "done when": a grandmother who knows only her birth year, her daughter
/// and her grandson.
pub fn household_of_three() -> Value {
    json!({
        "village": "12010101",
        "address_detail": "House 12, Street 310",
        "members": [
            { "relationship": "head", "person": person("សុខ", "ស្រីមុំ", "SOK", "SREYMOM", "female", "1959") },
            { "relationship": "child", "person": person("សុខ", "ចាន់ធី", "SOK", "CHANTHY", "female", "1994-03-12") },
            { "relationship": "grandchild", "person": person("ហេង", "ដារ៉ា", "HENG", "DARA", "male", "2025-06-01") }
        ]
    })
}

pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "a problem document"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("https://"));
    body
}

fn onnxruntime() -> std::path::PathBuf {
    if let Some(path) = face::default_runtime_path() {
        return path;
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-onnxruntime");
    let output = std::process::Command::new(&script).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::path::PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// One face engine per test process (ONNX Runtime allows one environment per process), with the shared models.
pub fn face_engine() -> std::sync::Arc<face::FaceEngine> {
    static ENGINE: std::sync::OnceLock<std::sync::Arc<face::FaceEngine>> =
        std::sync::OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut config = face::FaceConfig::dlib(
                &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models"),
            );
            config.onnxruntime = Some(onnxruntime());
            std::sync::Arc::new(face::FaceEngine::from_config(&config).unwrap())
        })
        .clone()
}

/// The harness's registry with biometrics and faces (an embedded Qdrant Edge index in `folder`).
pub fn with_faces(h: &Harness, folder: &std::path::Path) -> dspp_service::Registry {
    h.registry
        .clone()
        .with_biometrics(dspp_service::BiometricSettings {
            fingerprint: Default::default(),
            keyring: dspp_vault::Keyring::new(
                dspp_vault::Key::parse("web-tests", &"6d".repeat(32)).unwrap(),
                vec![],
            ),
            face: Some(dspp_service::FaceSettings {
                engine: face_engine(),
                index: std::sync::Arc::new(
                    face::EdgeIndex::open(folder, face::IndexConfig::new(128)).unwrap(),
                ),
                photo_retention: chrono::Duration::days(90),
            }),
        })
        .unwrap()
}

/// The public-domain test photo of the face engine.
pub fn astronaut() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../face/tests/data/astronaut.jpg"),
    )
    .unwrap()
}
