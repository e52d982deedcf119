"""The ``[network]`` system of ``langevin-opt arrhenius``: escapes out of a network's minimum.

:func:`network_system` builds the data set, the network and its full-batch loss
(:meth:`~langevin_opt.schema.arrhenius.RatesExperiment.network`), finds minima from
``[network] n_starts`` seeded starts (:func:`~langevin_opt.nn.network_minima`, seed
``[experiment] seed``) and groups them modulo hidden-unit symmetry
(:func:`~langevin_opt.nn.distinct_minima`, ``[network] tol``), lowest energy first:
``[network] start`` and ``partner`` index that list.

:func:`run_network_first_passage` runs the grid: full-batch overdamped Langevin at every
temperature (:func:`~langevin_opt.nn.escape.network_first_passage`, time ``eta * steps``)
or minibatch SGD at every ``(learning_rate, batch_size)`` setting
(:func:`~langevin_opt.nn.escape.sgd_first_passage`, time ``learning_rate * steps``).
Row ``k`` (a temperature or a setting) runs walkers ``k * walkers + j`` with random
streams ``k * walkers + j``, exactly the streams of one call over the whole grid.
Products are classified modulo symmetry: ``final_basin`` is the index of the product's
class in the list of known minima, and products outside it get the next indices (in
order of energy).

:func:`predict_network` connects the start with the partner (default: the known class
nearest to the start modulo symmetry; :func:`~langevin_opt.nn.connect`, CI-NEB + dimer,
full Hessians) and, for Langevin, evaluates the overdamped Eyring–Kramers rate
(:func:`~langevin_opt.nn.escape.eyring_kramers_rate`, one saddle: a minimum of generic
parameters has no symmetry of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.validation import threads as core_threads
from ..schema import ConfigError
from .config import RatesExperiment
from .first_passage import FirstPassageResult

__all__ = ["network_system", "run_network_first_passage", "predict_network",
           "langevin_step_size"]

#: Default Langevin step: ``DEFAULT_ETA_LAMBDA / λ_max`` (as ``experiments/nn_escape.py``).
DEFAULT_ETA_LAMBDA = 0.05


@dataclass(frozen=True)
class _NetworkSystem:
    """Data set, network, loss and distinct minima of a ``[network]`` config."""

    dataset: Any
    net: Any
    landscape: Any
    minima: np.ndarray      # (n_classes, P), lowest energy first
    energies: np.ndarray    # (n_classes,)
    counts: np.ndarray      # starts per class
    start: int
    partner: int | None


def network_system(exp: RatesExperiment, *, threads: int | None = None) -> _NetworkSystem:
    """Build the loss of a ``[network]`` config and find its distinct minima.

    Parameters
    ----------
    exp : RatesExperiment
        Validated ``[network]`` config.
    threads : int, optional
        Numba threads of the minimum search.

    Returns
    -------
    object
        With ``dataset``, ``net``, ``landscape`` (full batch), ``minima`` ``(n, P)`` and
        ``energies`` ``(n,)`` (distinct modulo symmetry, lowest first; loss units),
        ``counts`` (starts per class), ``start`` and ``partner`` (indices, ``partner``
        ``None`` when only one class was found).

    Raises
    ------
    ConfigError
        ``[network] start`` or ``partner`` beyond the minima found, or no start converged.
    """
    from ..nn import distance_modulo_symmetry, distinct_minima, network_minima

    nw = exp.config["network"]
    ds, net, ls = exp.network()
    m = network_minima(ls, net, nw["n_starts"], seed=exp.seed, init_gain=nw["init_gain"],
                       descent_steps=nw["descent_steps"], threads=threads)
    ok = np.flatnonzero(m.is_minimum)
    if ok.size == 0:
        raise ConfigError(f"[network] n_starts: none of the {nw['n_starts']} starts reached a "
                          "minimum (raise n_starts or descent_steps)")
    cls = distinct_minima(m.theta[ok], net, energies=m.energy[ok], tol=nw["tol"])
    reps = ok[cls.representatives]
    n = reps.size
    s = nw["start"]
    if s >= n:
        raise ConfigError(f"[network] start: the {nw['n_starts']} starts found {n} distinct "
                          f"minima (0..{n - 1}), got {s}")
    p = nw["partner"]
    if p is not None and p >= n:
        raise ConfigError(f"[network] partner: the {nw['n_starts']} starts found {n} distinct "
                          f"minima (0..{n - 1}), got {p}")
    if p is None and n > 1:
        others = [j for j in range(n) if j != s]
        d = [distance_modulo_symmetry(m.theta[reps[s]], m.theta[reps[j]], net) for j in others]
        p = others[int(np.argmin(d))]
    return _NetworkSystem(ds, net, ls, m.theta[reps], m.energy[reps], cls.counts, s, p)


def langevin_step_size(exp: RatesExperiment, system: _NetworkSystem) -> float:
    """``[rates] step_size``, or ``0.05 / λ_max`` at the start minimum.

    Parameters
    ----------
    exp : RatesExperiment
    system : object
        From :func:`network_system`.

    Returns
    -------
    float
        ``eta`` (time units per step).
    """
    eta = exp.config["rates"].get("step_size")
    if eta is not None:
        return float(eta)
    from ..nn.paths import _serial_blas, energy_function, hessian_spectrum

    x = system.minima[system.start]
    if x.size <= 200:
        with _serial_blas():
            top = float(np.max(np.abs(hessian_spectrum(energy_function(system.landscape), x))))
    else:
        from ..nn.flatness import top_eigenvalues

        top = float(top_eigenvalues(system.landscape, x, k=1, n_iter=20, seed=exp.seed)[0])
    return DEFAULT_ETA_LAMBDA / max(top, 1e-12)


def run_network_first_passage(exp: RatesExperiment, system: _NetworkSystem, *,
                              threads: int | None = None,
                              progress: Callable[[int, int], None] | None = None
                              ) -> tuple[FirstPassageResult, dict[str, Any]]:
    """Run the grid of a ``[network]`` config (module docstring).

    Parameters
    ----------
    exp : RatesExperiment
        Validated ``[network]`` config.
    system : object
        From :func:`network_system`.
    threads : int, optional
        Numba threads.
    progress : callable, optional
        ``progress(step, n_running)`` after every quench check.

    Returns
    -------
    (FirstPassageResult, dict)
        Per-walker result (``positions``: the polished products, NaN if censored;
        ``temperatures`` NaN for SGD; ``dt``: ``eta`` for Langevin, 1 for SGD) and
        ``extra``: ``learning_rate``, ``batch_size`` (SGD, per walker),
        ``product_energy`` per walker, and summary entries (``start_energy``,
        ``minima_energies``, ``product_energies``, ``step_size`` ...).
    """
    from ..nn.escape import network_first_passage

    rc = exp.config["rates"]
    nw = exp.config["network"]
    n_w = rc["walkers"]
    x0 = system.minima[system.start]
    common = dict(net=system.net, walkers=n_w, check_every=rc["chunk"],
                  quench_steps=rc["quench_steps"], tol=nw["tol"], seed=exp.seed,
                  threads=threads, progress=progress)
    extra: dict[str, Any] = {}
    with core_threads(threads):
        if exp.method == "sgd":
            from ..nn.escape import sgd_first_passage

            parts = [sgd_first_passage(system.landscape, x0, [st], int(m),
                                       stream_offset=k * n_w, **common)
                     for k, (st, m) in enumerate(zip(exp.settings(), exp.max_steps(),
                                                     strict=True))]
            temps = np.full(n_w * len(parts), np.nan)
            steps = np.concatenate([np.round(p.steps) for p in parts]).astype(np.int64)
            extra["learning_rate"] = np.concatenate([p.learning_rate for p in parts])
            extra["batch_size"] = np.concatenate([p.batch_size for p in parts]).astype(np.int64)
            dt = 1.0
        else:
            eta = langevin_step_size(exp, system)
            parts = [network_first_passage(system.landscape, x0, [t], int(m), step_size=eta,
                                           stream_offset=k * n_w, **common)
                     for k, (t, m) in enumerate(zip(rc["temperatures"], exp.max_steps(),
                                                    strict=True))]
            temps = np.concatenate([p.temperature for p in parts])
            steps = np.round(np.concatenate([p.time for p in parts]) / eta).astype(np.int64)
            extra["step_size"] = eta
            dt = eta
    times = np.concatenate([p.time for p in parts])
    cens = np.concatenate([p.censored for p in parts])
    prods = np.concatenate([p.product for p in parts])
    e_prod = np.concatenate([p.product_energy for p in parts])
    final, energies = _classify(system, prods, e_prod, cens, nw["tol"])
    res = FirstPassageResult(steps, times, cens, final, prods, temps,
                             np.full(times.size, system.start, dtype=np.int64), dt,
                             int(sum(p.walker_steps for p in parts)))
    extra.update(product_energy=e_prod, start_energy=float(parts[0].start_energy),
                 minima_energies=energies, quench_step_size=float(parts[0].quench_step_size),
                 n_polished=int(sum(p.n_polished for p in parts)),
                 n_images=int(sum(p.n_images for p in parts)))
    return res, extra


def _classify(system: _NetworkSystem, prods: np.ndarray, e_prod: np.ndarray,
              cens: np.ndarray, tol: float) -> tuple[np.ndarray, list[float]]:
    """Class of every product among the known minima (new classes appended by energy)."""
    from ..nn import distance_modulo_symmetry

    known = [x for x in system.minima]
    energies = [float(e) for e in system.energies]
    final = np.full(cens.size, -1, dtype=np.int64)
    for i in np.flatnonzero(~cens)[np.argsort(e_prod[~cens], kind="stable")]:
        for c, x in enumerate(known):
            if distance_modulo_symmetry(x, prods[i], system.net) <= tol:
                final[i] = c
                break
        else:
            final[i] = len(known)
            known.append(prods[i])
            energies.append(float(e_prod[i]))
    return final, energies


def predict_network(exp: RatesExperiment, system: _NetworkSystem
                    ) -> tuple[dict[str, Any], dict[str, Callable[[np.ndarray], np.ndarray]]]:
    """NEB barrier from the start to the partner and, for Langevin, Eyring–Kramers rates.

    Parameters
    ----------
    exp : RatesExperiment
        Validated ``[network]`` config.
    system : object
        From :func:`network_system`.

    Returns
    -------
    (dict, dict)
        The theory entry of the summary (``partner``, ``partner_energy``,
        ``minimum_energy``, ``saddle_energy``, ``barrier``, ``negative_modes``,
        ``converged``, ``channels`` and ``formulas``: name -> ``[k(T)]``), and the
        formulas as functions of ``T`` (for the figure).
    """
    from ..nn import connect
    from ..nn.escape import eyring_kramers_rate

    if system.partner is None:
        return {"converged": False, "formulas": {}, "channels": [],
                "note": "one distinct minimum found: no path"}, {}
    con = connect(system.landscape, system.net, system.minima[system.start],
                  system.minima[system.partner], n_images=exp.config["theory"]["n_images"],
                  fmax=exp.config["theory"]["fmax"])
    p = con.path
    e_min = p.saddle_energy - p.barrier_forward
    e_par = p.saddle_energy - p.barrier_backward
    info: dict[str, Any] = {
        "partner": system.partner, "partner_energy": float(e_par),
        "minimum_energy": float(e_min), "saddle_energy": float(p.saddle_energy),
        "barrier": float(p.barrier_forward), "negative_modes": int(p.index_saddle),
        "converged": bool(p.ok),
        "channels": [{"product_energy": float(e_par), "saddle_energy": float(p.saddle_energy),
                      "barrier": float(p.barrier_forward), "equivalent_saddles": 1,
                      "converged": bool(p.ok), "negative_modes": int(p.index_saddle)}],
        "formulas": {},
    }
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if exp.method == "langevin" and p.ok and p.full_hessian:
        def ek(t: np.ndarray) -> np.ndarray:
            return np.asarray(eyring_kramers_rate(p, np.asarray(t, dtype=np.float64)))

        fns["Eyring-Kramers"] = ek
        temps = np.asarray(exp.config["rates"]["temperatures"], dtype=np.float64)
        info["formulas"]["Eyring-Kramers"] = np.atleast_1d(ek(temps)).tolist()
    return info, fns
