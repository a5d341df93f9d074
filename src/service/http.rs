//! The operations endpoint on `http.listen`: read-only, for monitoring. `GET /healthz`
//! answers 200 with the service's state as JSON (campaigns running, live calls, the
//! built-in queues' agents by state); `GET /metrics` the per-campaign and per-queue
//! figures in Prometheus' text format. Both read the driver's published snapshot
//! ([`super::metrics`]) and the queues' handles; nothing here can change the service,
//! and nothing served names a customer, a lead or an agent.
//!
//! hyper's HTTP/1 server, one task per connection; the routing is a pure function of
//! the method and path ([`respond`]).

use super::metrics::{prometheus, Metrics, QueueFigures};
use crate::queue::QueueHandle;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A client has this long to send its request's head, so an idle connection cannot be
/// held open forever.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("http.listen {listen}: cannot listen")]
pub struct HttpError {
    /// The configured address.
    pub listen: SocketAddr,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

/// What the endpoint reads.
#[derive(Clone)]
pub struct HttpState {
    /// The driver's published figures.
    pub metrics: Arc<Metrics>,
    /// The built-in queues.
    pub queues: Vec<QueueHandle>,
}

/// One response: status, content type and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// The `/healthz` document.
#[derive(Debug, serde::Serialize)]
struct Health {
    status: &'static str,
    campaigns_running: usize,
    campaigns: Vec<String>,
    live_calls: u64,
    queues: Vec<QueueFigures>,
}

/// Answer one request from its method and path.
pub fn respond(method: &Method, path: &str, state: &HttpState) -> Reply {
    let text = |status, body: &str| Reply {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.to_string(),
    };
    // The query string selects nothing here.
    let path = path.split('?').next().unwrap_or("");
    if path != "/healthz" && path != "/metrics" {
        return text(
            StatusCode::NOT_FOUND,
            "not found: GET /healthz or /metrics\n",
        );
    }
    if method != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    let snap = state.metrics.snapshot();
    let queues: Vec<QueueFigures> = state.queues.iter().map(QueueFigures::of).collect();
    if path == "/metrics" {
        return Reply {
            status: StatusCode::OK,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: prometheus(&snap, &queues),
        };
    }
    let health = Health {
        status: if snap.draining { "draining" } else { "ok" },
        campaigns_running: snap.campaigns.len(),
        campaigns: snap.campaigns.keys().cloned().collect(),
        live_calls: snap.campaigns.values().map(|c| c.live_calls).sum(),
        queues,
    };
    match serde_json::to_string(&health) {
        Ok(body) => Reply {
            status: StatusCode::OK,
            content_type: "application/json",
            body,
        },
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode\n"),
    }
}

/// Bind `listen` and serve the endpoint on the current tokio runtime until the runtime
/// stops; the bound address (`:0` picks a port).
pub async fn start(listen: SocketAddr, state: HttpState) -> Result<SocketAddr, HttpError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| HttpError { listen, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| HttpError { listen, source })?;
    tokio::spawn(accept(listener, state));
    Ok(bound)
}

async fn accept(listener: TcpListener, state: HttpState) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, say: back off instead of spinning.
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let r = respond(req.method(), req.uri().path(), &state);
                async move {
                    Response::builder()
                        .status(r.status)
                        .header("content-type", r.content_type)
                        .header("cache-control", "no-store")
                        .body(Full::new(Bytes::from(r.body)))
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "http: connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::metrics::{CampaignFigures, Snapshot};

    #[test]
    fn health_and_metrics_are_served_and_nothing_else() {
        let metrics = Arc::new(Metrics::default());
        let mut s = Snapshot::default();
        s.campaigns.insert(
            "collect".into(),
            CampaignFigures {
                dials: 4,
                live_calls: 2,
                ..Default::default()
            },
        );
        metrics.publish(s);
        let state = HttpState {
            metrics,
            queues: Vec::new(),
        };
        let h = respond(&Method::GET, "/healthz", &state);
        assert_eq!(h.status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&h.body).expect("JSON");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["campaigns_running"], 1);
        assert_eq!(v["live_calls"], 2);
        let m = respond(&Method::GET, "/metrics?x=1", &state);
        assert_eq!(m.status, StatusCode::OK);
        assert!(m
            .body
            .contains("voxdial_dials_total{campaign=\"collect\"} 4"));
        assert_eq!(
            respond(&Method::POST, "/metrics", &state).status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            respond(&Method::GET, "/", &state).status,
            StatusCode::NOT_FOUND
        );
    }
}
