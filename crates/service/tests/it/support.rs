//! Fresh registries for tests: a store with the gazetteer loaded (copied from a template made once per
//! test process), a fixed clock and a seeded generator.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use dspp_domain::{Actor, ActorKind, Purpose, Role, Scope};
use dspp_service::{FixedClock, Registry};
use dspp_store::Store;
use tokio::sync::OnceCell;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Harness {
    pub registry: Registry,
    pub clock: Arc<FixedClock>,
    /// How to open the same database again, as after a restart.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

static PG_TEMPLATE: OnceCell<String> = OnceCell::const_new();
static SQLITE_TEMPLATE: OnceCell<(tempfile::TempDir, PathBuf)> = OnceCell::const_new();

async fn prepare(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let registry = Registry::new(
        store.clone(),
        Arc::new(FixedClock::new(Utc::now())),
        Some(1),
    );
    let summary = registry.load_gazetteer().await.expect("load gazetteer");
    assert_eq!(summary.villages, 14_512);
    store.checkpoint().await.expect("checkpoint");
    store.close().await;
}

pub fn start_time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
        .single()
        .expect("a valid time")
}

/// A second, empty registry on the same kind of store as `h`.
pub async fn harness_like(h: &Harness) -> Harness {
    harness(if h.url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    })
    .await
}

pub async fn harness(backend: Backend) -> Harness {
    let (url, dir) = match backend {
        Backend::Postgres => {
            let server = dspp_testkit::postgres();
            let template = PG_TEMPLATE
                .get_or_init(|| async {
                    let name = format!("dspp_template_{}", std::process::id());
                    server.create_named(&name, None).await;
                    prepare(&server.url(&name)).await;
                    name
                })
                .await;
            (server.create_database(Some(template)).await, None)
        }
        Backend::Sqlite => {
            let (_, template) = SQLITE_TEMPLATE
                .get_or_init(|| async {
                    let (dir, path) = dspp_testkit::sqlite_path();
                    prepare(&format!("sqlite://{}", path.display())).await;
                    (dir, path)
                })
                .await;
            let (dir, path) = dspp_testkit::sqlite_path();
            std::fs::copy(template, &path).expect("copy the template database");
            (format!("sqlite://{}", path.display()), Some(dir))
        }
    };
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = Arc::new(FixedClock::new(start_time()));
    let registry = Registry::new(store, clock.clone(), Some(42));
    Harness {
        registry,
        clock,
        url,
        _dir: dir,
    }
}

impl Harness {
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use dspp_service::Clock;
        self.clock.now()
    }
}

/// Runs each named scenario `async fn NAME(h: Harness)` on both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::harness($crate::support::Backend::Sqlite).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::harness($crate::support::Backend::Postgres).await).await;
                }
            }
        )*
    };
}

/// An officer of commune 120101 (Phnom Penh) enrolling.
pub fn officer() -> Actor {
    Actor {
        kind: ActorKind::User,
        subject: "officer.sokha".into(),
        role: Role::Officer,
        scope: Scope::parse("commune:120101").expect("scope"),
        delegation: None,
        purpose: Purpose::Enrolment,
    }
}

pub fn actor(subject: &str, role: Role, scope: &str) -> Actor {
    Actor {
        kind: ActorKind::User,
        subject: subject.into(),
        role,
        scope: Scope::parse(scope).expect("scope"),
        delegation: None,
        purpose: Purpose::RecordUpdate,
    }
}

/// A village of commune 120101.
pub const VILLAGE: &str = "12010101";
