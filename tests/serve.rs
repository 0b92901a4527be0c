//! Use what was trained: `runner recommend`, `runner similar` and `runner export` answer from
//! the cache of a finished run, tried with the release binary. Every answer and every exported
//! file is checked against the run's vectors as the library loads them from the cache
//! (`Executor::serve`), so a wrong run, a wrong row order or a wrong id fails a test.

mod common;
use common::*;
use runner::index::Metric;
use runner::linalg::Matrix;
use runner::pipeline::serve::Served;
use runner::pipeline::{stages::Executor, Plan};
use std::path::{Path, PathBuf};
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

/// Two item2vec models, the first swept over two points, each run with two seeds: six runs
/// whose vectors all differ, so answering from the wrong one shows.
const SWEEP_CFG: &str = r#"
[experiment]
name = "pick"
seeds = [1, 2]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
name = "a"
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
sweep = { window = [2, 5] }

[[model]]
name = "b"
kind = "item2vec"
dim = 12
epochs = 3
threads = 1

[metrics]
k = [10]
"#;

/// Writes `body` as `<name>.toml` in `dir`, runs it with the binary, and returns the plan the
/// library makes of it (its cache is `dir/results/cache`, where the binary put it, since the
/// binary ran in `dir`), from which `Executor::serve` loads any run.
fn run_config(dir: &Path, name: &str, body: &str) -> Plan {
    let file = format!("{name}.toml");
    write_config(dir, &file, body);
    let (code, _, err) = runner(dir, &["run", "-q", &file]);
    assert_eq!(code, 0, "{err}");
    let exp = load(&dir.join(&file), &[format!("experiment.cache_dir=\"{}\"", dir.join("results/cache").display())]);
    runner::pipeline::plan(vec![exp]).unwrap()
}

/// `metric`'s score of two vectors, higher is nearer (L2: minus the squared distance).
fn score(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
    match metric {
        Metric::Ip => dot(a, b),
        Metric::Cos => dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()),
        Metric::L2 => -a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f32>(),
    }
}

/// Brute force: the raw ids and scores of the `k` items nearest to `query` by `metric`,
/// `exclude` and items without a trained vector (all zeros) left out, ties by item number.
fn top_k_by(s: &Served, metric: Metric, query: &[f32], exclude: &[u32], k: usize) -> Vec<(String, f32)> {
    let items = &s.trained.items;
    let mut scored: Vec<(f32, u32)> = (0..items.rows as u32)
        .filter(|&i| !exclude.contains(&i) && items.row(i as usize).iter().any(|&x| x != 0.0))
        .map(|i| (score(metric, query, items.row(i as usize)), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.iter().take(k).map(|&(x, i)| (s.dataset.items.raw(i).to_string(), x)).collect()
}

/// Brute force by inner product (item2vec's metric, which its index uses): the raw ids.
fn top_k(s: &Served, query: &[f32], exclude: &[u32], k: usize) -> Vec<String> {
    assert_eq!(s.trained.metric, Metric::Ip, "the brute force ranks by inner product");
    top_k_by(s, Metric::Ip, query, exclude, k).into_iter().map(|(id, _)| id).collect()
}

/// Items the user had in training or validation: what `recommend` leaves out.
fn seen(s: &Served, user: u32) -> Vec<u32> {
    s.split.train.iter().chain(&s.split.valid).filter(|it| it.user == user).map(|it| it.item).collect()
}

/// What `recommend --user <user number u> -k k` must answer from this run.
fn want_recommend(s: &Served, u: u32, k: usize) -> Vec<String> {
    top_k(s, s.trained.users.row(u as usize), &seen(s, u), k)
}

/// What `similar --item <item number i> -k k` must answer from this run: the nearest items by
/// cosine similarity, its default for an embedding model.
fn want_similar(s: &Served, i: u32, k: usize) -> Vec<String> {
    top_k_by(s, Metric::Cos, s.trained.items.row(i as usize), &[i], k).into_iter().map(|(id, _)| id).collect()
}

/// A `.npy` file's shape and float32 data, read with the npyz crate (not our writer's code).
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).lines().map(String::from).collect()
}

/// A word2vec text file: its `count dim` header, then ids and row-major vectors.
fn read_word2vec(path: &Path) -> ((usize, usize), Vec<String>, Vec<f32>) {
    let lines = read_lines(path);
    let (n, d) = lines[0].split_once(' ').unwrap_or_else(|| panic!("{}: header `{}`", path.display(), lines[0]));
    let (mut ids, mut data) = (Vec::new(), Vec::new());
    for line in &lines[1..] {
        let mut parts = line.split(' ');
        ids.push(parts.next().unwrap().to_string());
        data.extend(parts.map(|x| x.parse::<f32>().unwrap_or_else(|e| panic!("{}: `{x}`: {e}", path.display()))));
    }
    ((n.parse().unwrap(), d.parse().unwrap()), ids, data)
}

/// A parquet export through polars: the column names, the `id` column, and the `v0..` columns
/// as row-major vectors.
fn read_parquet(path: &Path) -> (Vec<String>, Vec<String>, Vec<f32>) {
    use polars::prelude::*;
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let df = ParquetReader::new(f).finish().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names: Vec<String> = df.get_column_names().iter().map(|n| n.to_string()).collect();
    let ids: Vec<String> = df.column("id").unwrap().str().unwrap().iter().map(|id| id.expect("an id is null").to_string()).collect();
    let cols: Vec<Vec<f32>> = names[1..].iter().map(|n| df.column(n).unwrap().f32().unwrap().into_no_null_iter().collect()).collect();
    let data = (0..df.height()).flat_map(|r| cols.iter().map(move |c| c[r])).collect();
    (names, ids, data)
}

/// Equal id lists, or a failure naming the first difference (not thousands of ids).
fn assert_ids<S: AsRef<str>>(got: &[S], want: &[String], what: &str) {
    let got: Vec<&str> = got.iter().map(AsRef::as_ref).collect();
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!("{what}: id {i} is `{}`, want `{}` (raw ids in row order)", got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "{what}: how many ids");
}

/// The files `export --format <format> --out <base>` writes, in the order it lists them.
fn export_files(base: &Path, format: &str) -> Vec<PathBuf> {
    let exts: &[&str] = match format {
        "npy" => &["items.npy", "items.ids.txt", "users.npy", "users.ids.txt"],
        "word2vec" => &["items.txt", "users.txt"],
        "parquet" => &["items.parquet", "users.parquet"],
        _ => unreachable!(),
    };
    exts.iter().map(|e| PathBuf::from(format!("{}.{e}", base.display()))).collect()
}

/// Reads back one side (`items` or `users`) of an export at `base` and checks it holds exactly
/// `vectors`, row by row, with the raw `ids`.
fn assert_exported(base: &Path, format: &str, side: &str, vectors: &Matrix, ids: &[String]) {
    let at = |ext: &str| PathBuf::from(format!("{}.{side}.{ext}", base.display()));
    let what = format!("{format} {side} at {}", base.display());
    match format {
        "npy" => {
            let (shape, data) = read_npy(&at("npy"));
            assert_eq!(shape, [vectors.rows as u64, vectors.cols as u64], "{what}");
            assert!(data == vectors.data, "{what}: the vectors differ from the run's");
            assert_ids(&read_lines(&at("ids.txt")), ids, &what);
        }
        "word2vec" => {
            let (header, got_ids, data) = read_word2vec(&at("txt"));
            assert_eq!(header, (vectors.rows, vectors.cols), "{what}");
            assert_ids(&got_ids, ids, &what);
            assert!(data == vectors.data, "{what}: the vectors differ from the run's (the text round-trips f32)");
        }
        "parquet" => {
            let (names, got_ids, data) = read_parquet(&at("parquet"));
            let want_names: Vec<String> = std::iter::once("id".to_string()).chain((0..vectors.cols).map(|c| format!("v{c}"))).collect();
            assert_eq!(names, want_names, "{what}: an `id` column, then one column per dimension");
            assert_ids(&got_ids, ids, &what);
            assert!(data == vectors.data, "{what}: the vectors differ from the run's");
        }
        _ => unreachable!(),
    }
}

/// Both sides of an export equal the run's trained item and user vectors with raw ids.
fn assert_export_of(base: &Path, format: &str, s: &Served) {
    assert_exported(base, format, "items", &s.trained.items, s.dataset.items.raws());
    assert_exported(base, format, "users", &s.trained.users, s.dataset.users.raws());
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    v.sort();
    v
}

#[test]
fn recommend_and_similar_answer_from_the_cache() {
    let d = tempfile::tempdir().unwrap();
    write_config(d.path(), "serve.toml", CFG);
    // Before any run: a clear error naming what to do.
    let (code, _, err) = runner(d.path(), &["recommend", "serve.toml", "--user", "u1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not cached") && err.contains("runner run serve.toml"), "{err}");
    let plan = run_config(d.path(), "serve", CFG);
    let exec = Executor::new(&plan, false, false);
    let served = exec.serve(0, 0).unwrap();
    let ds = &served.dataset;

    let user = ds.users.raw(7).to_string();
    let (code, out, err) = runner(d.path(), &["recommend", "serve.toml", "--user", &user, "-k", "10"]);
    assert_eq!(code, 0, "{err}");
    let got = answer_ids(&out);
    assert_eq!(got.len(), 10, "{out}");
    // Brute force: every item the user never had, by inner product with the user's vector.
    assert_eq!(got, want_recommend(&served, 7, 10), "the index's ranking, seen items left out");
    for g in &got {
        assert!(!seen(&served, 7).iter().any(|&i| ds.items.raw(i) == g), "{g} is in the user's history");
    }
    assert!(out.contains("had (most recent last)"), "the user's history gives context: {out}");

    // Similar: nearest items by cosine similarity, the item itself left out.
    let item = ds.items.raw(3).to_string();
    let (code, out, err) = runner(d.path(), &["similar", "serve.toml", "--item", &item, "-k", "5"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer_ids(&out), want_similar(&served, 3, 5), "{out}");

    // Unknown ids: an error with near matches, exit 2 like an unknown model, point or seed.
    let (code, _, err) = runner(d.path(), &["recommend", "serve.toml", "--user", &format!("{user}x")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown user") && err.contains("did you mean"), "{err}");
    let (code, _, err) = runner(d.path(), &["similar", "serve.toml", "--item", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown item"), "{err}");
    let (code, _, err) = runner(d.path(), &["export", "serve.toml", "--format", "csv"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown export format `csv`") && err.contains("formats: npy, parquet, word2vec"), "{err}");
    let (code, _, err) = runner(d.path(), &["similar", "serve.toml", "--item", "i3", "--model", "nope"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("models: item2vec, popularity"), "{err}");
}

/// `export --out <base>` in each format writes exactly the README's files, item and user
/// vectors both, and each read back (npy through npyz, parquet through polars) equals the
/// run's trained vectors with the raw ids in row order.
#[test]
fn export_writes_item_and_user_vectors_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "serve", CFG);
    let exec = Executor::new(&plan, false, false);
    let served = exec.serve(0, 0).unwrap();
    for format in ["npy", "word2vec", "parquet"] {
        let out_dir = d.path().join(format!("out-{format}"));
        let base = out_dir.join("vecs");
        let (code, out, err) = runner(d.path(), &["export", "serve.toml", "--format", format, "--out", base.to_str().unwrap()]);
        assert_eq!(code, 0, "{format}: {err}");
        let want = export_files(&base, format);
        assert_eq!(out.lines().map(PathBuf::from).collect::<Vec<_>>(), want, "{format}: the files it lists");
        let mut names: Vec<String> = want.iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();
        names.sort();
        assert_eq!(sorted_names(&out_dir), names, "{format}: the files it wrote, and nothing else");
        assert_export_of(&base, format, &served);
    }
}

/// Without `--out`, export writes under `results/<experiment>/export/`, named
/// `<model>-<point>-<seed>` (README).
#[test]
fn export_defaults_to_the_experiments_export_folder() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "serve", CFG);
    let exec = Executor::new(&plan, false, false);
    let served = exec.serve(0, 0).unwrap();
    let (code, out, err) = runner(d.path(), &["export", "serve.toml", "--format", "npy"]);
    assert_eq!(code, 0, "{err}");
    let base = Path::new("results/serve/export/item2vec-base-1");
    assert_eq!(out.lines().map(PathBuf::from).collect::<Vec<_>>(), export_files(base, "npy"), "relative to where it ran");
    assert_eq!(
        sorted_names(&d.path().join("results/serve/export")),
        ["item2vec-base-1.items.ids.txt", "item2vec-base-1.items.npy", "item2vec-base-1.users.ids.txt", "item2vec-base-1.users.npy"]
    );
    assert_export_of(&d.path().join(base), "npy", &served);
}

/// `--model`, `--point` and `--seed` pick one run: for each of the six runs, `recommend`,
/// `similar` and `export` given its three flags answer from that run's cached vectors (the
/// brute force over them) and from no other; left out, each flag defaults to the first model,
/// its first point, the first seed.
#[test]
fn model_point_and_seed_pick_the_run() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "pick", SWEEP_CFG);
    let exec = Executor::new(&plan, false, false);
    let runs = &plan.experiments[0].runs;
    let picked: Vec<(String, String, u64)> = runs.iter().map(|r| (r.model.name.clone(), r.point_id.clone(), r.seed)).collect();
    let served: Vec<Served> = (0..runs.len()).map(|ri| exec.serve(0, ri).unwrap()).collect();
    assert_eq!(picked.iter().filter(|p| p.0 == "a").count(), 4, "a: two points x two seeds: {picked:?}");
    assert_eq!(picked.iter().filter(|p| p.0 == "b").count(), 2, "b: one point x two seeds: {picked:?}");
    let (user, item) = (served[0].dataset.users.raw(7).to_string(), served[0].dataset.items.raw(3).to_string());

    let flags = |(m, p, s): &(String, String, u64)| vec!["--model".to_string(), m.clone(), "--point".into(), p.clone(), "--seed".into(), s.to_string()];
    let ask = |cmd: &str, what: &[&str], extra: &[String]| {
        let mut args: Vec<&str> = vec![cmd, "pick.toml"];
        args.extend_from_slice(what);
        args.extend(extra.iter().map(String::as_str));
        let (code, out, err) = runner(d.path(), &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        answer_ids(&out)
    };
    let mut answers = Vec::new();
    for (p, s) in picked.iter().zip(&served) {
        let f = flags(p);
        let rec = ask("recommend", &["--user", &user, "-k", "10"], &f);
        assert_eq!(rec, want_recommend(s, 7, 10), "recommend {f:?} answers from that run's vectors");
        let sim = ask("similar", &["--item", &item, "-k", "10"], &f);
        assert_eq!(sim, want_similar(s, 3, 10), "similar {f:?} answers from that run's vectors");
        let base = d.path().join(format!("{}-{}-{}", p.0, p.1, p.2));
        let mut args = vec!["export", "pick.toml", "--out", base.to_str().unwrap()];
        args.extend(f.iter().map(String::as_str));
        let (code, _, err) = runner(d.path(), &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_export_of(&base, "npy", s);
        answers.push((rec, sim));
    }
    // The runs answer differently, so the comparisons above tell runs apart.
    for i in 0..runs.len() {
        for j in 0..i {
            assert_ne!(served[i].trained.items.data, served[j].trained.items.data, "runs {:?} and {:?} have the same vectors", picked[i], picked[j]);
            assert_ne!(answers[i], answers[j], "runs {:?} and {:?} answer alike", picked[i], picked[j]);
        }
    }

    // Defaults: no flag is the first run; `--model b` is b's first point and first seed;
    // `--seed 2` the first model's first point with seed 2.
    let first_of = |m: &str, s: Option<u64>| picked.iter().position(|p| p.0 == m && s.is_none_or(|s| p.2 == s)).unwrap();
    for (extra, ri) in
        [(vec![], 0), (vec!["--model".to_string(), "b".into()], first_of("b", None)), (vec!["--seed".to_string(), "2".into()], first_of("a", Some(2)))]
    {
        assert_eq!(ask("recommend", &["--user", &user, "-k", "10"], &extra), answers[ri].0, "recommend {extra:?} is run {:?}", picked[ri]);
    }
}

/// A `--point` or `--seed` that names no run is a usage error (exit 2) naming the config and
/// the value asked for, and listing the model's valid points (by name) and the seeds, each once.
#[test]
fn a_bad_point_or_seed_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "pick", SWEEP_CFG);
    let points_of = |m: &str| {
        let mut p: Vec<String> = plan.experiments[0].runs.iter().filter(|r| r.model.name == m).map(|r| r.point_name.clone()).collect();
        p.dedup();
        p
    };
    for (extra, model) in [(&["--seed", "9"][..], "a"), (&["--point", "zzzzzz"][..], "a"), (&["--model", "b", "--point", "zzzzzz"][..], "b")] {
        for cmd in [&["recommend", "pick.toml", "--user", "u1"][..], &["similar", "pick.toml", "--item", "i1"][..], &["export", "pick.toml"][..]] {
            let args: Vec<&str> = cmd.iter().chain(extra).copied().collect();
            let (code, out, err) = runner(d.path(), &args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(out.is_empty(), "{args:?}: no answer: {out}");
            assert!(err.starts_with("error: pick.toml: ") && err.contains(extra.last().unwrap()), "{args:?}: {err}");
            for p in points_of(model) {
                assert_eq!(err.matches(p.as_str()).count(), 1, "{args:?}: the valid point {p} of {model} is listed once: {err}");
            }
            assert!(err.contains("seeds: 1, 2"), "{args:?}: the valid seeds are listed: {err}");
            assert!(!err.contains("Some(") && !err.contains("None"), "{args:?}: no Rust debug syntax: {err}");
        }
    }
    assert!(!d.path().join("results/pick/export").exists(), "a refused export writes nothing");
}

/// gensim's `KeyedVectors.load_word2vec_format` reads the word2vec export: the raw ids as its
/// keys in row order, and `kv[id]` the run's vector for that id (to 1e-6 relative). Python is
/// `RUNNER_TEST_PYTHON` (`.ci/run` sets it to a virtualenv with gensim), else `python3`; one
/// without gensim is a skip, which under `CI=true` fails.
#[test]
fn gensim_reads_the_word2vec_export() {
    const TEST: &str = "gensim_reads_the_word2vec_export";
    let python = std::env::var("RUNNER_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import gensim"]).output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        let why = match &probe {
            Ok(o) => String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("").to_string(),
            Err(e) => e.to_string(),
        };
        skip(TEST, &format!("`{python} -c 'import gensim'` failed ({why}); set RUNNER_TEST_PYTHON to a Python with gensim"));
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "serve", CFG);
    let exec = Executor::new(&plan, false, false);
    let served = exec.serve(0, 0).unwrap();
    let base = d.path().join("w2v");
    let (code, _, err) = runner(d.path(), &["export", "serve.toml", "--format", "word2vec", "--out", base.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let script = "import json, sys\n\
                  from gensim.models import KeyedVectors\n\
                  kv = KeyedVectors.load_word2vec_format(sys.argv[1])\n\
                  print(json.dumps({'dim': kv.vector_size, 'keys': list(kv.index_to_key), 'vectors': {k: kv[k].tolist() for k in kv.index_to_key}}))";
    for (side, m, ids) in [("items", &served.trained.items, served.dataset.items.raws()), ("users", &served.trained.users, served.dataset.users.raws())] {
        let file = format!("{}.{side}.txt", base.display());
        let o = Command::new(&python).args(["-c", script, &file]).output().unwrap();
        assert!(o.status.success(), "gensim on {file}: {}", String::from_utf8_lossy(&o.stderr));
        let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(got["dim"], m.cols, "{side}");
        let keys: Vec<&str> = got["keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert_ids(&keys, ids, &format!("{side}: gensim's keys"));
        for (r, id) in ids.iter().enumerate() {
            let v: Vec<f64> = got["vectors"][id].as_array().unwrap_or_else(|| panic!("{side}: kv[{id}]")).iter().map(|x| x.as_f64().unwrap()).collect();
            let want = m.row(r);
            assert_eq!(v.len(), want.len(), "{side} {id}");
            for (a, &b) in v.iter().zip(want) {
                assert!(a == &(b as f64) || (a - b as f64).abs() <= 1e-6 * (b as f64).abs(), "{side}: kv[{id}] = {v:?}, trained {want:?}");
            }
        }
    }
}

/// A MovieLens-100K-format folder: 30 users who each rate 6 of items 1-20 (item 21 appears
/// only as the held-out last interaction of user 1, so it has no trained vector), and titles.
fn tiny_movielens(dir: &Path) {
    let ml = dir.join("data/ml-tiny");
    std::fs::create_dir_all(&ml).unwrap();
    let mut data = String::new();
    for u in 1..=30 {
        for t in 0..6 {
            let item = 1 + (u * 3 + t * 2) % 20;
            data += &format!("{u}\t{item}\t4\t{}\n", 1000 + t);
        }
    }
    data += "1\t21\t5\t2000\n";
    std::fs::write(ml.join("u.data"), data).unwrap();
    let titles = ["Toy Story (1995)", "GoldenEye (1995)", "Four Rooms (1995)", "Get Shorty (1995)", "Copycat (1995)"];
    let items: String = (1..=21)
        .map(|i| {
            let t = if i <= 5 { titles[i - 1].to_string() } else { format!("Film number {i} (1996)") };
            format!("{i}|{t}|01-Jan-1995||http://x|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n")
        })
        .collect();
    std::fs::write(ml.join("u.item"), items).unwrap();
}

/// `similar` takes a title where the dataset has titles, suggests by title, makes no spelling
/// suggestions for numbers, and says so when the item has no trained vector.
#[test]
fn similar_accepts_titles_and_refuses_items_without_a_vector() {
    let d = tempfile::tempdir().unwrap();
    tiny_movielens(d.path());
    let cfg = &format!("[experiment]\nname = \"titles\"\nseeds = [1]\ndata_dir = \"{}\"\n\n[dataset]\nkind = \"movielens\"\npath = \"ml-tiny\"\nvariant = \"100k\"\n\n[[model]]\nkind = \"item2vec\"\ndim = 8\nepochs = 2\nthreads = 1\n\n[metrics]\nk = [5]\n", d.path().join("data").display());
    run_config(d.path(), "titles", cfg);
    let similar = |item: &str| runner(d.path(), &["similar", "titles.toml", "--item", item, "-k", "3"]);
    let (code, by_id, err) = similar("2");
    assert_eq!(code, 0, "{err}");
    // The exact title, and a unique case-insensitive part of one, are the item.
    for t in ["GoldenEye (1995)", "goldeneye"] {
        let (code, out, err) = similar(t);
        assert_eq!(code, 0, "{t}: {err}");
        assert_eq!(answer_ids(&out), answer_ids(&by_id), "{t}");
    }
    // A part of several titles lists them and asks for more.
    let (code, _, err) = similar("(1995)");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is in 5 titles") && err.contains("Toy Story (1995) (1)"), "{err}");
    // A misspelt title is suggested by title; a number gets no spelling suggestions.
    let (code, _, err) = similar("Golden Eye");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean GoldenEye (1995) (2)"), "{err}");
    let (code, _, err) = similar("5000");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown item `5000`") && !err.contains("did you mean"), "{err}");
    // Item 21 was never trained on (its one interaction is held out).
    let (code, _, err) = similar("21");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no trained vector"), "{err}");
    // The index leaves it out: asked for every item, neither `similar` nor `recommend` (for
    // a user who never had it) answers with it, and everything else is there.
    let (code, out, err) = similar("2");
    let (code_all, all, _) = runner(d.path(), &["similar", "titles.toml", "--item", "2", "-k", "50"]);
    assert_eq!((code, code_all), (0, 0), "{err}");
    let all = answer_ids(&all);
    assert_eq!(all.len(), 19, "20 trained items but the asked one: {all:?} ({out})");
    assert!(!all.contains(&"21".to_string()), "{all:?}");
    let (code, rec, err) = runner(d.path(), &["recommend", "titles.toml", "--user", "2", "-k", "50"]);
    assert_eq!(code, 0, "{err}");
    let rec = answer_ids(&rec);
    assert!(!rec.is_empty() && !rec.contains(&"21".to_string()), "{rec:?}");
    // Export says so and lists it beside the vectors.
    let (code, _, err) = runner(d.path(), &["export", "titles.toml", "--out", "ex/"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 of 21 items have no trained vector"), "{err}");
    let listed: Vec<String> = serde_json::from_slice(&std::fs::read(d.path().join("ex/item2vec-base-1.items.untrained.json")).unwrap()).unwrap();
    assert_eq!(listed, ["21"]);
}

/// Popularity listed first, as configs list their baselines, then an embedding model swept
/// over two windows and a model that scores items, each run with two seeds.
const MIXED_CFG: &str = r#"
[experiment]
name = "mixed"
seeds = [1, 2]

[dataset]
kind = "synthetic"
n_users = 300
n_items = 150
n_clusters = 5
mean_len = 12
seed = 3

[[model]]
kind = "popularity"

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1
sweep = { window = [2, 5] }

[[model]]
kind = "itemknn"

[metrics]
k = [10]
"#;

/// The lines of `err` that say which run was taken (`using ...`).
fn using_lines(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with("using ")).collect()
}

/// The ids and scores of the numbered answer lines (`  1. <id> <score> <title>`).
fn answer_scores(out: &str) -> Vec<(String, f32)> {
    out.lines()
        .filter_map(|l| l.trim_start().split_once(". "))
        .filter(|(n, _)| n.parse::<usize>().is_ok())
        .map(|(_, rest)| {
            let mut parts = rest.split_whitespace();
            (parts.next().unwrap().to_string(), parts.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// Without `--model`, `recommend`, `similar` and `export` take the first model that is not a
/// baseline (item2vec, not the popularity listed before it), its first point and the first
/// seed, and say so on stderr in one line: the run taken, the models, points and seeds there
/// were, and the flags that choose. Only what was left open is said; naming all three says
/// nothing.
#[test]
fn without_flags_the_first_model_that_is_not_a_baseline_is_taken_and_said() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "mixed", MIXED_CFG);
    let exec = Executor::new(&plan, false, false);
    let runs = &plan.experiments[0].runs;
    let at = |m: &str, p: Option<&str>, s: u64| runs.iter().position(|r| r.model.name == m && p.is_none_or(|p| r.point_id == p) && r.seed == s).unwrap();
    let taken = at("item2vec", None, 1);
    let (p0, seed) = (runs[taken].point_id.clone(), runs[taken].seed);
    let p1 = runs.iter().find(|r| r.model.name == "item2vec" && r.point_id != p0).unwrap().point_id.clone();
    let served = exec.serve(0, taken).unwrap();
    let (user, item) = (served.dataset.users.raw(7).to_string(), served.dataset.items.raw(3).to_string());
    let said = format!(
        "using item2vec [window=2 seed {seed}]: model item2vec of 3 (popularity, item2vec, itemknn; the first that is not a baseline), \
         point window=2 of 2 (window=2; window=5; the first), seed 1 of 2 (1, 2; the first); choose with --model NAME --point P --seed S"
    );

    let (code, out, err) = runner(d.path(), &["recommend", "mixed.toml", "--user", &user]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer_ids(&out), want_recommend(&served, 7, 10), "item2vec's answer, not popularity's: {out}");
    assert_eq!(using_lines(&err), [said.as_str()], "{err}");
    let (code, out, err) = runner(d.path(), &["similar", "mixed.toml", "--item", &item]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer_ids(&out), want_similar(&served, 3, 10), "{out}");
    assert_eq!(using_lines(&err), [said.as_str()], "{err}");
    let (code, out, err) = runner(d.path(), &["export", "mixed.toml", "--out", "ex/"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(using_lines(&err), [said.as_str()], "export says what it exported: {err}");
    assert!(out.lines().all(|l| l.contains(&format!("item2vec-{p0}-1."))), "{out}");
    assert_export_of(&d.path().join(format!("ex/item2vec-{p0}-1")), "npy", &served);

    // Only what was left open: popularity has one point, so only its seed was chosen.
    let (code, _, err) = runner(d.path(), &["recommend", "mixed.toml", "--user", &user, "--model", "popularity"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(using_lines(&err), ["using popularity [base seed 1]: seed 1 of 2 (1, 2; the first); choose with --seed S"], "{err}");
    let (code, _, err) = runner(d.path(), &["recommend", "mixed.toml", "--user", &user, "--model", "item2vec", "--seed", "2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(using_lines(&err), ["using item2vec [window=2 seed 2]: point window=2 of 2 (window=2; window=5; the first); choose with --point P"], "{err}");
    for cmd in
        [&["recommend", "mixed.toml", "--user", &user][..], &["similar", "mixed.toml", "--item", &item][..], &["export", "mixed.toml", "--out", "ex2/"][..]]
    {
        let args: Vec<&str> = cmd.iter().copied().chain(["--model", "item2vec", "--point", &p1, "--seed", "2"]).collect();
        let (code, _, err) = runner(d.path(), &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(using_lines(&err).is_empty(), "{args:?}: nothing was chosen for the user: {err}");
    }
}

/// `similar` ranks an embedding model's items by cosine similarity unless `--metric` says
/// otherwise, exactly (the index is inner product): answers and printed scores equal the
/// brute force by that metric, the item itself and untrained items left out. A model that
/// scores items takes only its own score (`ip`); popularity has no similarity; `recommend`
/// takes no `--metric`. Refusals are wrong questions: exit 2.
#[test]
fn similar_ranks_by_the_metric_asked_cosine_by_default() {
    let d = tempfile::tempdir().unwrap();
    let plan = run_config(d.path(), "mixed", MIXED_CFG);
    let exec = Executor::new(&plan, false, false);
    let runs = &plan.experiments[0].runs;
    let ri = runs.iter().position(|r| r.model.name == "item2vec").unwrap();
    let served = exec.serve(0, ri).unwrap();
    let (p, seed) = (runs[ri].point_id.clone(), runs[ri].seed.to_string());
    let item = served.dataset.items.raw(3).to_string();
    let similar = |extra: &[&str]| {
        let mut args = vec!["similar", "mixed.toml", "--item", &item, "-k", "10", "--seed", &seed];
        args.extend_from_slice(extra);
        runner(d.path(), &args)
    };
    let header = |out: &str| out.lines().next().unwrap_or_default().to_string();
    for (metric, flag) in [(Metric::Cos, None), (Metric::Cos, Some("cos")), (Metric::Ip, Some("ip")), (Metric::L2, Some("l2"))] {
        let mut extra = vec!["--model", "item2vec", "--point", &p];
        extra.extend(flag.map(|f| ["--metric", f]).into_iter().flatten());
        let (code, out, err) = similar(&extra);
        assert_eq!(code, 0, "{extra:?}: {err}");
        let want = top_k_by(&served, metric, served.trained.items.row(3), &[3], 10);
        let got = answer_scores(&out);
        assert_eq!(got.iter().map(|g| &g.0).collect::<Vec<_>>(), want.iter().map(|w| &w.0).collect::<Vec<_>>(), "{extra:?}: {out}");
        for ((id, g), (_, w)) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-3 * w.abs().max(1.0), "{extra:?}: {id} scores {g}, by {metric:?} {w}");
        }
        let by = match metric {
            Metric::Cos => "by cosine similarity (exact, over every trained item); score = the cosine of the two items' vectors",
            Metric::Ip => "by inner product (the run's flat index, exact); score = the inner product of the two items' vectors",
            Metric::L2 => "by Euclidean distance (exact, over every trained item); score = minus the squared Euclidean distance between the two items' vectors",
        };
        assert!(header(&out).contains(by), "{extra:?}: {out}");
    }

    // itemknn ranks by its own item-item score: `ip` names it, another metric is refused.
    let (code, plain, err) = similar(&["--model", "itemknn"]);
    assert_eq!(code, 0, "{err}");
    assert!(header(&plain).contains("by itemknn's item-item score (the run's flat index, exact)"), "{plain}");
    let (code, ip, err) = similar(&["--model", "itemknn", "--metric", "ip"]);
    assert_eq!((code, answer_ids(&ip)), (0, answer_ids(&plain)), "{err}");
    let (code, out, err) = similar(&["--model", "itemknn", "--metric", "cos"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("own item-item score") && err.contains("`--metric cos` does not apply"), "{err}");
    let (code, out, err) = similar(&["--model", "popularity"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty() && err.contains("has no item similarity: the model ranks by one number per item"), "{err}");
    let (code, _, err) = similar(&["--model", "item2vec", "--metric", "dot"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cos, ip, l2"), "{err}");
    let (code, _, err) = runner(d.path(), &["recommend", "mixed.toml", "--user", "u1", "--metric", "cos"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--metric is for `similar`"), "{err}");
}

/// `similar` and `recommend` print a header line naming what was asked, what ranks the answers,
/// what the score column is and the run, then a column header, then the numbered answers.
#[test]
fn similar_and_recommend_say_what_ranks_them() {
    let d = tempfile::tempdir().unwrap();
    tiny_movielens(d.path());
    let cfg = &format!("[experiment]\nname = \"titles\"\nseeds = [1]\ndata_dir = \"{}\"\n\n[dataset]\nkind = \"movielens\"\npath = \"ml-tiny\"\nvariant = \"100k\"\n\n[[model]]\nkind = \"item2vec\"\ndim = 8\nepochs = 2\nthreads = 1\n\n[metrics]\nk = [5]\n", d.path().join("data").display());
    run_config(d.path(), "titles", cfg);
    let columns = ["rank", "id", "score", "title"];
    let (code, out, err) = runner(d.path(), &["similar", "titles.toml", "--item", "goldeneye", "-k", "3"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "# items nearest to \"GoldenEye (1995)\" (2) by cosine similarity (exact, over every trained item); score = the cosine of the two items' vectors; model item2vec [base seed 1]"
    );
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), columns, "{out}");
    assert_eq!(answer_ids(&out).len(), 3, "{out}");
    assert!(lines[2].trim_start().starts_with("1. "), "{out}");
    assert!(using_lines(&err).is_empty(), "one model, point and seed: nothing to choose: {err}");

    let (code, out, err) = runner(d.path(), &["recommend", "titles.toml", "--user", "2", "-k", "3"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let h = lines.iter().position(|l| l.starts_with("# ")).unwrap_or_else(|| panic!("no header: {out}"));
    assert_eq!(
        lines[h],
        "# recommended for user 2 by inner product (the run's flat index, exact); score = the inner product of the user's query vector and the item's vector; left out: items the user had and items without a trained vector; model item2vec [base seed 1]"
    );
    assert_eq!(lines[h + 1].split_whitespace().collect::<Vec<_>>(), columns, "{out}");
    assert_eq!(answer_ids(&lines[h..].join("\n")).len(), 3, "{out}");
}
