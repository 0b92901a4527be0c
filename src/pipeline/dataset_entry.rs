//! A data stage's cache entry: the dataset as `dataset.json` (ids, titles, features, graph
//! labels) beside its binary interactions, its vector feature columns (`features-<side>-<k>.f32`)
//! and, for a vectors dataset, its vectors and true neighbours; written once by the data
//! stage, read by every stage downstream.

use super::artifacts as art;
use crate::data::{Dataset, FeatureColumn, FeatureTable, GraphData, IdMap};
use crate::graph::NodeLabels;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

#[derive(Serialize, Deserialize)]
struct DatasetMeta {
    name: String,
    users: Vec<String>,
    items: Vec<String>,
    item_titles: Option<Vec<String>>,
    user_features: FeatureTable,
    item_features: FeatureTable,
    /// Graph datasets only; absent in entries written before graphs existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    graph: Option<GraphMeta>,
    /// Vectors datasets only: the vectors and neighbours are binary files beside this one, and
    /// `users` / `items` are left empty (the rows' numbers, rebuilt on reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vectors: Option<VectorsMeta>,
    /// Datasets that ship their split only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    given: Option<crate::data::GivenParts>,
}

#[derive(Serialize, Deserialize)]
struct VectorsMeta {
    k: usize,
    metric: crate::index::Metric,
    from_file: bool,
}

#[derive(Serialize, Deserialize)]
struct GraphMeta {
    directed: bool,
    /// Class names and, per node, its class ids.
    label_classes: Option<Vec<String>>,
    node_classes: Option<Vec<Vec<u32>>>,
}

pub(super) fn write_dataset(dir: &Path, ds: &Dataset) -> Result<Value> {
    art::write_interactions(&dir.join("interactions.bin"), &ds.interactions)?;
    if let Some(v) = &ds.vectors {
        art::write_matrix(&dir.join("base.f32"), &v.base)?;
        art::write_matrix(&dir.join("queries.f32"), &v.queries)?;
        art::write_ids(&dir.join("neighbors.ids"), v.queries.rows, v.k, &v.neighbors)?;
    }
    for (side, table) in [("user", &ds.user_features), ("item", &ds.item_features)] {
        for (k, c) in table.columns.iter().enumerate() {
            if let FeatureColumn::Vector { dim, values, .. } = c {
                art::write_rows(&dir.join(vector_file(side, k)), c.len(), *dim as usize, values)?;
            }
        }
    }
    let ids = |m: &IdMap| if ds.vectors.is_some() { Vec::new() } else { m.raws().to_vec() };
    let meta = DatasetMeta {
        name: ds.name.clone(),
        users: ids(&ds.users),
        items: ids(&ds.items),
        item_titles: ds.item_titles.clone(),
        user_features: without_vectors(&ds.user_features),
        item_features: without_vectors(&ds.item_features),
        graph: ds.graph.as_ref().map(|g| GraphMeta {
            directed: g.directed,
            label_classes: g.labels.as_ref().map(|l| l.classes.raws().to_vec()),
            node_classes: g.labels.as_ref().map(|l| l.of_node.clone()),
        }),
        vectors: ds.vectors.as_ref().map(|v| VectorsMeta { k: v.k, metric: v.metric, from_file: v.from_file }),
        given: ds.given,
    };
    art::write_json(&dir.join("dataset.json"), &meta)?;
    let mut info = json!({"users": ds.n_users(), "items": ds.n_items(), "interactions": ds.interactions.len()});
    if let Some(g) = crate::data::given::unseen(ds) {
        if let Some(line) = crate::data::given::note(&g) {
            eprintln!("{line}");
        }
        info["given"] = g;
    }
    if let Some(v) = &ds.vectors {
        info["vectors"] = json!({"dim": v.base.cols, "k": v.k, "metric": v.metric, "ground_truth": if v.from_file { "file" } else { "exact search" }});
    }
    Ok(info)
}

/// A copy of `table` whose vector columns leave their numbers behind (they go to their own
/// files; `dataset.json` skips them, so copying them would only double the peak memory).
fn without_vectors(table: &FeatureTable) -> FeatureTable {
    let columns = table
        .columns
        .iter()
        .map(|c| match c {
            FeatureColumn::Vector { name, dim, .. } => FeatureColumn::Vector { name: name.clone(), dim: *dim, values: Vec::new() },
            other => other.clone(),
        })
        .collect();
    FeatureTable { columns }
}

/// The file of column `k` of a side's features, when it is a vector column.
fn vector_file(side: &str, k: usize) -> String {
    format!("features-{side}-{k}.f32")
}

/// Fills the vector columns of `table` from their binary files.
fn read_vectors(dir: &Path, side: &str, table: &mut FeatureTable) -> Result<()> {
    for (k, c) in table.columns.iter_mut().enumerate() {
        if let FeatureColumn::Vector { name, dim, values } = c {
            let m = art::read_matrix(&dir.join(vector_file(side, k)))?;
            anyhow::ensure!(m.cols == *dim as usize, "`{}`: {side} feature `{name}` has {} numbers per row, the entry says {dim}", dir.display(), m.cols);
            *values = m.data;
        }
    }
    Ok(())
}

/// `interactions`: whether to read them (see `reads_interactions`).
pub(super) fn read_dataset(dir: &Path, interactions: bool) -> Result<Dataset> {
    let mut meta: DatasetMeta = art::read_json(&dir.join("dataset.json"))?;
    read_vectors(dir, "user", &mut meta.user_features)?;
    read_vectors(dir, "item", &mut meta.item_features)?;
    let vectors = match &meta.vectors {
        Some(v) => {
            let (base, queries) = (art::read_matrix(&dir.join("base.f32"))?, art::read_matrix(&dir.join("queries.f32"))?);
            let (rows, k, neighbors) = art::read_ids(&dir.join("neighbors.ids"))?;
            anyhow::ensure!(rows == queries.rows && k == v.k, "`{}`: {rows} x {k} neighbours for {} queries of {} each", dir.display(), queries.rows, v.k);
            Some(Arc::new(crate::data::vectors::VectorSet { base, queries, neighbors, k, metric: v.metric, from_file: v.from_file }))
        }
        None => None,
    };
    let (users, items) = match &vectors {
        Some(v) => (IdMap::numbered(v.queries.rows), IdMap::numbered(v.base.rows)),
        None => (IdMap::from_raws(meta.users), IdMap::from_raws(meta.items)),
    };
    Ok(Dataset {
        name: meta.name,
        interactions: if interactions { art::read_interactions(&dir.join("interactions.bin"))? } else { Vec::new() },
        users,
        items,
        vectors,
        given: meta.given,
        item_titles: meta.item_titles,
        user_features: meta.user_features,
        item_features: meta.item_features,
        graph: meta.graph.map(|g| GraphData {
            directed: g.directed,
            labels: match (g.label_classes, g.node_classes) {
                (Some(classes), Some(of_node)) => Some(NodeLabels { classes: IdMap::from_raws(classes), of_node }),
                _ => None,
            },
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureColumn;

    /// A vector column leaves `dataset.json` small and comes back whole from its binary file,
    /// NaN (a movie without genome scores) included.
    #[test]
    fn vector_columns_round_trip_through_their_binary_file() {
        let d = tempfile::tempdir().unwrap();
        let mut ds = Dataset { name: "v".into(), users: IdMap::numbered(1), items: IdMap::numbered(3), ..Default::default() };
        let values = vec![0.1, 0.2, f32::NAN, f32::NAN, 1.0, 0.5];
        ds.item_features.columns = vec![
            FeatureColumn::Numeric { name: "year".into(), values: vec![1.0, 2.0, 3.0] },
            FeatureColumn::Vector { name: "genome".into(), dim: 2, values: values.clone() },
        ];
        write_dataset(d.path(), &ds).unwrap();
        let json = std::fs::read_to_string(d.path().join("dataset.json")).unwrap();
        assert!(!json.contains("0.5") && json.contains("\"genome\""), "{json}");
        let back = read_dataset(d.path(), true).unwrap();
        match back.item_features.get("genome") {
            Some(FeatureColumn::Vector { dim: 2, values: v, .. }) => {
                assert_eq!(v.len(), 6);
                assert!(v.iter().zip(&values).all(|(a, b)| a == b || (a.is_nan() && b.is_nan())), "{v:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(back.item_features.get("year"), ds.item_features.get("year"));
        std::fs::remove_file(d.path().join("features-item-1.f32")).unwrap();
        assert!(read_dataset(d.path(), true).is_err(), "a missing vector file must not read as an empty column");
    }
}
