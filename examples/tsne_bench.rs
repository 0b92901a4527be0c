//! Our side of experiments/tsne_vs_sklearn: maps the rows of a runner matrix file (a train
//! stage's `items.f32`) to 2-D with the map task's t-SNE, writes the map to OUT (same format)
//! and prints one JSON line with the seconds it took.
//!
//! `cargo run --release --example tsne_bench -- ITEMS.f32 OUT.f32 [perplexity] [iterations] [seed]`

use runner::eval::map::tsne;
use runner::pipeline::artifacts::{read_matrix, write_matrix};
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() >= 3, "usage: tsne_bench ITEMS.f32 OUT.f32 [perplexity] [iterations] [seed]");
    let m = read_matrix(Path::new(&args[1]))?;
    let perplexity: f64 = args.get(3).map_or(Ok(30.0), |s| s.parse())?;
    let iterations: usize = args.get(4).map_or(Ok(1000), |s| s.parse())?;
    let seed: u64 = args.get(5).map_or(Ok(1), |s| s.parse())?;
    let t = std::time::Instant::now();
    let low = tsne(&m, perplexity, iterations, 0.5, 0.0, seed)?;
    let secs = t.elapsed().as_secs_f64();
    write_matrix(Path::new(&args[2]), &low)?;
    println!("{{\"side\": \"runner\", \"n\": {}, \"dim\": {}, \"seconds\": {secs:.3}, \"threads\": {}}}", m.rows, m.cols, rayon::current_num_threads());
    Ok(())
}
