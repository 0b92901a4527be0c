//! The part of MLflow's REST API (`/api/2.0/mlflow/...`, which every MLflow server and hosted
//! MLflow speak) that logging finished runs needs, over the blocking HTTP client the data
//! fetcher already uses (ureq): experiments by name, runs found by tag, created, logged in
//! batches and finished, and artifacts through the server's `mlflow-artifacts` proxy.
//!
//! Credentials come the standard way, `MLFLOW_TRACKING_TOKEN` (a bearer token) or
//! `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (basic), and go into headers only:
//! no error message carries them, and a URI's `user:password@` is shown as `***@`.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// MLflow's limits per `runs/log-batch` request: 1000 metrics, 100 params, 100 tags, and
/// 1000 items in all.
const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
/// MLflow refuses longer parameter values.
pub const MAX_PARAM_VALUE: usize = 6000;

pub struct Client {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

/// `uri` with any `user:password@` hidden, for messages.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &uri[..s + 3], &uri[at..]),
        _ => uri.to_string(),
    }
}

/// One logged metric value.
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub step: u64,
    pub timestamp: i64,
}

/// A run as the server knows it.
pub struct Run {
    pub id: String,
    pub artifact_uri: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, ...
    pub status: String,
}

impl Client {
    /// A client of the server at `uri` (`http://host:5000`), with credentials from the
    /// environment. Waits are short: a tracking server that is down must not hold up a run.
    pub fn new(uri: &str) -> Result<Client> {
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            bail!("the MLflow tracking URI `{}` is not http:// or https:// (a local `mlruns` folder is not supported: start `mlflow server` and give its address)", redact(uri));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let auth = match (std::env::var("MLFLOW_TRACKING_TOKEN"), std::env::var("MLFLOW_TRACKING_USERNAME"), std::env::var("MLFLOW_TRACKING_PASSWORD")) {
            (Ok(t), _, _) if !t.is_empty() => Some(format!("Bearer {t}")),
            (_, Ok(u), Ok(p)) => {
                use base64::Engine;
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))))
            }
            _ => None,
        };
        Ok(Client { base: uri.trim_end_matches('/').to_string(), agent, auth })
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let shown = format!("{} {}{path}", method, redact(&self.base));
        let mut resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &self.auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, b) => {
                let mut r = self.agent.post(&url).header("Content-Type", "application/json");
                if let Some(a) = &self.auth {
                    r = r.header("Authorization", a);
                }
                r.send(serde_json::to_vec(b.unwrap_or(&json!({})))?)
            }
        }
        .map_err(|e| anyhow!("{shown}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            let why: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let code = why["error_code"].as_str().unwrap_or("");
            bail!("{shown} answered HTTP {status} {code}: {}", why["message"].as_str().unwrap_or(text.chars().take(300).collect::<String>().as_str()));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The id of the experiment named `name`, created when there is none.
    pub fn experiment(&self, name: &str) -> Result<String> {
        let q: String = url_escape(name);
        match self.call("GET", &format!("/api/2.0/mlflow/experiments/get-by-name?experiment_name={q}"), None) {
            Ok(v) => return v["experiment"]["experiment_id"].as_str().map(str::to_string).ok_or_else(|| anyhow!("experiments/get-by-name: no id in {v}")),
            Err(e) if format!("{e}").contains("RESOURCE_DOES_NOT_EXIST") => {}
            Err(e) => return Err(e),
        }
        // MLflow 3's UI opens an experiment of this kind on its runs, not on GenAI traces.
        let tags = json!([{"key": "mlflow.experimentKind", "value": "custom_model_development"}]);
        let v = self.call("POST", "/api/2.0/mlflow/experiments/create", Some(&json!({ "name": name, "tags": tags })))?;
        v["experiment_id"].as_str().map(str::to_string).ok_or_else(|| anyhow!("experiments/create: no id in {v}"))
    }

    /// Runs of experiment `exp` whose tag `key` is `value`.
    pub fn find(&self, exp: &str, key: &str, value: &str) -> Result<Vec<Run>> {
        let filter = format!("tags.`{key}` = '{}'", value.replace('\'', "\\'"));
        let v = self.call("POST", "/api/2.0/mlflow/runs/search", Some(&json!({"experiment_ids": [exp], "filter": filter, "max_results": 1000})))?;
        Ok(v["runs"].as_array().into_iter().flatten().filter_map(run_of).collect())
    }

    /// A new run in `exp` named `name` with `tags`.
    pub fn create(&self, exp: &str, name: &str, tags: &[(String, String)], start_ms: i64) -> Result<Run> {
        let tags: Vec<Value> = tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let v =
            self.call("POST", "/api/2.0/mlflow/runs/create", Some(&json!({"experiment_id": exp, "run_name": name, "start_time": start_ms, "tags": tags})))?;
        run_of(&v["run"]).ok_or_else(|| anyhow!("runs/create: no run in {v}"))
    }

    /// Logs metrics, params and tags in as many batches as MLflow's limits ask: params and
    /// tags first (at most 100 of each a request), then metrics (1000 a request), so no request
    /// holds more than 1000 items. The tags go last of all, in the final request, so a run
    /// whose logging broke off does not carry its finishing tags (see `crate::tracking`).
    pub fn log(&self, run: &str, metrics: &[Metric], params: &[(String, String)], tags: &[(String, String)]) -> Result<()> {
        let kv = |(k, v): &(String, String)| json!({"key": k, "value": v});
        let batch = |metrics: &[Metric], params: &[(String, String)], tags: &[(String, String)]| -> Result<()> {
            let metrics: Vec<Value> = metrics.iter().map(|x| json!({"key": x.key, "value": x.value, "step": x.step, "timestamp": x.timestamp})).collect();
            let body = json!({"run_id": run, "metrics": metrics, "params": params.iter().map(kv).collect::<Vec<_>>(), "tags": tags.iter().map(kv).collect::<Vec<_>>()});
            self.call("POST", "/api/2.0/mlflow/runs/log-batch", Some(&body)).map(|_| ())
        };
        for p in params.chunks(MAX_PARAMS) {
            batch(&[], p, &[])?;
        }
        for m in metrics.chunks(MAX_METRICS) {
            batch(m, &[], &[])?;
        }
        for t in tags.chunks(MAX_TAGS) {
            batch(&[], &[], t)?;
        }
        Ok(())
    }

    /// Deletes a run (MLflow keeps it in its trash).
    pub fn delete(&self, run: &str) -> Result<()> {
        self.call("POST", "/api/2.0/mlflow/runs/delete", Some(&json!({ "run_id": run }))).map(|_| ())
    }

    /// Marks a run `FINISHED` or `FAILED`.
    pub fn finish(&self, run: &str, failed: bool, end_ms: i64) -> Result<()> {
        let status = if failed { "FAILED" } else { "FINISHED" };
        self.call("POST", "/api/2.0/mlflow/runs/update", Some(&json!({"run_id": run, "status": status, "end_time": end_ms}))).map(|_| ())
    }

    /// Uploads `bytes` as the run's artifact `name` through the server's artifact proxy;
    /// `Ok(false)` when the run's artifacts are not the proxy's (`mlflow-artifacts:/...`), so
    /// the caller records where the files are instead.
    pub fn upload(&self, run: &Run, name: &str, bytes: &[u8]) -> Result<bool> {
        let Some(path) = run.artifact_uri.strip_prefix("mlflow-artifacts:") else { return Ok(false) };
        // `mlflow-artifacts:/1/<run>/artifacts` or `mlflow-artifacts://host/1/<run>/artifacts`.
        let path = path.trim_start_matches('/');
        let path = if run.artifact_uri.starts_with("mlflow-artifacts://") { path.split_once('/').map_or("", |(_, p)| p) } else { path };
        let url = format!("{}/api/2.0/mlflow-artifacts/artifacts/{}/{}", self.base, path.trim_end_matches('/'), url_escape_path(name));
        let mut r = self.agent.put(&url);
        if let Some(a) = &self.auth {
            r = r.header("Authorization", a);
        }
        let status = r.send(bytes).map_err(|e| anyhow!("uploading {name} to {}: {e}", redact(&self.base)))?.status().as_u16();
        if status != 200 {
            bail!("uploading {name} to {} answered HTTP {status}", redact(&self.base));
        }
        Ok(true)
    }
}

fn run_of(v: &Value) -> Option<Run> {
    let info = &v["info"];
    Some(Run {
        id: info["run_id"].as_str()?.to_string(),
        artifact_uri: info["artifact_uri"].as_str().unwrap_or("").to_string(),
        status: info["status"].as_str().unwrap_or("").to_string(),
    })
}

/// Percent-encodes everything but unreserved characters (a query value).
fn url_escape(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// [`url_escape`] keeping `/` (an artifact path).
fn url_escape_path(s: &str) -> String {
    s.split('/').map(url_escape).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_uri_are_never_shown() {
        assert_eq!(redact("https://me:secret@mlflow.example.com:5000"), "https://***@mlflow.example.com:5000");
        assert_eq!(redact("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        let e = Client::new("file:///tmp/mlruns").err().unwrap().to_string();
        assert!(e.contains("not http"), "{e}");
        assert_eq!(url_escape("a b/c"), "a%20b%2Fc");
        assert_eq!(url_escape_path("plots/a b.svg"), "plots/a%20b.svg");
    }
}
