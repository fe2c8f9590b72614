//! Agent downloads (architecture §7.5): the list of platforms and one archive. Any signed-in
//! role may download; the archive holds no secret.

use crate::agent_bundle::{self, Platform};
use crate::caller::Caller;
use crate::db::syncs;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};
use std::io::{self, Write};
use tokio::sync::mpsc;

fn platforms(state: &AppState) -> Vec<Platform> {
    agent_bundle::dist_dir(state.config.agent_dist.as_deref())
        .map(|d| agent_bundle::discover(&d))
        .unwrap_or_default()
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Platform)]
pub struct Offered {
    #[serde(flatten)]
    platform: Platform,
    url: String,
}

pub async fn list(State(state): State<AppState>, _caller: Caller) -> Json<Vec<Offered>> {
    let found = tokio::task::spawn_blocking(move || platforms(&state))
        .await
        .unwrap_or_default();
    Json(
        found
            .into_iter()
            .map(|p| Offered {
                url: format!("/api/v1/downloads/{}", p.name),
                platform: p,
            })
            .collect(),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForSync {
    /// Fills this synchronization's Application ID into adc.cfg.
    synchronization: Option<uuid::Uuid>,
}

pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<ForSync>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let addr = agent_bundle::agent_addr(
        state.config.public_url.as_deref(),
        headers.get(HOST).and_then(|h| h.to_str().ok()),
        state.config.tls.is_some(),
    );
    if let Some(id) = q.synchronization {
        // Another tenant's synchronization is as unknown as a made-up one.
        syncs::get(&state.db, caller.tenant_id, id)
            .await?
            .ok_or(ApiError::NotFound("synchronization"))?;
    }
    let cfg = agent_bundle::adc_cfg(&addr, q.synchronization);
    let st = state.clone();
    let platform = tokio::task::spawn_blocking(move || platforms(&st))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or(ApiError::NotFound("platform"))?;
    tracing::info!(platform = %platform.name, "agent download");
    let disposition = format!("attachment; filename=\"{}\"", platform.filename);
    let (content_type, body) = if platform.is_windows() {
        let bytes = tokio::task::spawn_blocking(move || agent_bundle::zip(&platform, &cfg))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        ("application/zip", Body::from(bytes))
    } else {
        let (tx, rx) = mpsc::channel(4);
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err(e) = agent_bundle::write_tar_gz(&mut out, &platform, &cfg) {
                // The client sees a cut-off body rather than a wrong archive.
                tracing::warn!(error = %e, "agent download failed");
                let _ = tx.blocking_send(Err(e));
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        ("application/gzip", Body::from_stream(stream))
    };
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

const CHUNK: usize = 64 * 1024;

/// Hands the archive to the response body in chunks, as it is compressed.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
