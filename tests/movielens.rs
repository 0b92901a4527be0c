//! Baselines on the real MovieLens 100K (skipped with a message when the data is absent).

mod common;
use common::*;

#[test]
fn ml100k_popularity_under_leave_last_out() {
    let Some(data) = shared_file("ml100k_popularity_under_leave_last_out", "ml-100k/u.data") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let mut sets = sandbox_sets(d.path());
    sets.push(format!("experiment.data_dir=\"{}\"", data.display()));
    sets.push("experiment.seeds=[1]".into());
    let exp = load(std::path::Path::new("configs/ml100k-baselines.toml"), &sets);
    let (_, tables) = run(vec![exp], false);
    let pop = tables[0].iter().find(|r| r["model"] == "popularity").unwrap();
    let rnd = tables[0].iter().find(|r| r["model"] == "random").unwrap();
    let (r10, n10) = (metric(pop, "Recall@10"), metric(pop, "NDCG@10"));
    println!("ml-100k leave-last-out popularity: Recall@10 = {r10:.4}, NDCG@10 = {n10:.4} over {} users", pop["users"]);
    assert_eq!(pop["users"], 943, "every ML-100K user has >= 20 ratings, so all are tested");
    // Popularity is deterministic: its numbers are pinned (far above chance, about 10 of
    // 1,682 items = 0.006).
    assert_pinned(
        "ml-100k leave-last-out popularity",
        &[("Recall@10", r10, 0.085896), ("NDCG@10", n10, 0.044913), ("Recall@50", metric(pop, "Recall@50"), 0.199364)],
    );
    assert!(r10 > 3.0 * metric(rnd, "Recall@10"));
    // The sequence yardstick must read order from real histories: popularity ranks everyone
    // alike, SASRec (README: about 2x) each user's next item.
    let sasrec = tables[0].iter().find(|r| r["model"] == "sasrec").unwrap();
    let s10 = metric(sasrec, "Recall@10");
    println!("ml-100k leave-last-out sasrec: Recall@10 = {s10:.4}");
    assert!(s10 > 1.5 * r10, "sasrec Recall@10 {s10:.4} is not 1.5x popularity's {r10:.4}");
}

/// Each MovieLens variant's side files give the features named as on 100K, from tiny
/// fixtures in the exact formats (tests/fixtures/movielens).
#[test]
fn every_variant_reads_its_side_files() {
    use runner::data::movielens::{load_movielens, MlVariant};
    use runner::data::FeatureColumn;
    let fx = std::path::Path::new("tests/fixtures/movielens");
    let text = |ds: &runner::data::Dataset, col: &str, id: &str| -> String {
        let i = ds.items.get(id).unwrap_or_else(|| panic!("no item {id}")) as usize;
        match ds.item_features.get(col) {
            Some(FeatureColumn::Text { values, .. }) => values[i].clone(),
            other => panic!("{col} is not text: {other:?}"),
        }
    };
    let number = |cols: &runner::data::FeatureTable, col: &str, i: usize| -> f32 {
        match cols.get(col) {
            Some(FeatureColumn::Numeric { values, .. }) => values[i],
            other => panic!("{col} is not numeric: {other:?}"),
        }
    };

    // 1M: movies.dat (Latin-1) with titles, genres and years; users.dat with the 100K names.
    let ds = load_movielens(&fx.join("ml-1m"), MlVariant::Auto).unwrap();
    let names: Vec<&str> = ds.item_features.names();
    assert_eq!(names, ["title", "genres", "year"]);
    assert_eq!(ds.user_features.names(), ["age", "gender", "occupation", "zip_prefix"]);
    assert_eq!(text(&ds, "title", "11"), "American President, The (1995)");
    assert_eq!(number(&ds.item_features, "year", ds.items.get("260").unwrap() as usize), 1977.0);
    assert_eq!(number(&ds.user_features, "age", ds.users.get("2").unwrap() as usize), 56.0);
    match ds.item_features.get("genres").unwrap() {
        FeatureColumn::MultiHot { values, labels, .. } => {
            let sw = &values[ds.items.get("260").unwrap() as usize];
            let words: Vec<&str> = sw.iter().map(|&g| labels[g as usize].as_str()).collect();
            assert_eq!(words, ["Action", "Adventure", "Fantasy", "Sci-Fi"]);
        }
        other => panic!("genres: {other:?}"),
    }

    // 10M: tags.dat as item text, distinct and lower-cased, who applied them left out.
    let ds = load_movielens(&fx.join("ml-10m"), MlVariant::Auto).unwrap();
    assert_eq!(ds.item_features.names(), ["title", "genres", "year", "tags"]);
    assert_eq!(text(&ds, "tags", "1"), "pixar");
    assert_eq!(text(&ds, "tags", "50"), "twist ending, kevin spacey");
    assert_eq!(text(&ds, "tags", "2"), "");
    assert!(ds.interactions.iter().any(|i| i.rating == 2.5), "half stars");

    // latest: quoted titles and tags with commas, "(no genres listed)" as no genre.
    let ds = load_movielens(&fx.join("ml-latest"), MlVariant::Auto).unwrap();
    assert_eq!(ds.item_features.names(), ["title", "genres", "year", "tags"]);
    assert_eq!(text(&ds, "title", "11"), "American President, The (1995)");
    assert_eq!(text(&ds, "tags", "11"), "politics, romance");
    match ds.item_features.get("genres").unwrap() {
        FeatureColumn::MultiHot { values, .. } => assert!(values[ds.items.get("1193").unwrap() as usize].is_empty()),
        other => panic!("genres: {other:?}"),
    }
    assert_eq!(ds.item_titles.as_ref().unwrap()[ds.items.get("29").unwrap() as usize], "City of Lost Children, The (1995)");

    // A broken side file names its file and line.
    let d = tempfile::tempdir().unwrap();
    for f in ["ratings.csv", "movies.csv"] {
        std::fs::copy(fx.join("ml-latest").join(f), d.path().join(f)).unwrap();
    }
    std::fs::write(d.path().join("tags.csv"), "userId,movieId,tag,timestamp\n1,2,ok,5\n1,\"unclosed,3\n").unwrap();
    let e = format!("{:#}", load_movielens(d.path(), MlVariant::Auto).unwrap_err());
    assert!(e.contains("tags.csv:3") || e.contains("tags.csv:2"), "{e}");
    std::fs::write(d.path().join("tags.csv"), "user,movie,tag,time\n").unwrap();
    let e = format!("{:#}", load_movielens(d.path(), MlVariant::Auto).unwrap_err());
    assert!(e.contains("tags.csv:1") && e.contains("expected the header `userId,movieId,tag,timestamp`"), "{e}");
}

/// The tag genome of 20M / 25M / 32M as the item vector `genome`: one relevance per tag, NaN
/// for a movie without scores, the size from `genome-tags.csv` or else the largest tag id, and
/// bad rows named by file and line.
#[test]
fn the_tag_genome_is_an_item_vector() {
    use runner::data::movielens::{load_movielens, MlVariant};
    use runner::data::FeatureColumn;
    let fx = std::path::Path::new("tests/fixtures/movielens/ml-20m");
    let genome = |ds: &runner::data::Dataset, id: &str| -> Vec<f32> {
        let i = ds.items.get(id).unwrap() as usize;
        match ds.item_features.get("genome") {
            Some(FeatureColumn::Vector { dim, values, .. }) => values[i * *dim as usize..(i + 1) * *dim as usize].to_vec(),
            other => panic!("genome is not a vector: {other:?}"),
        }
    };
    let ds = load_movielens(fx, MlVariant::Auto).unwrap();
    assert_eq!(ds.item_features.names(), ["title", "genres", "year", "tags", "genome"]);
    assert_eq!(genome(&ds, "260"), [0.05, 0.95, 0.03, 0.99925]);
    assert_eq!(genome(&ds, "1"), [0.025, 0.1, 0.9875, 0.2]);
    assert!(genome(&ds, "1193").iter().all(|x| x.is_nan()), "a movie without scores");
    assert!(ds.items.get("3000").is_none(), "scores of an unrated movie add no item");

    let d = tempfile::tempdir().unwrap();
    for f in ["ratings.csv", "genome-scores.csv"] {
        std::fs::copy(fx.join(f), d.path().join(f)).unwrap();
    }
    let ds2 = load_movielens(d.path(), MlVariant::Auto).unwrap();
    assert_eq!(genome(&ds2, "260"), genome(&ds, "260"), "without genome-tags.csv the largest tag id sizes the vector");

    let scores = std::fs::read_to_string(fx.join("genome-scores.csv")).unwrap();
    std::fs::copy(fx.join("genome-tags.csv"), d.path().join("genome-tags.csv")).unwrap();
    for (bad, want) in [
        (scores.replace("260,4,0.99925", "260,5,0.5"), "genome-scores.csv:29: tagId 5 is outside 1..=4"),
        (scores.replace("24,2,0.2", "24,2,high"), "genome-scores.csv:15: relevance `high` is not a number"),
        (scores.replace("24,2,0.2", "24,2"), "genome-scores.csv:15: expected 3 fields"),
        (scores.replace("movieId,tagId,relevance", "movie,tag,rel"), "genome-scores.csv:1: expected the header"),
    ] {
        std::fs::write(d.path().join("genome-scores.csv"), bad).unwrap();
        let e = format!("{:#}", load_movielens(d.path(), MlVariant::Auto).unwrap_err());
        assert!(e.contains(want), "{e}");
    }
}

/// A tower reads the genome as standardised numbers, end to end through the cache (the vector
/// travels as a binary file beside `dataset.json`).
#[test]
fn a_tower_trains_on_the_genome() {
    let fx = std::fs::canonicalize("tests/fixtures/movielens").unwrap();
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "[experiment]\nname = \"genome\"\nseeds = [1]\ndata_dir = \"{}\"\n\n[dataset]\nkind = \"movielens\"\npath = \"ml-20m\"\n\n[split]\nkind = \"leave_last_out\"\n\n[[model]]\nkind = \"two_tower\"\ndim = 8\nembedding_dim = 8\nhidden = [8]\nepochs = 2\nbatch_size = 8\nuser = {{ id = true }}\nitem = {{ id = false, features = [\"genome\", \"year\"] }}\n\n[metrics]\nk = [3]\n",
        fx.display()
    );
    let cfg = write_config(d.path(), "genome.toml", &body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    assert!(tables[0][0]["metrics"]["Recall@3"].as_f64().is_some(), "{}", tables[0][0]);
}

/// A text tower reads 10M's tags and a feature tower 1M's user features, end to end.
#[test]
fn towers_train_on_the_side_features_of_1m_and_10m() {
    let fx = std::fs::canonicalize("tests/fixtures/movielens").unwrap();
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "[experiment]\nname = \"side\"\nseeds = [1]\ndata_dir = \"{}\"\n\n[dataset]\nkind = \"movielens\"\npath = \"ml-1m\"\n\n[split]\nkind = \"leave_last_out\"\n\n[[model]]\nkind = \"two_tower\"\ndim = 8\nembedding_dim = 8\nhidden = [8]\nepochs = 1\nbatch_size = 8\nuser = {{ id = true, features = [\"age\", \"gender\", \"occupation\", \"zip_prefix\"] }}\nitem = {{ id = true, features = [\"genres\", \"year\"] }}\n\n[metrics]\nk = [3]\n",
        fx.display()
    );
    let cfg = write_config(d.path(), "side.toml", &body);
    let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
    assert!(tables[0][0]["metrics"]["Recall@3"].as_f64().is_some(), "{}", tables[0][0]);
    let body = body.replace("path = \"ml-1m\"", "path = \"ml-10m\"").replace(
        "user = { id = true, features = [\"age\", \"gender\", \"occupation\", \"zip_prefix\"] }\nitem = { id = true, features = [\"genres\", \"year\"] }",
        "user = { id = true }\nitem = { id = true, text = [\"title\", \"tags\"] }",
    );
    let cfg = write_config(d.path(), "side10.toml", &body);
    let (summary, _) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
    assert_eq!(summary.failed, 0);
}

/// `configs/ml-latest-all-models.toml` runs as it is on a folder in the latest format (the
/// fixture standing in for ml-latest-small): every model finds the features it names.
#[test]
fn the_ml_latest_config_runs_on_the_latest_format() {
    let fx = std::fs::canonicalize("tests/fixtures/movielens").unwrap();
    let d = tempfile::tempdir().unwrap();
    let mut sets = sandbox_sets(d.path());
    sets.extend([format!("experiment.data_dir=\"{}\"", fx.display()), "dataset.path=\"ml-latest\"".into(), "dataset.fetch=false".into()]);
    let exp = load(std::path::Path::new("configs/ml-latest-all-models.toml"), &sets);
    let (summary, tables) = run(vec![exp], false);
    assert_eq!(summary.failed, 0);
    assert_eq!(tables[0].len(), 8, "every model, one seed");
    assert!(tables[0].iter().all(|r| r["metrics"]["Recall@10"].is_number()), "{:?}", tables[0]);
}
