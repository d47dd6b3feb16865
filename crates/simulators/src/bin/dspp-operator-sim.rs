//! `dspp-operator-sim`: a program operator that receives approved enrolments.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use dspp_simulators::{Faults, OperatorConfig};
use tokio_util::sync::CancellationToken;

/// Simulates a program operator's enrolment endpoint (docs/protocols/operator-delivery.md).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (the address is printed on standard output).
    #[arg(long, default_value = "127.0.0.1:8702")]
    listen: SocketAddr,
    /// When given, deliveries must carry this bearer token.
    #[arg(long, env = "DSPP_OPERATOR_SIM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Answer 503 to the first N attempts of each Idempotency-Key.
    #[arg(long, default_value_t = 0)]
    fail_first: u32,
    /// Wait this long before answering each request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Append every delivery and replay to this JSON-lines file, and read it back at start.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// A program code this operator runs (repeat for several); any code when none is given.
    #[arg(long = "program")]
    programs: Vec<String>,
    /// Beneficiary ids are PREFIX-0000001, PREFIX-0000002, ...
    #[arg(long, default_value = "BEN")]
    beneficiary_prefix: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let config = OperatorConfig {
        token: cli.token,
        fail_first: cli.fail_first,
        faults: Faults {
            latency_ms: cli.latency_ms,
            ..Faults::default()
        },
        journal: cli.journal,
        programs: cli.programs,
        beneficiary_prefix: cli.beneficiary_prefix,
    };
    // Built before binding, so a bad journal stops the start with its line number.
    let router =
        dspp_simulators::operator_router(config.clone()).context("while reading the journal")?;
    drop(router);
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("while binding {}", cli.listen))?;
    let address = listener
        .local_addr()
        .context("while reading the bound address")?;
    let shutdown =
        dspp_simulators::shutdown_signal().context("while installing signal handlers")?;
    println!("dspp-operator-sim listening on http://{address}");
    std::io::stdout()
        .flush()
        .context("while writing to standard output")?;
    let cancel = CancellationToken::new();
    let server = tokio::spawn(dspp_simulators::serve_operator(
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
