//! Stopping the simulator binaries on SIGINT or SIGTERM.

use std::future::Future;

use crate::SimError;

/// Installs the SIGINT and SIGTERM handlers now and returns a future that resolves on either. Call it
/// before announcing the address, so a supervisor that signals right after reading it is not missed.
#[cfg(unix)]
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, SimError> {
    use tokio::signal::unix::{SignalKind, signal};
    let install = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|source| SimError::Io {
            path: format!("{name} handler"),
            source,
        })
    };
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// Resolves on Ctrl-C (other platforms have no SIGTERM).
#[cfg(not(unix))]
pub fn shutdown_signal() -> Result<impl Future<Output = ()>, SimError> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
