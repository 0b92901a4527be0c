//! Named runtime-shaped parameters and embedding tables of a model ([`ParamStore`]), their
//! gradients, the optimiser step over both, and checkpoints. The optimiser settings and
//! arithmetic are in `optim.rs`, the tables in `table.rs`.

use super::optim::{update_row, OptimConfig};
use super::table::{EmbeddingTable, SparseGrad};
use super::{Dev, Mat};
use anyhow::{bail, Context, Result};
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashMap;
use std::path::Path;

/// Handle of a dense parameter or buffer in a [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamId(pub usize);

/// Handle of an embedding table in a [`ParamStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableId(pub usize);

/// Initialisation of a parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Const(f32),
    /// Uniform in `[-a, a]`.
    Uniform(f32),
    /// Normal with this standard deviation.
    Normal(f32),
    /// He (Kaiming) uniform for a `fan_in x fan_out` weight: `a = sqrt(6 / fan_in)`.
    HeUniform,
    /// Glorot (Xavier) uniform: `a = sqrt(6 / (fan_in + fan_out))`.
    XavierUniform,
}

impl Init {
    fn fill(self, rng: &mut Xoshiro256PlusPlus, rows: usize, cols: usize) -> Vec<f32> {
        let n = rows * cols;
        let uniform = |rng: &mut Xoshiro256PlusPlus, a: f32| -> Vec<f32> { (0..n).map(|_| rng.gen_range(-a..=a)).collect() };
        match self {
            Init::Const(c) => vec![c; n],
            Init::Uniform(a) => uniform(rng, a),
            Init::Normal(s) => (0..n)
                .map(|_| {
                    // Box-Muller; avoids a rand_distr dependency in the kit.
                    let u1: f32 = rng.gen_range(f32::EPSILON..1.0);
                    let u2: f32 = rng.gen();
                    s * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
                })
                .collect(),
            Init::HeUniform => uniform(rng, (6.0 / rows.max(1) as f32).sqrt()),
            Init::XavierUniform => uniform(rng, (6.0 / (rows + cols).max(1) as f32).sqrt()),
        }
    }
}

/// One dense parameter (or non-trainable buffer such as BatchNorm's running mean).
#[derive(Clone)]
pub struct Param {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub trainable: bool,
    pub data: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    tensor: Mat,
}

// SAFETY: dfdx 0.13's `Cuda` device (inside every device tensor) keeps a raw `CUstream`
// pointer, which makes it neither `Send` nor `Sync`, though the CUDA driver API is
// thread-safe and cudarc makes the device's context current on whichever thread calls it
// (its `CudaDevice` is `Send + Sync` for that reason). The runner's parallel code reads and
// writes parameters' host copies; a device tensor is touched by one thread at a time (the
// training loop's tape, or one side of `ParamStore::step`'s join refreshing its copies).
#[cfg(feature = "cuda")]
unsafe impl Send for Param {}
#[cfg(feature = "cuda")]
unsafe impl Sync for Param {}
#[cfg(feature = "cuda")]
unsafe impl Send for ParamStore {}
#[cfg(feature = "cuda")]
unsafe impl Sync for ParamStore {}

/// Gradients of one step: dense by parameter, sparse by table.
#[derive(Default)]
pub struct Grads {
    pub dense: Vec<(ParamId, Vec<f32>)>,
    pub sparse: Vec<(TableId, SparseGrad)>,
}

impl Grads {
    pub fn global_norm(&self) -> f32 {
        let d: f64 = self.dense.iter().flat_map(|(_, g)| g.iter()).map(|&x| (x as f64) * (x as f64)).sum();
        let s: f64 = self.sparse.iter().flat_map(|(_, g)| g.grad.iter()).map(|&x| (x as f64) * (x as f64)).sum();
        (d + s).sqrt() as f32
    }

    pub fn scale(&mut self, f: f32) {
        self.dense.iter_mut().flat_map(|(_, g)| g.iter_mut()).for_each(|x| *x *= f);
        self.sparse.iter_mut().flat_map(|(_, g)| g.grad.iter_mut()).for_each(|x| *x *= f);
    }

    /// Scales the gradients down so their global norm is at most `max`; returns the norm
    /// before clipping.
    pub fn clip(&mut self, max: f32) -> f32 {
        let n = self.global_norm();
        if max > 0.0 && n > max {
            self.scale(max / (n + 1e-6));
        }
        n
    }

    pub fn all_finite(&self) -> bool {
        self.dense.iter().all(|(_, g)| g.iter().all(|x| x.is_finite())) && self.sparse.iter().all(|(_, g)| g.grad.iter().all(|x| x.is_finite()))
    }
}

/// Parameters, buffers and embedding tables of one model.
#[derive(Clone)]
pub struct ParamStore {
    dev: Dev,
    params: Vec<Param>,
    tables: Vec<EmbeddingTable>,
    names: HashMap<String, Entry>,
    rng: Xoshiro256PlusPlus,
    /// Dense optimiser steps taken.
    pub step: u32,
}

#[derive(Clone, Copy, Debug)]
enum Entry {
    Param(ParamId),
    Table(TableId),
}

impl ParamStore {
    /// An empty store whose initialisations are drawn from `seed`, on this build's device.
    pub fn new(seed: u64) -> Result<Self> {
        Ok(ParamStore {
            dev: super::new_device(seed)?,
            params: Vec::new(),
            tables: Vec::new(),
            names: HashMap::new(),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed_5eed_0000_0001),
            step: 0,
        })
    }

    pub fn dev(&self) -> &Dev {
        &self.dev
    }

    fn claim(&mut self, name: &str, e: Entry) -> Result<()> {
        if self.names.contains_key(name) {
            bail!("parameter `{name}` is defined twice");
        }
        self.names.insert(name.to_string(), e);
        Ok(())
    }

    fn push(&mut self, name: &str, rows: usize, cols: usize, data: Vec<f32>, trainable: bool) -> Result<ParamId> {
        let id = ParamId(self.params.len());
        self.claim(name, Entry::Param(id))?;
        let tensor = self.dev.tensor_from_vec(data.clone(), (rows, cols));
        let n = rows * cols;
        self.params.push(Param { name: name.to_string(), rows, cols, trainable, data, m: vec![0.0; n], v: vec![0.0; n], tensor });
        Ok(id)
    }

    /// A trainable `rows x cols` parameter.
    pub fn dense(&mut self, name: &str, rows: usize, cols: usize, init: Init) -> Result<ParamId> {
        let data = init.fill(&mut self.rng, rows, cols);
        self.push(name, rows, cols, data, true)
    }

    /// A non-trainable buffer (saved in checkpoints, never optimised).
    pub fn buffer(&mut self, name: &str, rows: usize, cols: usize, value: f32) -> Result<ParamId> {
        self.push(name, rows, cols, vec![value; rows * cols], false)
    }

    /// A sparse embedding table of `rows x dim`.
    pub fn table(&mut self, name: &str, rows: usize, dim: usize, init: Init) -> Result<TableId> {
        let id = TableId(self.tables.len());
        self.claim(name, Entry::Table(id))?;
        let data = init.fill(&mut self.rng, rows, dim);
        self.tables.push(EmbeddingTable::new(name, rows, dim, data));
        Ok(id)
    }

    pub fn tensor(&self, id: ParamId) -> Mat {
        self.params[id.0].tensor.clone()
    }

    /// Every dense parameter and buffer, in creation order.
    pub fn param_ids(&self) -> impl Iterator<Item = ParamId> {
        (0..self.params.len()).map(ParamId)
    }

    /// Every embedding table, in creation order.
    pub fn table_ids(&self) -> impl Iterator<Item = TableId> {
        (0..self.tables.len()).map(TableId)
    }

    pub fn is_trainable(&self, id: ParamId) -> bool {
        self.params[id.0].trainable
    }

    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0]
    }

    pub fn value(&self, id: ParamId) -> &[f32] {
        &self.params[id.0].data
    }

    /// Overwrites a parameter's values (tests, checkpoints).
    pub fn set_value(&mut self, id: ParamId, data: &[f32]) {
        let p = &mut self.params[id.0];
        assert_eq!(p.data.len(), data.len());
        p.data.copy_from_slice(data);
        p.tensor = self.dev.tensor_from_vec(p.data.clone(), (p.rows, p.cols));
    }

    pub fn get_table(&self, id: TableId) -> &EmbeddingTable {
        &self.tables[id.0]
    }

    pub fn table_mut(&mut self, id: TableId) -> &mut EmbeddingTable {
        &mut self.tables[id.0]
    }

    pub fn param_id(&self, name: &str) -> Option<ParamId> {
        match self.names.get(name) {
            Some(Entry::Param(p)) => Some(*p),
            _ => None,
        }
    }

    pub fn table_id(&self, name: &str) -> Option<TableId> {
        match self.names.get(name) {
            Some(Entry::Table(t)) => Some(*t),
            _ => None,
        }
    }

    /// Number of scalar parameters (dense trainable + tables).
    pub fn n_params(&self) -> usize {
        self.params.iter().filter(|p| p.trainable).map(|p| p.data.len()).sum::<usize>() + self.tables.iter().map(|t| t.data.len()).sum::<usize>()
    }

    /// Writes BatchNorm running statistics gathered during a pass.
    pub fn apply_buffer_updates(&mut self, updates: Vec<(ParamId, Vec<f32>)>) {
        for (id, v) in updates {
            self.set_value(id, &v);
        }
    }

    /// One optimiser step: clips (when configured), updates the dense parameters that have a
    /// gradient and the touched rows of each table. Returns the gradient norm before clipping
    /// (0 when clipping is off).
    pub fn step(&mut self, grads: &mut Grads, cfg: &OptimConfig) -> f32 {
        // The norm costs a pass over every gradient: only when clipping asks for it.
        let norm = if cfg.clip_norm > 0.0 { grads.clip(cfg.clip_norm) } else { 0.0 };
        self.step += 1;
        let t = self.step;
        let (params, tables) = (&mut self.params, &mut self.tables);
        // Dense parameters and embedding tables are disjoint: update them side by side.
        rayon::join(
            || {
                for (id, g) in &grads.dense {
                    let p = &mut params[id.0];
                    if !p.trainable {
                        continue;
                    }
                    update_row(cfg, cfg.lr, t, &mut p.data, &mut p.m, &mut p.v, g);
                    // Refresh the cached tensor in place when nobody else holds it.
                    p.tensor.copy_from(&p.data);
                }
            },
            || {
                for (id, g) in &grads.sparse {
                    tables[id.0].apply(g, cfg, t);
                }
            },
        );
        norm
    }

    /// Brings every table row up to the current step (see [`EmbeddingTable::catch_up_all`]).
    pub fn catch_up(&mut self, cfg: &OptimConfig) {
        let step = self.step;
        self.tables.iter_mut().for_each(|t| t.catch_up_all(cfg, step));
    }

    /// The values alone (`p<i>` per dense parameter or buffer, `t<i>` per table): what a copy
    /// that is read, never trained on, needs. Positional names: they are only restored into a
    /// store built by the same code from the same configuration (shapes are checked).
    pub fn values(&self) -> Vec<(String, [usize; 2], Vec<f32>)> {
        let mut out: Vec<(String, [usize; 2], Vec<f32>)> =
            self.params.iter().enumerate().map(|(i, p)| (format!("p{i}"), [p.rows, p.cols], p.data.clone())).collect();
        out.extend(self.tables.iter().enumerate().map(|(i, t)| (format!("t{i}"), [t.rows, t.dim], t.data.clone())));
        out
    }

    /// Everything a training needs to go on where it stopped: the [`ParamStore::values`], each
    /// dense parameter's moments (`pm<i>`, `pv<i>`), each table's moments and per-row steps
    /// (`tm<i>`, `tv<i>`, `tt<i>`; the steps' u32 bits stored as f32) and the step count
    /// (`step`).
    pub fn state(&self) -> Vec<(String, [usize; 2], Vec<f32>)> {
        let mut out = self.values();
        out.push(("step".to_string(), [1, 1], vec![f32::from_bits(self.step)]));
        for (i, p) in self.params.iter().enumerate() {
            out.push((format!("pm{i}"), [p.rows, p.cols], p.m.clone()));
            out.push((format!("pv{i}"), [p.rows, p.cols], p.v.clone()));
        }
        for (i, t) in self.tables.iter().enumerate() {
            let (m, v, steps) = t.optimiser_state();
            let r = if steps.is_empty() { 0 } else { t.rows };
            out.push((format!("tm{i}"), [r, t.dim], m.to_vec()));
            out.push((format!("tv{i}"), [r, t.dim], v.to_vec()));
            out.push((format!("tt{i}"), [r, 1], steps.iter().map(|&x| f32::from_bits(x)).collect()));
        }
        out
    }

    /// Restores what [`ParamStore::values`] returned, leaving the optimiser's state as it is;
    /// `get(name)` gives an array and its shape.
    pub fn restore_values(&mut self, get: impl Fn(&str) -> Option<([usize; 2], Vec<f32>)>) -> Result<()> {
        for i in 0..self.params.len() {
            let data = saved(&get, &format!("p{i}"), Some([self.params[i].rows, self.params[i].cols]))?;
            self.set_value(ParamId(i), &data);
        }
        for (i, t) in self.tables.iter_mut().enumerate() {
            t.data = saved(&get, &format!("t{i}"), Some([t.rows, t.dim]))?;
        }
        Ok(())
    }

    /// Restores what [`ParamStore::state`] returned.
    pub fn restore(&mut self, get: impl Fn(&str) -> Option<([usize; 2], Vec<f32>)>) -> Result<()> {
        self.restore_values(&get)?;
        self.step = saved(&get, "step", Some([1, 1]))?[0].to_bits();
        for (i, p) in self.params.iter_mut().enumerate() {
            p.m = saved(&get, &format!("pm{i}"), Some([p.rows, p.cols]))?;
            p.v = saved(&get, &format!("pv{i}"), Some([p.rows, p.cols]))?;
        }
        for (i, t) in self.tables.iter_mut().enumerate() {
            let (m, v) = (saved(&get, &format!("tm{i}"), None)?, saved(&get, &format!("tv{i}"), None)?);
            let steps = saved(&get, &format!("tt{i}"), None)?.iter().map(|x| x.to_bits()).collect();
            t.set_optimiser_state(m, v, steps)?;
        }
        Ok(())
    }

    /// Saves every parameter, buffer and table (values only) as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_safetensors()?;
        std::fs::write(path, bytes).with_context(|| format!("writing checkpoint {}", path.display()))
    }

    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut tensors: Vec<(&str, [usize; 2], &[f32])> = Vec::new();
        tensors.extend(self.params.iter().map(|p| (p.name.as_str(), [p.rows, p.cols], p.data.as_slice())));
        tensors.extend(self.tables.iter().map(|t| (t.name.as_str(), [t.rows, t.dim], t.data.as_slice())));
        let meta = [("format", "runner-nn".to_string()), ("step", self.step.to_string())];
        write_f32(&tensors, &meta)
    }

    /// Loads values saved by [`ParamStore::save`] into a store built with the same
    /// architecture; every name and shape must match.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
        self.from_safetensors(&bytes).with_context(|| format!("loading checkpoint {}", path.display()))
    }

    pub fn from_safetensors(&mut self, bytes: &[u8]) -> Result<()> {
        let st = safetensors::SafeTensors::deserialize(bytes)?;
        if st.len() != self.params.len() + self.tables.len() {
            bail!("checkpoint holds {} tensors, the model has {}", st.len(), self.params.len() + self.tables.len());
        }
        let read = |name: &str, shape: [usize; 2]| read_f32(&st, name, shape);
        for i in 0..self.params.len() {
            let (name, r, c) = (self.params[i].name.clone(), self.params[i].rows, self.params[i].cols);
            let v = read(&name, [r, c])?;
            self.set_value(ParamId(i), &v);
        }
        for t in &mut self.tables {
            t.data = read(&t.name, [t.rows, t.dim])?;
        }
        Ok(())
    }
}

/// Array `name` of a saved state, which must be `shape` when one is given.
fn saved(get: &impl Fn(&str) -> Option<([usize; 2], Vec<f32>)>, name: &str, shape: Option<[usize; 2]>) -> Result<Vec<f32>> {
    let (s, v) = get(name).with_context(|| format!("the saved state lacks `{name}`"))?;
    if let Some(shape) = shape {
        anyhow::ensure!(s == shape, "the saved `{name}` is {s:?}, the model's is {shape:?}");
    }
    Ok(v)
}

/// `tensors` (name, rows x cols, values) as safetensors bytes with `meta`: the one writer of
/// saved weights (a [`ParamStore`], SASRec's item table and dense vector).
pub fn write_f32(tensors: &[(&str, [usize; 2], &[f32])], meta: &[(&str, String)]) -> Result<Vec<u8>> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, d)| d.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| Ok((n.to_string(), TensorView::new(Dtype::F32, s.to_vec(), b)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let meta: HashMap<String, String> = meta.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    Ok(safetensors::serialize(views, &(!meta.is_empty()).then_some(meta))?)
}

/// Tensor `name` of `st`, which must be F32 of `shape`.
pub fn read_f32(st: &safetensors::SafeTensors, name: &str, shape: [usize; 2]) -> Result<Vec<f32>> {
    let v = st.tensor(name).with_context(|| format!("the weights lack `{name}`"))?;
    if v.dtype() != safetensors::Dtype::F32 || v.shape() != shape {
        bail!("`{name}` is {:?} {:?} in the weights, the model wants F32 {:?}", v.dtype(), v.shape(), shape);
    }
    Ok(v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}
