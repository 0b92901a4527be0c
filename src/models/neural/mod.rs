//! The neural retrieval models: two towers, each the concatenation of input encoders
//! ([`encoders`]: id, categorical, multi-hot, numeric, history, text) fed through an MLP
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
//! | `online.rs` | the user tower at question time, from the trained weights |
//! | `two_tower.rs` | `kind = "two_tower"` |
//! | `dssm.rs` | `kind = "dssm"`: two-tower defaults for text (word hashing, tanh, gamma) |
//! | `cdssm.rs` | `kind = "cdssm"`: DSSM with a convolution over word windows |
//! | `youtube_dnn.rs` | `kind = "youtube_dnn"`: two-tower defaults of the YouTube candidate network |

pub mod cdssm;
pub mod dssm;
pub mod encoders;
pub mod loss;
pub mod negatives;
pub mod online;
pub mod params;
pub mod step;
pub mod tower;
pub mod train;
pub mod two_tower;
pub mod youtube_dnn;

#[cfg(test)]
mod online_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_tests;

pub use params::{Device, Loss, Pooling, TowerFeatures, TwoTowerParams, MAX_WIDTH};
pub use train::{fit, fit_with};
