//! A small neural layer kit on dfdx 0.13 with sizes chosen at run time.
//!
//! dfdx's own `nn` modules fix every size in the type; ours come from TOML, so every tensor
//! here is `Tensor<(usize, usize), f32, Cpu>` and the layers are plain structs holding
//! [`ParamId`]s into a [`ParamStore`]. The pieces:
//!
//! * [`ParamStore`]: named, runtime-shaped dense parameters and buffers (host `Vec<f32>` master
//!   copies plus a cached dfdx tensor), sparse [`EmbeddingTable`]s, seeded initialisation,
//!   safetensors checkpoints, and the optimisers ([`OptimConfig`]: Adam, AdamW, SGD, global
//!   gradient-norm clipping).
//! * [`Ctx`]: one forward pass. It hands out parameter tensors (remembering which ones were
//!   used), creates traced input leaves, and after `backward` returns the gradients of both.
//! * Layers ([`layers`]): [`Linear`], [`BatchNorm1d`] (train / eval with running statistics),
//!   [`Activation`] (ReLU, Tanh), [`Dropout`] (train only), [`l2_normalize`], [`Mlp`].
//! * Sparse embeddings ([`embedding`]): a batch's rows (single ids or mean-pooled padded bags
//!   of ids) are gathered into the leaf tensor of the tower input, gradients are backpropagated
//!   to that leaf and scattered to the touched rows only, whose optimiser state (lazy Adam with
//!   a per-row step count, or Adagrad) is updated in place: a step costs O(batch), not
//!   O(catalogue).
//!
//! Why the optimisers are written here rather than calling dfdx's: `AdamConfig::try_update`
//! is public but takes the device's raw gradient buffer (`Cpu::Vec`), which dfdx only exposes
//! `pub(crate)` (`Gradients::get` returns a copy as a new tensor). Since we copy the gradient
//! to the host anyway, the update runs on `&mut [f32]` with the same formulas as dfdx's CPU
//! kernels (`tensor_ops/adam/cpu_kernel.rs`, `sgd/cpu_kernel.rs`), and the same code serves the
//! row-sparse tables, which dfdx has no notion of.

pub mod catch_up;
pub mod conv;
pub mod embedding;
pub mod groups;
pub mod host;
pub mod layers;
pub mod optim;
pub mod store;
pub mod table;

#[cfg(test)]
mod tests;

pub use embedding::{Bags, InputBuilder, PAD};
pub use layers::{l2_normalize, Activation, BatchNorm1d, Dropout, Linear, Mlp};
pub use optim::{OptimConfig, OptimizerKind, SparseOptimizer};
pub use store::{Grads, Init, ParamId, ParamStore, TableId};
pub use table::{EmbeddingTable, SparseGrad};

use anyhow::{anyhow, Result};
use dfdx::prelude::*;

/// The device every tensor lives on: the CPU, or GPU 0 in a build with `--features cuda`
/// (dfdx's `AutoDevice`). The device is chosen when the binary is built, not per run: making
/// every layer generic over the device would double the code for a choice users make once,
/// and a model's `device` key checks that the config and the build agree
/// ([`crate::models::neural::params`]). Parameters keep host master copies either way.
pub type Dev = AutoDevice;

/// The device this build trains on, as the config names it.
pub const DEVICE: &str = if cfg!(feature = "cuda") { "cuda" } else { "cpu" };

/// Creates the device, seeded. A `cuda` build without a usable GPU is an error, not a panic.
pub fn new_device(seed: u64) -> Result<Dev> {
    #[cfg(feature = "cuda")]
    {
        // cudarc's `CudaDevice::new` (under dfdx's `try_build`) unwraps the driver's answers:
        // ask them here first, so that a machine without a GPU gets an error, not a panic.
        use cudarc::driver::result;
        let hint = "check `nvidia-smi`, or train with a CPU build";
        let count = result::init().and_then(|_| result::device::get_count()).map_err(|e| anyhow!("no CUDA device: the driver says {e}; {hint}"))?;
        anyhow::ensure!(count > 0, "no CUDA device: the driver sees none; {hint}");
        Cuda::try_build(0, seed).map_err(|e| anyhow!("no CUDA device: cannot open device 0 ({e:?}); {hint}"))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Cpu::seed_from_u64(seed))
    }
}
/// The tape of traced tensors.
pub type Tp = OwnedTape<f32, Dev>;
/// A runtime-shaped matrix without a tape (parameters, constants).
pub type Mat = Tensor<(usize, usize), f32, Dev>;
/// A runtime-shaped matrix recording its backward operations.
pub type TMat = Tensor<(usize, usize), f32, Dev, Tp>;
/// A traced runtime-length vector.
pub type TVec = Tensor<(usize,), f32, Dev, Tp>;
/// A traced scalar (a loss).
pub type Scalar = Tensor<(), f32, Dev, Tp>;

/// Index of an input leaf created by [`Ctx::leaf`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafId(pub usize);

/// One forward pass: parameter access, input leaves, dropout randomness and the running
/// statistics BatchNorm wants to write back.
pub struct Ctx<'a> {
    pub store: &'a ParamStore,
    /// Train mode: dropout active, BatchNorm uses batch statistics and updates running ones.
    pub train: bool,
    rng: rand_xoshiro::Xoshiro256PlusPlus,
    used: Vec<(ParamId, Mat)>,
    leaves: Vec<Mat>,
    /// New values for buffers (BatchNorm running statistics), applied by
    /// [`ParamStore::apply_buffer_updates`] after the pass.
    pub(crate) buffer_updates: Vec<(ParamId, Vec<f32>)>,
}

/// What [`Ctx::backward`] returns.
pub struct Backward {
    /// Gradients of every trainable parameter the pass used.
    pub grads: Grads,
    /// Gradient of every leaf, by [`LeafId`] (row-major, the leaf's shape).
    pub leaves: Vec<Vec<f32>>,
    /// Buffer updates carried over from the pass.
    pub buffer_updates: Vec<(ParamId, Vec<f32>)>,
    /// The loss value.
    pub loss: f32,
}

impl<'a> Ctx<'a> {
    /// `seed` drives dropout masks; derive it from the run seed and the step for determinism.
    pub fn new(store: &'a ParamStore, train: bool, seed: u64) -> Self {
        use rand::SeedableRng;
        Ctx { store, train, rng: rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed), used: Vec::new(), leaves: Vec::new(), buffer_updates: Vec::new() }
    }

    pub fn dev(&self) -> &Dev {
        self.store.dev()
    }

    pub fn rng(&mut self) -> &mut rand_xoshiro::Xoshiro256PlusPlus {
        &mut self.rng
    }

    /// The tensor of parameter `id`, traced into the current graph (its gradient is collected by
    /// [`Ctx::backward`] when it is trainable and the pass is in train mode).
    ///
    /// The tensor carries an empty tape so that ops on it alone (reshape, broadcast) are
    /// recorded too; tapes merge when it meets the batch's tensors.
    pub fn param(&mut self, id: ParamId) -> TMat {
        let t = self.store.tensor(id);
        if self.train && self.store.is_trainable(id) && !self.used.iter().any(|(u, _)| *u == id) {
            self.used.push((id, t.clone()));
        }
        t.leaky_traced()
    }

    /// A constant (no gradient) matrix.
    pub fn constant(&self, rows: usize, cols: usize, data: Vec<f32>) -> Mat {
        debug_assert_eq!(data.len(), rows * cols);
        self.dev().tensor_from_vec(data, (rows, cols))
    }

    /// A traced input leaf whose gradient [`Ctx::backward`] returns.
    pub fn leaf(&mut self, rows: usize, cols: usize, data: Vec<f32>) -> (LeafId, TMat) {
        let t = self.constant(rows, cols, data);
        self.leaves.push(t.clone());
        (LeafId(self.leaves.len() - 1), t.leaky_traced())
    }

    /// A traced input that needs no gradient.
    pub fn input(&self, rows: usize, cols: usize, data: Vec<f32>) -> TMat {
        self.constant(rows, cols, data).leaky_traced()
    }

    /// Runs backpropagation from `loss` and collects the gradients of the used parameters and
    /// of the leaves.
    pub fn backward(self, loss: Scalar) -> Result<Backward> {
        let value = loss.array();
        let mut g = dfdx::tensor_ops::Backward::backward(loss);
        let mut dense = Vec::with_capacity(self.used.len());
        for (id, t) in &self.used {
            g.try_alloc_for(t).map_err(|e| anyhow!("allocating a gradient: {e}"))?;
            dense.push((*id, g.get(t).as_vec()));
        }
        let mut leaves = Vec::with_capacity(self.leaves.len());
        for t in &self.leaves {
            g.try_alloc_for(t).map_err(|e| anyhow!("allocating a gradient: {e}"))?;
            leaves.push(g.get(t).as_vec());
        }
        Ok(Backward { grads: Grads { dense, sparse: Vec::new() }, leaves, buffer_updates: self.buffer_updates, loss: value })
    }

    /// Ends an inference pass, returning the buffer updates (empty in eval mode).
    pub fn finish(self) -> Vec<(ParamId, Vec<f32>)> {
        self.buffer_updates
    }
}

/// Row-wise dot product of two `n x d` matrices: `n` scores.
pub fn row_dot(a: TMat, b: TMat) -> TVec {
    (a * b).sum::<(usize,), Axis<1>>()
}

/// Copies a (traced or not) matrix to a host [`crate::linalg::Matrix`].
pub fn to_matrix<T>(t: &Tensor<(usize, usize), f32, Dev, T>) -> crate::linalg::Matrix {
    let (r, c) = *t.shape();
    crate::linalg::Matrix { rows: r, cols: c, data: t.as_vec() }
}
