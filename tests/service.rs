//! `runner serve`: the release binary on a free port, asked over real HTTP. Answers are checked
//! against `runner recommend` / `similar` and the run's vectors; every bad request against
//! its status and JSON error; load, a reload under load and SIGTERM against lost requests.

mod common;
use common::*;
use runner::pipeline::{stages::Executor, Plan};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const CFG: &str = r#"
[experiment]
name = "svc"
seeds = [1]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
kind = "item2vec"
dim = 16
epochs = 5
threads = 1

[[model]]
kind = "ease"

[[model]]
kind = "als"
iterations = 3

[[model]]
kind = "two_tower"
dim = 16
hidden = [32]
embedding_dim = 16
epochs = 3
user = { id = false, features = ["segment", "age"], history = 5 }

[metrics]
k = [10]
"#;

struct Service {
    child: Child,
    url: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, extra: &[&str]) -> Service {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    c.args(["serve", "svc.toml", "--addr", "127.0.0.1:0"]).args(extra).current_dir(dir).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("no address line: {line:?}")).to_string();
    Service { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn post(url: &str, body: &str) -> (u16, Value) {
    let mut r = agent().post(&format!("{url}/recommend")).header("content-type", "application/json").send(body).unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn get(url: &str, path: &str) -> (u16, String) {
    let mut r = agent().get(&format!("{url}{path}")).call().unwrap();
    let text = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), text)
}

fn ids(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap_or_else(|| panic!("no items: {v}")).iter().map(|a| a["item"].as_str().unwrap().to_string()).collect()
}

fn trained(dir: &Path) -> Plan {
    write_config(dir, "svc.toml", CFG);
    let (code, _, err) = runner(dir, &["run", "-q", "svc.toml"]);
    assert_eq!(code, 0, "{err}");
    let exp = load(&dir.join("svc.toml"), &[format!("experiment.cache_dir=\"{}\"", dir.join("results/cache").display())]);
    runner::pipeline::plan(vec![exp]).unwrap()
}

#[test]
fn answers_equal_recommend_and_histories_equal_cached_queries() {
    let d = tempfile::tempdir().unwrap();
    let plan = trained(d.path());
    let served = Executor::new(&plan, false, false).serve(0, 0).unwrap();
    let svc = start(d.path(), &[]);
    let (code, health) = get(&svc.url, "/health");
    assert_eq!(code, 200, "{health}");
    assert!(health.contains("item2vec") && health.contains("\"history_queries\":true"), "{health}");

    for u in [0u32, 7, 123] {
        let user = served.dataset.users.raw(u).to_string();
        let (code, out, err) = runner(d.path(), &["recommend", "svc.toml", "--user", &user, "-k", "10"]);
        assert_eq!(code, 0, "{err}");
        let (status, v) = post(&svc.url, &json!({"user": user, "k": 10}).to_string());
        assert_eq!(status, 200, "{v}");
        assert_eq!(ids(&v), answer_ids(&out), "user {user}: the service answers as `runner recommend`");
        // The user's own training history, given online, is the cached query: same answer.
        let history: Vec<String> = served.split.train.iter().filter(|it| it.user == u).map(|it| served.dataset.items.raw(it.item).to_string()).collect();
        let (status, h) = post(&svc.url, &json!({"history": history, "k": 10}).to_string());
        assert_eq!((status, h["query"].as_str()), (200, Some("history")), "{h}");
        assert_eq!(ids(&h), ids(&v), "user {user}: history online vs cached query");
        // `runner recommend --history` takes the same path.
        let (code, out, err) = runner(d.path(), &["recommend", "svc.toml", "--history", &history.join(","), "-k", "10"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(answer_ids(&out), ids(&h), "recommend --history");
        // `exclude` leaves the first answer out and moves the rest up.
        let first = ids(&v)[0].clone();
        let (_, x) = post(&svc.url, &json!({"user": user, "k": 9, "exclude": [first]}).to_string());
        assert_eq!(ids(&x), ids(&v)[1..].to_vec());
    }
    // `filter`: the answers are the full ranking's items that match, in its order.
    let user = served.dataset.users.raw(7).to_string();
    let (_, all) = post(&svc.url, &json!({"user": user, "k": 150}).to_string());
    let feature = |name: &str| served.dataset.item_features.get(name).unwrap().clone();
    let runner::data::FeatureColumn::Text { values: titles, .. } = feature("title") else { panic!("title is text") };
    let runner::data::FeatureColumn::Numeric { values: prices, .. } = feature("price") else { panic!("price is numeric") };
    let item_no = |raw: &str| served.dataset.items.get(raw).unwrap() as usize;
    let word = titles[item_no(&ids(&all)[20])].split(' ').next().unwrap().to_string();
    let price = prices[item_no(&ids(&all)[30])];
    for (filter, matches) in [
        (json!({"title": word.to_uppercase()}), Box::new(|i: usize| titles[i].to_lowercase().contains(&word.to_lowercase())) as Box<dyn Fn(usize) -> bool>),
        (json!({"price": price}), Box::new(|i: usize| prices[i] == price)),
    ] {
        let (status, f) = post(&svc.url, &json!({"user": user, "k": 5, "filter": filter}).to_string());
        assert_eq!(status, 200, "{f}");
        let want: Vec<String> = ids(&all).into_iter().filter(|r| matches(item_no(r))).take(5).collect();
        assert!(!want.is_empty());
        assert_eq!(ids(&f), want, "filter {filter}");
    }
    for (filter, says) in
        [(json!({"titel": "x"}), "did you mean `title`"), (json!({"category": "x"}), "category codes"), (json!({"price": "cheap"}), "by a number")]
    {
        let (status, e) = post(&svc.url, &json!({"user": user, "filter": filter}).to_string());
        assert_eq!(status, 400, "{e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{filter}: {e}");
    }

    // A user id given as a JSON number is read as its digits (MovieLens' ids are numbers;
    // the synthetic dataset's are `u<n>`, so `5` is unknown here, and said so).
    let (status, v) = post(&svc.url, r#"{"user": 5}"#);
    assert_eq!(status, 404, "{v}");
    assert!(v["error"].as_str().unwrap().contains("unknown user `5`"), "{v}");

    let item = served.dataset.items.raw(3).to_string();
    let (code, out, _) = runner(d.path(), &["similar", "svc.toml", "--item", &item, "-k", "5"]);
    assert_eq!(code, 0);
    let (status, body) = get(&svc.url, &format!("/similar/{item}?k=5"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&serde_json::from_str(&body).unwrap()), answer_ids(&out));

    // A scoring model's online history is its 0/1 row: again the cached answer.
    let ease = start(d.path(), &["--model", "ease"]);
    let history: Vec<String> = served.split.train.iter().filter(|it| it.user == 7).map(|it| served.dataset.items.raw(it.item).to_string()).collect();
    let user = served.dataset.users.raw(7).to_string();
    let (_, a) = post(&ease.url, &json!({"user": user}).to_string());
    let (_, b) = post(&ease.url, &json!({"history": history}).to_string());
    assert_eq!(ids(&a).len(), 10);
    assert_eq!(ids(&a), ids(&b), "ease: history online vs cached query");
    // ALS's user vector is solved in training: a history cannot be answered, and says why.
    let als = start(d.path(), &["--model", "als"]);
    let (status, e) = post(&als.url, r#"{"history": ["i1"]}"#);
    assert_eq!(status, 422, "{e}");
    assert!(e["error"].as_str().unwrap().contains("from training"), "{e}");
}

/// The two-tower model's user tower runs on the question: a training user described by
/// their own features and history (no id) gets their cached vector's answer, scores and all;
/// a changed feature changes it; `recommend --features` answers the same; a question that
/// gives too little or the wrong thing is a 400 that says what.
#[test]
fn the_user_tower_answers_a_described_user_as_training_encoded_them() {
    let d = tempfile::tempdir().unwrap();
    let plan = trained(d.path());
    let served = Executor::new(&plan, false, false).serve(0, 3).unwrap();
    assert_eq!(served.model_kind, "two_tower");
    let svc = start(d.path(), &["--model", "two_tower"]);
    let (code, health) = get(&svc.url, "/health");
    assert_eq!(code, 200);
    assert!(health.contains(r#""user_tower":{"features":["segment","age"]}"#), "{health}");
    let column = |name: &str| served.dataset.user_features.get(name).unwrap().clone();
    let runner::data::FeatureColumn::Categorical { values: segment, .. } = column("segment") else { panic!("segment is categorical") };
    let runner::data::FeatureColumn::Numeric { values: age, .. } = column("age") else { panic!("age is numeric") };
    let raw_items = |u: u32, part: &[runner::data::Interaction]| -> Vec<String> {
        part.iter().filter(|it| it.user == u).map(|it| served.dataset.items.raw(it.item).to_string()).collect()
    };
    for u in [0u32, 7, 123] {
        let user = served.dataset.users.raw(u).to_string();
        let (status, cached) = post(&svc.url, &json!({"user": user, "k": 10}).to_string());
        assert_eq!((status, cached["query"].as_str()), (200, Some("user")), "{cached}");
        let (code, out, err) = runner(d.path(), &["recommend", "svc.toml", "--model", "two_tower", "--user", &user]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(answer_ids(&out), ids(&cached));
        // No id: the user's features and training history; their validation items are
        // left out as a known user's are.
        let features = json!({"segment": segment[u as usize], "age": age[u as usize]});
        let history = raw_items(u, &served.split.train);
        let valid = raw_items(u, &served.split.valid);
        let ask = json!({"history": history, "features": features, "exclude": valid, "k": 10});
        let (status, online) = post(&svc.url, &ask.to_string());
        assert_eq!((status, online["query"].as_str()), (200, Some("tower")), "{online}");
        assert_eq!(online["items"], cached["items"], "user {user}: the tower online vs the cached vector, scores included");
        let (code, out, err) = runner(
            d.path(),
            &["recommend", "svc.toml", "--model", "two_tower", "--history", &history.join(","), "--features", &features.to_string(), "-k", "20"],
        );
        assert_eq!(code, 0, "{err}");
        let first: Vec<String> = answer_ids(&out).into_iter().filter(|i| !valid.contains(i)).take(10).collect();
        assert_eq!(first, ids(&cached), "recommend --features");
        // The same user in another segment is another query.
        let other = json!({"segment": (segment[u as usize] + 1) % 5});
        let (status, moved) = post(&svc.url, &json!({"user": user, "features": other}).to_string());
        assert_eq!((status, moved["query"].as_str()), (200, Some("tower")), "{moved}");
        assert_ne!(moved["items"], cached["items"]);
    }
    for (body, says) in [
        (json!({"features": {"age": 30}}), "missing: segment"),
        (json!({"features": {"agee": 30, "segment": 1}}), "did you mean `age`"),
        (json!({"features": {"age": "old", "segment": 1}}), "takes a number"),
        (json!({"features": {"age": 30, "segment": 9}}), "codes 0..5"),
        (json!({"user": "u1", "features": {"age": 1}, "text": {"age": 2}}), "both"),
    ] {
        let (status, e) = post(&svc.url, &body.to_string());
        assert_eq!(status, 400, "{body}: {e}");
        assert!(e["error"].as_str().unwrap().contains(says), "{body}: {e}");
    }
    let (code, _, err) = runner(d.path(), &["recommend", "svc.toml", "--model", "two_tower", "--features", "age=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("missing: segment"), "{err}");
}

#[test]
fn bad_requests_get_their_status_and_a_json_error() {
    let d = tempfile::tempdir().unwrap();
    let plan = trained(d.path());
    let served = Executor::new(&plan, false, false).serve(0, 0).unwrap();
    let svc = start(d.path(), &["--max-body", "2000"]);
    let user = served.dataset.users.raw(2).to_string();
    let big = json!({"history": vec!["i1"; 1000]}).to_string();
    for (body, status, says) in [
        ("{\"user\": ", 400, "not a valid question"),
        ("[1, 2]", 400, "not a valid question"),
        (r#"{"user": true}"#, 400, "an id"),
        (r#"{"user": "u1", "k": "ten"}"#, 400, "not a valid question"),
        (r#"{"usr": "u1"}"#, 400, "unknown field `usr`"),
        (r#"{}"#, 400, "needs `user`"),
        (r#"{"user": "u1", "history": ["i1"]}"#, 400, "not both"),
        (r#"{"user": "u1", "k": 0}"#, 400, "between 1 and"),
        (r#"{"user": "u1", "k": 100000}"#, 400, "between 1 and"),
        (&format!(r#"{{"user": "{user}x"}}"#), 404, "did you mean"),
        (r#"{"history": ["i1", "nope"]}"#, 404, "unknown item"),
        (r#"{"user": "u1", "features": {"age": 3}}"#, 422, "user tower"),
        (&big, 413, "over 2000 bytes"),
    ] {
        let (got, v) = post(&svc.url, body);
        assert_eq!(got, status, "{body:.60}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| e.contains(says)), "{body:.60}: {v}");
    }
    for (path, status) in [("/nope", 404), ("/similar/nope", 404), ("/similar/i1?k=0", 400), ("/similar/i1?q=1", 400)] {
        let (got, body) = get(&svc.url, path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(), "{path}: {body}");
    }
    let (got, body) = get(&svc.url, "/recommend");
    assert_eq!(got, 405, "{body}");

    // Over --max-in-flight: a request whose body has not all arrived holds the one slot, the
    // next is refused with 503 and Retry-After, and once it ends the slot is free again.
    let one = start(d.path(), &["--max-in-flight", "1"]);
    let addr = one.url.strip_prefix("http://").unwrap().to_string();
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    slow.write_all(b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"user\"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut r = agent().post(&format!("{}/recommend", one.url)).send(r#"{"user": "u1"}"#).unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert!(r.body_mut().read_to_string().unwrap().contains("in flight"));
    slow.write_all(format!(": \"u1\"}}{}", " ".repeat(40 - 14)).as_bytes()).unwrap();
    let mut reply = String::new();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 4096];
    let n = slow.read(&mut buf).unwrap();
    reply.push_str(&String::from_utf8_lossy(&buf[..n]));
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let (status, _) = post(&one.url, r#"{"user": "u1"}"#);
    assert_eq!(status, 200);
    // The service is still up, and counted every answer.
    let (code, metrics) = get(&svc.url, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("runner_requests_total{route=\"/recommend\",status=\"400\"} 9"), "{metrics}");
    assert!(metrics.contains("runner_index_items 150"), "{metrics}");
}

/// 64 clients at once get no error; a SIGHUP reload in the middle loses no request; SIGTERM
/// lets the service finish and exit 0.
#[cfg(unix)]
#[test]
fn load_reload_and_sigterm_lose_no_request() {
    let d = tempfile::tempdir().unwrap();
    let plan = trained(d.path());
    let served = Executor::new(&plan, false, false).serve(0, 0).unwrap();
    let svc = start(d.path(), &[]);
    let users: Vec<String> = (0..64).map(|u| served.dataset.users.raw(u).to_string()).collect();
    let pid = svc.child.id().to_string();
    // Clients ask until told to stop, which is after the reload was seen: requests are in
    // flight before, during and after the swap.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (url, stop) = (svc.url.clone(), stop.clone());
            std::thread::spawn(move || {
                let first = post(&url, &json!({"user": user}).to_string());
                let mut statuses = vec![first.0];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || statuses.len() < 5 {
                    let (s, v) = post(&url, &json!({"user": user}).to_string());
                    assert_eq!(ids(&v), ids(&first.1), "a reload of the same run changes no answer");
                    statuses.push(s);
                }
                statuses
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut reloaded = false;
    for _ in 0..100 {
        if get(&svc.url, "/metrics").1.contains("runner_reloads_total 1") {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reloaded, "SIGHUP did not reload");
    let mut total = 0;
    for c in clients {
        let statuses = c.join().unwrap();
        assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
        total += statuses.len();
    }
    assert!(total > 64 * 5, "{total} requests");
    let mut svc = svc;
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = svc.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM drains and exits 0");
}

/// Running the config again with `--force` replaces the served cache entries: the service
/// notices and reloads, and keeps answering.
#[test]
fn a_forced_run_reloads_the_service() {
    let d = tempfile::tempdir().unwrap();
    let plan = trained(d.path());
    let served = Executor::new(&plan, false, false).serve(0, 0).unwrap();
    let svc = start(d.path(), &[]);
    let user = served.dataset.users.raw(3).to_string();
    let (status, before) = post(&svc.url, &json!({"user": user}).to_string());
    assert_eq!(status, 200);
    // Entry folders' times have one-second resolution on some filesystems.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, _, err) = runner(d.path(), &["run", "-q", "--force=train", "svc.toml"]);
    assert_eq!(code, 0, "{err}");
    let mut reloaded = false;
    for _ in 0..100 {
        if get(&svc.url, "/metrics").1.contains("runner_reloads_total 1") {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(reloaded, "the forced run was not noticed");
    let (status, after) = post(&svc.url, &json!({"user": user}).to_string());
    assert_eq!((status, ids(&after)), (200, ids(&before)), "one thread, one seed: the same vectors again");
}
