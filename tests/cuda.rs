//! The CUDA build (`scripts/cuda-build.sh`, run by `.ci/run`) on a machine without a GPU: with
//! `device = "cuda"` the train stage fails with a clear "no CUDA device" message, the run ends
//! with the failed stage's exit status and its table, and nothing panics. The binary runs with
//! the build's link stubs on `LD_LIBRARY_PATH`, which answer as a driver without a device does.
//! Skipped (with the reason) when `RUNNER_CUDA_BIN` does not name such a build.

mod common;
use common::*;

#[test]
fn the_cuda_build_without_a_gpu_fails_the_train_stage_clearly() {
    let test = "the_cuda_build_without_a_gpu_fails_the_train_stage_clearly";
    let Some(bin) = std::env::var_os("RUNNER_CUDA_BIN").filter(|b| std::path::Path::new(b).exists()) else {
        skip(test, "RUNNER_CUDA_BIN names no CUDA build (scripts/cuda-build.sh makes one)");
        return;
    };
    let stubs = std::env::var_os("RUNNER_CUDA_STUBS").unwrap_or_default();
    let d = tempfile::tempdir().unwrap();
    let cfg = write_config(
        d.path(),
        "gpu.toml",
        &format!(
            r#"
[experiment]
name = "gpu"
seeds = [1]
cache_dir = "{0}/cache"
results_dir = "{0}/results"

[dataset]
kind = "synthetic"
n_users = 50
n_items = 40
n_clusters = 4
mean_len = 5
seed = 1

[[model]]
kind = "popularity"

[[model]]
kind = "two_tower"
device = "cuda"
dim = 8
hidden = [16]
embedding_dim = 8
epochs = 1

[metrics]
k = [10]
"#,
            d.path().display()
        ),
    );
    let out = std::process::Command::new(&bin).args(["run", "--quiet"]).arg(&cfg).env("LD_LIBRARY_PATH", &stubs).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a run whose train stage cannot get a GPU must fail:\n{stdout}\n{stderr}");
    assert!(stderr.contains("no CUDA device"), "the error says why:\n{stderr}");
    assert!(!stderr.contains("panicked"), "no panic:\n{stderr}");
    // The other model's row is still written, and the tower's says it failed.
    let table = std::fs::read_to_string(d.path().join("results/gpu/results.csv")).unwrap();
    assert!(table.contains("popularity") && table.contains("two_tower"), "{table}");
}
