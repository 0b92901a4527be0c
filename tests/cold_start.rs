//! Cold start end to end: `split.kind = "cold_items"` holds items out with all their
//! interactions; text models rank them from their planted titles, models that know items only
//! by their interactions get a "cannot score unseen items" row.

mod common;
use common::*;
use std::path::Path;

#[test]
fn text_models_rank_cold_items_and_id_models_say_they_cannot() {
    let d = tempfile::tempdir().unwrap();
    let exp = load(Path::new("configs/cold-start-synthetic.toml"), &sandbox_sets(d.path()));
    let (summary, tables) = run(vec![exp], false);
    assert_eq!(summary.failed, 0, "a row without numbers is not a failure");
    let rows = &tables[0];
    let row = |m: &str| rows.iter().find(|r| r["model"] == m).unwrap_or_else(|| panic!("no {m} row"));
    let pop = row("popularity");
    assert_eq!(pop["status"], "unsupported", "{pop}");
    assert!(pop["reason"].as_str().unwrap().starts_with("cannot score unseen items"), "{pop}");
    assert!(pop["metrics"].as_object().unwrap().is_empty(), "no silent zeros: {pop}");
    let chance = metric(row("random"), "Recall@10");
    let (dssm, cdssm) = (metric(row("dssm"), "Recall@10"), metric(row("cdssm"), "Recall@10"));
    println!("cold Recall@10: random {chance:.4}, dssm {dssm:.4}, cdssm {cdssm:.4}");
    // 100 cold items: chance is about 0.1.
    assert!(chance < 0.2, "random {chance}");
    assert!(dssm > 0.4 && dssm > 3.0 * chance, "dssm {dssm} vs chance {chance}");
    assert!(cdssm > 0.4 && cdssm > 3.0 * chance, "cdssm {cdssm} vs chance {chance}");
    // The Markdown table names the reason under the table.
    let md = std::fs::read_to_string(d.path().join("results/cold-start-synthetic/results.md")).unwrap();
    assert!(md.contains("cannot score unseen items"), "{md}");
    assert!(md.contains("Rows without numbers"), "{md}");
}
