//! Executes a [`Plan`] in topological order, up to `jobs` stages at a time, and prints it
//! for `--plan`.

use super::stages::{Executor, Outcome};
use super::{Plan, StageKind};
use anyhow::{anyhow, Result};
use petgraph::graph::NodeIndex;
use petgraph::Direction;
use std::collections::{HashMap, VecDeque};
use std::sync::mpsc;

/// One line per stage in execution order: kind, short key, label, cached / to run.
pub fn describe(plan: &Plan, exec: &Executor) -> Vec<String> {
    let order = petgraph::algo::toposort(&plan.graph, None).unwrap_or_default();
    order
        .into_iter()
        .map(|n| {
            let st = &plan.graph[n];
            let status = if st.kind == StageKind::Report {
                "always"
            } else if exec.is_cached(st) {
                "cached"
            } else {
                "to run"
            };
            let key = if st.kind == StageKind::Report { "-".to_string() } else { st.key[..10].to_string() };
            format!("{:<7} {:<10} {:<7} {}", st.kind.name(), key, status, st.label)
        })
        .collect()
}

/// Status counts of a finished run.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Summary {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Runs every stage; a failing stage skips its descendants while independent branches go on,
/// and the report still runs, so the table keeps every other row and marks the failed ones.
/// `log` receives one line per finished stage.
pub fn execute(plan: &Plan, exec: &Executor, jobs: usize, log: &(dyn Fn(String) + Sync)) -> (Summary, Vec<anyhow::Error>) {
    let g = &plan.graph;
    let mut indeg: HashMap<NodeIndex, usize> = g.node_indices().map(|n| (n, g.neighbors_directed(n, Direction::Incoming).count())).collect();
    let mut ready: VecDeque<NodeIndex> = g.node_indices().filter(|n| indeg[n] == 0).collect();
    // Per node: what failed upstream of it, if anything.
    let mut blocked: Vec<Option<String>> = vec![None; g.node_count()];
    let mut summary = Summary::default();
    let mut errors = Vec::new();
    let jobs = jobs.max(1);
    let (tx, rx) = mpsc::channel::<(NodeIndex, Result<Outcome>)>();
    std::thread::scope(|s| {
        let mut running = 0usize;
        loop {
            while running < jobs {
                let Some(n) = ready.pop_front() else { break };
                if let Some(cause) = blocked[n.index()].clone() {
                    if g[n].kind != StageKind::Report {
                        summary.skipped += 1;
                        exec.record_failure(&g[n].key, cause.clone());
                        release(g, n, &mut indeg, &mut ready, &mut blocked, Some(cause));
                        continue;
                    }
                }
                running += 1;
                let tx = tx.clone();
                s.spawn(move || {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exec.execute(n)))
                        .unwrap_or_else(|_| Err(anyhow!("internal error (panic) in stage `{}`", g[n].label)));
                    let _ = tx.send((n, r));
                });
            }
            if running == 0 {
                break;
            }
            let Ok((n, r)) = rx.recv() else { break };
            running -= 1;
            let st = &g[n];
            match r {
                Ok(Outcome::Cached) => {
                    summary.cached += 1;
                    log(format!("{:<7} cached  {}", st.kind.name(), st.label));
                    release(g, n, &mut indeg, &mut ready, &mut blocked, None);
                }
                Ok(Outcome::Ran { seconds, peak_rss_bytes }) => {
                    summary.ran += 1;
                    log(format!("{:<7} ran     {} {}", st.kind.name(), st.label, super::stages::ran_note(seconds, peak_rss_bytes)));
                    release(g, n, &mut indeg, &mut ready, &mut blocked, None);
                }
                Err(e) => {
                    summary.failed += 1;
                    log(format!("{:<7} FAILED  {}", st.kind.name(), st.label));
                    // Stage errors usually carry the stage's name already.
                    let msg = format!("{e:#}");
                    let cause =
                        if msg.starts_with(&format!("{} stage", st.kind.name())) { msg } else { format!("{} stage `{}`: {msg}", st.kind.name(), st.label) };
                    exec.record_failure(&st.key, cause.clone());
                    errors.push(e);
                    release(g, n, &mut indeg, &mut ready, &mut blocked, Some(cause));
                }
            }
        }
    });
    (summary, errors)
}

fn release(
    g: &petgraph::graph::DiGraph<super::Stage, ()>,
    n: NodeIndex,
    indeg: &mut HashMap<NodeIndex, usize>,
    ready: &mut VecDeque<NodeIndex>,
    blocked: &mut [Option<String>],
    cause: Option<String>,
) {
    for m in g.neighbors_directed(n, Direction::Outgoing) {
        if let Some(c) = &cause {
            blocked[m.index()].get_or_insert_with(|| c.clone());
        }
        let d = indeg.get_mut(&m).expect("node");
        *d -= 1;
        if *d == 0 {
            ready.push_back(m);
        }
    }
}
