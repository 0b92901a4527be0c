//! Tests of the graph module: storage conventions, file parsing, exact node2vec transition
//! probabilities, determinism across thread counts, and the evaluations on planted graphs.

use super::csr::*;
use super::eval::*;
use super::labels::*;
use super::logreg::*;
use super::walks::*;
use crate::data::{IdMap, Interaction, Split};
use crate::linalg::Matrix;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()
}

// ---------------------------------------------------------------- storage and builders

#[test]
fn undirected_stores_both_directions_sorted_with_loops_once() {
    let e = [(2, 0, 1.0), (0, 1, 2.0), (1, 1, 5.0), (0, 2, 3.0), (3, 0, 1.0)];
    let g = Graph::from_edges(5, &e, false, Duplicates::Max).unwrap();
    assert_eq!(g.neighbors(0), &[1, 2, 3]);
    assert_eq!(g.neighbor_weights(0), &[2.0, 3.0, 1.0]); // (2,0,1) and (0,2,3): max = 3
    assert_eq!(g.neighbors(1), &[0, 1]); // self-loop stored once
    assert_eq!(g.edge_weight(1, 1), Some(5.0));
    assert_eq!(g.neighbors(2), &[0]);
    assert_eq!(g.degree(4), 0);
    assert_eq!(g.n_arcs(), 7);
    assert_eq!(g.n_edges(), 4); // 0-1, 0-2, 0-3, 1-1
    assert!(!g.unweighted);
    let s = Graph::from_edges(5, &e, false, Duplicates::Sum).unwrap();
    assert_eq!(s.edge_weight(0, 2), Some(4.0));
    assert_eq!(s.edge_weight(2, 0), Some(4.0));
}

#[test]
fn directed_stores_one_direction() {
    let g = Graph::from_edges(3, &[(0, 1, 1.0), (1, 2, 1.0), (2, 2, 1.0)], true, Duplicates::Max).unwrap();
    assert!(g.has_edge(0, 1) && !g.has_edge(1, 0));
    assert_eq!(g.neighbors(2), &[2]);
    assert_eq!(g.n_edges(), 3);
    assert!(g.unweighted);
}

#[test]
fn bad_weights_and_ids_are_rejected() {
    assert!(Graph::from_edges(2, &[(0, 1, 0.0)], false, Duplicates::Max).is_err());
    assert!(Graph::from_edges(2, &[(0, 1, f32::NAN)], false, Duplicates::Max).is_err());
    assert!(Graph::from_edges(2, &[(0, 2, 1.0)], false, Duplicates::Max).is_err());
}

#[test]
fn edge_list_parsing() {
    let text = "# comment\n% another\n\na\tb\nb,c,2.5\n c  a 0.5 \nb a 3\n";
    let el = parse_edge_list(text, "t.edg", false).unwrap();
    assert_eq!(el.ids.raws(), &["a", "b", "c"]);
    let g = &el.graph;
    assert_eq!(g.edge_weight(0, 1), Some(3.0)); // duplicate a-b: max(1, 3)
    assert_eq!(g.edge_weight(1, 2), Some(2.5));
    assert_eq!(g.edge_weight(2, 0), Some(0.5));
    let d = parse_edge_list("x y\n", "t.edg", true).unwrap();
    assert!(d.graph.has_edge(0, 1) && !d.graph.has_edge(1, 0));
}

#[test]
fn malformed_edge_lines_name_file_and_line() {
    let e = parse_edge_list("1 2\n# c\n3\n", "PPI.edg", false).unwrap_err().to_string();
    assert_eq!(e, "PPI.edg:3: expected 2 or 3 columns, got 1");
    let e = parse_edge_list("1 2 3 4\n", "x.edg", false).unwrap_err().to_string();
    assert_eq!(e, "x.edg:1: expected 2 or 3 columns, got 4");
    let e = parse_edge_list("1 2\n1 3 abc\n", "x.edg", false).unwrap_err().to_string();
    assert_eq!(e, "x.edg:2: weight `abc` is not a number");
    let e = parse_edge_list("1 2 -1\n", "x.edg", false).unwrap_err().to_string();
    assert!(e.starts_with("x.edg:1: weight -1"), "{e}");
}

fn inter(user: u32, item: u32, rating: f32, ts: i64) -> Interaction {
    Interaction { user, item, rating, ts }
}

fn toy_split() -> Split {
    // user 0: items 0,1,2,0 ; user 1: items 2,3 ; item 4 unseen.
    let train = vec![inter(0, 0, 5.0, 1), inter(0, 1, 3.0, 2), inter(0, 2, 4.0, 3), inter(0, 0, 1.0, 4), inter(1, 2, 2.0, 1), inter(1, 3, 1.0, 2)];
    Split { n_users: 2, n_items: 5, train, ..Default::default() }
}

#[test]
fn bipartite_graph_from_split() {
    let s = toy_split();
    let g = bipartite_from_split(&s, BipartiteWeight::Count).unwrap();
    assert_eq!(g.n_nodes(), 7);
    assert_eq!(g.neighbors(0), &[2, 3, 4]);
    assert_eq!(g.edge_weight(0, 2), Some(2.0)); // user 0 saw item 0 twice
    assert_eq!(g.edge_weight(2, 0), Some(2.0));
    assert_eq!(g.degree(6), 0); // item 4: isolated
    let r = bipartite_from_split(&s, BipartiteWeight::Rating).unwrap();
    assert_eq!(r.edge_weight(0, 2), Some(5.0));
    assert_eq!(r.edge_weight(1, 5), Some(1.0));
    let mut bad = s.clone();
    bad.train[0].rating = 0.0;
    assert!(bipartite_from_split(&bad, BipartiteWeight::Rating).is_err());
}

#[test]
fn cooccurrence_graph_from_split() {
    let s = toy_split();
    let g = cooccurrence_from_split(&s, 1).unwrap();
    // window 1: 0-1, 1-2, 2-0 (user 0), 2-3 (user 1)
    assert_eq!(g.neighbors(0), &[1, 2]);
    assert_eq!(g.edge_weight(2, 3), Some(1.0));
    let g2 = cooccurrence_from_split(&s, 3).unwrap();
    // window 3 adds 0-2 (pos 0,2), 1-0 (pos 1,3); 0-0 (pos 0,3) is no self-loop
    assert_eq!(g2.edge_weight(0, 1), Some(2.0));
    assert_eq!(g2.edge_weight(0, 2), Some(2.0));
    assert!(!g2.has_edge(0, 0));
    assert_eq!(g2.degree(4), 0);
    assert!(cooccurrence_from_split(&s, 0).is_err());
}

// ---------------------------------------------------------------- walks

/// Weighted undirected graph with a triangle, a square, a pendant node and a self-loop.
fn weighted_graph() -> Graph {
    let e = [(0, 1, 1.0), (0, 2, 2.0), (1, 2, 0.5), (2, 3, 3.0), (3, 4, 1.0), (4, 1, 1.5), (4, 5, 1.0), (3, 3, 2.0)];
    Graph::from_edges(6, &e, false, Duplicates::Max).unwrap()
}

fn directed_graph() -> Graph {
    let e = [(0, 1, 1.0), (1, 2, 2.0), (2, 0, 1.0), (1, 0, 1.0), (2, 3, 4.0), (3, 1, 1.0), (0, 2, 0.5), (3, 4, 1.0)];
    Graph::from_edges(5, &e, true, Duplicates::Max).unwrap()
}

/// Compares the empirical first-step and second-order transition frequencies of the walks
/// with the exact node2vec probabilities; returns the largest absolute deviation.
fn max_transition_error(g: &Graph, cfg: &WalkConfig) -> f64 {
    let corpus = generate_walks(g, cfg, 7).unwrap();
    corpus.validate().unwrap();
    let mut first: HashMap<u32, HashMap<u32, u64>> = HashMap::new();
    let mut second: HashMap<(u32, u32), HashMap<u32, u64>> = HashMap::new();
    for w in corpus.iter() {
        for pair in w.windows(2) {
            assert!(g.has_edge(pair[0], pair[1]), "walk used a non-arc {pair:?}");
        }
        if w.len() >= 2 {
            *first.entry(w[0]).or_default().entry(w[1]).or_default() += 1;
        }
        for tr in w.windows(3) {
            *second.entry((tr[0], tr[1])).or_default().entry(tr[2]).or_default() += 1;
        }
    }
    let mut worst: f64 = 0.0;
    let mut checked = 0;
    for (&u, counts) in &first {
        let n: u64 = counts.values().sum();
        let tot: f64 = g.neighbor_weights(u).iter().map(|&w| w as f64).sum();
        for (&x, &w) in g.neighbors(u).iter().zip(g.neighbor_weights(u)) {
            let emp = *counts.get(&x).unwrap_or(&0) as f64 / n as f64;
            worst = worst.max((emp - w as f64 / tot).abs());
        }
    }
    for (&(t, v), counts) in &second {
        let n: u64 = counts.values().sum();
        if n < 20_000 {
            continue;
        }
        checked += 1;
        for (x, p) in transition_probs(g, t, v, cfg.p, cfg.q) {
            let emp = *counts.get(&x).unwrap_or(&0) as f64 / n as f64;
            worst = worst.max((emp - p).abs());
        }
    }
    assert!(checked >= 5, "only {checked} (t, v) pairs had enough samples");
    worst
}

#[test]
fn second_order_transitions_match_node2vec_probabilities() {
    let g = weighted_graph();
    for mode in [WalkMode::Otf, WalkMode::Alias] {
        for (p, q) in [(1.0, 1.0), (0.25, 4.0), (4.0, 0.5), (2.0, 2.0), (0.5, 0.25)] {
            let cfg = WalkConfig { p, q, walks_per_node: 6000, walk_length: 20, mode };
            let err = max_transition_error(&g, &cfg);
            assert!(err < 0.012, "mode {mode:?} p={p} q={q}: max deviation {err}");
        }
    }
}

#[test]
fn exact_probabilities_are_node2vec_ones() {
    // Hand-computed: after 0 -> 2 in weighted_graph, neighbours of 2 are 0 (w2, return),
    // 1 (w0.5, also a neighbour of 0), 3 (w3, distance 2).
    let g = weighted_graph();
    let (p, q) = (4.0, 0.5);
    let un = [2.0 / p, 0.5, 3.0 / q];
    let s: f64 = un.iter().sum();
    let got = transition_probs(&g, 0, 2, p, q);
    assert_eq!(got.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 3]);
    for (i, (_, pr)) in got.iter().enumerate() {
        assert!((pr - un[i] / s).abs() < 1e-12);
    }
}

#[test]
fn directed_walks_follow_out_edges_and_match_probabilities() {
    let g = directed_graph();
    for mode in [WalkMode::Otf, WalkMode::Alias] {
        let cfg = WalkConfig { p: 0.5, q: 3.0, walks_per_node: 20000, walk_length: 12, mode };
        let err = max_transition_error(&g, &cfg);
        assert!(err < 0.012, "{mode:?}: {err}");
        let c = generate_walks(&g, &cfg, 1).unwrap();
        for w in c.iter() {
            // Only node 4 (no out-edges) ends a walk early; it starts length-1 walks.
            if w.len() < 12 {
                assert_eq!(*w.last().unwrap(), 4, "{w:?}");
            }
            if w[0] == 4 {
                assert_eq!(w.len(), 1);
            }
        }
    }
    // Directed alpha uses the arc t -> x: after 3 -> 1, node 0 is 1/q-far unless 3 -> 0.
    let pr = transition_probs(&g, 3, 1, 1.0, 2.0);
    let p0 = pr.iter().find(|e| e.0 == 0).unwrap().1;
    let p2 = pr.iter().find(|e| e.0 == 2).unwrap().1;
    // w(1,0) = 1, w(1,2) = 2; 3 -> 0 and 3 -> 2 are absent: both get 1/q.
    assert!((p0 - 1.0 / 3.0).abs() < 1e-12 && (p2 - 2.0 / 3.0).abs() < 1e-12);
}

#[test]
fn unweighted_graph_uses_uniform_neighbours() {
    let e: Vec<(u32, u32, f32)> = vec![(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (2, 3, 1.0), (3, 4, 1.0), (4, 2, 1.0)];
    let g = Graph::from_edges(5, &e, false, Duplicates::Max).unwrap();
    assert!(g.unweighted);
    let cfg = WalkConfig { p: 2.0, q: 0.5, walks_per_node: 8000, walk_length: 20, mode: WalkMode::Otf };
    let err = max_transition_error(&g, &cfg);
    assert!(err < 0.012, "{err}");
}

#[test]
fn alias_tables_encode_the_weights_exactly() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
    for n in [1usize, 2, 3, 7, 37, 500] {
        let w: Vec<f32> = (0..n).map(|i| if i % 5 == 0 { 1e-3 } else { rng.gen::<f32>() * 10.0 + 0.01 }).collect();
        let (mut prob, mut alias) = (vec![0.0f32; n], vec![0u32; n]);
        super::walks::build_alias(&w, &mut prob, &mut alias);
        let mut implied = vec![0.0f64; n];
        for i in 0..n {
            implied[i] += prob[i] as f64 / n as f64;
            implied[alias[i] as usize] += (1.0 - prob[i] as f64) / n as f64;
        }
        let s: f64 = w.iter().map(|&x| x as f64).sum();
        for i in 0..n {
            assert!((implied[i] - w[i] as f64 / s).abs() < 1e-5, "n={n} i={i}: {} vs {}", implied[i], w[i] as f64 / s);
        }
    }
}

#[test]
fn walks_are_identical_for_one_and_two_threads() {
    let g = weighted_graph();
    for (p, q, mode) in [(1.0, 1.0, WalkMode::Otf), (4.0, 0.5, WalkMode::Otf), (0.5, 2.0, WalkMode::Alias)] {
        let cfg = WalkConfig { p, q, walks_per_node: 300, walk_length: 15, mode };
        let a = pool(1).install(|| generate_walks(&g, &cfg, 42).unwrap());
        let b = pool(2).install(|| generate_walks(&g, &cfg, 42).unwrap());
        let c = pool(2).install(|| generate_walks(&g, &cfg, 43).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 6 * 300);
        assert_eq!(a.vocab_size, 6);
    }
}

#[test]
fn isolated_nodes_get_length_one_walks() {
    let g = Graph::from_edges(4, &[(0, 1, 1.0), (1, 2, 1.0)], false, Duplicates::Max).unwrap();
    let cfg = WalkConfig { p: 4.0, q: 0.5, walks_per_node: 3, walk_length: 5, mode: WalkMode::Otf };
    let c = generate_walks(&g, &cfg, 0).unwrap();
    c.validate().unwrap();
    assert_eq!(c.len(), 12);
    let iso: Vec<&[u32]> = c.iter().filter(|w| w[0] == 3).collect();
    assert_eq!(iso.len(), 3);
    assert!(iso.iter().all(|w| w.len() == 1));
    assert!(c.iter().filter(|w| w[0] != 3).all(|w| w.len() == 5));
    assert_eq!(c.counts()[3], 3);
    // walk_length 1: just the start nodes
    let one = generate_walks(&g, &WalkConfig { walk_length: 1, ..cfg.clone() }, 0).unwrap();
    assert!(one.iter().all(|w| w.len() == 1));
}

#[test]
fn self_loops_are_walked() {
    // Node 0 has a heavy self-loop and one neighbour: first steps from 0 stay at 0 with
    // probability 9/10.
    let g = Graph::from_edges(2, &[(0, 0, 9.0), (0, 1, 1.0)], false, Duplicates::Max).unwrap();
    assert_eq!(g.neighbors(0), &[0, 1]);
    let cfg = WalkConfig { p: 1.0, q: 1.0, walks_per_node: 20000, walk_length: 2, mode: WalkMode::Otf };
    let c = generate_walks(&g, &cfg, 3).unwrap();
    let from0: Vec<&[u32]> = c.iter().filter(|w| w[0] == 0).collect();
    let stay = from0.iter().filter(|w| w[1] == 0).count() as f64 / from0.len() as f64;
    assert!((stay - 0.9).abs() < 0.01, "{stay}");
    // And second-order probabilities including the loop hold.
    let cfg = WalkConfig { p: 0.5, q: 2.0, walks_per_node: 20000, walk_length: 10, mode: WalkMode::Otf };
    let g3 = Graph::from_edges(3, &[(0, 0, 3.0), (0, 1, 1.0), (1, 2, 1.0), (0, 2, 2.0)], false, Duplicates::Max).unwrap();
    assert!(max_transition_error(&g3, &cfg) < 0.012);
}

#[test]
fn bad_walk_configs_are_rejected() {
    let g = weighted_graph();
    for cfg in [
        WalkConfig { p: 0.0, ..Default::default() },
        WalkConfig { q: f64::NAN, ..Default::default() },
        WalkConfig { walks_per_node: 0, ..Default::default() },
        WalkConfig { walk_length: 0, ..Default::default() },
    ] {
        assert!(generate_walks(&g, &cfg, 0).is_err());
    }
}

// ---------------------------------------------------------------- labels and evaluation

#[test]
fn labels_parse_multi_label_and_reject_unknown_nodes() {
    let ids = IdMap::from_raws(vec!["10".into(), "20".into(), "30".into()]);
    let l = parse_labels("10\tA\n20 B\n10\tB\n10 A\n", "x.labels.tsv", &ids).unwrap();
    assert_eq!(l.n_classes(), 2);
    assert_eq!(l.of_node, vec![vec![0, 1], vec![1], vec![]]);
    assert_eq!(l.labelled_nodes(), vec![0, 1]);
    let e = parse_labels("10 A\n99 B\n", "x.labels.tsv", &ids).unwrap_err().to_string();
    assert_eq!(e, "x.labels.tsv:2: node `99` is not in the graph");
    assert!(parse_labels("10\n", "x", &ids).is_err());
}

#[test]
fn f1_scores_by_hand() {
    // classes 0,1,2; truth/pred per node
    let truth = vec![vec![0], vec![1], vec![0, 2]];
    let pred = vec![vec![0], vec![0], vec![0, 2]];
    let s = f1_scores(&truth, &pred, 3);
    // class 0: tp 2, fp 1, fn 0 -> 0.8; class 1: tp0 fn1 -> 0; class 2: tp1 -> 1.
    assert!((s.macro_f1 - (0.8 + 0.0 + 1.0) / 3.0).abs() < 1e-12);
    // micro: tp 3, fp 1, fn 1 -> 6/8
    assert!((s.micro_f1 - 0.75).abs() < 1e-12);
}

#[test]
fn roc_auc_by_hand() {
    assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), 0.75);
    assert_eq!(roc_auc(&[1.0, 1.0], &[true, false]), 0.5);
    assert_eq!(roc_auc(&[0.0, 1.0], &[false, true]), 1.0);
}

#[test]
fn logistic_regression_reaches_a_stationary_point() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
    let (n, d) = (400, 6);
    let true_w = [1.5, -2.0, 0.5, 0.0, 1.0, -0.5];
    let rows: Vec<Vec<f64>> = (0..n).map(|_| (0..d).map(|_| rng.gen::<f64>() * 2.0 - 1.0).collect()).collect();
    let y: Vec<bool> = rows.iter().map(|r| r.iter().zip(&true_w).map(|(a, b)| a * b).sum::<f64>() + 0.3 + 0.5 * (rng.gen::<f64>() - 0.5) > 0.0).collect();
    let x = Design::from_rows(rows.clone(), d);
    let cfg = LogRegConfig { c: 10.0, ..Default::default() };
    let m = fit_binary(&x, &y, &cfg);
    // Gradient of C * sum logloss + |w|^2 / 2 must vanish.
    let mut g = vec![0.0; d + 1];
    for (r, &yi) in rows.iter().zip(&y) {
        let z = m.score(r);
        let res = 1.0 / (1.0 + (-z).exp()) - if yi { 1.0 } else { 0.0 };
        for j in 0..d {
            g[j] += cfg.c * res * r[j];
        }
        g[d] += cfg.c * res;
    }
    for j in 0..d {
        g[j] += m.w[j];
    }
    let gmax = g.iter().fold(0.0f64, |a, b| a.max(b.abs()));
    assert!(gmax < 1e-2, "gradient {g:?}");
    let acc = rows.iter().zip(&y).filter(|(r, &yi)| (m.score(r) > 0.0) == yi).count() as f64 / n as f64;
    assert!(acc > 0.9, "{acc}");
}

/// Two planted communities of `k` nodes each (edge probability `pin` inside, `pout`
/// across); node `u`'s community is `u / k`.
fn planted(k: usize, pin: f64, pout: f64, seed: u64) -> Graph {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut e = Vec::new();
    for u in 0..2 * k {
        for v in u + 1..2 * k {
            let same = u / k == v / k;
            if rng.gen::<f64>() < if same { pin } else { pout } {
                e.push((u as u32, v as u32, 1.0));
            }
        }
    }
    Graph::from_edges(2 * k, &e, false, Duplicates::Max).unwrap()
}

fn adjacency_rows(g: &Graph) -> Matrix {
    let n = g.n_nodes();
    let mut m = Matrix::zeros(n, n);
    for (u, v, w) in g.arcs() {
        m.row_mut(u as usize)[v as usize] = w;
    }
    m
}

#[test]
fn node_classification_on_planted_communities() {
    let g = planted(60, 0.25, 0.01, 3);
    let emb = adjacency_rows(&g);
    // Class = community; nodes 0..20 also carry a second class 2 (multi-label).
    let classes = IdMap::from_raws(vec!["a".into(), "b".into(), "c".into()]);
    let of_node: Vec<Vec<u32>> = (0..120).map(|u| if u < 20 { vec![0, 2] } else { vec![(u / 60) as u32] }).collect();
    let labels = NodeLabels { classes, of_node };
    let cfg = NodeClassConfig { repeats: 5, ..Default::default() };
    let r = node_classification(&emb, &labels, &cfg, 1).unwrap();
    assert!(r.micro_f1 > 0.85, "{r:?}");
    assert_eq!(r.splits.len(), 5);
    assert_eq!(r.n_labelled, 120);
    // Same seed, same result; random features do much worse.
    assert_eq!(node_classification(&emb, &labels, &cfg, 1).unwrap(), r);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
    let noise = Matrix::from_vec(120, 16, (0..120 * 16).map(|_| rng.gen::<f32>()).collect()).unwrap();
    let rn = node_classification(&noise, &labels, &cfg, 1).unwrap();
    assert!(rn.micro_f1 < 0.75, "{rn:?}");
}

/// With a validation share, the validation protocol reads only the labels of the validation
/// nodes and the test protocol only the others' (changing the other side's labels changes
/// nothing), and the validation nodes are the same whatever the run's seed.
#[test]
fn node_classification_validation_and_test_read_disjoint_labels() {
    let g = planted(60, 0.25, 0.01, 3);
    let emb = adjacency_rows(&g);
    let classes = IdMap::from_raws(vec!["a".into(), "b".into(), "c".into()]);
    let labels = NodeLabels { classes, of_node: (0..120).map(|u| vec![(u / 60) as u32]).collect() };
    let valid = super::eval::validation_nodes(&labels.labelled_nodes(), 30);
    assert_eq!(valid.len(), 30);
    let (on_valid, on_test) = (
        NodeClassConfig { repeats: 3, valid_fraction: 0.25, on_validation: true, ..Default::default() },
        NodeClassConfig { repeats: 3, valid_fraction: 0.25, ..Default::default() },
    );
    let (v, t) = (node_classification(&emb, &labels, &on_valid, 1).unwrap(), node_classification(&emb, &labels, &on_test, 1).unwrap());
    assert!(v.micro_f1 > 0.85 && t.micro_f1 > 0.85, "{v:?} {t:?}");
    // The labels of one side replaced by ones unrelated to the communities.
    let flipped = |inside: bool| NodeLabels {
        classes: labels.classes.clone(),
        of_node: (0..120u32).map(|u| if valid.contains(&u) == inside { vec![u % 3] } else { labels.of_node[u as usize].clone() }).collect(),
    };
    assert_eq!(node_classification(&emb, &flipped(false), &on_valid, 1).unwrap(), v, "validation read a test node's label");
    assert_eq!(node_classification(&emb, &flipped(true), &on_test, 1).unwrap(), t, "the test protocol read a validation node's label");
    assert_ne!(node_classification(&emb, &flipped(true), &on_valid, 1).unwrap(), v);
    // The same validation nodes for another seed (the classifier's splits differ).
    assert_eq!(super::eval::validation_nodes(&labels.labelled_nodes(), 30), valid);
    let e = node_classification(&emb, &labels, &NodeClassConfig { on_validation: true, ..Default::default() }, 1).unwrap_err().to_string();
    assert!(e.contains("valid_fraction"), "{e}");
}

fn components(g: &Graph) -> usize {
    let n = g.n_nodes();
    let mut seen = vec![false; n];
    let mut count = 0;
    for s in 0..n {
        if seen[s] {
            continue;
        }
        count += 1;
        let mut stack = vec![s as u32];
        seen[s] = true;
        while let Some(u) = stack.pop() {
            for &v in g.neighbors(u) {
                if !seen[v as usize] {
                    seen[v as usize] = true;
                    stack.push(v);
                }
            }
        }
    }
    count
}

#[test]
fn link_split_keeps_components_and_prediction_beats_chance() {
    // Ring lattice (each node linked to its 4 nearest on each side): links are predictable
    // from common neighbours.
    let mut e: Vec<(u32, u32, f32)> = Vec::new();
    for u in 0..120u32 {
        for k in 1..=4 {
            e.push((u, (u + k) % 120, 1.0));
        }
    }
    let g = Graph::from_edges(120, &e, false, Duplicates::Max).unwrap();
    let s = link_split(&g, 0.5, 11).unwrap();
    assert_eq!(components(&s.train_graph), components(&g));
    assert!(s.test_pos.len() > g.n_edges() / 3, "{} of {}", s.test_pos.len(), g.n_edges());
    assert_eq!(s.train_graph.n_edges() + s.test_pos.len(), g.n_edges());
    for &(u, v) in &s.test_pos {
        assert!(g.has_edge(u, v) && !s.train_graph.has_edge(u, v) && !s.train_graph.has_edge(v, u));
    }
    for &(u, v) in s.train_neg.iter().chain(&s.test_neg) {
        assert!(u != v && !g.has_edge(u, v));
    }
    assert_eq!(s.test_neg.len(), s.test_pos.len());
    assert_eq!(s.train_neg.len(), s.train_pos.len());
    let emb = adjacency_rows(&s.train_graph);
    let auc = link_prediction_auc(&emb, &s, &LogRegConfig::default()).unwrap();
    let cn = |&(u, v): &(u32, u32)| s.train_graph.neighbors(u).iter().filter(|x| s.train_graph.has_edge(v, **x)).count() as f64;
    let scores: Vec<f64> = s.test_pos.iter().chain(&s.test_neg).map(cn).collect();
    let lab: Vec<bool> = s.test_pos.iter().map(|_| true).chain(s.test_neg.iter().map(|_| false)).collect();
    let cn_auc = roc_auc(&scores, &lab);
    assert!(auc > 0.75 && cn_auc > 0.8, "{auc} (common neighbours: {cn_auc})");
    // Random vectors: about chance.
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
    let noise = Matrix::from_vec(120, 16, (0..120 * 16).map(|_| rng.gen::<f32>()).collect()).unwrap();
    let auc_noise = link_prediction_auc(&noise, &s, &LogRegConfig::default()).unwrap();
    assert!(auc_noise < 0.65, "{auc_noise}");
}
