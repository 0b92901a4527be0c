//! `runner serve`: one finished run behind HTTP/JSON, answered from its cached vectors and
//! index through the same [`Served`] as `runner recommend` (axum on tokio).
//!
//! | route | answers |
//! |---|---|
//! | `POST /recommend` | `{"user": ID}`, `{"history": [ID, ...]}` and/or `{"features": {...}}` (user towers), optional `k` (10), `exclude`, `filter` |
//! | `GET /similar/{item}?k=10` | the items nearest to one, as `runner similar` ranks them |
//! | `GET /health` | the run served, its sizes |
//! | `GET /metrics` | Prometheus text: requests, latency histograms, reloads, index size |
//!
//! Every failure is a JSON `{"error": ...}` with its status: 400 a malformed or wrong request,
//! 404 an unknown user or item (with near ids), 405 a wrong method, 413 a body over the cap,
//! 422 a question the model cannot answer, 503 too many requests in flight (with
//! `Retry-After`). `SIGHUP`, or a change to the config file or to the cache entries served
//! (the config run again with `--force`), loads the run again and swaps it in: a request
//! holds the run it started on to its end, so none fails during a swap, and a failed load
//! keeps the old run. `SIGTERM` or Ctrl-C stops accepting, lets the requests in
//! flight finish, and returns.

pub mod metrics;

use crate::models::BadQuestion;
use crate::pipeline::serve::{Answer, Question, Served};
use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics::Metrics;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// Loads the run to serve (again, on reload).
pub type Loader = Box<dyn Fn() -> Result<Served> + Send + Sync>;

pub struct Options {
    pub addr: String,
    /// Requests answered at once; more get 503.
    pub max_in_flight: usize,
    /// Largest request body, in bytes; larger get 413.
    pub max_body: usize,
    /// Watched, with the served cache entries: a new modification time reloads.
    pub config: Option<std::path::PathBuf>,
}

/// The largest `k` a request may ask for.
pub const MAX_K: usize = 10_000;

struct App {
    served: RwLock<Arc<Served>>,
    load: Loader,
    metrics: Metrics,
    in_flight: AtomicUsize,
    max_in_flight: usize,
    max_body: usize,
}

impl App {
    fn current(&self) -> Arc<Served> {
        self.served.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads the run again and swaps it in; the old one keeps serving when loading fails.
    fn reload(&self, why: &str) {
        match (self.load)() {
            Ok(s) => {
                let label = s.label.clone();
                *self.served.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                eprintln!("reloaded {label} ({why})");
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("reload ({why}) failed, still serving the loaded run: {e:#}");
            }
        }
    }
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

/// An id as a JSON string or integer (`"42"` and `42` name the same user).
#[derive(Clone, Debug)]
struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id: a string or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    user: Option<Id>,
    history: Option<Vec<Id>>,
    #[serde(default)]
    exclude: Vec<Id>,
    k: Option<usize>,
    /// Item feature values every answer must have (`{"genres": "Comedy"}`).
    #[serde(default)]
    filter: serde_json::Map<String, serde_json::Value>,
    /// User feature values for the user tower (`{"age": 31, "occupation": "writer"}`).
    #[serde(default)]
    features: serde_json::Map<String, serde_json::Value>,
    /// User text columns (`user.text`), by name.
    #[serde(default)]
    text: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Answers<'a> {
    model: &'a str,
    query: &'a str,
    items: Vec<Answer>,
}

fn check_k(k: Option<usize>) -> std::result::Result<usize, Response> {
    match k.unwrap_or(10) {
        k @ 1..=MAX_K => Ok(k),
        k => Err(error(StatusCode::BAD_REQUEST, format!("`k` must be between 1 and {MAX_K}, got {k}"))),
    }
}

/// A question `Served` refused: a question asked wrongly is 400, an unknown id 404, anything
/// else the model cannot answer 422.
fn refused(e: anyhow::Error) -> Response {
    let msg = format!("{e:#}");
    let status = if e.downcast_ref::<BadQuestion>().is_some() {
        StatusCode::BAD_REQUEST
    } else if msg.starts_with("internal") {
        StatusCode::INTERNAL_SERVER_ERROR
    } else if msg.starts_with("unknown") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    error(status, msg)
}

async fn recommend(State(app): State<Arc<App>>, body: Body) -> Response {
    let bytes = match axum::body::to_bytes(body, app.max_body).await {
        Ok(b) => b,
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is over {} bytes (or was cut off)", app.max_body)),
    };
    let ask: Ask = match serde_json::from_slice(&bytes) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("the request body is not a valid question: {e}")),
    };
    let k = match check_k(ask.k) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let mut features = ask.features;
    for (name, v) in ask.text {
        if features.insert(name.clone(), v).is_some() {
            return error(StatusCode::BAD_REQUEST, format!("`{}` is given in both `features` and `text`", crate::term::escape_controls(&name)));
        }
    }
    let served = app.current();
    let exclude: Vec<String> = ask.exclude.into_iter().map(|i| i.0).collect();
    let mut also = Vec::new();
    for (column, value) in &ask.filter {
        match served.filtered_out(column, value) {
            Ok(out) => also.extend(out),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("`filter`: {e:#}")),
        }
    }
    let history: Option<Vec<String>> = ask.history.map(|h| h.into_iter().map(|i| i.0).collect());
    let q = Question { user: ask.user.as_ref().map(|u| u.0.as_str()), history: history.as_deref(), features: Some(&features) };
    match served.answer(&q, k, &exclude, &also) {
        Ok((query, items)) => Json(Answers { model: &served.label, query, items }).into_response(),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarQuery {
    k: Option<usize>,
}

async fn similar(State(app): State<Arc<App>>, Path(item): Path<String>, q: Result<Query<SimilarQuery>, QueryRejection>) -> Response {
    let Ok(Query(q)) = q else {
        return error(StatusCode::BAD_REQUEST, "the query string takes `k` (a positive integer) only");
    };
    let k = match check_k(q.k) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let served = app.current();
    let by = match served.similar_by(None) {
        Ok(by) => by,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")),
    };
    match served.similar(&item, k, by) {
        Ok(s) => Json(json!({ "model": served.label, "item": s.item, "items": s.answers })).into_response(),
        Err(e) => refused(e),
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let s = app.current();
    Json(json!({
        "status": "ok",
        "model": s.label,
        "users": s.dataset.users.len(),
        "items": s.dataset.items.len(),
        "indexed": s.index.len(),
        "index": s.index_kind.kind,
        "history_queries": s.history_query.is_some() || s.online.as_ref().is_some_and(|o| o.takes_history()),
        "user_tower": s.online.as_ref().map(|o| json!({ "features": o.inputs() })),
    }))
    .into_response()
}

async fn prometheus(State(app): State<Arc<App>>) -> Response {
    let s = app.current();
    let gauges = [
        ("runner_index_items", "Vectors in the served index.", s.index.len() as f64),
        ("runner_index_bytes", "Memory of the served index.", s.index.memory_bytes() as f64),
        ("runner_users", "Users the served run knows.", s.dataset.users.len() as f64),
        ("runner_in_flight", "Requests being answered now.", app.in_flight.load(Ordering::Relaxed) as f64),
    ];
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render(&gauges)).into_response()
}

/// Counts the request in flight (503 over the cap) and records its status and latency.
async fn admit(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let t = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    struct Leave<'a>(&'a AtomicUsize);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let before = app.in_flight.fetch_add(1, Ordering::SeqCst);
    let _leave = Leave(&app.in_flight);
    let resp = if before >= app.max_in_flight {
        let mut r = error(StatusCode::SERVICE_UNAVAILABLE, format!("{} requests are in flight already; retry in a second", app.max_in_flight));
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    } else {
        next.run(req).await
    };
    app.metrics.record(&route, resp.status().as_u16(), t.elapsed().as_secs_f64());
    resp
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/recommend", post(recommend))
        .route("/similar/{item}", get(similar))
        .route("/health", get(health))
        .route("/metrics", get(prometheus))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route: POST /recommend, GET /similar/{item}, /health, /metrics") })
        .method_not_allowed_fallback(|| async {
            error(StatusCode::METHOD_NOT_ALLOWED, "wrong method: POST /recommend; GET /similar/{item}, /health, /metrics")
        })
        .layer(middleware::from_fn_with_state(app.clone(), admit))
        .with_state(app)
}

/// The config's modification time, `None` when it cannot be read.
fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Serves until SIGTERM or Ctrl-C, then waits for the requests in flight. Prints
/// `listening on http://ADDR` on stdout once the socket is bound (with port 0, the port
/// the system chose).
pub fn serve(first: Served, load: Loader, opts: Options) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let app = Arc::new(App {
            served: RwLock::new(Arc::new(first)),
            load,
            metrics: Metrics::default(),
            in_flight: AtomicUsize::new(0),
            max_in_flight: opts.max_in_flight.max(1),
            max_body: opts.max_body,
        });
        let listener = tokio::net::TcpListener::bind(&opts.addr).await.with_context(|| format!("cannot listen on {}", opts.addr))?;
        println!("listening on http://{}", listener.local_addr()?);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        #[cfg(unix)]
        {
            let app = app.clone();
            let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    let app = app.clone();
                    let _ = tokio::task::spawn_blocking(move || app.reload("SIGHUP")).await;
                }
            });
        }
        if let Some(path) = opts.config.clone() {
            let app = app.clone();
            tokio::spawn(async move {
                // The config's and the served entries' modification times; a change reloads
                // once they have held still for a second, so a run that replaces the train
                // and then the index entry is not caught between the two.
                let signature =
                    |app: &App| -> Vec<Option<SystemTime>> { std::iter::once(mtime(&path)).chain(app.current().sources.iter().map(|p| mtime(p))).collect() };
                let mut last = signature(&app);
                let mut changed: Option<Vec<Option<SystemTime>>> = None;
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let now = signature(&app);
                    if now == last {
                        continue;
                    }
                    if changed.as_ref() != Some(&now) {
                        changed = Some(now);
                        continue;
                    }
                    changed = None;
                    let app2 = app.clone();
                    let _ = tokio::task::spawn_blocking(move || app2.reload("the config or its cache entries changed")).await;
                    last = signature(&app);
                }
            });
        }
        axum::serve(listener, router(app.clone())).with_graceful_shutdown(stop()).await.context("serving")?;
        eprintln!("stopped: {} requests answered, {} refused as busy", app.metrics.count(200), app.metrics.count(503));
        Ok(())
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
