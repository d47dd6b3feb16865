//! `dspp-nid-sim`: the national ID verification simulator (serve a register CSV, or generate one).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dspp_simulators::{Faults, NationalIdConfig};
use tokio_util::sync::CancellationToken;

/// Simulates the Ministry of Interior's ID verification service (docs/protocols/national-id.md).
/// Without a subcommand it serves the register given with --data.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a generated register CSV (Khmer names, some revoked, deceased and expired cards).
    Generate {
        /// How many cards.
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Same seed, same register.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write; standard output when absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed on standard output).
    #[arg(long, default_value = "127.0.0.1:8701")]
    listen: SocketAddr,
    /// The register: a CSV of id_number,name_km,name_latin,birth_date,sex,status,expires_on.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The bearer token callers must present.
    #[arg(long, env = "DSPP_NID_SIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Answer 503 to the first N verifications.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Wait this long before answering each request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Judge expiry as of this day (YYYY-MM-DD) instead of today.
    #[arg(long)]
    today: Option<chrono::NaiveDate>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::Generate { count, seed, out }) => generate(count, seed, out),
        None => serve(cli.serve).await,
    }
}

fn generate(count: usize, seed: u64, out: Option<PathBuf>) -> Result<()> {
    let cards = dspp_simulators::generate_cards(count, seed);
    match out {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .with_context(|| format!("while creating {}", path.display()))?;
            dspp_simulators::write_cards(file, &cards).context("while writing the register")
        }
        None => dspp_simulators::write_cards(std::io::stdout().lock(), &cards)
            .context("while writing the register"),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let data = args.data.context("--data FILE is required to serve")?;
    let token = args
        .token
        .context("--token (or DSPP_NID_SIM_TOKEN) is required to serve")?;
    let cards = dspp_simulators::load_cards(&data).context("while loading the register")?;
    let n_cards = cards.len();
    let config = NationalIdConfig {
        fail_first: args.fail_first,
        faults: Faults {
            latency_ms: args.latency_ms,
            ..Faults::default()
        },
        today: args.today,
        ..NationalIdConfig::new(cards, token)
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("while binding {}", args.listen))?;
    let address = listener
        .local_addr()
        .context("while reading the bound address")?;
    let shutdown =
        dspp_simulators::shutdown_signal().context("while installing signal handlers")?;
    println!("dspp-nid-sim listening on http://{address} ({n_cards} cards)");
    std::io::stdout()
        .flush()
        .context("while writing to standard output")?;
    let cancel = CancellationToken::new();
    let server = tokio::spawn(dspp_simulators::serve_national_id(
        listener,
        config,
        cancel.clone(),
    ));
    shutdown.await;
    tracing::info!("shutting down");
    cancel.cancel();
    server.await.context("the server task failed")??;
    Ok(())
}
