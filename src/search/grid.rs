//! `kind = "grid"`: every combination of the `choice` lists once, in a seeded random order
//! (as Optuna's GridSampler), so `trials` below the grid's size is an unbiased subset.

use super::{Param, Point, Sampler, Trial};
use crate::config::search::Dist;
use rand::seq::SliceRandom;

pub struct GridSampler {
    points: Vec<Point>,
}

impl GridSampler {
    pub fn new(space: &[(String, Dist)], seed: u64) -> Self {
        let mut points = vec![Point::new()];
        for (k, d) in space {
            let n = if let Dist::Choice(c) = d { c.len() } else { 1 };
            points = points
                .into_iter()
                .flat_map(|p| {
                    (0..n).map(move |i| {
                        let mut q = p.clone();
                        q.insert(k.clone(), Param::Choice(i));
                        q
                    })
                })
                .collect();
        }
        points.shuffle(&mut super::trial_rng(seed, usize::MAX));
        GridSampler { points }
    }
}

impl Sampler for GridSampler {
    fn propose(&self, number: usize, _done: &[Trial]) -> Point {
        self.points[number % self.points.len()].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_every_combination_once() {
        let space = vec![("a".to_string(), Dist::Choice(vec![1.into(), 2.into(), 3.into()])), ("b".to_string(), Dist::Choice(vec!["x".into(), "y".into()]))];
        let g = GridSampler::new(&space, 1);
        let mut seen: Vec<Point> = (0..6).map(|n| g.propose(n, &[])).collect();
        seen.sort_by_key(|p| format!("{p:?}"));
        seen.dedup();
        assert_eq!(seen.len(), 6);
        assert_eq!(g.propose(0, &[]), GridSampler::new(&space, 1).propose(0, &[]));
    }
}
