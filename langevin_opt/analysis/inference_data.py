"""Export runs to ArviZ: :func:`to_inference_data`.

ArviZ (and xarray) are an optional extra (``pip install arviz``, in the ``test``
extra): they are imported only when :func:`to_inference_data` is called, and a
missing ArviZ raises :class:`ImportError` with the install line.

Layout (ArviZ's (chain, draw, ...) convention; ``draw`` coordinates are the
recorded step numbers):

* :class:`~langevin_opt.sgmcmc.ChainResult` (:func:`~langevin_opt.sgmcmc.run_chains`):
  ``posterior.theta`` ``(chain, draw, theta_dim)``; ``sample_stats.energy`` (the
  minibatch energy ``U~`` of each kept sample) and ``sample_stats.temperature``
  (each chain's base temperature, before schedules).
* :class:`~langevin_opt.sampling.RunResult` of a walker ensemble
  (:meth:`~langevin_opt.sampling.Sampler.run` with ``record_every > 0``): each
  walker is a chain, ``posterior.x`` ``(chain, draw, x_dim)``,
  ``sample_stats.energy``; with the ``sampler`` also ``sample_stats.temperature``
  (base temperature times the schedule factor at each frame) and, for MALA,
  ``sample_stats.acceptance_rate`` ``(chain,)`` (acceptances per step since step 0).
* Replica exchange (a walker ``Sampler`` with ``replica_exchange``, or
  ``ReplicaExchangeSGLD`` chains): the ``K`` replicas of a chain share the chain
  index, and the temperature is a dimension: ``posterior.x`` (or ``theta``)
  ``(chain, draw, temperature, x_dim)``, ``sample_stats.energy``
  ``(chain, draw, temperature)``, the ladder as the ``temperature`` coordinate (for
  walkers with a ``sampler``, ``sample_stats.run_temperature`` is the ladder times
  the schedule factor at each frame), and
  ``sample_stats.swap_acceptance`` ``(pair,)``, the accepted fraction of swaps
  between ladder neighbours ``(k, k + 1)`` (NaN where none was attempted).  Select
  the target temperature with ``idata.posterior.sel(temperature=T)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["to_inference_data"]


def _import_arviz() -> tuple[Any, Any]:
    try:
        import arviz
        import xarray
    except ImportError as e:
        raise ImportError("to_inference_data needs ArviZ, an optional extra: pip install arviz "
                          f"(or langevin_opt[test]); import failed: {e}") from None
    return arviz, xarray


def _swap_fraction(attempts: np.ndarray | None, accepts: np.ndarray | None) -> np.ndarray:
    at = np.asarray(attempts, dtype=np.float64)
    ac = np.asarray(accepts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(at > 0, ac / np.where(at > 0, at, 1.0), np.nan)


def _by_temperature(a: np.ndarray, k: int) -> np.ndarray:
    """``(C*K, S, ...)`` (chain ``g*K + k`` at ladder slot ``k``) -> ``(C, S, K, ...)``."""
    g = a.shape[0] // k
    a = a.reshape(g, k, *a.shape[1:])
    return np.moveaxis(a, 1, 2)


def to_inference_data(result: object, *, sampler: object = None) -> Any:
    """Convert a run result to an ``arviz.InferenceData`` (chains first).

    Parameters
    ----------
    result : ChainResult or RunResult
        SG-MCMC chains from :func:`langevin_opt.sgmcmc.run_chains`, or a walker
        run from :meth:`langevin_opt.sampling.Sampler.run` that recorded frames.
    sampler : Sampler, optional
        For a walker ``RunResult``: the sampler that ran it, which supplies the
        temperatures, the replica-exchange ladder and the integrator (MALA
        acceptance).  Without it, a walker run exports positions and energies
        only, each walker as a chain.  Not used for a ``ChainResult``.

    Returns
    -------
    arviz.InferenceData
        Groups ``posterior`` and ``sample_stats`` (see the module docstring for
        the variables and dimensions); ``attrs`` name the package and version.

    Raises
    ------
    ImportError
        ArviZ is not installed.
    TypeError
        ``result`` (or ``sampler``) has the wrong type.
    ValueError
        The walker run recorded no frames, or its walkers do not match the sampler.
    """
    from ..sampling import RunResult, Sampler
    from ..sgmcmc.run import ChainResult

    if isinstance(result, ChainResult):
        if sampler is not None:
            raise TypeError("sampler is only used for a walker RunResult, not a ChainResult")
        name = "theta"
        draws = np.asarray(result.samples)  # (chain, draw, param) already
        energy = np.asarray(result.energies)
        steps = result.steps
        temps = np.broadcast_to(np.asarray(result.temperatures, dtype=np.float64)[:, None],
                                energy.shape)
        k = int(np.size(result.swap_attempts)) + 1 if np.size(result.swap_attempts) else 0
        swaps = (result.swap_attempts, result.swap_accepts)
        accept = None
        ladder = np.asarray(result.temperatures[:k], dtype=np.float64) if k else None
    elif isinstance(result, RunResult):
        if sampler is not None and not isinstance(sampler, Sampler):
            raise TypeError(f"sampler must be a langevin_opt.sampling.Sampler, got "
                            f"{type(sampler).__name__}")
        traj = result.trajectory
        if traj.steps.size == 0:
            raise ValueError("result has no recorded frames: run the sampler with "
                             "record_every > 0 to export it")
        name = "x"
        draws = np.asarray(traj.chains)
        energy = np.asarray(traj.energy_chains)
        steps = traj.steps
        m = draws.shape[0]
        temps, k, swaps, accept, ladder = None, 0, None, None, None
        if sampler is not None:
            base = sampler.temperatures_for(m)
            total = sampler.total_steps or int(result.state.step)
            phi = np.asarray(sampler.schedule.factors(steps, total), dtype=np.float64)
            temps = base[:, None] * phi[None, :]
            rex = sampler.replica_exchange
            if rex is not None:
                k = rex.n_temps
                ladder = np.asarray(rex.temperatures, dtype=np.float64)
                swaps = (result.state.swap_attempts, result.state.swap_accepts)
            if type(sampler.integrator).__name__ == "MALA" and result.state.step > 0:
                accept = np.asarray(result.state.accepted, dtype=np.float64) / result.state.step
    else:
        raise TypeError("result must be a langevin_opt.sgmcmc.ChainResult or a "
                        f"langevin_opt.sampling.RunResult, got {type(result).__name__}")

    az, xr = _import_arviz()
    steps = np.asarray(steps, dtype=np.int64)
    if k:
        draws = _by_temperature(draws, k)
        energy = _by_temperature(energy, k)
        lead = ("chain", "draw", "temperature")
        coords: dict[str, Any] = {"chain": np.arange(draws.shape[0]), "draw": steps,
                                  "temperature": ladder}
    else:
        lead = ("chain", "draw")
        coords = {"chain": np.arange(draws.shape[0]), "draw": steps}
    post = xr.Dataset({name: (lead + (f"{name}_dim",), draws)}, coords=coords)
    stats = {"energy": (lead, energy)}
    if temps is not None and not k:
        stats["temperature"] = (lead, np.array(temps))
    if k and temps is not None and not isinstance(result, ChainResult):
        # the ladder times the schedule factor at each frame ("temperature" is the ladder)
        stats["run_temperature"] = (lead, _by_temperature(np.array(temps), k))
    if swaps is not None:
        stats["swap_acceptance"] = (("pair",), _swap_fraction(*swaps))
    if accept is not None:
        stats["acceptance_rate"] = (("chain",) if not k else ("chain", "temperature"),
                                    accept if not k else accept.reshape(-1, k))
    sstats = xr.Dataset(stats, coords=coords)
    from .._version import __version__

    attrs = {"created_by": "langevin_opt", "langevin_opt_version": __version__}
    post.attrs.update(attrs)
    sstats.attrs.update(attrs)
    return az.InferenceData(posterior=post, sample_stats=sstats)
