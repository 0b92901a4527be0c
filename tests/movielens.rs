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
}
