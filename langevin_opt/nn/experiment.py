"""Temperature, flatness and generalisation: the SGLD temperature-ladder experiment.

The same network is trained by SGLD at a ladder of temperatures, several
independent chains per temperature; every chain's final state is quenched at
``T = 0`` to the nearest minimum, where the training loss, the test loss (and
accuracy), the Hessian trace and the top Hessian eigenvalue are measured.  A
Spearman rank correlation over all chains then answers, with p-values, whether
higher ``T`` finds flatter minima and whether those minima generalise better.

Units (``k_B = 1``)
-------------------
The energy is that of :mod:`langevin_opt.nn.landscape`,
``U(theta) = N * (mean training loss) + ||theta||^2 / (2 sigma_prior^2)``, and
a temperature ``T`` is an energy in those units: SGLD at ``T = 1`` samples the
Bayesian posterior ``exp(-U)``, ``T = 0`` is plain minibatch SGD (the
minibatch noise remains), and the temperature of the mean-loss convention of
deep-learning code is ``T / N``.  ``step_size`` is ``eta`` of
``theta <- theta - eta grad U~ + sqrt(2 eta T) xi`` (``eta = lr / N``).
Curvatures (:func:`~langevin_opt.nn.flatness.hessian_trace`,
:func:`~langevin_opt.nn.flatness.top_eigenvalues`) are those of ``U``
(energy per squared parameter unit); divide by ``N`` for mean-loss units.
Losses are reported per example (mean loss, natural log for cross-entropy,
without the prior).

Protocol (:func:`temperature_ladder_experiment`)
------------------------------------------------
1. Data (:mod:`langevin_opt.nn.data`, seeded) with optional label noise on the
   *training* labels (a fraction replaced by uniformly random classes); the
   student MLP ``(d, *hidden, k)``; chain ``c`` starts from its own
   ``MLP.init_params`` draw.
2. SGLD (:func:`langevin_opt.sgmcmc.run_chains`, one compiled parallel loop):
   ``chains_per_temperature`` chains at each temperature, chain
   ``c = k * chains_per_temperature + j`` at ``temperatures[k]``, random
   stream ``c`` of ``seed``.
3. Quench at ``T = 0``: full-batch gradient descent (``SGD`` on the full-batch
   landscape through ``run_chains``), then optionally an L-BFGS polish
   (``scipy.optimize.minimize``) to ``max |grad U| <= gtol``.  The polish only
   finishes the descent into the basin that gradient descent reached
   (``polish_distance`` records how far it moved).
4. Measures at the minima, on the full-batch landscape (:func:`build_problem`),
   with the *same* probe seed for every chain (common random numbers).
5. :func:`analyse`: Spearman ``rho`` of ``T`` with each measure over all chains,
   and of the Hessian trace with the test loss, plus :func:`verdict`.

Configuration
-------------
A nested dict or the TOML file ``experiments/flatness.toml``, validated by
:func:`validate_config` / :func:`load_config` (defined with every other config
kind in :mod:`langevin_opt.schema.flatness`, which lists the sections and keys).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..core.errors import DivergenceError
from ..core.validation import check_real
from ..datalandscape import DataLandscape
from ..schema.flatness import DATA_KINDS
from ..schema.flatness import load_flatness_config as load_config
from ..schema.flatness import validate_flatness_config as validate_config
from .data import (
    Dataset,
    iris,
    teacher_student_classification,
    teacher_student_regression,
    two_moons,
)
from .flatness import basin_width, hessian_trace, local_entropy, top_eigenvalues
from .landscape import mlp_landscape
from .mlp import MLP

__all__ = [
    "DATA_KINDS",
    "MEASURES",
    "Problem",
    "analyse",
    "build_problem",
    "load_config",
    "temperature_ladder_experiment",
    "validate_config",
    "verdict",
]

#: Per-chain measures that :func:`analyse` correlates with the temperature.
MEASURES = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "hessian_trace",
            "top_eigenvalue", "basin_width", "local_entropy_msd", "train_loss_sgld",
            "test_loss_sgld", "test_accuracy_sgld")

@dataclass(frozen=True)
class Problem:
    """Data, network and landscapes of a validated config (:func:`build_problem`).

    Attributes
    ----------
    config : dict
        The validated config.
    dataset : Dataset
        Train and test data; ``y_train`` already carries the label noise.
    net : MLP
        The student ``(d, *hidden, k)``.
    landscape : DataLandscape
        Minibatch training energy (``sgld.batch_size``), the one SGLD runs on.
    full_landscape : DataLandscape
        The same energy with ``batch_size = N`` (exact gradients): the quench
        and every flatness measure use it.
    init : numpy.ndarray, shape (C, P)
        Initial parameters of the ``C = K * chains_per_temperature`` chains.
    temperature : numpy.ndarray, shape (C,)
        Temperature of every chain.
    """

    config: dict
    dataset: Dataset
    net: MLP
    landscape: DataLandscape
    full_landscape: DataLandscape
    init: np.ndarray
    temperature: np.ndarray

    @property
    def classification(self) -> bool:
        """True for a classification data set (accuracies defined)."""
        return self.dataset.n_classes > 0


def _dataset(d: dict) -> Dataset:
    kind = d["kind"]
    if kind == "teacher_student_classification":
        ds = teacher_student_classification(d["n_train"], d["n_test"],
                                            sizes=d["teacher_sizes"], seed=d["seed"])
    elif kind == "teacher_student_regression":
        ds = teacher_student_regression(d["n_train"], d["n_test"], sizes=d["teacher_sizes"],
                                        noise=d["noise"], seed=d["seed"])
    elif kind == "two_moons":
        ds = two_moons(d["n_train"], d["n_test"], noise=d["noise"], seed=d["seed"])
    else:
        ds = iris(test_fraction=d["test_fraction"], seed=d["seed"])
    if d["label_noise"] > 0:
        rng = np.random.default_rng([d["seed"], 1])
        y = ds.y_train.copy()
        flip = rng.random(y.shape[0]) < d["label_noise"]
        y[flip] = rng.integers(0, ds.n_classes, int(flip.sum()))
        info = dict(ds.info, label_noise=d["label_noise"], n_changed=int(np.sum(y != ds.y_train)))
        ds = Dataset(ds.name, ds.X_train, y, ds.X_test, ds.y_test, ds.n_classes, info)
    return ds


def build_problem(config: Mapping) -> Problem:
    """Data set, student network, landscapes, initial states and chain temperatures.

    Parameters
    ----------
    config : mapping
        An experiment config (validated here).

    Returns
    -------
    Problem
        Chain ``c = k * chains_per_temperature + j`` runs at
        ``temperatures[k]`` from ``net.init_params(seed_c, gain=init_gain)``
        with ``seed_c`` drawn from ``numpy.random.SeedSequence([seed, 2, c])``.
    """
    cfg = validate_config(config)
    ds = _dataset(cfg["data"])
    nw = cfg["network"]
    loss = "softmax_ce" if ds.n_classes else "mse"
    net = MLP((ds.n_features, *nw["hidden"], ds.n_outputs), nw["activation"], loss)
    n = ds.X_train.shape[0]
    ls = mlp_landscape(net, ds.X_train, ds.y_train, batch_size=cfg["sgld"]["batch_size"],
                       prior_sigma=nw["prior_sigma"])
    lf = mlp_landscape(net, ds.X_train, ds.y_train, batch_size=n,
                       prior_sigma=nw["prior_sigma"], name=ls.name + "_fullbatch")
    s = cfg["sgld"]
    temps = np.repeat(np.asarray(s["temperatures"]), s["chains_per_temperature"])
    seed = cfg["experiment"]["seed"]
    init = np.stack([net.init_params(int(np.random.SeedSequence([seed, 2, c])
                                         .generate_state(1)[0]), gain=nw["init_gain"])
                     for c in range(temps.size)])
    return Problem(cfg, ds, net, ls, lf, init, temps)


def _loss_acc(net: MLP, theta: np.ndarray, X: np.ndarray, y: np.ndarray,
              classification: bool) -> tuple[float, float]:
    loss = float(np.mean(net.losses(theta, X, y)))
    if not classification:
        return loss, math.nan
    return loss, float(np.mean(np.argmax(net.forward(theta, X), axis=1) == y))


def temperature_ladder_experiment(config: Mapping, *, threads: int | None = None,
                                  progress: Callable[[str], None] | None = None) -> dict:
    """Train at a ladder of temperatures, quench, and measure flatness and generalisation.

    Parameters
    ----------
    config : mapping
        Experiment config (module docstring, :func:`validate_config`).
    threads : int, optional
        Numba threads for the compiled loops (results do not depend on it).
    progress : callable, optional
        Called with a short message after each stage.

    Returns
    -------
    dict
        Per-chain arrays (``C = K * chains_per_temperature`` chains, ``P``
        parameters), chain ``c`` at temperature ``temperature[c]``:

        ``temperature`` (C,), ``temperatures`` (K,) the ladder;
        ``theta_sgld`` (C, P) final SGLD states, ``energy_sgld`` (C,) their
        exact ``U``; ``theta`` (C, P) the quenched minima, ``energy`` (C,)
        ``U`` there, ``grad_norm`` (C,) ``||grad U||_2`` and ``grad_max`` (C,)
        ``max |grad U|`` there, ``quench_distance`` (C,) ``||theta -
        theta_sgld||``, ``polish_distance`` (C,) the part moved by the
        L-BFGS polish;
        ``train_loss``, ``test_loss`` (C,) mean loss per example (no prior),
        ``train_accuracy``, ``test_accuracy`` (C,) (NaN for regression);
        ``hessian_trace``, ``hessian_trace_se`` (C,) Hutchinson estimate of
        ``tr H`` of ``U`` and its standard error, ``top_eigenvalue`` (C,)
        the largest eigenvalue of ``H`` (Lanczos), both in ``U`` units (divide
        by ``n_train`` for mean-loss units); ``basin_width`` (C,) median
        width over random directions at a rise of ``basin_threshold`` in
        ``U`` (NaN unless enabled); ``local_entropy_msd`` (C,) Entropy-SGD's
        ``<||theta' - theta||^2>`` (NaN unless enabled);
        ``train_loss_sgld``, ``test_loss_sgld``, ``test_accuracy_sgld`` (C,)
        the same at the SGLD states before the quench (for comparison);
        ``sgld_status`` (C,) ``-1`` or the step where the chain diverged;
        scalars ``n_train``, ``n_test``, ``n_params``, ``seconds_sgld``,
        ``seconds_quench``, ``seconds_measures``;
        and ``stats`` and ``verdict``: :func:`analyse` of the arrays.
    """
    from scipy.optimize import minimize as sp_minimize

    from ..sgmcmc import SGD, SGLD, run_chains

    def say(msg: str) -> None:
        if progress is not None:
            progress(msg)

    pb = build_problem(config)
    cfg, net, ds = pb.config, pb.net, pb.dataset
    seed = cfg["experiment"]["seed"]
    s, q, fl = cfg["sgld"], cfg["quench"], cfg["flatness"]
    C, P = pb.init.shape
    t0 = time.perf_counter()
    try:
        r = run_chains(pb.landscape, SGLD(step_size=s["step_size"]), pb.init, s["steps"],
                       seed=seed, temperature=pb.temperature, burn_in=s["steps"],
                       threads=threads)
    except DivergenceError as err:  # diverged chains restart from pb.init below
        r = err.partial_result
    t1 = time.perf_counter()
    say(f"SGLD: {C} chains x {s['steps']} steps in {t1 - t0:.1f} s")
    theta_sgld = r.theta.copy()
    start = np.where(np.isfinite(theta_sgld).all(axis=1)[:, None], theta_sgld, pb.init)
    if q["steps"] > 0:
        try:
            qr = run_chains(pb.full_landscape, SGD(step_size=q["step_size"]), start,
                            q["steps"], seed=seed, burn_in=q["steps"], threads=threads)
        except DivergenceError as err:  # non-finite minima are skipped below
            qr = err.partial_result
        theta_gd = qr.theta.copy()
    else:
        theta_gd = start.copy()
    lf = pb.full_landscape
    theta = theta_gd.copy()
    if q["polish"] == "lbfgs":
        for c in range(C):
            if not np.all(np.isfinite(theta[c])):
                continue
            res = sp_minimize(lambda x: lf.energy(x), theta[c], jac=True, method="L-BFGS-B",
                              options={"gtol": q["gtol"], "maxiter": q["maxiter"],
                                       "maxcor": 20, "ftol": 0.0})
            if lf.energy(res.x)[0] <= lf.energy(theta[c])[0]:
                theta[c] = res.x
    energy = np.empty(C)
    gn = np.empty(C)
    gm = np.empty(C)
    for c in range(C):
        u, g = lf.energy(theta[c])
        energy[c], gn[c], gm[c] = u, np.linalg.norm(g), np.max(np.abs(g))
    t2 = time.perf_counter()
    say(f"quench: max |grad U| <= {np.nanmax(gm):.2e} in {t2 - t1:.1f} s")

    out: dict = {k: np.full(C, np.nan) for k in (
        "train_loss", "test_loss", "train_accuracy", "test_accuracy", "hessian_trace",
        "hessian_trace_se", "top_eigenvalue", "basin_width", "local_entropy_msd",
        "train_loss_sgld", "test_loss_sgld", "test_accuracy_sgld")}
    for c in range(C):
        if np.all(np.isfinite(theta_sgld[c])):
            out["train_loss_sgld"][c] = _loss_acc(net, theta_sgld[c], ds.X_train, ds.y_train,
                                                  False)[0]
            out["test_loss_sgld"][c], out["test_accuracy_sgld"][c] = _loss_acc(
                net, theta_sgld[c], ds.X_test, ds.y_test, pb.classification)
        th = theta[c]
        if not np.all(np.isfinite(th)):
            continue
        out["train_loss"][c], out["train_accuracy"][c] = _loss_acc(
            net, th, ds.X_train, ds.y_train, pb.classification)
        out["test_loss"][c], out["test_accuracy"][c] = _loss_acc(
            net, th, ds.X_test, ds.y_test, pb.classification)
        out["hessian_trace"][c], out["hessian_trace_se"][c] = hessian_trace(
            lf, th, n_samples=fl["hutchinson_samples"], seed=seed, eps=fl["eps"])
        out["top_eigenvalue"][c] = top_eigenvalues(lf, th, 1, n_iter=fl["lanczos_iter"],
                                                   seed=seed, eps=fl["eps"])[0]
        if fl["basin_width"]:
            out["basin_width"][c] = float(np.median(basin_width(
                lf, th, threshold=fl["basin_threshold"], n_directions=fl["basin_directions"],
                seed=seed)))
        if fl["local_entropy"]:
            out["local_entropy_msd"][c] = local_entropy(
                lf, th, fl["local_entropy_gamma"], temperature=fl["local_entropy_temperature"],
                step_size=fl["local_entropy_step_size"], n_steps=fl["local_entropy_steps"],
                seed=seed).msd
    t3 = time.perf_counter()
    say(f"measures: {C} minima in {t3 - t2:.1f} s")
    out.update(
        temperature=pb.temperature.copy(), temperatures=np.asarray(s["temperatures"]),
        theta_sgld=theta_sgld, energy_sgld=r.energy.copy(), theta=theta, energy=energy,
        grad_norm=gn, grad_max=gm,
        quench_distance=np.linalg.norm(theta - theta_sgld, axis=1),
        polish_distance=np.linalg.norm(theta - theta_gd, axis=1),
        sgld_status=r.status.copy(), n_train=int(ds.X_train.shape[0]),
        n_test=int(ds.X_test.shape[0]), n_params=int(P), seconds_sgld=t1 - t0,
        seconds_quench=t2 - t1, seconds_measures=t3 - t2)
    stats, text = analyse(out, alpha=cfg["analysis"]["alpha"])
    out["stats"] = stats
    out["verdict"] = text
    return out


def _spearman(x: np.ndarray, y: np.ndarray) -> dict:
    from scipy.stats import spearmanr

    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return {"rho": math.nan, "p": math.nan, "n": n}
    res = spearmanr(x[ok], y[ok])
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": n}


def analyse(results: Mapping, *, alpha: float = 0.05) -> tuple[dict, str]:
    """Spearman rank correlations of temperature with the measures, and the verdict.

    Parameters
    ----------
    results : mapping
        At least ``temperature`` (C,) and some of :data:`MEASURES` (C,) (as
        returned by :func:`temperature_ladder_experiment` or loaded from its
        ``.npz``); chains with NaN in a measure are left out of that test.
    alpha : float
        Significance level of the verdict, in (0, 1).

    Returns
    -------
    stats : dict
        ``stats[measure] = {"rho", "p", "n"}``: Spearman ``rho`` of
        ``temperature`` with the measure over the chains, its two-sided
        p-value (``scipy.stats.spearmanr``) and the number of chains used
        (``rho = p = NaN`` when a side is constant or fewer than 3 chains);
        ``stats["trace_vs_test_loss"]`` the same for Hessian trace against
        test loss; ``stats["alpha"]``; ``stats["medians"][measure]`` the
        median per temperature (K,) with ``stats["temperatures"]`` (K,).
    verdict : str
        One sentence (:func:`verdict`).
    """
    alpha = check_real("alpha", alpha, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    T = np.asarray(results["temperature"], dtype=np.float64)
    stats: dict = {"alpha": float(alpha)}
    temps = np.unique(T)
    stats["temperatures"] = temps.tolist()
    stats["medians"] = {}
    for m in MEASURES:
        if m not in results:
            continue
        v = np.asarray(results[m], dtype=np.float64)
        stats[m] = _spearman(T, v)
        stats["medians"][m] = [float(np.nanmedian(v[T == t])) if np.any(np.isfinite(v[T == t]))
                               else math.nan for t in temps]
    stats["trace_vs_test_loss"] = _spearman(np.asarray(results["hessian_trace"], float),
                                            np.asarray(results["test_loss"], float))
    return stats, verdict(stats, alpha=alpha)


def _fmt(d: Mapping) -> str:
    return f"rho = {d['rho']:.2f}, p = {d['p']:.2g}"


def _sign(d: Mapping, alpha: float) -> int:
    """+1 / -1 for a significant positive / negative correlation, 0 otherwise."""
    if not (math.isfinite(d["rho"]) and math.isfinite(d["p"])) or d["p"] >= alpha \
            or d["rho"] == 0:
        return 0
    return 1 if d["rho"] > 0 else -1


def verdict(stats: Mapping, *, alpha: float = 0.05) -> str:
    """One sentence answering "does higher T find flatter minima that generalise better?".

    The rules (``s(x) = sign(rho)`` if ``p < alpha`` else 0):

    * flatness, from ``hessian_trace`` and ``top_eigenvalue`` against ``T``:
      both ``-1`` -> "flatter minima", both ``+1`` -> "sharper minima", both
      0 -> "no significant change in flatness", otherwise "mixed flatness";
    * ``test_loss`` against ``T``: ``-1`` -> "test loss improves", ``+1`` ->
      "test loss gets worse", 0 -> "test loss does not change significantly";
    * ``trace_vs_test_loss``: ``+1`` -> "flatter minima generalise better",
      ``-1`` -> "flatter minima generalise worse", 0 -> "flatness does not
      predict test loss".

    Parameters
    ----------
    stats : mapping
        As returned by :func:`analyse` (``{"rho", "p"}`` per test).
    alpha : float
        Significance level.

    Returns
    -------
    str
        E.g. ``"higher T -> flatter minima (Hessian trace rho = -0.62, p = 1e-05;
        top eigenvalue rho = -0.55, p = 0.0003); test loss does not change
        significantly (rho = 0.05, p = 0.7); flatness does not predict test
        loss (trace vs test loss rho = 0.10, p = 0.5)"``.
    """
    tr, ev, te, tt = (stats["hessian_trace"], stats["top_eigenvalue"], stats["test_loss"],
                      stats["trace_vs_test_loss"])
    a, b = _sign(tr, alpha), _sign(ev, alpha)
    if a == b == -1:
        flat = "flatter minima"
    elif a == b == 1:
        flat = "sharper minima"
    elif a == b == 0:
        flat = "no significant change in flatness"
    else:
        flat = "mixed flatness"
    gen = {-1: "test loss improves", 1: "test loss gets worse",
           0: "test loss does not change significantly"}[_sign(te, alpha)]
    pred = {1: "flatter minima generalise better", -1: "flatter minima generalise worse",
            0: "flatness does not predict test loss"}[_sign(tt, alpha)]
    return (f"higher T -> {flat} (Hessian trace {_fmt(tr)}; top eigenvalue {_fmt(ev)}); "
            f"{gen} ({_fmt(te)}); {pred} (trace vs test loss {_fmt(tt)})")
