//! Tests of the text side: DSSM's defaults and keys, text inputs' errors, and cold start on
//! the synthetic dataset's planted text.

use super::params::TwoTowerParams;
use super::{dssm, fit, two_tower};
use crate::data::split::{cold_items, ColdItems};
use crate::data::synthetic::{generate, SyntheticParams};
use crate::data::{FeatureColumn, Split};
use crate::models::Trained;
use crate::params::{self, ParamError};

fn dssm_err(v: serde_json::Value) -> ParamError {
    match (dssm::KIND.parse)(&v) {
        Err(e) => e,
        Ok(_) => panic!("{v} should be rejected"),
    }
}

#[test]
fn dssm_defaults_gamma_and_errors_name_the_key() {
    let (model, canon) = (dssm::KIND.parse)(&serde_json::json!({})).unwrap();
    assert_eq!(canon["hidden"], serde_json::json!([300, 300]));
    assert_eq!(canon["dim"], 128);
    assert_eq!(canon["activation"], "tanh");
    assert_eq!(canon["normalize"], true);
    assert_eq!(canon["user"]["id"], false);
    assert_eq!(canon["user"]["text_history"], 10);
    assert_eq!(canon["item"]["text"], serde_json::json!(["title"]));
    assert!(model.scores_unseen_items(), "DSSM embeds items from their text");
    // The config's own keys win, nested ones too; gamma is 1 / temperature.
    let (_, canon) = (dssm::KIND.parse)(&serde_json::json!({"gamma": 20.0, "item": {"text": ["title", "genres"]}, "buckets": 1000})).unwrap();
    assert!((canon["temperature"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    assert_eq!(canon["item"]["text"], serde_json::json!(["title", "genres"]));
    assert_eq!(canon["item"]["id"], false);
    assert_eq!(canon["buckets"], 1000);
    for (v, key) in [
        (serde_json::json!({"gamma": 10.0, "temperature": 0.1}), "gamma"),
        (serde_json::json!({"gamma": -1.0}), "gamma"),
        (serde_json::json!({"buckets": 0}), "buckets"),
        (serde_json::json!({"hidden": []}), "hidden"),
        (serde_json::json!({"hidden": [300, 0]}), "hidden.1"),
        (serde_json::json!({"window": 0}), "window"),
        (serde_json::json!({"item": {"text": [], "id": false}}), "item"),
        (serde_json::json!({"item": {"text": [], "id": true}}), "user.text_history"),
        (serde_json::json!({"item": {"text_history": 3}}), "item.text_history"),
    ] {
        let e = dssm_err(v.clone());
        assert_eq!(e.path, key, "{v}: {e:?}");
    }
    // CDSSM: the same towers with the convolution over windows of 3 words.
    let (model, canon) = (super::cdssm::KIND.parse)(&serde_json::json!({})).unwrap();
    let p: TwoTowerParams = params::parse(&canon).unwrap();
    assert_eq!((p.text_encoder, p.window, p.hidden.as_slice()), (super::params::TextEncoder::Conv, 3, &[128][..]));
    assert!(model.scores_unseen_items());
    match (super::cdssm::KIND.parse)(&serde_json::json!({"window": 0})) {
        Err(e) => assert_eq!(e.path, "window"),
        Ok(_) => panic!("window 0 must be rejected"),
    }
    // YouTube DNN: history and id, logQ.
    let (_, canon) = (super::youtube_dnn::KIND.parse)(&serde_json::json!({"user": {"features": ["age"]}})).unwrap();
    assert_eq!((canon["user"]["history"].as_u64(), canon["logq_correction"].as_bool()), (Some(50), Some(true)));
    assert_eq!(canon["user"]["features"], serde_json::json!(["age"]));
    // The `two_tower` kind knows the text keys too, and keeps old configs' canonical form.
    let (_, canon) = (two_tower::KIND.parse)(&serde_json::json!({})).unwrap();
    for key in ["buckets", "in_batch"] {
        assert!(canon.get(key).is_none(), "`{key}` at its default must stay out of old stage keys");
    }
    assert!(canon["user"].get("text").is_none() && canon["user"].get("text_history").is_none());
    let (m, _) = (two_tower::KIND.parse)(&serde_json::json!({})).unwrap();
    assert!(!m.scores_unseen_items(), "an id-only two-tower cannot score unseen items");
    let (m, _) = (two_tower::KIND.parse)(&serde_json::json!({"item": {"features": ["genres"]}})).unwrap();
    assert!(m.scores_unseen_items());
}

#[test]
fn softmax_without_in_batch_needs_sampled_negatives() {
    let e = match (two_tower::KIND.parse)(&serde_json::json!({"in_batch": false, "negatives": 0})) {
        Ok((m, _)) => m.check_sampler(None).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.path, "negatives");
    let (m, _) = (two_tower::KIND.parse)(&serde_json::json!({"in_batch": false, "negatives": 4})).unwrap();
    assert_eq!(m.check_sampler(Some(&serde_json::json!({"kind": "in_batch"}))).unwrap_err().path, "in_batch");
    assert!(m.check_sampler(None).is_ok());
}

fn planted() -> (crate::data::Dataset, Split) {
    let ds = generate(&SyntheticParams { n_users: 800, n_items: 400, n_clusters: 8, mean_len: 20, seed: 3, ..Default::default() });
    let split = cold_items(&ds, &ColdItems { fraction: 0.2, seed: 1 }).unwrap();
    (ds, split)
}

/// Recall@10 of the test users, ranking the split's candidates only.
fn cold_recall(t: &Trained, split: &Split) -> f64 {
    let cand = split.candidates.as_ref().unwrap();
    let test = split.by_user(&split.test);
    let mut total = 0.0;
    let mut users = 0;
    for (u, rel) in test.iter().enumerate() {
        if rel.is_empty() {
            continue;
        }
        let q = t.users.row(u);
        let mut scored: Vec<(f32, u32)> = cand.iter().map(|&i| (crate::linalg::dot(q, t.items.row(i as usize)), i)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let hits = scored[..10].iter().filter(|(_, i)| rel.contains(i)).count();
        total += hits as f64 / rel.len().min(10) as f64;
        users += 1;
    }
    total / users as f64
}

/// The cold-start promise: items held out with all their interactions are ranked from their
/// text. On the planted titles (cluster words plus noise words) DSSM ranks the cold items
/// far above chance, while an id-only two-tower, whose cold item vectors never trained,
/// stays near chance.
#[test]
fn dssm_ranks_cold_items_from_planted_text() {
    let (ds, split) = planted();
    let cand = split.candidates.as_ref().unwrap();
    assert_eq!(cand.len(), 80);
    assert!(split.train.iter().all(|it| cand.binary_search(&it.item).is_err()), "a cold item leaked into training");
    assert!(split.test.iter().all(|it| cand.binary_search(&it.item).is_ok()));
    let dssm: TwoTowerParams = params::parse(
        &dssm::with_defaults(
            &serde_json::json!({"embedding_dim": 32, "hidden": [64], "dim": 32, "batch_size": 256, "epochs": 4, "lr": 0.003, "buckets": 5000}),
            &dssm::defaults(),
        )
        .unwrap(),
    )
    .unwrap();
    let t = fit(&dssm, &ds, &split, 1).unwrap();
    let r_dssm = cold_recall(&t, &split);
    let id_only: TwoTowerParams = params::parse(
        &serde_json::json!({"embedding_dim": 32, "hidden": [64], "dim": 32, "batch_size": 256, "epochs": 4, "lr": 0.01, "user": {"history": 10}}),
    )
    .unwrap();
    let r_id = cold_recall(&fit(&id_only, &ds, &split, 1).unwrap(), &split);
    // Chance: 10 of 80 candidates.
    println!("cold Recall@10: dssm {r_dssm:.4}, id-only two-tower {r_id:.4}, chance {:.4}", 10.0 / 80.0);
    assert!(r_dssm > 0.6, "DSSM cold Recall@10 {r_dssm}");
    assert!(r_id < 0.25, "id-only cold Recall@10 {r_id} should be near chance");
}

/// The paper's softmax, over the positive and 4 random items (`in_batch = false`; the default
/// sampler is then uniform per row), trains too.
#[test]
fn dssm_with_four_random_negatives_per_row_learns_cold_items() {
    let (ds, split) = planted();
    let p: TwoTowerParams = params::parse(
        &dssm::with_defaults(
            &serde_json::json!({"embedding_dim": 32, "hidden": [64], "dim": 32, "batch_size": 128, "epochs": 4, "lr": 0.003, "buckets": 5000,
                                "in_batch": false, "negatives": 4}),
            &dssm::defaults(),
        )
        .unwrap(),
    )
    .unwrap();
    let t = fit(&p, &ds, &split, 2).unwrap();
    assert_eq!(t.notes["sampler"], "uniform");
    assert_eq!(t.notes["sampled_negatives_per_row"], 4);
    let r = cold_recall(&t, &split);
    println!("cold Recall@10 with 4 random negatives: {r:.4}");
    assert!(r > 0.4, "cold Recall@10 {r}");
}

/// A text column listed under `features` is an error that points to `text`; `text` naming a
/// column without words points back to `features`.
#[test]
fn text_and_feature_columns_are_not_mixed_up() {
    let (ds, split) = planted();
    assert!(matches!(ds.item_features.get("title"), Some(FeatureColumn::Text { .. })));
    let p: TwoTowerParams = params::parse(&serde_json::json!({"item": {"features": ["title"]}, "epochs": 1})).unwrap();
    let e = format!("{:#}", fit(&p, &ds, &split, 1).unwrap_err());
    assert!(e.contains("`item.text`"), "{e}");
    let p: TwoTowerParams = params::parse(&serde_json::json!({"item": {"text": ["price"]}, "epochs": 1})).unwrap();
    let e = format!("{:#}", fit(&p, &ds, &split, 1).unwrap_err());
    assert!(e.contains("holds no words") && e.contains("`item.features`"), "{e}");
    let p: TwoTowerParams = params::parse(&serde_json::json!({"item": {"text": ["titel"]}, "epochs": 1})).unwrap();
    let e = format!("{:#}", fit(&p, &ds, &split, 1).unwrap_err());
    assert!(e.contains("`titel`") && e.contains("title"), "{e}");
}
