//! The neural retrieval models: two towers, each the concatenation of input encoders
//! ([`encoders`]: id, categorical, multi-hot, numeric, history) fed through an MLP
//! ([`tower`]), scored by `u . v / temperature` and trained on the [`crate::nn`] kit with
//! one negatives path ([`negatives`]: a sampler per loss, the `[sampler]` section or the
//! loss's default) and one fused loss ([`loss`]: softmax, BCE, BPR).
//!
//! | file | concept |
//! |---|---|
//! | `params.rs` | the config keys and their validation |
//! | `encoders/` | one input encoder per file, one registry |
//! | `tower.rs` | encoders -> MLP -> L2 |
//! | `negatives.rs` | samplers, the step's candidate columns, logQ |
//! | `loss.rs` | the fused loss and its gradient |
//! | `step.rs` | one step: the CPU fast path over row blocks, or dfdx's tape |
//! | `train.rs` | the training loop, early stopping |
//! | `two_tower.rs` | `kind = "two_tower"` |

pub mod encoders;
pub mod loss;
pub mod negatives;
pub mod params;
pub mod step;
pub mod tower;
pub mod train;
pub mod two_tower;

#[cfg(test)]
mod tests;

pub use params::{Device, Loss, Pooling, TowerFeatures, TwoTowerParams, MAX_WIDTH};
pub use train::{fit, fit_with};
