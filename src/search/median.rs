//! `pruner = { kind = "median", min_epochs, interval, n_startup_trials }`: the median stopping
//! rule (Golovin et al. 2017, Google Vizier; Optuna's `MedianPruner`, its default pruner).
//!
//! Rungs sit at `min_epochs`, `min_epochs + interval`, ... epochs, below the model's
//! `epochs`. At a rung a trial goes on when its validation objective is no worse than the
//! median of the scores that the trials before it (in trial order) had at the same rung;
//! until `n_startup_trials` of them reached it, every trial goes on. Where Optuna differs: it
//! takes the median over completed trials only, and compares a trial's best score so far. The
//! runner counts every trial that reached the rung, as its ASHA rule does, so that the trials
//! of one batch (a whole random search is one) can stop each other, and decisions still
//! depend on the scores and trial numbers alone; with a rising validation curve, the score at
//! the rung is the best so far. Halving keeps the top `1/eta`, this rule the top half, from
//! denser rungs: it stops fewer trials, later.

use super::better;
use crate::config::search::Direction;

/// Whether a trial scoring `value` at a rung goes on, given the scores of the trials that
/// reached the rung before it.
pub fn goes_on(direction: Direction, n_startup_trials: usize, value: f64, earlier: &[f64]) -> bool {
    if !value.is_finite() {
        return false;
    }
    let mut xs: Vec<f64> = earlier.iter().copied().filter(|v| v.is_finite()).collect();
    if xs.is_empty() || xs.len() < n_startup_trials {
        return true;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    // NumPy's 50th percentile (Optuna's): the middle value, or the mean of the two middle ones.
    let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    !better(direction, median, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::search::MedianRule;
    use crate::search::asha::{Ladder, Pruner};

    #[test]
    fn a_trial_goes_on_when_it_is_no_worse_than_the_median() {
        let max = Direction::Maximize;
        // Fewer earlier trials than the start-up: everyone goes on.
        assert!(goes_on(max, 5, 0.0, &[1.0, 2.0, 3.0, 4.0]));
        // Median of 1, 2, 3, 4, 5 is 3.
        let five = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert!(goes_on(max, 5, 3.0, &five));
        assert!(!goes_on(max, 5, 2.9, &five));
        // Even count: the mean of the middle two (2.5).
        assert!(goes_on(max, 0, 2.5, &[1.0, 2.0, 3.0, 4.0]));
        assert!(!goes_on(max, 0, 2.4, &[1.0, 2.0, 3.0, 4.0]));
        // Minimising: lower is better.
        assert!(goes_on(Direction::Minimize, 5, 2.9, &five));
        assert!(!goes_on(Direction::Minimize, 5, 3.1, &five));
        // Non-finite scores never count, and never go on.
        assert!(goes_on(max, 5, 0.0, &[f64::NAN; 9]));
        assert!(!goes_on(max, 0, f64::NAN, &[1.0]));
        // The first trial at a rung always goes on.
        assert!(goes_on(max, 0, -1.0, &[]));
    }

    #[test]
    fn median_rungs_are_evenly_spaced_and_the_rule_reads_the_earlier_trials() {
        let a = Ladder { min_epochs: 2, eta: 3, hyperband: false, median: Some(MedianRule { interval: 3, n_startup_trials: 1 }) };
        assert_eq!(a.rungs(10), vec![2, 5, 8]);
        assert_eq!(a.rungs(8), vec![2, 5]);
        assert_eq!(a.brackets(10), 1);
        // `promotes` gets the trial's own score last.
        assert!(a.promotes(Direction::Maximize, 2.0, &[1.0, 3.0, 2.0]));
        assert!(!a.promotes(Direction::Maximize, 1.5, &[1.0, 3.0, 1.5]));
    }
}
