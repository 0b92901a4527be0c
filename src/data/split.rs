//! Train / validation / test splits. Placeholder: filled in by the spine.
use super::Interaction;

/// A split of a dataset's interactions. Every list is sorted by (user, ts).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    pub n_users: usize,
    pub n_items: usize,
    pub train: Vec<Interaction>,
    pub valid: Vec<Interaction>,
    pub test: Vec<Interaction>,
}
