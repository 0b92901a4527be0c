"""Optuna's own Parzen estimator on a fixed history: the numbers `src/search/tpe.rs`'s test
`the_densities_are_optunas` must reproduce.

Builds Optuna's `_ParzenEstimator` (the class `TPESampler` uses, with its default parameters)
for 30 observations of five keys, one of each kind the runner's spaces have, and prints the
log density of the joint estimator (multivariate, Optuna 5's default) and of each key's own
estimator (multivariate = False) at four points, as Rust literals. 30 observations, so that
`default_weights` ramps the oldest five down.

One difference is not the runner's to copy: Optuna orders the observations with NumPy's
default `argsort` (quicksort, not stable), so among equal observations of a numeric key
(repeated integers) which one gets the wider bandwidth depends on NumPy's partitioning; with
weights that differ (30 observations here), that moves the density of the integer key `d` by
up to 4%. The runner breaks ties by trial number (a stable sort). The literals are printed
with a stable `argsort` patched into Optuna's module, and Optuna's unpatched numbers after
them as a comment: every key without ties (`a`, `b`, `c`, `e`) is equal either way.

usage: ~/.cache/optuna-venv/bin/python experiments/search/optuna_parzen.py
"""

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import parzen_estimator as pe
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.sampler import default_weights

SPACE = {
    "a": FloatDistribution(-5.0, 5.0),
    "b": FloatDistribution(1e-3, 0.1, log=True),
    "c": IntDistribution(1, 20, log=True),
    "d": IntDistribution(2, 6),
    "e": CategoricalDistribution(["x", "y", "z"]),
}


def history(n=30):
    """Deterministic observations (the same formulas as the Rust test's)."""
    obs = {k: [] for k in SPACE}
    for i in range(n):
        obs["a"].append(-5.0 + 10.0 * ((i * 7) % 30) / 29.0)
        obs["b"].append(1e-3 * 100.0 ** (((i * 11) % 30) / 29.0))
        obs["c"].append(float(1 + (i * 13) % 20))
        obs["d"].append(float(2 + (i * 3) % 5))
        obs["e"].append(float((i * 5) % 3))
    return {k: np.asarray(v) for k, v in obs.items()}


POINTS = [
    {"a": 0.3, "b": 0.004, "c": 3.0, "d": 4.0, "e": 1.0},
    {"a": -4.9, "b": 0.09, "c": 20.0, "d": 2.0, "e": 0.0},
    {"a": 2.2, "b": 0.02, "c": 1.0, "d": 6.0, "e": 2.0},
    {"a": -1.0, "b": 0.0011, "c": 7.0, "d": 3.0, "e": 1.0},
]


def densities(params, obs, samples):
    joint = _ParzenEstimator(obs, SPACE, params).log_pdf(samples)
    keys = {k: _ParzenEstimator({k: obs[k]}, {k: SPACE[k]}, params).log_pdf({k: samples[k]}) for k in SPACE}
    return joint, keys


def literal(name, vals):
    return f"let {name} = [" + ", ".join(f"{v:.15e}" for v in vals) + "];"


def main():
    params = _ParzenEstimatorParameters(prior_weight=1.0, consider_magic_clip=True, consider_endpoints=False,
                                        weights=default_weights, multivariate=True)
    obs = history()
    samples = {k: np.asarray([p[k] for p in POINTS]) for k in SPACE}
    unstable = densities(params, obs, samples)
    argsort = pe.np.argsort
    pe.np.argsort = lambda a, *args, **kw: argsort(a, kind="stable")
    try:
        joint, keys = densities(params, obs, samples)
    finally:
        pe.np.argsort = argsort
    print(f"// optuna {optuna.__version__}, with a stable argsort")
    print(literal("joint", joint))
    for k, vals in keys.items():
        print(literal(k, vals))
    print("// unpatched: " + literal("joint", unstable[0]))
    for k, vals in unstable[1].items():
        print("// unpatched: " + literal(k, vals))

if __name__ == "__main__":
    main()
