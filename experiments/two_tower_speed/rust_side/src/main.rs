//! Two-tower training speed at two catalogue sizes (see ../README.md).
//!
//! usage: RAYON_NUM_THREADS=2 two_tower_speed [steps] [history]   (REVERSE=1: large size first)
//!
//! Trains two epochs of `steps` batches of 1024 uniformly random interactions with towers
//! 64 (embedding) - 256 - 128 - 64, and reports the median step time of epoch 2 (robust to a
//! busy machine) and both epochs' wall times. The final encoding of every user and item is
//! not timed.

#![allow(dead_code, unused_imports)]

#[path = "../../../../src/linalg.rs"]
pub mod linalg;
#[path = "../../../../src/config/params.rs"]
pub mod params;
#[path = "../../../../src/data/features.rs"]
pub mod features;
#[path = "../../../../src/nn/mod.rs"]
pub mod nn;
#[path = "../../../../src/models/two_tower.rs"]
pub mod two_tower;

/// Mirrors `crate::config::params`.
pub mod config {
    pub use super::params;
}

/// Stand-ins for runner's `crate::index::Metric`.
pub mod index {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
    pub enum Metric {
        #[default]
        Ip,
        Cos,
        L2,
    }
}

/// Stand-ins for the parts of runner's `crate::data` the model reads.
pub mod data {
    pub use super::features::{self, FeatureColumn, FeatureTable};
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Interaction {
        pub user: u32,
        pub item: u32,
        pub rating: f32,
        pub ts: i64,
    }
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct Split {
        pub n_users: usize,
        pub n_items: usize,
        pub train: Vec<Interaction>,
        pub valid: Vec<Interaction>,
        pub test: Vec<Interaction>,
    }
    #[derive(Clone, Debug, Default)]
    pub struct Dataset {
        pub user_features: FeatureTable,
        pub item_features: FeatureTable,
    }
}

/// Stand-ins for runner's `crate::models` types.
pub mod models {
    pub use super::two_tower;
    use super::config::params::ParamError;
    use super::data::{Dataset, Split};
    use super::index::Metric;
    use super::linalg::Matrix;
    pub struct TrainInput<'a> {
        pub dataset: &'a Dataset,
        pub split: &'a Split,
        pub seed: u64,
        pub progress: bool,
    }
    #[derive(Clone, Debug, Default)]
    pub struct EpochLog {
        pub epoch: usize,
        pub loss: f64,
        pub seconds: f64,
        pub throughput: f64,
    }
    #[derive(Clone, Debug, Default)]
    pub struct Trained {
        pub items: Matrix,
        pub users: Matrix,
        pub metric: Metric,
        pub epochs: Vec<EpochLog>,
        pub notes: serde_json::Map<String, serde_json::Value>,
    }
    pub trait Model: Send + Sync {
        fn fit(&self, input: &TrainInput) -> anyhow::Result<Trained>;
    }
    pub struct ModelKind {
        pub kind: &'static str,
        pub about: &'static str,
        pub version: u32,
        pub parse: fn(&serde_json::Value) -> Result<(Box<dyn Model>, serde_json::Value), ParamError>,
    }
}

use data::{Dataset, Interaction, Split};
use rand::{Rng, SeedableRng};
use two_tower::{fit, TwoTowerParams};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let steps: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(60);
    let history: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(0);
    let batch = 1024;
    println!("device={} threads={} batch={batch} steps={steps} history={history}", nn::DEVICE, rayon::current_num_threads());
    println!("| users | items | loss | median step ms (epoch 2) | steps/s (median) | examples/s (median) | epoch 1 s | epoch 2 s |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    let mut sizes = vec![(6_000usize, 4_000usize), (200_000, 130_000)];
    if std::env::var("REVERSE").is_ok() {
        sizes.reverse();
    }
    for &(n_users, n_items) in &sizes {
        for loss in ["softmax", "bce"] {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
            let n = steps * batch;
            let mut train: Vec<Interaction> = (0..n)
                .map(|t| Interaction {
                    user: rng.gen_range(0..n_users as u32),
                    item: rng.gen_range(0..n_items as u32),
                    rating: 1.0,
                    ts: t as i64,
                })
                .collect();
            train.sort_by_key(|i| (i.user, i.ts));
            let split = Split { n_users, n_items, train, ..Default::default() };
            let ds = Dataset::default();
            let p: TwoTowerParams = params::parse(&serde_json::json!({
                "dim": 64, "hidden": [256, 128], "embedding_dim": 64, "batch_size": batch,
                "epochs": 2, "loss": loss, "negatives": 256,
                "user": {"history": history},
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let t = fit(&p, &ds, &split, 1)?;
            // Epoch 1 pays one-time costs (first touch of the tables' optimiser-state pages).
            let (e1, e2) = (&t.epochs[0], &t.epochs[1]);
            let ms = t.notes["last_epoch_median_step_ms"].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {n_users} | {n_items} | {loss} | {ms:.1} | {:.1} | {:.0} | {:.2} | {:.2} |",
                1e3 / ms,
                1e3 * batch as f64 / ms,
                e1.seconds,
                e2.seconds
            );
        }
    }
    sparse_only(steps.max(200))?;
    Ok(())
}

/// The only part of a step whose cost could depend on the catalogue: gathering the batch's
/// rows of a user and an item table into the input, scattering the input's gradient back and
/// the lazy-Adam update of the touched rows. Timed alone (median over `steps`), it isolates
/// the scaling from the dense towers, whose cost does not depend on the table sizes at all.
fn sparse_only(steps: usize) -> anyhow::Result<()> {
    use nn::{Init, InputBuilder, OptimConfig, ParamStore};
    println!();
    println!("sparse part only (gather + scatter + lazy Adam on 1024 user and 1024 item rows, dim 64), median of {steps} steps:");
    println!("| users | items | median ms | first-step ms |");
    println!("|---:|---:|---:|---:|");
    for &(n_users, n_items) in &[(6_000usize, 4_000usize), (200_000, 130_000), (6_000, 4_000)] {
        let mut store = ParamStore::new(1);
        let ut = store.table("user.id", n_users, 64, Init::Normal(0.1))?;
        let it = store.table("item.id", n_items, 64, Init::Normal(0.1))?;
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
        let cfg = OptimConfig::default();
        let mut times = Vec::new();
        for _ in 0..steps {
            let users: Vec<u32> = (0..1024).map(|_| rng.gen_range(0..n_users as u32)).collect();
            let items: Vec<u32> = (0..1024).map(|_| rng.gen_range(0..n_items as u32)).collect();
            let grad: Vec<f32> = (0..1024 * 64).map(|k| ((k % 97) as f32 - 48.0) * 1e-3).collect();
            let t0 = std::time::Instant::now();
            let mut ub = InputBuilder::new(1024);
            ub.ids(&store, ut, users);
            let mut ib = InputBuilder::new(1024);
            ib.ids(&store, it, items);
            let (xu, xi) = (ub.build(&store), ib.build(&store));
            std::hint::black_box((&xu, &xi));
            let mut grads = nn::Grads::default();
            ub.scatter(&grad, &mut grads.sparse);
            ib.scatter(&grad, &mut grads.sparse);
            store.step(&mut grads, &cfg);
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        let first = times[0];
        times.sort_by(f64::total_cmp);
        println!("| {n_users} | {n_items} | {:.3} | {:.2} |", times[times.len() / 2], first);
    }
    Ok(())
}
