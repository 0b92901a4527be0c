//! Datasets that ship their split (`kind = "given"`, `[split] kind = "given"`): a paper's
//! exact train / test files, run unchanged, with the choices the files leave made visible.

mod common;
use common::*;

const CONFIG: &str = r#"[experiment]
name = "given"
seeds = [1]
data_dir = "DATA"

[dataset]
kind = "given"
train = "lightgcn/train.txt"
test = "lightgcn/test.txt"
format = "lists"

SPLIT

[[model]]
kind = "popularity"

[[model]]
kind = "bpr"
factors = 4
epochs = 2

[metrics]
k = [1]
"#;

fn config(dir: &std::path::Path, split: &str) -> std::path::PathBuf {
    let fx = std::fs::canonicalize("tests/fixtures/given").unwrap();
    write_config(dir, "given.toml", &CONFIG.replace("DATA", &fx.display().to_string()).replace("SPLIT", split))
}

/// Popularity on the hand-made LightGCN split hits exactly the users counted on paper (see
/// the fixture's README), with the test-only items kept by default and dropped on request.
#[test]
fn a_lightgcn_split_runs_unchanged() {
    let d = tempfile::tempdir().unwrap();
    for (split, users, want) in [("", 6, 4.0 / 6.0), ("[split]\nkind = \"given\"\ntest_only_items = \"drop\"", 5, 4.0 / 5.0)] {
        let cfg = config(d.path(), split);
        let (summary, tables) = run(vec![load(&cfg, &sandbox_sets(d.path()))], false);
        assert_eq!(summary.failed, 0);
        let pop = tables[0].iter().find(|r| r["model"] == "popularity").unwrap_or_else(|| panic!("{:?}", tables[0]));
        assert!((metric(pop, "Hit@1") - want).abs() < 1e-9 && pop["users"] == users, "{split}: {pop}");
        assert!(tables[0].iter().any(|r| r["model"] == "bpr"), "{:?}", tables[0]);
    }
}

/// What a shipped split cannot take: filters (they would move its boundaries), and the
/// `given` split on a dataset that ships none. Both refused when the config loads.
#[test]
fn filters_and_a_given_split_without_files_are_config_errors() {
    let d = tempfile::tempdir().unwrap();
    let cfg = config(d.path(), "");
    let body = std::fs::read_to_string(&cfg).unwrap().replace("format = \"lists\"", "format = \"lists\"\nk_core = 2");
    let p = write_config(d.path(), "f.toml", &body);
    let e = runner::config::load(&p, &[]).err().expect("refused").to_string();
    assert!(e.contains("do not apply to a `given` dataset"), "{e}");
    let p = write_config(
        d.path(),
        "s.toml",
        "[experiment]\nname = \"s\"\n\n[dataset]\nkind = \"synthetic\"\n\n[split]\nkind = \"given\"\n\n[[model]]\nkind = \"popularity\"\n",
    );
    let e = runner::config::load(&p, &[]).err().expect("refused").to_string();
    assert!(e.contains("s.toml") && e.contains("`given` uses the split a dataset ships") && e.contains("synthetic"), "{e}");
}
