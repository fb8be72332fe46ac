//! Running the app on a TCP listener: logs the bound address, loads the models in the
//! background, and on SIGTERM or Ctrl-C stops accepting and drains in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::api::{app, AppState};
use crate::config::ServeConfig;
use crate::error::{Error, Result};
use crate::registry::ModelRegistry;

/// Binds `address`, serves until a shutdown signal, then drains. Models load after binding, so
/// `/health` answers at once and `/ready` reports loading.
pub async fn run(
    address: SocketAddr,
    registry: Arc<ModelRegistry>,
    config: ServeConfig,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| Error::Io {
            path: format!("tcp://{address}").into(),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Io {
        path: format!("tcp://{address}").into(),
        source,
    })?;
    if config.api_keys.is_empty() && !bound.ip().is_loopback() {
        tracing::warn!("no API key configured while listening on non-loopback {bound}: anyone who can reach it can use it");
    }
    tracing::info!("r2l serve listening on http://{bound}");
    let loader = registry.clone();
    tokio::spawn(async move { loader.load_all().await });
    let state = AppState::new(registry, config);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|source| Error::Io {
            path: format!("tcp://{bound}").into(),
            source,
        })?;
    tracing::info!("r2l serve stopped after draining in-flight requests");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("Ctrl-C: draining"),
        _ = terminate => tracing::info!("SIGTERM: draining"),
    }
}
