//! `kind = "random"`: every key drawn independently from its distribution (also TPE's
//! start-up trials).

use super::{trial_rng, Param, Point, Sampler, Trial};
use crate::config::search::Dist;
use rand::Rng;

pub struct RandomSampler {
    pub space: Vec<(String, Dist)>,
    pub seed: u64,
}

impl Sampler for RandomSampler {
    fn propose(&self, number: usize, _done: &[Trial]) -> Point {
        let mut rng = trial_rng(self.seed, number);
        self.space.iter().map(|(k, d)| (k.clone(), draw(d, &mut rng))).collect()
    }
}

/// One value of `d`: uniform in its (log) range; a log-spaced integer is drawn in log space
/// over `[low - 0.5, high + 0.5]` and rounded, so each end gets its share.
pub fn draw(d: &Dist, rng: &mut impl Rng) -> Param {
    match *d {
        Dist::Choice(ref c) => Param::Choice(rng.gen_range(0..c.len())),
        Dist::Uniform(a, b) => Param::Float(rng.gen_range(a..b)),
        Dist::LogUniform(a, b) => Param::Float(rng.gen_range(a.ln()..b.ln()).exp().clamp(a, b)),
        Dist::Int { low, high, log: false } => Param::Int(rng.gen_range(low..=high)),
        Dist::Int { low, high, log: true } => {
            let x = rng.gen_range((low as f64 - 0.5).ln()..(high as f64 + 0.5).ln()).exp();
            Param::Int((x.round() as i64).clamp(low, high))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_stay_in_range_and_repeat_for_a_seed() {
        let space = vec![
            ("a".to_string(), Dist::Uniform(0.5, 1.5)),
            ("b".to_string(), Dist::LogUniform(1e-3, 1e-1)),
            ("c".to_string(), Dist::Int { low: 2, high: 9, log: true }),
            ("d".to_string(), Dist::Choice(vec![1.into(), 2.into()])),
        ];
        let s = RandomSampler { space, seed: 5 };
        let (mut c_low, mut c_high) = (false, false);
        for n in 0..200 {
            let p = s.propose(n, &[]);
            assert_eq!(p, s.propose(n, &[]), "same seed and number, same point");
            let Param::Float(a) = p["a"] else { panic!() };
            let Param::Float(b) = p["b"] else { panic!() };
            let Param::Int(c) = p["c"] else { panic!() };
            assert!((0.5..1.5).contains(&a) && (1e-3..=1e-1).contains(&b) && (2..=9).contains(&c));
            c_low |= c == 2;
            c_high |= c == 9;
        }
        assert!(c_low && c_high, "both ends of a log-spaced integer range are drawn");
        assert_ne!(s.propose(0, &[]), RandomSampler { seed: 6, ..s }.propose(0, &[]));
    }

    #[test]
    fn tidy_rounds_reals_to_six_digits_inside_their_range() {
        let space = vec![("lr".to_string(), Dist::LogUniform(0.005, 0.1)), ("p".to_string(), Dist::Uniform(1.0, 2.0))];
        let p = super::super::tidy(&space, Point::from([("lr".to_string(), Param::Float(0.09322218658178845)), ("p".to_string(), Param::Float(1.9999999))]));
        assert_eq!((p["lr"], p["p"]), (Param::Float(0.0932222), Param::Float(2.0)));
    }
}
