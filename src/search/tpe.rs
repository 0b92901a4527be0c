//! `kind = "tpe"`: the Tree-structured Parzen Estimator (Bergstra et al. 2011) with Optuna's
//! defaults, each key independently (Optuna's `multivariate = False`).
//!
//! Until `n_startup_trials` trials have an objective, proposals are random. Then the finished
//! trials are split into the best `gamma(n) = min(ceil(0.1 n), 25)` ("good") and the rest;
//! per key a Parzen estimator of each group ([`super::parzen`]) gives `l(x)` and `g(x)`, and of
//! `n_ei_candidates` draws from `l` the one with the largest `l(x) / g(x)` is proposed.

use super::parzen::{Categorical, Numeric};
use super::random::draw;
use super::{trial_rng, Param, Point, Sampler, Trial};
use crate::config::search::{Direction, Dist};
use rand::Rng;

pub struct TpeSampler {
    pub space: Vec<(String, Dist)>,
    pub seed: u64,
    pub direction: Direction,
    pub n_startup_trials: usize,
    pub n_ei_candidates: usize,
}

/// Optuna's default `gamma`: how many finished trials count as good.
pub fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

impl Sampler for TpeSampler {
    fn propose(&self, number: usize, done: &[Trial]) -> Point {
        let mut rng = trial_rng(self.seed, number);
        let random = |rng: &mut _| -> Point { self.space.iter().map(|(k, d)| (k.clone(), draw(d, rng))).collect() };
        // On a space of choice lists (or narrow integers) a proposal is often a point a trial
        // already tried or is trying (`done` holds the batch's earlier proposals too): TPE +
        // ASHA on such a grid proposed one point 35 times in 90 trials (experiments/search). A
        // repeat learns nothing (its stages are cached), so a proposal equal to an earlier
        // trial's is drawn again, from the good trials' density `l` (one draw, not the best of
        // several, which would mostly repeat), then at random, and kept only when every draw
        // repeats (a nearly exhausted space). A proposal that is new on the first draw consumes
        // the same random numbers as without this rule.
        let seen = |p: &Point| done.iter().any(|t| &t.point == p);
        let mut finished: Vec<&Trial> = done.iter().filter(|t| t.objective.is_some_and(f64::is_finite)).collect();
        let mut point = if finished.len() < self.n_startup_trials {
            random(&mut rng)
        } else {
            // Best first; equal objectives by trial number, so the split is deterministic. As
            // in Optuna, a pruned trial ranks below every finished one, and among pruned trials
            // the one that got further ranks higher, whatever its score.
            finished.sort_by(|a, b| {
                let (x, y) = (a.objective.unwrap_or(f64::NAN), b.objective.unwrap_or(f64::NAN));
                let o = match self.direction {
                    Direction::Maximize => y.total_cmp(&x),
                    Direction::Minimize => x.total_cmp(&y),
                };
                let reach = |t: &Trial| t.pruned_at.map_or(usize::MAX, |e| e);
                reach(b).cmp(&reach(a)).then(o).then(a.number.cmp(&b.number))
            });
            let n_good = gamma(finished.len());
            let (mut good, mut bad) = (finished[..n_good].to_vec(), finished[n_good..].to_vec());
            // The estimators weigh observations oldest first.
            good.sort_by_key(|t| t.number);
            bad.sort_by_key(|t| t.number);
            let model = |rng: &mut _, cands: usize| -> Point { self.space.iter().map(|(k, d)| (k.clone(), self.one(k, d, &good, &bad, cands, rng))).collect() };
            let mut point = model(&mut rng, self.n_ei_candidates);
            for _ in 0..REDRAWS {
                if !seen(&point) {
                    return point;
                }
                point = model(&mut rng, 1);
            }
            point
        };
        for _ in 0..4 * REDRAWS {
            if !seen(&point) {
                return point;
            }
            point = random(&mut rng);
        }
        point
    }
}

/// Draws from the good trials' density tried before random ones when a proposal repeats an
/// earlier trial.
const REDRAWS: usize = 16;

impl TpeSampler {
    /// The proposal for key `k`: of `cands` draws from `l`, the one with the largest
    /// `log l - log g`.
    fn one(&self, k: &str, d: &Dist, good: &[&Trial], bad: &[&Trial], cands: usize, rng: &mut impl Rng) -> Param {
        match d {
            Dist::Choice(c) => {
                let obs = |ts: &[&Trial]| -> Vec<usize> {
                    ts.iter().filter_map(|t| if let Some(Param::Choice(i)) = t.point.get(k) { Some(*i) } else { None }).collect()
                };
                let (l, g) = (Categorical::new(&obs(good), c.len()), Categorical::new(&obs(bad), c.len()));
                let cands: Vec<usize> = (0..cands).map(|_| l.sample(rng)).collect();
                Param::Choice(argmax(&cands, |&i| l.log_pdf(i) - g.log_pdf(i)))
            }
            _ => {
                let (low, high, step, log) = match *d {
                    Dist::Uniform(a, b) => (a, b, None, false),
                    Dist::LogUniform(a, b) => (a.ln(), b.ln(), None, true),
                    // Log-spaced integers: bins in log space (`Numeric::log_int`), as Optuna.
                    Dist::Int { low, high, log: true } => ((low as f64).ln(), (high as f64).ln(), Some(1.0), true),
                    Dist::Int { low, high, log: false } => (low as f64, high as f64, Some(1.0), false),
                    Dist::Choice(_) => unreachable!("handled above"),
                };
                let value = |p: &Param| match *p {
                    Param::Float(x) => Some(x),
                    Param::Int(x) => Some(x as f64),
                    Param::Choice(_) => None,
                };
                let obs =
                    |ts: &[&Trial]| -> Vec<f64> { ts.iter().filter_map(|t| t.point.get(k).and_then(value)).map(|x| if log { x.ln() } else { x }).collect() };
                let estimator = |o: &[f64]| match *d {
                    Dist::Int { low, high, log: true } => Numeric::log_int(o, low as f64, high as f64),
                    _ => Numeric::new(o, low, high, step),
                };
                let (l, g) = (estimator(&obs(good)), estimator(&obs(bad)));
                let cands: Vec<f64> = (0..cands).map(|_| l.sample(rng)).collect();
                let x = argmax(&cands, |&x| l.log_pdf(x) - g.log_pdf(x));
                match *d {
                    Dist::Uniform(a, b) => Param::Float(x.clamp(a, b)),
                    Dist::LogUniform(a, b) => Param::Float(x.exp().clamp(a, b)),
                    Dist::Int { low, high, log } => Param::Int((if log { x.exp() } else { x }).round().clamp(low as f64, high as f64) as i64),
                    Dist::Choice(_) => unreachable!("handled above"),
                }
            }
        }
    }
}

/// The first candidate with the largest score.
fn argmax<T: Copy>(cands: &[T], score: impl Fn(&T) -> f64) -> T {
    let mut best = (cands[0], score(&cands[0]));
    for c in &cands[1..] {
        let s = score(c);
        if s > best.1 {
            best = (*c, s);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::super::random::RandomSampler;
    use super::*;
    use serde_json::Value;

    /// Runs `trials` trials of `sampler` one at a time on `f`, returning the best objective
    /// after each (maximising).
    fn run(sampler: &dyn Sampler, f: impl Fn(&Point) -> f64, trials: usize) -> Vec<f64> {
        let mut done = Vec::new();
        let mut best = Vec::new();
        for n in 0..trials {
            let point = sampler.propose(n, &done);
            let y = f(&point);
            done.push(Trial { number: n, point, objective: Some(y), pruned_at: None });
            best.push(best.last().copied().unwrap_or(f64::NEG_INFINITY).max(y));
        }
        best
    }

    fn x(p: &Point) -> f64 {
        match p["x"] {
            Param::Float(v) => v,
            _ => panic!(),
        }
    }

    #[test]
    fn gamma_is_optunas_default() {
        assert_eq!((gamma(1), gamma(10), gamma(11), gamma(100), gamma(1000)), (1, 1, 2, 10, 25));
    }

    #[test]
    fn tpe_concentrates_on_the_good_region_faster_than_random() {
        // A 1-D quadratic with its peak at 0.73 of [-5, 5]: after 40 trials TPE's proposals
        // cluster near the peak, random's are spread evenly.
        let space = vec![("x".to_string(), Dist::Uniform(-5.0, 5.0))];
        let f = |p: &Point| -(x(p) - 0.73).powi(2);
        let (mut tpe_wins, mut tpe_sum, mut rnd_sum, mut near_total) = (0, 0.0, 0.0, 0);
        let seeds = 8;
        for seed in 0..seeds {
            let tpe = TpeSampler { space: space.clone(), seed, direction: Direction::Maximize, n_startup_trials: 10, n_ei_candidates: 24 };
            let rnd = RandomSampler { space: space.clone(), seed };
            let (bt, br) = (run(&tpe, f, 40), run(&rnd, f, 40));
            // Near the peak: how many of the last 20 proposals are within 0.5 of it.
            let mut done = Vec::new();
            let mut near = 0;
            for n in 0..40 {
                let p = tpe.propose(n, &done);
                if n >= 20 && (x(&p) - 0.73).abs() < 0.5 {
                    near += 1;
                }
                let y = f(&p);
                done.push(Trial { number: n, point: p, objective: Some(y), pruned_at: None });
            }
            // Random puts 2 of 20 there on average (and 5 or more with probability 4%).
            assert!(near >= 5, "seed {seed}: only {near} of TPE's last 20 proposals near the peak");
            near_total += near;
            tpe_wins += usize::from(bt[39] >= br[39]);
            tpe_sum += bt[39];
            rnd_sum += br[39];
        }
        assert!(near_total >= 3 * 2 * seeds as usize, "{near_total} proposals near the peak");
        assert!(tpe_wins >= 6, "TPE's best beat random's in {tpe_wins} of {seeds} seeds");
        assert!(tpe_sum > rnd_sum, "mean best: TPE {} vs random {}", tpe_sum / seeds as f64, rnd_sum / seeds as f64);
    }

    /// On a 12-point space of choice lists, TPE's proposals (the random start-up's too) never
    /// repeat an earlier trial's point while untried ones are left (the model alone would
    /// return to the best point), and once the space is exhausted it still proposes one.
    #[test]
    fn tpe_does_not_propose_a_tried_point_again() {
        let choice = |n: usize| Dist::Choice((0..n).map(|i| Value::from(i as i64)).collect());
        let space = vec![("a".to_string(), choice(4)), ("b".to_string(), choice(3))];
        let f = |p: &Point| {
            let (Param::Choice(a), Param::Choice(b)) = (p["a"], p["b"]) else { panic!() };
            (a * 3 + b) as f64
        };
        for seed in 0..5 {
            let tpe = TpeSampler { space: space.clone(), seed, direction: Direction::Maximize, n_startup_trials: 3, n_ei_candidates: 24 };
            let mut done: Vec<Trial> = Vec::new();
            for n in 0..13 {
                let p = tpe.propose(n, &done);
                if n < 12 {
                    assert!(done.iter().all(|t| t.point != p), "seed {seed}: trial {n} repeats {p:?}");
                }
                let y = f(&p);
                done.push(Trial { number: n, point: p, objective: Some(y), pruned_at: None });
            }
        }
    }

    #[test]
    fn tpe_is_deterministic_and_handles_every_distribution() {
        let space = vec![
            ("a".to_string(), Dist::LogUniform(1e-4, 1.0)),
            ("b".to_string(), Dist::Int { low: 1, high: 64, log: true }),
            ("c".to_string(), Dist::Int { low: 2, high: 6, log: false }),
            ("d".to_string(), Dist::Choice(vec!["x".into(), "y".into(), "z".into()])),
        ];
        let tpe = TpeSampler { space, seed: 3, direction: Direction::Minimize, n_startup_trials: 4, n_ei_candidates: 24 };
        let f = |p: &Point| {
            let (Param::Float(a), Param::Int(b), Param::Int(c), Param::Choice(d)) = (p["a"], p["b"], p["c"], p["d"]) else { panic!() };
            (a.log10() + 2.0).powi(2) + ((b as f64).log2() - 3.0).powi(2) + (c as f64 - 4.0).powi(2) + d as f64
        };
        let once = |s: &TpeSampler| {
            let mut done = Vec::new();
            for n in 0..30 {
                let p = s.propose(n, &done);
                let y = f(&p);
                done.push(Trial { number: n, point: p, objective: Some(y), pruned_at: None });
            }
            done
        };
        let (first, second) = (once(&tpe), once(&tpe));
        assert_eq!(first, second);
        for t in &first {
            let (Param::Float(a), Param::Int(b), Param::Int(c)) = (t.point["a"], t.point["b"], t.point["c"]) else { panic!() };
            assert!((1e-4..=1.0).contains(&a) && (1..=64).contains(&b) && (2..=6).contains(&c));
        }
        let best = super::super::best(Direction::Minimize, &first).unwrap().objective.unwrap();
        assert!(best < 1.5, "best {best}");
    }
}
