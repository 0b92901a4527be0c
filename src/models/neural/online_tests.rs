//! The user tower at question time against the vectors training cached.

use super::online;
use super::params::TwoTowerParams;
use super::tests::planted;
use super::train::Histories;
use crate::data::{Dataset, FeatureColumn};
use crate::models::{BadQuestion, OnlineQuery, UserQuestion};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn params(v: Value) -> TwoTowerParams {
    crate::params::parse(&v).unwrap()
}

/// The planted data with a labelled categorical and a text column on the user side.
fn data() -> (Dataset, crate::data::Split) {
    let (mut ds, split) = planted(120, 80, 4, 10, 5);
    let n = ds.users.len();
    let labels = vec!["red".to_string(), "green".into(), "blue".into()];
    ds.user_features.columns.push(FeatureColumn::Categorical { name: "colour".into(), cardinality: 3, values: (0..n as u32).map(|u| u % 3).collect(), labels });
    ds.user_features.columns.push(FeatureColumn::Text { name: "bio".into(), values: (0..n).map(|u| format!("likes cluster {} a lot", u % 4)).collect() });
    (ds, split)
}

/// User `u`'s own feature values, as a question would give them.
fn own(ds: &Dataset, u: usize) -> Map<String, Value> {
    let mut m = Map::new();
    for c in &ds.user_features.columns {
        let v = match c {
            FeatureColumn::Numeric { values, .. } => json!(values[u]),
            FeatureColumn::Categorical { values, labels, .. } => json!(labels[values[u] as usize]),
            FeatureColumn::Text { values, .. } => json!(values[u]),
            _ => unreachable!(),
        };
        m.insert(c.name().to_string(), v);
    }
    m
}

fn bad(r: anyhow::Result<Vec<f32>>) -> String {
    let e = r.expect_err("refused");
    assert!(e.downcast_ref::<BadQuestion>().is_some(), "a question asked wrongly: {e:#}");
    format!("{e:#}")
}

/// Every training user, asked by id, by history and features, or as a new user giving all of
/// them, gets the vector the train stage cached, bit for bit; a changed feature changes it.
#[test]
fn the_user_tower_online_equals_the_cached_user_vectors() {
    let (ds, split) = data();
    let p = params(json!({
        "dim": 16, "hidden": [24], "embedding_dim": 8, "batch_size": 64, "epochs": 2, "lr": 0.01,
        "batch_norm": true, "buckets": 512,
        "user": {"id": false, "features": ["age", "colour"], "text": ["bio"], "history": 5},
        "item": {"id": true, "features": ["genre"]},
    }));
    let trained = super::fit(&p, &ds, &split, 7).unwrap();
    let weights = trained.weights.clone().expect("the towers keep their weights");
    let ds = Arc::new(ds);
    let tower = online::load(&p, ds.clone(), &split, 7, &weights).unwrap();
    assert_eq!(tower.inputs(), ["age", "colour", "bio"]);
    let hist = Histories::new(&split);
    let none = Map::new();
    for u in 0..split.n_users {
        let cached = trained.users.row(u);
        let by_id = tower.query(&UserQuestion { user: Some(u as u32), history: None, features: &none }).unwrap();
        assert_eq!(by_id, cached, "user {u} by id");
        let features = own(&ds, u);
        let h = hist.of(u as u32);
        let new = tower.query(&UserQuestion { user: None, history: Some(h), features: &features }).unwrap();
        assert_eq!(new, cached, "user {u} as a new user with their own features and history");
    }
    // A changed feature or history moves the vector.
    let mut f = own(&ds, 0);
    f.insert("colour".into(), json!("Blue"));
    let moved = tower.query(&UserQuestion { user: Some(0), history: None, features: &f }).unwrap();
    assert_ne!(moved, trained.users.row(0));
    let moved = tower.query(&UserQuestion { user: Some(0), history: Some(&[1, 2, 3]), features: &none }).unwrap();
    assert_ne!(moved, trained.users.row(0));
    let mut f = own(&ds, 0);
    f.insert("bio".into(), json!("something else entirely"));
    assert_ne!(tower.query(&UserQuestion { user: Some(0), history: None, features: &f }).unwrap(), trained.users.row(0));

    // Questions asked wrongly say what is wrong.
    let ask = |f: Value| {
        let f = f.as_object().unwrap().clone();
        tower.query(&UserQuestion { user: None, history: None, features: &f })
    };
    assert!(bad(ask(json!({"age": 30}))).contains("missing: colour, bio"));
    assert!(bad(ask(json!({"agee": 30}))).contains("did you mean `age`"));
    assert!(bad(ask(json!({"age": 30, "colour": "bleu", "bio": "x"}))).contains("did you mean `blue`"));
    assert!(bad(ask(json!({"age": "old", "colour": "red", "bio": "x"}))).contains("`age` takes a number"));
    assert!(bad(ask(json!({"age": 3, "colour": ["red"], "bio": "x"}))).contains("`colour` takes a category"));
    assert!(ask(json!({"age": null, "colour": 2, "bio": "x"})).is_err(), "a labelled column takes its labels, not codes");
    assert_eq!(ask(json!({"age": 3, "colour": "red", "bio": "x"})).unwrap().len(), 16);
}

/// A user tower that embeds user ids answers only training users.
#[test]
fn a_tower_with_user_ids_refuses_new_users() {
    let (ds, split) = data();
    let p = params(json!({
        "dim": 8, "hidden": [8], "embedding_dim": 8, "batch_size": 64, "epochs": 1,
        "user": {"id": true, "features": ["age"], "history": 3},
    }));
    let trained = super::fit(&p, &ds, &split, 1).unwrap();
    let tower = online::load(&p, Arc::new(ds), &split, 1, trained.weights.as_ref().unwrap()).unwrap();
    let f = json!({"age": 20}).as_object().unwrap().clone();
    assert!(bad(tower.query(&UserQuestion { user: None, history: Some(&[1]), features: &f })).contains("user.id = true"));
    assert_eq!(tower.query(&UserQuestion { user: Some(3), history: None, features: &Map::new() }).unwrap(), trained.users.row(3));
    // Weights of another architecture are refused, not half-loaded.
    let other = params(json!({"dim": 8, "hidden": [4], "embedding_dim": 8, "user": {"id": true, "features": ["age"], "history": 3}}));
    let (ds, split) = data();
    let e = online::load(&other, Arc::new(ds), &split, 1, trained.weights.as_ref().unwrap()).err().expect("refused");
    assert!(format!("{e:#}").contains("do not fit"), "{e:#}");
}

/// A labelled multi-hot column takes labels (one, or a list no longer than training's rows),
/// also when the tower reads it as words.
#[test]
fn multi_hot_values_are_labels_within_the_trained_width() {
    let col =
        FeatureColumn::MultiHot { name: "tags".into(), cardinality: 3, values: vec![vec![0, 1], vec![2]], labels: vec!["a".into(), "b".into(), "c".into()] };
    use super::encoders::GivenValue;
    assert_eq!(online::parse_value(&col, &json!(["a", "c"])).unwrap(), GivenValue::Codes(vec![0, 2]));
    assert_eq!(online::parse_value(&col, &json!("B")).unwrap(), GivenValue::Codes(vec![1]));
    let e = online::parse_value(&col, &json!(["a", "b", "c"])).unwrap_err();
    assert!(e.downcast_ref::<BadQuestion>().is_some() && e.to_string().contains("at most 2 values"), "{e}");
    assert!(online::parse_value(&col, &json!({"a": 1})).unwrap_err().to_string().contains("list of values"));
}
