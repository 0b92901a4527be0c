//! `pruner = { kind = "asha", min_epochs, eta }`: asynchronous successive halving (Li et al.
//! 2020, "A system for massively parallel hyperparameter tuning"), with the rule of Optuna's
//! `SuccessiveHalvingPruner`, so a study reads the same as one run there.
//!
//! Epochs are the resource. Rung `k` sits at `min_epochs * eta^k` epochs, below the model's
//! `epochs`; a trial that clears every rung trains to the end. At a rung, a trial goes on when
//! its validation objective is among the best `⌊n / eta⌋` (at least the best one) of the `n`
//! trials that reached the rung so far, itself included: the first trial at a rung always
//! goes on, later ones must beat more company. "So far" is trial-number order, so decisions
//! depend on the scores alone, never on which trial of a batch finished first, and a rerun
//! that finds every rung in the cache decides the same.

use super::better;
use crate::config::search::{Direction, PrunerSpec};

/// When to stop a trial.
pub trait Pruner {
    /// The epochs at which trials are compared, ascending, all below `max_epochs`.
    fn rungs(&self, max_epochs: usize) -> Vec<usize>;

    /// Whether a trial with `value` at a rung goes on, given the values of every trial that
    /// reached the rung before it and its own (`competing` includes `value`).
    fn promotes(&self, direction: Direction, value: f64, competing: &[f64]) -> bool;
}

pub struct Asha {
    pub min_epochs: usize,
    pub eta: usize,
}

impl From<&PrunerSpec> for Asha {
    fn from(p: &PrunerSpec) -> Self {
        Asha { min_epochs: p.min_epochs, eta: p.eta }
    }
}

impl Pruner for Asha {
    fn rungs(&self, max_epochs: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut e = self.min_epochs.max(1);
        while e < max_epochs {
            out.push(e);
            e = e.saturating_mul(self.eta.max(2));
        }
        out
    }

    fn promotes(&self, direction: Direction, value: f64, competing: &[f64]) -> bool {
        let mut sorted: Vec<f64> = competing.iter().copied().filter(|v| v.is_finite()).collect();
        if !value.is_finite() || sorted.is_empty() {
            return false;
        }
        // Best first.
        sorted.sort_by(|a, b| match direction {
            Direction::Maximize => b.total_cmp(a),
            Direction::Minimize => a.total_cmp(b),
        });
        let k = (sorted.len() / self.eta).max(1);
        let bar = sorted[k - 1];
        !better(direction, bar, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_are_geometric_below_the_last_epoch() {
        let a = Asha { min_epochs: 1, eta: 3 };
        assert_eq!(a.rungs(10), vec![1, 3, 9]);
        assert_eq!(a.rungs(9), vec![1, 3]);
        assert_eq!(a.rungs(1), Vec::<usize>::new());
        assert_eq!(Asha { min_epochs: 2, eta: 2 }.rungs(20), vec![2, 4, 8, 16]);
    }

    /// Hand-worked: eta = 3, values arriving 0.5, 0.4, 0.6, 0.3, 0.55, 0.7 (maximise).
    #[test]
    fn promotion_keeps_the_top_third_so_far() {
        let a = Asha { min_epochs: 1, eta: 3 };
        let arrivals = [0.5, 0.4, 0.6, 0.3, 0.55, 0.7];
        let mut seen = Vec::new();
        let mut decisions = Vec::new();
        for v in arrivals {
            seen.push(v);
            decisions.push(a.promotes(Direction::Maximize, v, &seen));
        }
        // 1 seen: the best of one goes on. 2: only the best (0.5) would, 0.4 stops.
        // 3 (top 1): 0.6 is the best. 4 (top 1): 0.3 no. 5 (top 1, best 0.6): 0.55 no.
        // 6 (top 2: 0.7, 0.6): 0.7 yes.
        assert_eq!(decisions, vec![true, false, true, false, false, true]);
        // Minimising mirrors it.
        let neg: Vec<f64> = arrivals.iter().map(|v| -v).collect();
        let mut seen = Vec::new();
        let mins: Vec<bool> = neg
            .iter()
            .map(|&v| {
                seen.push(v);
                a.promotes(Direction::Minimize, v, &seen)
            })
            .collect();
        assert_eq!(mins, decisions);
        // A tie with the bar goes on; a non-finite value never does.
        assert!(a.promotes(Direction::Maximize, 0.6, &[0.6, 0.6, 0.1]));
        assert!(!a.promotes(Direction::Maximize, f64::NAN, &[f64::NAN]));
    }
}
