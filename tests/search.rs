//! Model selection reads validation evaluations only.

mod common;
use common::*;
use std::path::Path;

/// A small table dataset: user `warm` has every item first (so item ids are fixed by the
/// file's first rows whatever the other users hold), then each user walks one cluster of 10
/// items in steps of 1 or 2; the last interaction of each walker (test) is `last(u, item)`.
fn table(dir: &Path, last: impl Fn(usize, usize) -> usize) -> std::path::PathBuf {
    let mut csv = String::from("user_id,item_id,ts\n");
    for i in 0..60 {
        csv += &format!("warm,i{i},{i}\n");
    }
    for u in 0..150 {
        let cluster = u % 6;
        let (mut pos, step) = (u * 7 % 10, 1 + u % 2);
        let len = 8 + u % 5;
        for t in 0..len {
            let item = cluster * 10 + pos;
            let item = if t + 1 == len { last(u, item) } else { item };
            csv += &format!("u{u},i{item},{t}\n");
            pos = (pos + step) % 10;
        }
    }
    let p = dir.join("walks.csv");
    std::fs::write(&p, csv).unwrap();
    p
}

const PLAIN: &str = r#"
[experiment]
name = "plain"
seeds = [1]

[dataset]
kind = "table"
path = "DATA"

[split]
kind = "leave_last_out"
validation = true

[[model]]
kind = "item2vec"
dim = 8
epochs = 3
threads = 1

[metrics]
k = [10]
"#;

#[test]
fn model_selection_cannot_read_a_test_evaluation() {
    let d = tempfile::tempdir().unwrap();
    let data = table(d.path(), |_, i| i);
    let cfg = write_config(d.path(), "plain.toml", &PLAIN.replace("DATA", &data.display().to_string()));
    let plan = runner::pipeline::plan(vec![load(&cfg, &sandbox_sets(d.path()))]).unwrap();
    let exec = runner::pipeline::stages::Executor::new(&plan, false, false);
    let (_, errors) = runner::pipeline::dag::execute(&plan, &exec, 1, &|_| {});
    assert!(errors.is_empty());
    for k in &plan.run_keys[0] {
        assert!(exec.eval_summary(&k.eval).is_ok());
        let e = exec.validation_summary(&k.eval).unwrap_err();
        assert!(format!("{e}").contains("not a validation evaluation"), "{e}");
    }
    // The same run evaluated on validation: its own eval entry, readable by model selection,
    // scored on the second-to-last items (those that do not repeat a training item).
    let mut exp = load(&cfg, &sandbox_sets(d.path()));
    exp.runs[0].target = runner::eval::EvalTarget::Validation;
    let vplan = runner::pipeline::plan(vec![exp]).unwrap();
    let vexec = runner::pipeline::stages::Executor::new(&vplan, false, false);
    let (summary, errors) = runner::pipeline::dag::execute(&vplan, &vexec, 1, &|_| {});
    assert!(errors.is_empty());
    assert_eq!(summary.ran, 2, "only the validation eval and the report run; data to index are shared: {summary:?}");
    let (test_key, valid_key) = (&plan.run_keys[0][0].eval, &vplan.run_keys[0][0].eval);
    assert_ne!(test_key, valid_key);
    let v = vexec.validation_summary(valid_key).unwrap();
    assert!(v.users() > 0 && v.users() <= 151, "{}", v.users());
    assert_ne!(v.metric("NDCG@10"), Some(exec.eval_summary(test_key).unwrap().metrics["NDCG@10"]));
}
