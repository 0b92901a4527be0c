//! Use what was trained: `runner recommend`, `runner similar` and `runner export` answer from
//! the cache of a finished run, tried with the release binary.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const CFG: &str = r#"
[experiment]
name = "serve"
seeds = [1]

[dataset]
kind = "synthetic"
n_users = 400
n_items = 200
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
kind = "item2vec"
dim = 16
epochs = 5
threads = 1

[[model]]
kind = "popularity"

[metrics]
k = [10]
"#;

fn runner(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    c.args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNNER_") && k.contains("__") {
            c.env_remove(k);
        }
    }
    let o = c.output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
}

/// Item ids of the numbered answer lines (`  1. <id> <score> <title>`).
fn answer_ids(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter(|(n, _)| n.parse::<usize>().is_ok())
        .map(|(_, rest)| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn recommend_similar_and_export_answer_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "serve.toml", CFG);
    // Before any run: a clear error naming what to do.
    let (code, _, err) = runner(d.path(), &["recommend", "serve.toml", "--user", "u1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not cached") && err.contains("runner run serve.toml"), "{err}");
    let (code, _, err) = runner(d.path(), &["run", "-q", "serve.toml"]);
    assert_eq!(code, 0, "{err}");

    // The vectors as the test sees them, through the library.
    let exp = load(&d.path().join("serve.toml"), &[format!("experiment.cache_dir=\"{}\"", d.path().join("results/cache").display())]);
    let plan = runner::pipeline::plan(vec![exp]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let served = exec.serve(0, 0).unwrap();
    let (ds, split, t) = (&served.dataset, &served.split, &served.trained);

    let user = ds.users.raw(7).to_string();
    let (code, out, err) = runner(d.path(), &["recommend", "serve.toml", "--user", &user, "-k", "10"]);
    assert_eq!(code, 0, "{err}");
    let got = answer_ids(&out);
    assert_eq!(got.len(), 10, "{out}");
    // Brute force: every item the user never had, by inner product with the user's vector
    // (item2vec's metric), best first.
    let seen: Vec<u32> = split.train.iter().chain(&split.valid).filter(|it| it.user == 7).map(|it| it.item).collect();
    let mut scored: Vec<(f32, u32)> = (0..ds.n_items() as u32)
        .filter(|i| !seen.contains(i))
        .map(|i| (t.users.row(7).iter().zip(t.items.row(i as usize)).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<String> = scored.iter().take(10).map(|&(_, i)| ds.items.raw(i).to_string()).collect();
    assert_eq!(got, want, "the index's ranking, seen items left out");
    for g in &got {
        assert!(!seen.iter().any(|&i| ds.items.raw(i) == g), "{g} is in the user's history");
    }
    assert!(out.contains("had (most recent last)"), "the user's history gives context: {out}");

    // Similar: nearest items by the same metric, the item itself left out.
    let item = ds.items.raw(3).to_string();
    let (code, out, err) = runner(d.path(), &["similar", "serve.toml", "--item", &item, "-k", "5"]);
    assert_eq!(code, 0, "{err}");
    let mut scored: Vec<(f32, u32)> = (0..ds.n_items() as u32)
        .filter(|&i| i != 3)
        .map(|i| (t.items.row(3).iter().zip(t.items.row(i as usize)).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let want: Vec<String> = scored.iter().take(5).map(|&(_, i)| ds.items.raw(i).to_string()).collect();
    assert_eq!(answer_ids(&out), want, "{out}");

    // Unknown ids: an error with near matches.
    let (code, _, err) = runner(d.path(), &["recommend", "serve.toml", "--user", &format!("{user}x")]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown user") && err.contains("did you mean"), "{err}");
    let (code, _, err) = runner(d.path(), &["similar", "serve.toml", "--item", "i3", "--model", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("models: item2vec, popularity"), "{err}");

    // Export: npy and word2vec text read back equal.
    for format in ["npy", "word2vec", "parquet"] {
        let out_base = d.path().join(format!("x-{format}"));
        let (code, out, err) = runner(d.path(), &["export", "serve.toml", "--format", format, "--out", out_base.to_str().unwrap()]);
        assert_eq!(code, 0, "{format}: {err}");
        assert_eq!(out.lines().count(), if format == "npy" { 4 } else { 2 }, "{out}");
    }
    let npy = std::fs::read(d.path().join("x-npy.items.npy")).unwrap();
    let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
    let data: Vec<f32> = npy[10 + hlen..].chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
    assert_eq!(data, t.items.data);
    let ids = std::fs::read_to_string(d.path().join("x-npy.items.ids.txt")).unwrap();
    assert_eq!(ids.lines().collect::<Vec<_>>(), ds.items.raws().iter().map(String::as_str).collect::<Vec<_>>());
    let w2v = std::fs::read_to_string(d.path().join("x-word2vec.items.txt")).unwrap();
    assert_eq!(w2v.lines().next().unwrap(), format!("{} {}", t.items.rows, t.items.cols));
    for (r, line) in w2v.lines().skip(1).enumerate() {
        let v: Vec<f32> = line.split(' ').skip(1).map(|x| x.parse().unwrap()).collect();
        assert_eq!(v, t.items.row(r));
    }
    // gensim reads the text format, where Python with gensim is present.
    let probe = Command::new("python3").args(["-c", "import gensim"]).output();
    if probe.map(|o| o.status.success()).unwrap_or(false) {
        let script = format!(
            "from gensim.models import KeyedVectors as K; kv = K.load_word2vec_format('{}'); assert len(kv) == {}; print('ok')",
            d.path().join("x-word2vec.items.txt").display(),
            t.items.rows
        );
        let o = Command::new("python3").args(["-c", &script]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    } else {
        println!("skipped the gensim check: python3 with gensim is not installed");
    }
}
