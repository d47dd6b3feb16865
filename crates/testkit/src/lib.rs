//! Test support, used only by tests: a real PostgreSQL server, started once per test process from the
//! machine's PostgreSQL installation (Debian's `postgresql` package) on a free loopback port, and a
//! fresh database per test. The server stops and its files are removed when the test process exits:
//! a watchdog shell started beside it waits for the process to go.
//!
//! Set `DSPP_TEST_POSTGRES_URL` (a URL to a server whose user may create databases) to use an existing
//! server instead.
// Test support fails loudly: a missing PostgreSQL must stop the suite with a clear message, not skip.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

#[derive(Debug)]
pub struct Postgres {
    /// `postgres://user@127.0.0.1:PORT` without a database name.
    base_url: String,
}

static SERVER: OnceLock<Postgres> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn pg_bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("DSPP_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb. Run the README's test command \
             (scripts/test), which installs it, or set DSPP_TEST_POSTGRES_URL"
        )
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (PostgreSQL refuses to run as root).
fn pg_command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command
            .args(["-u", "postgres", "--"])
            .arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

fn start() -> Postgres {
    if let Ok(url) = std::env::var("DSPP_TEST_POSTGRES_URL") {
        return Postgres {
            base_url: url.trim_end_matches('/').to_string(),
        };
    }
    let bin = pg_bin_dir();
    let as_postgres = is_root();
    let dir = tempfile::Builder::new()
        .prefix("dspp-pg-")
        .tempdir()
        .expect("temporary directory")
        .keep();
    if as_postgres {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .expect("chown");
        assert!(
            status.success(),
            "could not hand {} to the postgres user",
            dir.display()
        );
    }
    let data = dir.join("data");
    let output = pg_command(&bin, "initdb", as_postgres)
        .args([
            "--no-sync",
            "-A",
            "trust",
            "-U",
            "dspp",
            "-E",
            "UTF8",
            "--no-locale",
            "-D",
        ])
        .arg(&data)
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let options = format!(
        "-p {port} -h 127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400",
        dir.display()
    );
    let output = pg_command(&bin, "pg_ctl", as_postgres)
        .args(["-w", "-t", "60", "-D"])
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("server.log"))
        .arg("start")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run pg_ctl start");
    if !output.status.success() {
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        panic!(
            "PostgreSQL did not start: {}\n{log}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The watchdog: when this test process is gone, stop the server and remove its files.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if as_postgres {
        format!(
            "runuser -u postgres -- {} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    };
    let script = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    // Deliberately never waited for: the watchdog outlives this process by design.
    #[allow(clippy::zombie_processes)]
    Command::new("setsid")
        .args(["bash", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the PostgreSQL watchdog");
    Postgres {
        base_url: format!("postgres://dspp@127.0.0.1:{port}"),
    }
}

/// The test process's PostgreSQL server, started on first use.
pub fn postgres() -> &'static Postgres {
    SERVER.get_or_init(start)
}

impl Postgres {
    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base_url)
    }

    /// Creates a new, uniquely named database (a copy of `template` when given) and returns its URL.
    pub async fn create_database(&self, template: Option<&str>) -> String {
        let name = format!(
            "dspp_test_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        self.create_named(&name, template).await;
        self.url(&name)
    }

    /// Creates a database with a given name (used for templates).
    pub async fn create_named(&self, name: &str, template: Option<&str>) {
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the test PostgreSQL");
        let sql = match template {
            Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
            None => format!("CREATE DATABASE {name}"),
        };
        conn.execute(sql.as_str())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        conn.close().await.ok();
    }
}

/// A path for a fresh SQLite database in a directory removed when the guard drops.
pub fn sqlite_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("registry.sqlite");
    (dir, path)
}

/// Which store a test runs on. Every scenario runs on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh registry for one test: its own database with the gazetteer loaded (copied from a template
/// made once per test process), a fixed clock and a seeded generator.
#[derive(Debug)]
pub struct Harness {
    pub registry: dspp_service::Registry,
    pub clock: std::sync::Arc<dspp_service::FixedClock>,
    pub backend: Backend,
    /// How to open the same database again, as after a restart.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

static PG_TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static SQLITE_TEMPLATE: tokio::sync::OnceCell<(tempfile::TempDir, PathBuf)> =
    tokio::sync::OnceCell::const_new();

async fn prepare_template(url: &str) {
    let store = dspp_service::Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = std::sync::Arc::new(dspp_service::FixedClock::new(start_time()));
    let registry = dspp_service::Registry::new(store.clone(), clock, Some(1));
    let summary = registry.load_gazetteer().await.expect("load gazetteer");
    assert_eq!(summary.villages, 14_512);
    registry
        .install_shipped_programs()
        .await
        .expect("install the shipped program definitions");
    store.checkpoint().await.expect("checkpoint");
    store.close().await;
}

/// The time tests start at: 08:30 on a Monday, the morning peak.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 8, 30, 0)
        .single()
        .expect("a valid time")
}

/// A new database of the given kind with the gazetteer loaded, and its URL.
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Postgres => {
            let server = postgres();
            let template = PG_TEMPLATE
                .get_or_init(|| async {
                    let name = format!("dspp_template_{}", std::process::id());
                    server.create_named(&name, None).await;
                    prepare_template(&server.url(&name)).await;
                    name
                })
                .await;
            (server.create_database(Some(template)).await, None)
        }
        Backend::Sqlite => {
            let (_, template) = SQLITE_TEMPLATE
                .get_or_init(|| async {
                    let (dir, path) = sqlite_path();
                    prepare_template(&format!("sqlite://{}", path.display())).await;
                    (dir, path)
                })
                .await;
            let (dir, path) = sqlite_path();
            std::fs::copy(template, &path).expect("copy the template database");
            (format!("sqlite://{}", path.display()), Some(dir))
        }
    }
}

pub async fn harness(backend: Backend) -> Harness {
    let (url, dir) = fresh_database(backend).await;
    let store = dspp_service::Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let clock = std::sync::Arc::new(dspp_service::FixedClock::new(start_time()));
    let registry = dspp_service::Registry::new(store, clock.clone(), Some(42));
    Harness {
        registry,
        clock,
        backend,
        url,
        _dir: dir,
    }
}

impl Harness {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use dspp_service::Clock;
        self.clock.now()
    }
}

/// Runs each named scenario `async fn NAME(h: Harness)` on both stores, as `NAME::sqlite` and
/// `NAME::postgres`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::harness($crate::Backend::Sqlite).await).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::harness($crate::Backend::Postgres).await).await;
                }
            }
        )*
    };
}
