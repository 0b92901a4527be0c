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
//!
//! `kind = "hyperband"` runs several such ladders side by side (Li et al. 2018, with the
//! brackets and trial allocation of Optuna's `HyperbandPruner`): bracket `b` starts its trials
//! at rung `b`, so the last bracket trains its trials to the end unpruned. Trials compete only
//! with trials of their own bracket. It hedges against a first rung that ranks badly: trials
//! whose score rises late (a low learning rate, few updates per epoch) are pruned by the
//! early rungs of bracket 0 but can win in a later bracket.

use super::better;
use crate::config::search::{Direction, MedianRule, PrunerSpec};

/// When to stop a trial.
pub trait Pruner {
    /// The epochs at which trials are compared, ascending, all below `max_epochs`.
    fn rungs(&self, max_epochs: usize) -> Vec<usize>;

    /// Whether a trial with `value` at a rung goes on, given the values of every trial that
    /// reached the rung before it and its own (`competing` includes `value`).
    fn promotes(&self, direction: Direction, value: f64, competing: &[f64]) -> bool;
}

/// The rungs a trial climbs and who goes on at each: one successive-halving ladder, Hyperband's
/// brackets of them, or the median rule's evenly spaced rungs. Every pruner is one of these, so
/// the study and TPE's fit see one type.
#[derive(Clone, Copy, Debug)]
pub struct Ladder {
    pub min_epochs: usize,
    pub eta: usize,
    /// Hyperband's brackets, else one ladder.
    pub hyperband: bool,
    /// The median rule instead of successive halving ([`super::median`]): rungs every
    /// `interval` epochs, one ladder.
    pub median: Option<MedianRule>,
}

impl From<&PrunerSpec> for Ladder {
    fn from(p: &PrunerSpec) -> Self {
        Ladder { min_epochs: p.min_epochs, eta: p.eta, hyperband: p.hyperband, median: p.median }
    }
}

impl Ladder {
    /// How many brackets: Optuna's `floor(log_eta(max / min_epochs)) + 1`, or 1 without
    /// Hyperband.
    pub fn brackets(&self, max_epochs: usize) -> usize {
        if !self.hyperband {
            return 1;
        }
        let (mut n, mut e) = (1, self.min_epochs.max(1));
        while e.saturating_mul(self.eta.max(2)) <= max_epochs {
            e = e.saturating_mul(self.eta.max(2));
            n += 1;
        }
        n
    }

    /// The trials bracket `b` of `n` gets per round of allocation, as Optuna's
    /// `_calculate_trial_allocation_budget`: `ceil(n eta^s / (s + 1))`, `s = n - 1 - b`, so
    /// the most aggressive bracket gets the most trials and the whole of each bracket costs
    /// about the same.
    pub fn allocation(&self, n: usize, b: usize) -> usize {
        let s = (n - 1 - b) as u32;
        (n * self.eta.max(2).pow(s)).div_ceil(s as usize + 1)
    }

    /// Trial `number`'s bracket: a hash of the search's seed and the number, mapped onto the
    /// brackets in proportion to [`Self::allocation`] (Optuna hashes the study's name and the
    /// number); always 0 without Hyperband.
    pub fn bracket(&self, max_epochs: usize, seed: u64, number: usize) -> usize {
        let n = self.brackets(max_epochs);
        if n == 1 {
            return 0;
        }
        let total: usize = (0..n).map(|b| self.allocation(n, b)).sum();
        let h = blake3::hash(format!("hyperband {seed} {number}").as_bytes());
        let mut x = (u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")) % total as u64) as usize;
        for b in 0..n {
            let a = self.allocation(n, b);
            if x < a {
                return b;
            }
            x -= a;
        }
        n - 1
    }

    /// The epochs trial `number` is first scored at: its bracket's first rung (the end for
    /// the last bracket).
    pub fn start_epochs(&self, max_epochs: usize, seed: u64, number: usize) -> usize {
        self.rungs(max_epochs).get(self.bracket(max_epochs, seed, number)).copied().unwrap_or(max_epochs)
    }
}

impl Pruner for Ladder {
    fn rungs(&self, max_epochs: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut e = self.min_epochs.max(1);
        while e < max_epochs {
            out.push(e);
            e = match self.median {
                Some(m) => e.saturating_add(m.interval.max(1)),
                None => e.saturating_mul(self.eta.max(2)),
            };
        }
        out
    }

    fn promotes(&self, direction: Direction, value: f64, competing: &[f64]) -> bool {
        if let Some(m) = self.median {
            return super::median::goes_on(direction, m.n_startup_trials, value, &competing[..competing.len().saturating_sub(1)]);
        }
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
        let a = Ladder { min_epochs: 1, eta: 3, hyperband: false, median: None };
        assert_eq!(a.rungs(10), vec![1, 3, 9]);
        assert_eq!(a.rungs(9), vec![1, 3]);
        assert_eq!(a.rungs(1), Vec::<usize>::new());
        assert_eq!(Ladder { min_epochs: 2, eta: 2, hyperband: false, median: None }.rungs(20), vec![2, 4, 8, 16]);
    }

    /// Hand-worked: eta = 3, values arriving 0.5, 0.4, 0.6, 0.3, 0.55, 0.7 (maximise).
    #[test]
    fn promotion_keeps_the_top_third_so_far() {
        let a = Ladder { min_epochs: 1, eta: 3, hyperband: false, median: None };
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

    /// Optuna's numbers: 27 epochs from 1 at eta 3 make 4 brackets (first rungs 1, 3, 9 and
    /// none) allocated 27 : 12 : 6 : 4; 10 epochs make 3. Trials fall into them in about
    /// those proportions, the same for the same seed.
    #[test]
    fn hyperband_brackets_and_allocation_are_optunas() {
        let h = Ladder { min_epochs: 1, eta: 3, hyperband: true, median: None };
        assert_eq!((h.brackets(27), h.brackets(26), h.brackets(10), h.brackets(2)), (4, 3, 3, 1));
        assert_eq!((0..4).map(|b| h.allocation(4, b)).collect::<Vec<_>>(), vec![27, 12, 6, 4]);
        assert_eq!(Ladder { min_epochs: 1, eta: 3, hyperband: false, median: None }.brackets(27), 1);
        let mut count = [0usize; 4];
        for n in 0..4900 {
            count[h.bracket(27, 7, n)] += 1;
        }
        for (b, want) in [2700.0, 1200.0, 600.0, 400.0].into_iter().enumerate() {
            let got = count[b] as f64;
            assert!((got - want).abs() < 4.0 * want.sqrt(), "bracket {b}: {got} trials, about {want} expected");
        }
        assert_eq!((0..50).map(|n| h.bracket(27, 7, n)).collect::<Vec<_>>(), (0..50).map(|n| h.bracket(27, 7, n)).collect::<Vec<_>>());
        assert_ne!((0..50).map(|n| h.bracket(27, 7, n)).collect::<Vec<_>>(), (0..50).map(|n| h.bracket(27, 8, n)).collect::<Vec<_>>());
    }
}
