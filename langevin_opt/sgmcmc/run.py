"""Run many SG-MCMC chains on a data landscape in one compiled loop.

>>> from langevin_opt.sgmcmc import SGLD, run_chains               # doctest: +SKIP
>>> res = run_chains(landscape, SGLD(step_size=1e-4), theta0, 10_000,
...                  n_chains=16, seed=1, burn_in=1_000, thin=10)  # doctest: +SKIP
>>> res.samples.shape            # (chains, kept, params)          # doctest: +SKIP
>>> res.chains is res.samples    # an alias: the same array        # doctest: +SKIP

``run_chains`` validates its inputs, builds the per-step step-size and
temperature factors (method schedule x user schedules) and the record table in
Python, then makes *one* call into a compiled loop (:mod:`.kernels`): no
Python work per step.  Chain ``c`` uses random stream ``stream_offset + c``, so a
chain's trajectory does not depend on which other chains run with it or on the
number of threads.

Divergence: a chain whose minibatch energy becomes non-finite stops at that step
(its ``status`` holds the step).  Independent chains are not coupled, so the others
run to the end; replica-exchange chains are (swaps), so all of them stop at that
step.  Then :func:`run_chains` raises :class:`langevin_opt.core.DivergenceError`
whose ``partial_result`` is the whole :class:`ChainResult` (samples kept before
the failure, every chain's final state and ``status``).

Ctrl-C: the loop runs as compiled chunks of about a quarter of a second (every array
is indexed by global step, so the split changes no number); Ctrl-C stops at the end
of a chunk and raises :class:`langevin_opt.core.Interrupted` whose ``partial_result``
is the :class:`ChainResult` of the steps done.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .._version import __version__
from ..core import validation as _v
from ..core.chunking import ChunkLoop, kernel_name
from ..core.errors import DivergenceError, Interrupted
from ..core.validation import (
    check_int,
    check_per_item,
    check_progress,
    check_seed,
    check_stream_offset,
)
from ..datalandscape import DataLandscape
from ..schedules import Schedule
from . import kernels as KR
from .methods import (
    AUX_PER_PARAM,
    CyclicalSGLD,
    Method,
    ReplicaExchangeSGLD,
    make_method,
    method_to_config,
)

__all__ = ["ChainResult", "ChainState", "run_chains"]


class ChainState(NamedTuple):
    """Method state of every chain at the end of a run (the pattern of ``EnsembleState``).

    Attributes
    ----------
    aux : numpy.ndarray, shape (C, max(1, A * P))
        Per-parameter state: pSGLD's ``V`` (``A = 1``), SGHMC's velocity
        (``A = 1``), Entropy-SGD's ``x'``, ``mu`` and momentum (``A = 3``); one
        unused column for the other methods.
    auxs : numpy.ndarray, shape (C, 4)
        Scalar state per chain (pSGLD: steps taken; reSGLD: the running mean and
        variance of ``U~`` and the number of updates).
    """

    aux: np.ndarray
    auxs: np.ndarray


class ChainResult(NamedTuple):
    """Output of :func:`run_chains`.

    Attributes
    ----------
    samples : numpy.ndarray, shape (C, S, P)
        Kept states, chain first (the (chain, draw, param) order of
        :mod:`langevin_opt.analysis.diagnostics` and ArviZ; C-contiguous):
        ``samples[c, k]`` is chain ``c``'s ``theta`` at step ``steps[k]``, *before*
        that step's update.  :attr:`chains` is the same array.  The H5MD file of
        ``run_chains(out=)`` stores them time first, ``(S, C, P)``, as the format
        lays out frames.
    steps : numpy.ndarray of int64, shape (S,)
        Steps of the kept samples (``>= burn_in``, every ``thin``-th; for
        cSGLD only sampling-stage steps).
    energies : numpy.ndarray, shape (C, S)
        Minibatch energies ``U~`` evaluated at the kept samples (full-data
        scale, the energy the step used), chain first: ``energies[c, k]`` belongs
        to ``samples[c, k]``.  :attr:`energy_chains` is the same array.
    theta : numpy.ndarray, shape (C, P)
        Final parameters.
    energy : numpy.ndarray, shape (C,)
        Exact full-data energy ``U`` at ``theta``.
    best_theta : numpy.ndarray, shape (C, P)
        Per chain, the state with the lowest energy evaluated during the run.
    best_energy : numpy.ndarray, shape (C,)
        That energy (``U~``; exact for full-batch landscapes).
    temperatures : numpy.ndarray, shape (C,)
        Base temperature of every chain (before schedules).
    swap_attempts, swap_accepts : numpy.ndarray of int64, shape (K - 1,)
        Replica-exchange swaps per neighbouring pair, summed over groups
        (empty for other methods).
    status : numpy.ndarray of int64, shape (C,)
        ``-1``, or the step at which the chain's energy became non-finite
        (the chain stopped there; :func:`run_chains` then raises
        :class:`~langevin_opt.core.DivergenceError` carrying this result).
    nfev : int
        Minibatch gradient evaluations per chain.
    state : ChainState
        Method state of every chain (``aux``, ``auxs``).
    """

    samples: np.ndarray
    steps: np.ndarray
    energies: np.ndarray
    theta: np.ndarray
    energy: np.ndarray
    best_theta: np.ndarray
    best_energy: np.ndarray
    temperatures: np.ndarray
    swap_attempts: np.ndarray
    swap_accepts: np.ndarray
    status: np.ndarray
    nfev: int
    state: ChainState

    @property
    def chains(self) -> np.ndarray:
        """Alias of :attr:`samples`, shape ``(C, S, P)`` (the same array, not a copy).

        Kept for code written when ``samples`` was time first; ``samples`` is now in
        the (chain, draw, ...) order of :mod:`langevin_opt.analysis.diagnostics` too.
        """
        return self.samples

    @property
    def energy_chains(self) -> np.ndarray:
        """Alias of :attr:`energies`, shape ``(C, S)`` (the same array, not a copy)."""
        return self.energies


def _schedule_factors(name: str, sched: Schedule | None, steps: np.ndarray,
                      total: int) -> np.ndarray:
    if sched is None:
        return np.ones(len(steps))
    if not isinstance(sched, Schedule):
        raise TypeError(f"{name} must be a langevin_opt.schedules.Schedule, "
                         f"got {type(sched).__name__}")
    f = np.asarray(sched.factors(steps, total), dtype=np.float64)
    if f.shape != (len(steps),) or not np.all(np.isfinite(f)) or np.any(f < 0):
        raise ValueError(f"{name} factors must be finite and >= 0")
    return f


def run_chains(
    landscape: DataLandscape,
    method: str | Method,
    theta0: np.ndarray,
    n_steps: int,
    *,
    seed: int | None = None,
    n_chains: int | None = None,
    temperature: float | np.ndarray | None = None,
    burn_in: int = 0,
    thin: int = 1,
    schedule: Schedule | None = None,
    lr_schedule: Schedule | None = None,
    stream_offset: int = 0,
    threads: int | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: bool | Callable[[int, int], object] = False,
    **settings: object,
) -> ChainResult:
    """Run ``C`` chains of an SG-MCMC method or optimiser on a data landscape.

    Parameters
    ----------
    landscape : DataLandscape
        Any object following the protocol of :mod:`langevin_opt.datalandscape`.
    method : str or Method
        A method instance (:mod:`.methods`) or its name (``"sgd"``,
        ``"sgld"``, ``"psgld"``, ``"sghmc"``, ``"csgld"``, ``"resgld"``,
        ``"entropy-sgd"``) with ``**settings`` as its fields.
    theta0 : array_like, shape (C, P) or (P,)
        Initial parameters; a 1-D vector is copied to ``n_chains`` chains.
    n_steps : int
        Steps (outer steps for Entropy-SGD) >= 1.
    seed : int
        Key of the counter-based generator, ``[0, 2**64)`` (keyword only, required).
    n_chains : int, optional
        Number of chains when ``theta0`` is 1-D (default 1).
    temperature : float or array_like of shape (C,), optional
        ``T`` per chain (``k_B = 1``; default 1, the posterior).  Ignored by SGD;
        must be omitted for replica exchange (the ladder is in the method:
        chain ``g * K + k`` runs at ``temperatures[k]``).
    burn_in : int
        First step whose state is kept (>= 0).
    thin : int
        Keep every ``thin``-th step from ``burn_in`` on (>= 1).
    schedule : Schedule, optional
        Temperature profile ``φ(t)`` over the run (``T_c φ(t)``).
    lr_schedule : Schedule, optional
        Step-size profile over the run (multiplies the method's own).
    stream_offset : int
        Global index of chain 0: chain ``c`` uses random stream
        ``stream_offset + c`` (run a subset of a larger ensemble and get the same
        chains; a multiple of ``K`` for replica exchange).
    threads : int, optional
        Numba threads for this call (results do not depend on it).
    out : path, optional
        Write the kept samples to this H5MD file: particle group ``chains``
        (``position`` = samples time first, ``(S, C, P)``: one frame per kept step,
        one "particle" per chain, ``dim = P``, as H5MD lays out frames), observable
        ``energy`` (``(S, C)``), the configuration under
        ``/parameters``.  The file is written complete under a temporary
        name and renamed over ``out`` (under the one-writer lock of ``out``):
        a kill leaves the previous file or the complete new one.
    overwrite : bool
        Replace an existing ``out``.
    progress : bool or callable
        ``True``: a progress bar with ETA on stderr; a callable:
        ``progress(done, n_steps)`` after every compiled chunk; ``False`` (default):
        nothing.
    **settings
        Method fields when ``method`` is a name.

    Returns
    -------
    ChainResult
        Samples in the units of ``theta``, energies in the landscape's energy
        units (``U = -log posterior``).

    Raises
    ------
    TypeError
        An argument of the wrong type, or a missing ``seed``.
    ValueError
        A bad value (one line naming it and the allowed range).
    FileExistsError
        ``out`` exists and ``overwrite`` is false (checked before the run).
    langevin_opt.storage.OutputLockedError
        Another writer is writing ``out`` (nothing was touched).
    langevin_opt.core.DivergenceError
        A chain's energy became non-finite: ``.step`` is the first such step,
        ``.index`` the first chain that diverged then, ``.partial_result`` the
        :class:`ChainResult` of the whole run (see the module docs; written to
        ``out`` first when given).
    langevin_opt.core.Interrupted
        Ctrl-C (SIGINT), a :class:`KeyboardInterrupt`: ``.step`` is the number of steps
        done, ``.partial_result`` the :class:`ChainResult` of those steps (the samples
        kept before ``.step``, every chain's state there; written to ``out`` first
        when given).
    """
    seed = check_seed(seed)
    if out is not None and not overwrite and os.path.exists(out):  # before the run, not after
        raise FileExistsError(f"{os.fspath(out)} already exists; pass overwrite=True to replace "
                              "it")
    progress = check_progress("progress", progress)
    if not isinstance(landscape, DataLandscape) and not all(
            hasattr(landscape, a) for a in ("energy_grad", "full_energy_grad", "data")):
        raise TypeError(f"landscape must be a DataLandscape, got {type(landscape).__name__}")
    m = make_method(method, **settings)
    n_steps = check_int("n_steps", n_steps, lo=1, hi=None)
    burn_in = check_int("burn_in", burn_in, lo=0, hi=None)
    thin = check_int("thin", thin, lo=1, hi=None)
    stream_offset = check_int("stream_offset", stream_offset, lo=0, hi=None)
    P = landscape.n_params
    if isinstance(theta0, (str, bytes, dict)) or theta0 is None:
        raise TypeError(f"theta0 must be a real float array, got {type(theta0).__name__}")
    th = np.asarray(theta0)
    if th.dtype.kind not in "iuf":
        raise TypeError(f"theta0 must be a real float array, got dtype {th.dtype}")
    if th.ndim == 1:
        nc = 1 if n_chains is None else check_int("n_chains", n_chains, lo=1, hi=None)
        th = np.broadcast_to(th, (nc, th.shape[0]))
    elif n_chains is not None and th.shape[0] != n_chains:
        raise ValueError(f"n_chains={n_chains} does not match theta0 with {th.shape[0]} rows")
    if th.ndim != 2 or th.shape[1] != P or th.shape[0] < 1:
        raise ValueError(f"theta0 must have shape (C, {P}) or ({P},), got {np.shape(theta0)}")
    theta = np.array(th, dtype=np.float64, order="C", copy=True)
    if not np.all(np.isfinite(theta)):
        raise ValueError("theta0 must be finite")
    C = theta.shape[0]
    check_stream_offset(stream_offset, C)

    rex = isinstance(m, ReplicaExchangeSGLD)
    if rex:
        if temperature is not None:
            raise ValueError("temperature must be omitted for resgld: the ladder is "
                             "ReplicaExchangeSGLD.temperatures")
        K = m.n_temps
        if C % K:
            raise ValueError(f"resgld needs a multiple of {K} chains (groups of one replica per "
                             f"temperature), got {C}")
        temps = np.tile(np.asarray(m.temperatures), C // K)
        eta = np.tile(m.step_sizes(), C // K)
        if stream_offset % K:
            raise ValueError(f"stream_offset must be a multiple of {K} for resgld, got "
                             f"{stream_offset}")
    else:
        tv = 1.0 if temperature is None else temperature
        temps = check_per_item("temperature", tv, C, lo=0.0)
        if m.kind == "sgd":
            temps[:] = 0.0
        eta = np.full(C, float(m.step_size))

    steps = np.arange(n_steps, dtype=np.int64)
    eta_m, temp_m = m.step_factors(steps, n_steps)
    eta_fac = np.ascontiguousarray(eta_m * _schedule_factors("lr_schedule", lr_schedule, steps,
                                                             n_steps))
    temp_fac = np.ascontiguousarray(temp_m * _schedule_factors("schedule", schedule, steps,
                                                               n_steps))
    keep = (steps >= burn_in) & ((steps - burn_in) % thin == 0)
    if isinstance(m, CyclicalSGLD):
        keep &= m.sampling_stage(steps, n_steps)
    rec_steps = steps[keep]
    rec_idx = np.full(n_steps, -1, dtype=np.int64)
    rec_idx[keep] = np.arange(rec_steps.size)
    S = rec_steps.size
    samples = np.zeros((C, S, P))  # chain first, as returned
    energies = np.zeros((C, S))
    best_e = np.full(C, np.inf)
    best_theta = theta.copy()
    status = np.full(C, -1, dtype=np.int64)
    fwork, iwork = landscape.make_work(C)
    grad = np.zeros((C, P))
    aux = np.zeros((C, max(1, AUX_PER_PARAM[m.code] * P)))
    auxs = np.zeros((C, 4))
    hp = m.hyper()
    K1 = m.n_temps - 1 if rex else 0
    attempts = np.zeros(K1, dtype=np.int64)
    accepts = np.zeros(K1, dtype=np.int64)
    useed = np.uint64(seed)
    data = landscape.data
    # the compiled loop runs in chunks of about a quarter of a second (Ctrl-C, progress):
    # every array is indexed by global step, so the split changes no number
    loop = ChunkLoop(n_steps, progress=progress, label="chains",
                     key=("chains", kernel_name(landscape.energy_grad), m.code, C, P,
                          getattr(landscape, "dtype", "float64")))
    with _v.threads(threads):
        if rex:
            run = KR.make_exchange_runner(landscape.energy_grad)
            ubuf = np.zeros(C)
            with loop:
                for s, c in loop:
                    run(theta, data, fwork, iwork, auxs, grad, ubuf, useed,
                        np.int64(stream_offset), np.int64(stream_offset // m.n_temps),
                        np.int64(s), eta, temps, eta_fac[s:s + c], temp_fac[s:s + c], hp,
                        rec_idx[s:s + c], samples, energies, best_e, best_theta, status,
                        attempts, accepts)
                    if status.max() >= 0:
                        break  # coupled chains: all stopped at that step
        else:
            run = KR.make_runner(landscape.energy_grad, m.code)
            held = _Stopped(C)
            with loop:
                for s, c in loop:
                    run(theta, data, fwork, iwork, aux, auxs, grad, useed,
                        np.int64(stream_offset), np.int64(s), eta, temps, eta_fac[s:s + c],
                        temp_fac[s:s + c], hp, rec_idx[s:s + c], samples, energies, best_e,
                        best_theta, status)
                    held.update(status, (theta, aux, auxs, status, best_e, best_theta,
                                         samples, energies))
        energy = np.zeros(C)
        KR.make_full_energy(landscape.full_energy_grad)(theta, data, fwork, iwork, grad, energy)
    done = loop.done if loop.interrupted else n_steps
    if done < n_steps:
        n_kept = int(np.count_nonzero(rec_steps < done))  # a prefix: steps increase
        rec_steps = rec_steps[:n_kept]
        samples = np.ascontiguousarray(samples[:, :n_kept])
        energies = np.ascontiguousarray(energies[:, :n_kept])
    nfev = done * (int(hp[1]) if m.kind == "entropy-sgd" else 1)
    res = ChainResult(samples, rec_steps, energies, theta, energy, best_theta, best_e, temps,
                      attempts, accepts, status, nfev, ChainState(aux, auxs))
    if out is not None:
        _write_h5md(out, overwrite, landscape, m, res, seed=seed, n_steps=done,
                    burn_in=burn_in, thin=thin, stream_offset=stream_offset, schedule=schedule,
                    lr_schedule=lr_schedule)
    failed = status >= 0
    if np.any(failed):
        step = int(status[failed].min())
        c = int(np.flatnonzero(status == step)[0])
        raise DivergenceError(
            f"non-finite energy at step {step} for chain {c} (method {m.kind}, "
            f"{int(np.sum(failed))} of {C} chain(s) diverged); reduce step_size, see "
            ".partial_result.status",
            step, c, res)
    if loop.interrupted:
        raise Interrupted(f"interrupted after {done} of {n_steps} steps (Ctrl-C); "
                          ".partial_result holds the chains there", done, res)
    return res


def _write_h5md(path: str | os.PathLike[str], overwrite: bool, landscape: DataLandscape,
                m: Method, res: ChainResult, **cfg: object) -> None:
    from ..storage.recording import Recorder
    from ..storage.staged import staged_writer

    C, S, P = res.samples.shape
    sched = {k: (None if cfg[k] is None else cfg[k].to_config())  # type: ignore[union-attr]
             for k in ("schedule", "lr_schedule")}
    params = {
        "sgmcmc": {
            "method": method_to_config(m),
            "landscape": {"name": landscape.name, "n_params": int(P),
                          "n_data": int(landscape.n_data),
                          "batch_size": int(landscape.batch_size)},
            "seed": int(cfg["seed"]),  # type: ignore[arg-type]
            "n_steps": cfg["n_steps"], "burn_in": cfg["burn_in"], "thin": cfg["thin"],
            "n_chains": int(C), "stream_offset": cfg["stream_offset"],
            "temperatures": res.temperatures.tolist(),
            **sched,
        },
        "result": {
            "energy": res.energy.tolist(),
            "status": res.status.tolist(),
            "swap_attempts": res.swap_attempts.tolist(),
            "swap_accepts": res.swap_accepts.tolist(),
            "nfev": int(res.nfev),
        },
    }
    # written complete under a temporary name and renamed over ``path``: a kill or a full
    # disk leaves the previous file (or none) or the complete new one, never a half file
    with staged_writer(path, overwrite=overwrite, n_particles=C, dim=P,
                       particle_group="chains", creator_version=__version__) as w:
        w.write_parameters(params)
        if S:
            rec = Recorder(w, dt=1.0)  # chain "time" is the step number
            # H5MD stores frames time first, (frame, item, ...): transpose the chain-first
            # arrays explicitly
            rec.frames(res.steps, res.samples.transpose(1, 0, 2))
            rec.observables(res.steps, energy=res.energies.T)



class _Stopped:
    """Keeps the chains that diverged in an earlier chunk as the unsplit loop leaves them.

    The compiled loop stops a chain at the step its energy became non-finite and never
    touches it again.  A later chunk starts it anew (from its non-finite state); this
    puts back what that chunk changed: parameters, method state, status, best state
    and the samples and energies kept for it.
    """

    def __init__(self, n_chains: int) -> None:
        self.mask = np.zeros(n_chains, dtype=bool)
        self.rows = np.zeros(0, dtype=np.int64)
        self.saved: list[np.ndarray] = []  # saved rows of the stopped chains

    def update(self, status: np.ndarray, arrays: tuple) -> None:
        """Put back the stopped chains, then remember the ones that stopped in this chunk.

        Parameters
        ----------
        status : numpy.ndarray of int64, shape (C,)
            ``-1`` or the step at which a chain stopped (one of ``arrays``).
        arrays : tuple of numpy.ndarray
            Arrays with the chain as first axis (``theta``, ``aux``, ``status``, ...,
            ``samples``, ``energies``).
        """
        idx = self.rows
        if idx.size:
            for a, v in zip(arrays, self.saved, strict=True):
                a[idx] = v
        new = (status >= 0) & ~self.mask
        if new.any():
            self.mask |= new
            self.rows = idx = np.flatnonzero(self.mask)
            self.saved = [a[idx].copy() for a in arrays]
