//! Configuration in layers, the last one winning: defaults, then `dspp.toml` (in the working directory,
//! or the file named by `--config`), then `DSPP_*` environment variables, then flags. Validation reports
//! every problem at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The port the registry listens on by default: fixed, so a newcomer's browser finds it.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8470";

/// A secret that never prints itself (database URLs carry passwords).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./dspp.toml when present]
    #[arg(long, global = true, env = "DSPP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the embedded store and other local data live [default: ./dspp-data]
    #[arg(long, global = true, env = "DSPP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); without one, the embedded SQLite store in the data directory is used
    #[arg(long, global = true, env = "DSPP_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    #[serde(default)]
    exchange: ExchangeConfig,
    #[serde(default)]
    biometrics: crate::biometrics::BiometricsConfig,
}

/// The outside systems: the national ID service and the program operators' endpoints, reached directly
/// or through the data exchange's X-Road security server.
///
/// ```toml
/// [exchange.national_id]
/// url = "https://security-server.example.gov.kh"   # our X-Road security server, or the service itself
/// x_road_client = "KH/GOV/NSPC/DSPP"
/// x_road_service = "KH/GOV/MOI/NID/identity-verification"
/// token = "…"
///
/// [exchange.operators.nsaf]
/// url = "https://nsaf.example.gov.kh/api"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    pub national_id: Option<EndpointConfig>,
    #[serde(default)]
    pub operators: std::collections::BTreeMap<String, EndpointConfig>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub url: String,
    pub x_road_client: Option<String>,
    pub x_road_service: Option<String>,
    pub token: Option<String>,
    pub timeout_seconds: Option<u64>,
}

impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("url", &self.url)
            .field("x_road_client", &self.x_road_client)
            .field("x_road_service", &self.x_road_service)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl EndpointConfig {
    pub fn endpoint(&self) -> Result<dspp_exchange::Endpoint, String> {
        let mut endpoint = match (&self.x_road_client, &self.x_road_service) {
            (None, None) => dspp_exchange::Endpoint::direct(&self.url),
            (Some(client), Some(service)) => {
                let client =
                    dspp_exchange::XRoadClientId::parse(client).map_err(|e| e.to_string())?;
                let service =
                    dspp_exchange::XRoadServiceId::parse(service).map_err(|e| e.to_string())?;
                dspp_exchange::Endpoint::via_x_road(&self.url, client, service)
            }
            _ => {
                return Err(
                    "x_road_client and x_road_service go together: give both or neither".into(),
                );
            }
        }
        .map_err(|e| e.to_string())?;
        if let Some(token) = &self.token {
            endpoint = endpoint.with_token(dspp_exchange::SecretToken::new(token.clone()));
        }
        if let Some(seconds) = self.timeout_seconds {
            endpoint = endpoint.with_timeout(std::time::Duration::from_secs(seconds.clamp(1, 300)));
        }
        Ok(endpoint)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<Secret>,
    pub listen: SocketAddr,
    pub exchange: ExchangeConfig,
    pub biometrics: crate::biometrics::BiometricsConfig,
}

impl Config {
    pub fn load(args: &GlobalArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from("dspp.toml")).filter(|p| p.exists()),
        };
        let file: FileConfig = match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("while reading {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("while reading {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen_text = std::env::var("DSPP_LISTEN")
            .ok()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let mut problems = Vec::new();
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|_| {
                problems.push(format!(
                    "listen: {listen_text:?} is not an address like 127.0.0.1:8470"
                ))
            })
            .unwrap_or_else(|()| SocketAddr::from(([127, 0, 0, 1], 8470)));
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .filter(|u| !u.is_empty());
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            problems.push(
                "database_url: must start with postgres://, postgresql:// or sqlite:".to_string(),
            );
        }
        if let Some(national_id) = &file.exchange.national_id
            && let Err(e) = national_id.endpoint()
        {
            problems.push(format!("exchange.national_id: {e}"));
        }
        for (name, operator) in &file.exchange.operators {
            if let Err(e) = operator.endpoint() {
                problems.push(format!("exchange.operators.{name}: {e}"));
            }
        }
        if !problems.is_empty() {
            bail!(
                "the configuration has problems:\n  {}",
                problems.join("\n  ")
            );
        }
        Ok(Config {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("dspp-data")),
            database_url: database_url.map(Secret),
            listen,
            exchange: file.exchange,
            biometrics: file.biometrics,
        })
    }

    /// The store's URL: the configured PostgreSQL, or the embedded SQLite file in the data directory.
    pub fn store_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.expose().to_string());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("while creating {}", self.data_dir.display()))?;
        let path = self.data_dir.join("registry.sqlite");
        let path = std::path::absolute(&path).unwrap_or(path);
        Ok(format!("sqlite://{}", path.display()))
    }

    pub fn describe_store(&self) -> String {
        match &self.database_url {
            Some(_) => "PostgreSQL".to_string(),
            None => format!(
                "embedded SQLite in {}",
                self.data_dir.join("registry.sqlite").display()
            ),
        }
    }
}
