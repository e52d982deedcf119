"""``arrhenius`` for clusters of atoms: quench-based first passage and multi-channel theory.

A ``[cluster]`` config runs :func:`langevin_opt.particles.cluster_first_passage`
at every temperature (replica ``k`` at temperature index ``t`` has random
stream id ``t * walkers + k``): replicas start in the polished start minimum
and commit to a rearrangement when a FIRE quench lands in a minimum of another
energy.  First-passage times are the middles of the quench intervals
(``chunk * dt`` apart).

Theory (:func:`predict_cluster`): every distinct product minimum reached
(energies closer than ``energy_tol`` are one product) is a *channel*; for each,
the product is aligned to the start minimum, CI-NEB + dimer find the saddle
(rigid-body zero modes projected out) and :func:`~langevin_opt.particles.count_equivalent_saddles`
counts its symmetry-equivalent copies around the labelled minimum.  The
predicted escape rate is the sum over channels of ``count * k(channel)`` with
``k`` the Kramers–Langer rate (BAOAB, friction ``gamma``), harmonic TST, or
the overdamped Eyring–Kramers rate (friction coefficient ``m gamma`` with unit
masses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.validation import threads as core_threads
from .config import RatesExperiment
from .first_passage import FirstPassageResult

__all__ = ["run_cluster_first_passage", "predict_cluster", "cluster_theory_fn"]


def run_cluster_first_passage(exp: RatesExperiment, *, threads: int | None = None,
                              progress: Callable[[int, int], None] | None = None
                              ) -> tuple[FirstPassageResult, np.ndarray, np.ndarray]:
    """Run the temperature grid of a ``[cluster]`` config.

    Parameters
    ----------
    exp : RatesExperiment
        Validated cluster config.
    threads : int, optional
        Numba threads (replicas are spread over them).
    progress : callable, optional
        ``progress(step, n_running)`` after every quench check.

    Returns
    -------
    (FirstPassageResult, numpy.ndarray, numpy.ndarray)
        Per-replica result (``positions`` are the flattened quenched products,
        ``final_basin`` the product class: 1, 2, ... in order of energy, -1 if
        censored), the polished start minimum ``(N, d)``, and the product-class
        energies.
    """
    from ..particles import FIRE, cluster_first_passage, fire_replicas

    cfg = exp.config
    rc = cfg["rates"]
    x0, pot, box = exp.cluster()
    integ = exp.integrator()
    tol = cfg["cluster"]["energy_tol"]
    temps = np.asarray(rc["temperatures"], dtype=np.float64)
    n_w = rc["walkers"]
    with core_threads(threads):
        parts = [cluster_first_passage(x0, pot, integ, [t], int(m), replicas=n_w,
                                       check_every=rc["chunk"], energy_tol=tol, seed=exp.seed,
                                       container=box, stream_offset=k * n_w, progress=progress)
                 for k, (t, m) in enumerate(zip(temps, exp.max_steps(), strict=True))]
    start = fire_replicas(x0[None], pot, fire=FIRE(fmax=1e-8), container=box).positions[0]
    times = np.concatenate([p.time for p in parts])
    cens = np.concatenate([p.censored for p in parts])
    e_prod = np.concatenate([p.product_energy for p in parts])
    prods = np.concatenate([p.products for p in parts])
    # product classes by energy
    classes: list[float] = []
    for e in np.sort(e_prod[~cens]):
        if not classes or e - classes[-1] > tol:
            classes.append(float(e))
    final = np.full(times.shape, -1, dtype=np.int64)
    for i in np.flatnonzero(~cens):
        final[i] = 1 + int(np.argmin(np.abs(np.asarray(classes) - e_prod[i])))
    steps = np.round(times / integ.dt).astype(np.int64)
    res = FirstPassageResult(steps, times, cens, final, prods.reshape(len(times), -1),
                             np.concatenate([p.temperature for p in parts]),
                             np.zeros(len(times), dtype=np.int64), integ.dt,
                             int(sum(p.replica_steps for p in parts)))
    return res, start, np.asarray(classes)


def predict_cluster(exp: RatesExperiment, res: FirstPassageResult, start: np.ndarray,
                    classes: np.ndarray) -> dict[str, Any]:
    """Saddles of every observed channel and the summed rate predictions.

    Parameters
    ----------
    exp : RatesExperiment
    res : FirstPassageResult
        From :func:`run_cluster_first_passage`.
    start : numpy.ndarray, shape (N, d)
        Polished start minimum.
    classes : numpy.ndarray
        Product-class energies.

    Returns
    -------
    dict
        ``channels`` (per product: energy, barrier, saddle energy, equivalent
        saddles, converged, eigenvalues), ``barrier`` (lowest), ``minimum_energy``,
        ``saddle_energy``, ``converged`` and ``formulas``: name -> ``[k(T)]``.
    """
    from ..particles import align, cluster_energy_function, count_equivalent_saddles
    from .saddles import find_saddle

    x0, pot, _ = exp.cluster()
    n, d = start.shape
    th = exp.config["theory"]
    f = cluster_energy_function(pot, n, d)
    n_zero = d * (d + 1) // 2
    channels = []
    for c, e in enumerate(classes, start=1):
        i = int(np.flatnonzero(res.final_basin == c)[0])
        prod = align(res.positions[i].reshape(n, d), start)
        sr = find_saddle(f, start.ravel(), prod.ravel(), n_images=max(th["n_images"], 11),
                         fmax=th["fmax"], n_zero=n_zero)
        count = count_equivalent_saddles(start, sr.saddle.x.reshape(n, d))
        channels.append({"product_energy": float(e), "barrier": sr.barrier,
                         "saddle_energy": sr.saddle.energy, "equivalent_saddles": count,
                         "converged": sr.ok, "negative_modes": sr.saddle.n_negative,
                         "minimum_eigenvalues": sr.minimum.eigenvalues.tolist(),
                         "saddle_eigenvalues": sr.saddle.eigenvalues.tolist(),
                         "minimum_energy": sr.minimum.energy})
    good = [ch for ch in channels if ch["negative_modes"] == 1]
    if not good:
        return {"converged": False, "formulas": {}, "channels": channels}
    temps = np.asarray(exp.config["rates"]["temperatures"], dtype=np.float64)
    names = (("Kramers-Langer", "harmonic TST") if exp.config["integrator"]["kind"] == "baoab"
             else ("Eyring-Kramers",))
    info = {"channels": channels, "kind": exp.config["integrator"]["kind"],
            "friction": exp.integrator().friction}
    low = min(good, key=lambda ch: ch["barrier"])
    return {**info, "barrier": low["barrier"], "minimum_energy": low["minimum_energy"],
            "saddle_energy": low["saddle_energy"], "converged": all(ch["converged"] for ch in good),
            "formulas": {nm: np.atleast_1d(cluster_theory_fn(info, nm)(temps)).tolist()
                         for nm in names}}


def cluster_theory_fn(info: dict, name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``k(T)`` summed over the channels of :func:`predict_cluster` (unit masses).

    Parameters
    ----------
    info : dict
        The theory dict (``channels``, ``friction``).
    name : {"Kramers-Langer", "harmonic TST", "Eyring-Kramers"}

    Returns
    -------
    callable
    """
    from .theory import HarmonicPoint, kramers_overdamped_rate, langer_rate, vineyard_rate

    def k(t: np.ndarray) -> np.ndarray:
        total = np.zeros(np.shape(t))
        for ch in info["channels"]:
            if ch["negative_modes"] != 1:
                continue
            mn = HarmonicPoint(np.zeros(1), ch["minimum_energy"],
                               np.asarray(ch["minimum_eigenvalues"]), 0, 0)
            sd = HarmonicPoint(np.zeros(1), ch["saddle_energy"],
                               np.asarray(ch["saddle_eigenvalues"]), 1, 0)
            if name == "Kramers-Langer":
                one = langer_rate(mn, sd, t, friction=info["friction"])
            elif name == "harmonic TST":
                one = vineyard_rate(mn, sd, t)
            else:
                one = kramers_overdamped_rate(mn, sd, t, zeta=info["friction"])
            total = total + ch["equivalent_saddles"] * np.asarray(one)
        return total

    return k
