"""Body of ``langevin-opt arrhenius CONFIG.toml``: temperature grid, H5MD output, table, figure.

:func:`run_arrhenius` does the work (importable from Python); the click command
in :mod:`langevin_opt.cli` only maps its exceptions to exit codes.

Output directory ``DIR`` (default ``runs/<name>``):

``DIR/first_passage.h5``
    H5MD 1.1 file.  ``particles/walkers/position`` holds the starting positions
    (step 0); per-walker observables, one row at the last step of the run,
    shape ``(1, M)``: ``first_passage_time``, ``first_passage_step``,
    ``censored`` (1/0), ``final_basin`` (-1 if censored), ``start_basin``,
    ``temperature``.  ``/first_passage/position`` (outside the H5MD groups)
    holds the ``(M, d)`` positions at commitment.  ``/parameters`` holds the
    config, the seed, the per-temperature table and the theory.
``DIR/summary.json``
    The same table and fit as JSON.
``DIR/arrhenius.png``
    ``ln k`` against ``1/T`` with intervals, the fit and the theory lines.

The run holds the output's lock (``first_passage.h5.lock``) from the output
check to the last file, so a second run on the same directory is refused
(exit 2).  Each file is written complete under a temporary name, ``fsync``-ed
and renamed over the old one (the H5MD file through
:func:`~langevin_opt.storage.staged_writer`): a kill or a full disk leaves
every file either as it was or complete and new, never half written.

Walker layout: walker ``k * walkers + j`` runs at ``temperatures[k]`` with RNG
stream id ``k * walkers + j``.

A ``[network]`` config (:mod:`langevin_opt.rates.network`) writes the same files:
``position`` is the start minimum (``P`` parameters per walker),
``/first_passage/position`` the polished product (NaN if censored), ``final_basin``
the product's index among the distinct minima (lowest energy first; products not
found by the minimum search get the next indices), ``start_basin`` ``[network]
start``, and the extra observable ``product_energy``.  For ``method = "sgd"`` rows
are ``(learning_rate, batch_size)`` settings (learning rate outer) instead of
temperatures: the observables ``learning_rate`` and ``batch_size`` are added,
``temperature`` is NaN, the table and summary rows carry ``learning_rate`` and
``batch_size``, there is no Arrhenius fit, and the figure is the rate against the
batch size, one curve per learning rate.  Times are ``eta * steps`` (Langevin) or
``learning_rate * steps`` (SGD); the H5MD time of the observables row is
``max_steps * eta`` for Langevin and ``max_steps`` for SGD.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..plotting.arrhenius import arrhenius_plot
from ..runner import prepare_output
from ..sampling import BAOAB
from ..storage import OutputLock, StorageFullError, staged_writer
from ..storage._safe import is_full_error, write_atomic
from .arrhenius import arrhenius_fit, bootstrap_arrhenius, curvature_test
from .config import RatesExperiment
from .estimators import estimate_rate
from .first_passage import FirstPassageResult, basins_from_landscape, first_passage

__all__ = ["H5", "SUMMARY", "FIGURE", "ArrheniusReport", "predict", "run_arrhenius",
           "table_lines", "load_first_passage"]

H5 = "first_passage.h5"
SUMMARY = "summary.json"
FIGURE = "arrhenius.png"


@dataclass
class ArrheniusReport:
    """What :func:`run_arrhenius` returns.

    Attributes
    ----------
    summary : dict
        Table rows, fit, curvature test and theory (as written to summary.json).
    result : FirstPassageResult
        Per-walker outcome of the whole grid.
    files : list of Path
        Files written.
    wall_s : float
        Wall time of the simulation (seconds).
    """

    summary: dict
    result: FirstPassageResult
    files: list[Path] = field(default_factory=list)
    wall_s: float = 0.0


def predict(exp: RatesExperiment) -> dict[str, Any]:
    """Saddle search (CI-NEB + dimer) from the start minimum and the rate predictions.

    The saddle with the lowest barrier among the searches from the start
    minimum to every other known minimum is taken.

    Parameters
    ----------
    exp : RatesExperiment
        Validated config.

    Returns
    -------
    dict
        ``saddle`` (coordinates), ``saddle_energy``, ``minimum``, ``barrier``,
        ``negative_modes``, ``converged`` and ``formulas``: name -> ``[k(T) for T]``.
    """
    from .saddles import find_saddle, landscape_function
    from .theory import kramers_overdamped_rate, langer_rate, vineyard_rate

    land = exp.landscape()
    integ = exp.integrator()
    th = exp.config["theory"]
    f = landscape_function(land)
    s = exp.config["rates"]["start"]
    best = None
    for j in range(land.minima.shape[0]):
        if j == s:
            continue
        r = find_saddle(f, land.minima[s], land.minima[j], n_images=th["n_images"],
                        fmax=th["fmax"])
        if r.saddle.n_negative == 1 and (best is None or r.barrier < best.barrier):
            best = r
    if best is None:
        return {"converged": False, "formulas": {}}
    temps = np.asarray(exp.config["rates"]["temperatures"])
    if isinstance(integ, BAOAB):
        formulas = {
            "Kramers-Langer": langer_rate(best.minimum, best.saddle, temps,
                                          friction=integ.friction, mass=integ.mass),
            "harmonic TST": vineyard_rate(best.minimum, best.saddle, temps, mass=integ.mass),
        }
    else:
        formulas = {"Eyring-Kramers": kramers_overdamped_rate(best.minimum, best.saddle, temps)}
        exact = _exact_1d(exp)
        if exact is not None:
            formulas["exact 1-D MFPT"] = exact(temps)
    return {
        "minimum": best.minimum.x.tolist(),
        "minimum_energy": best.minimum.energy,
        "saddle": best.saddle.x.tolist(),
        "saddle_energy": best.saddle.energy,
        "barrier": best.barrier,
        "saddle_eigenvalues": best.saddle.eigenvalues.tolist(),
        "minimum_eigenvalues": best.minimum.eigenvalues.tolist(),
        "negative_modes": best.saddle.n_negative,
        "converged": best.ok,
        "formulas": {k: np.atleast_1d(v).tolist() for k, v in formulas.items()},
    }


def _exact_1d(exp: RatesExperiment) -> Callable[[np.ndarray], np.ndarray] | None:
    """``1/τ(T)`` from the exact double integral (1-D overdamped landscapes only).

    The clock stops where a walker first enters a region of another basin: the
    nearest edge of those balls on the far side of the saddle.
    """
    from .theory import mfpt_1d_exact

    land = exp.landscape()
    if land.dim != 1 or isinstance(exp.integrator(), BAOAB):
        return None
    rc = exp.config["rates"]
    basins = basins_from_landscape(land, rc["basin_radius"], fraction=rc["basin_fraction"])
    s = rc["start"]
    x0 = float(basins.centers[s, 0])
    c = basins.centers[:, 0]
    r = basins.radii
    right = [c[j] - r[j] for j in range(basins.n) if j != s and c[j] > x0]
    left = [c[j] + r[j] for j in range(basins.n) if j != s and c[j] < x0]
    if left and right:
        return None  # two absorbing ends: not the one-sided formula
    if right:
        b = min(right)

        def u(x: np.ndarray) -> np.ndarray:
            return land.energy(np.asarray(x)[:, None])

        start, end = x0, b
    else:
        b = max(left)

        def u(x: np.ndarray) -> np.ndarray:  # mirrored: absorbing on the right again
            return land.energy(-np.asarray(x)[:, None])

        start, end = -x0, -b

    def rate(t: np.ndarray) -> np.ndarray:
        return np.array([1.0 / mfpt_1d_exact(u, start, end, float(ti))
                         for ti in np.atleast_1d(t)])

    return rate


def _theory_fn(info: dict, name: str, exp: RatesExperiment) -> Callable[[np.ndarray], np.ndarray]:
    from .theory import HarmonicPoint, kramers_overdamped_rate, langer_rate, vineyard_rate

    mn = HarmonicPoint(np.asarray(info["minimum"]), info["minimum_energy"],
                       np.asarray(info["minimum_eigenvalues"]), 0, 0)
    sd = HarmonicPoint(np.asarray(info["saddle"]), info["saddle_energy"],
                       np.asarray(info["saddle_eigenvalues"]), 1, 0)
    integ = exp.integrator()
    if name == "exact 1-D MFPT":
        return _exact_1d(exp)
    if name == "Kramers-Langer":
        return lambda t: langer_rate(mn, sd, t, friction=integ.friction, mass=integ.mass)
    if name == "harmonic TST":
        return lambda t: vineyard_rate(mn, sd, t, mass=integ.mass)
    return lambda t: kramers_overdamped_rate(mn, sd, t)


def run_arrhenius(exp: RatesExperiment, out_dir: Path, *, overwrite: bool = False,
                  threads: int | None = None,
                  progress: Callable[[int, int, int], None] | None = None) -> ArrheniusReport:
    """Run the temperature grid of an ``arrhenius`` config and write all outputs.

    Parameters
    ----------
    exp : RatesExperiment
        Validated config.
    out_dir : Path
        Output directory.
    overwrite : bool
        Replace an existing result.
    threads : int, optional
        Numba threads.
    progress : callable, optional
        ``progress(step, max_steps, n_running)`` after every chunk.

    Returns
    -------
    ArrheniusReport

    Raises
    ------
    OutputError
        Unusable output directory.
    FloatingPointError
        A walker diverged (reduce dt).
    """
    system = None
    if exp.is_network:  # minima first: a start beyond them is a ConfigError, nothing written
        from .network import network_system

        system = network_system(exp, threads=threads)
    prepare_output(out_dir, overwrite=overwrite, target=H5, resumable=False)
    # One writer per output: the lock is held from here until every file is written, and
    # the output is checked again under it (another run may have written it meanwhile).
    lock = OutputLock(out_dir / H5)
    try:
        prepare_output(out_dir, overwrite=overwrite, target=H5, resumable=False)
        return _run_locked(exp, out_dir, lock, threads, progress, system)
    finally:
        lock.release()


def _run_locked(exp: RatesExperiment, out_dir: Path, lock: OutputLock, threads: int | None,
                progress: Callable[[int, int, int], None] | None,
                system: Any = None) -> ArrheniusReport:
    """:func:`run_arrhenius` under the output's lock."""
    from ..storage.recording import Recorder

    cfg = exp.config
    rc = cfg["rates"]
    sgd = exp.is_network and exp.method == "sgd"
    temps = np.asarray([] if sgd else rc["temperatures"], dtype=np.float64)
    n_w = rc["walkers"]
    n_t = exp.n_rows()
    m = n_w * n_t
    limits = np.repeat(np.asarray(exp.max_steps(), dtype=np.int64), n_w)
    total = int(limits.max())
    cb = None if progress is None else (lambda step, running: progress(step, total, running))
    t0 = time.perf_counter()
    extra: dict[str, Any] = {}
    if exp.is_network:
        from .network import run_network_first_passage

        res, extra = run_network_first_passage(exp, system, threads=threads, progress=cb)
        x0 = np.tile(system.minima[system.start], (m, 1))
        n_basins = len(extra["minima_energies"])
        where = {"start_energy": extra["start_energy"], "start": system.start,
                 "minima_energies": extra["minima_energies"],
                 "minima_counts": system.counts.tolist(),
                 "quench_step_size": extra["quench_step_size"],
                 "n_polished": extra["n_polished"], "n_images": extra["n_images"],
                 "n_params": int(system.net.n_params), "layer_sizes": exp.layer_sizes()}
        if sgd:
            where["settings"] = [list(st) for st in exp.settings()]
        else:
            where["step_size"] = extra["step_size"]
    elif exp.is_cluster:
        from .clusters import run_cluster_first_passage

        res, start, classes = run_cluster_first_passage(exp, threads=threads, progress=cb)
        x0 = np.tile(start.ravel(), (m, 1))
        n_basins = len(classes) + 1
        from ..particles import ParticleSystem, compute_forces

        e_start = compute_forces(ParticleSystem(start), exp.cluster()[1]).energy
        where: dict[str, Any] = {"start_energy": e_start, "product_energies": classes.tolist()}
    else:
        integ = exp.integrator()
        land = exp.landscape()
        basins = basins_from_landscape(land, rc["basin_radius"], fraction=rc["basin_fraction"])
        x0 = np.tile(land.minima[rc["start"]], (m, 1))
        t_walker = np.repeat(temps, n_w)
        res = first_passage(land, integ, x0, basins, temperature=t_walker, max_steps=limits,
                            seed=exp.seed, start_basin=rc["start"], chunk=rc["chunk"],
                            threads=threads, progress=cb)
        n_basins = basins.n
        where = {"basin_radii": basins.radii.tolist()}
    wall = time.perf_counter() - t0

    rows = []
    times, cens = [], []
    labels = ([{"learning_rate": lr, "batch_size": b} for lr, b in exp.settings()] if sgd
              else [{"temperature": float(t)} for t in temps])
    for k, label in enumerate(labels):
        sl = slice(k * n_w, (k + 1) * n_w)
        tt, cc = res.times[sl], res.censored[sl]
        times.append(tt)
        cens.append(cc)
        est = estimate_rate(tt, cc, level=rc["level"], seed=exp.seed % 2**32 + k)
        basins_hit = np.bincount(res.final_basin[sl][~cc], minlength=n_basins).tolist()
        rows.append({**label, **est, "final_basins": basins_hit,
                     "max_steps": int(limits[k * n_w])})
    summary: dict[str, Any] = {"name": exp.name, "walkers": n_w, "temperatures": temps.tolist(),
                               "rows": rows, "walker_steps": res.walker_steps,
                               "wall_s": wall, **where}
    if exp.is_network:
        summary["method"] = exp.method
    n_ev = np.array([r["events"] for r in rows])
    if not sgd and (n_ev > 0).sum() >= 2:
        k_arr = np.array([r["rate"] for r in rows])
        if rc["bootstrap"] > 0:
            fit = bootstrap_arrhenius(temps, times, cens, n_boot=rc["bootstrap"],
                                      level=rc["level"], seed=exp.seed % 2**32)
        else:
            fit = arrhenius_fit(temps, k_arr, n_ev, level=rc["level"])
        summary["fit"] = {"barrier": fit.barrier, "barrier_ci": list(fit.barrier_ci),
                          "log_prefactor": fit.log_prefactor,
                          "log_prefactor_ci": list(fit.log_prefactor_ci),
                          "chi2": fit.chi2, "dof": fit.dof, "method": fit.method}
        if (n_ev > 0).sum() >= 3:
            ct = curvature_test(temps, k_arr, n_ev)
            summary["curvature"] = {"z": ct.z, "p_value": ct.p_value, "curved": ct.curved,
                                    "chi2_line": ct.chi2_line, "p_line": ct.p_line}
    else:
        fit = None
    theory: dict[str, Any] = {}
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    if cfg["theory"]["enabled"]:
        if exp.is_network:
            from .network import predict_network

            theory, fns = predict_network(exp, system)
        elif exp.is_cluster:
            from .clusters import predict_cluster

            theory = predict_cluster(exp, res, start, classes)
        else:
            theory = predict(exp)
        summary["theory"] = theory
        for name, vals in theory.get("formulas", {}).items():
            for r, v in zip(rows, vals, strict=True):
                r[f"theory_{name}"] = v
                r[f"ratio_{name}"] = r["rate"] / v if v > 0 else math.nan

    # Every file is written complete under a temporary name, fsync-ed and renamed over the
    # old one: a kill or a full disk leaves each file old and complete or new and complete.
    files: list[Path] = []
    comp = None if cfg["output"]["compression"] == "none" else cfg["output"]["compression"]
    h5 = out_dir / H5

    def add_positions(fh: Any) -> None:
        grp = fh.require_group("first_passage")
        grp.create_dataset("position", data=res.positions)
        grp.attrs["description"] = "positions at commitment (or at the step limit), (M, d)"

    with staged_writer(h5, overwrite=True, lock=lock, finish=add_positions, n_particles=m,
                       dim=x0.shape[1], particle_group="walkers", creator_version=__version__,
                       compression=comp) as w:
        rec = Recorder(w, dt=res.dt)
        rec.frames([0], x0[None])
        last = int(limits.max())
        obs = {"first_passage_time": res.times, "first_passage_step": res.steps,
               "censored": res.censored.astype(np.int64), "final_basin": res.final_basin,
               "start_basin": res.start_basin, "temperature": res.temperatures}
        for key in ("learning_rate", "batch_size", "product_energy"):
            if key in extra:
                obs[key] = extra[key]
        rec.observables([last], **{k: v[None] for k, v in obs.items()})
        w.write_parameters({"config": cfg, "seed": exp.seed, "kind": "arrhenius",
                            "summary": json.loads(json.dumps(summary, default=_json_default))})
    files.append(h5)
    _publish(out_dir / SUMMARY,
             (json.dumps(summary, indent=2, default=_json_default) + "\n").encode())
    files.append(out_dir / SUMMARY)
    if cfg["output"]["plot"]:
        import io

        from ..plotting._base import plt

        ci = np.array([[r["rate_low"], r["rate_high"]] for r in rows])
        if exp.is_cluster:
            from .clusters import cluster_theory_fn

            fns = {name: cluster_theory_fn(theory, name) for name in theory.get("formulas", {})}
        elif not exp.is_network:
            fns = {name: _theory_fn(theory, name, exp) for name in theory.get("formulas", {})}
        title = f"{exp.name}: {exp.system_name}, {exp.method}"
        if sgd:
            from ..plotting.arrhenius import sgd_rate_plot

            fig = sgd_rate_plot(None, [r["learning_rate"] for r in rows],
                                [r["batch_size"] for r in rows], [r["rate"] for r in rows],
                                ci, title=title)
        else:
            fig = arrhenius_plot(None, temps, [r["rate"] for r in rows], ci, fit=fit,
                                 theory=fns, title=title)
        png = io.BytesIO()
        try:
            fig.savefig(png, format="png", dpi=120)
        finally:
            plt().close(fig)
        _publish(out_dir / FIGURE, png.getbuffer())
        files.append(out_dir / FIGURE)
    else:
        (out_dir / FIGURE).unlink(missing_ok=True)  # the old run's figure would not match
    return ArrheniusReport(summary, res, files, wall)


def _publish(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` as ``path`` atomically (temporary name, fsync, rename)."""
    try:
        write_atomic(str(path), data)
    except OSError as err:
        if not is_full_error(err):
            raise
        raise StorageFullError(f"{path}: {err.strerror or 'no space left'} while writing it "
                               "(the previous file, if any, is unchanged)", err=err.errno,
                               last_safe_step=None) from None


def _json_default(o: object) -> object:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _g(v: float, spec: str = ".4g") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def table_lines(summary: dict) -> list[str]:
    """The printed table: T, events, censored, k with CI, theory, ratio; then fit and theory.

    Rows of an SGD grid start with the learning rate and the batch size instead of ``T``.

    Parameters
    ----------
    summary : dict
        ``ArrheniusReport.summary``.

    Returns
    -------
    list of str
    """
    theory = summary.get("theory", {})
    names = list(theory.get("formulas", {}))
    sgd = bool(summary["rows"]) and "learning_rate" in summary["rows"][0]
    first = f"{'lr':>9} {'batch':>6}" if sgd else f"{'T':>9}"
    head = f"{first} {'events':>7} {'censored':>8} {'k':>11} {'CI':>25} {'MFPT':>11}"
    # each theory: a rate column headed by its name and a ratio column headed k/<name>
    widths = {n: (max(16, len(n)), max(9, len(n) + 2)) for n in names}
    for n in names:
        head += f" {n:>{widths[n][0]}} {'k/' + n:>{widths[n][1]}}"
    lines = [head]
    for r in summary["rows"]:
        ci = f"[{_g(r['rate_low'])}, {_g(r['rate_high'])}]"
        mf = _g(r["mfpt"]) + ("*" if r["mfpt_restricted"] else "")
        first = (f"{r['learning_rate']:>9.4g} {r['batch_size']:>6d}" if sgd
                 else f"{r['temperature']:>9.4g}")
        line = (f"{first} {r['events']:>7d} {r['censored']:>8d} "
                f"{_g(r['rate']):>11} {ci:>25} {mf:>11}")
        for n in names:
            line += (f" {_g(r[f'theory_{n}']):>{widths[n][0]}} "
                     f"{_g(r[f'ratio_{n}'], '.3f'):>{widths[n][1]}}")
        if r.get("non_exponential"):
            line += f"  non-exponential (p={r['gof_p']:.2g})"
        lines.append(line)
    if names:
        lines.append("theory columns: the rate predicted by " + ", ".join(names)
                     + ("; the exact 1-D MFPT column is 1/tau" if "exact 1-D MFPT" in names
                        else "") + "; k/<name>: the measured k over that prediction")
    if any(r["mfpt_restricted"] for r in summary["rows"]):
        lines.append("* restricted mean (censored walkers): a lower bound")
    fit = summary.get("fit")
    if fit:
        lo, hi = fit["barrier_ci"]
        lines.append(f"Arrhenius fit ({fit['method']}): barrier {fit['barrier']:.5g} "
                     f"[{lo:.5g}, {hi:.5g}], ln A {fit['log_prefactor']:.4g} "
                     f"[{fit['log_prefactor_ci'][0]:.4g}, {fit['log_prefactor_ci'][1]:.4g}]")
    cur = summary.get("curvature")
    if cur:
        verdict = "curved (non-Arrhenius)" if cur["curved"] else "no significant curvature"
        lines.append(f"curvature test: z = {cur['z']:.2f}, p = {cur['p_value']:.3g}: {verdict}")
    for ch in theory.get("channels", []):
        ok = "" if ch["converged"] and ch["negative_modes"] == 1 else " (NOT converged)"
        lines.append(f"channel to E = {ch['product_energy']:.6g}: saddle energy "
                     f"{ch['saddle_energy']:.6g}, barrier {ch['barrier']:.6g}, "
                     f"{ch['equivalent_saddles']} equivalent saddles{ok}")
    if theory.get("saddle") is not None:
        lines.append(_saddle_line(theory))
    return lines


def _saddle_line(theory: dict) -> str:
    """``saddle point at x = (...): energy E, barrier B`` (long coordinates shortened)."""
    x = [float(v) for v in np.ravel(theory["saddle"])]
    sx = ", ".join(f"{v:.6g}" for v in x[:4])
    if len(x) > 4:
        sx += f", ... ({len(x)} coordinates)"
    ok = "" if theory.get("converged") else " (NOT converged)"
    return (f"saddle point (CI-NEB + dimer search) at x = ({sx}): energy "
            f"{theory['saddle_energy']:.6g}, barrier {theory['barrier']:.6g}{ok}")


def load_first_passage(path: str | Path) -> dict[str, Any]:
    """Read the per-walker results of an ``arrhenius`` run back from its H5MD file.

    Parameters
    ----------
    path : str or Path
        ``DIR/first_passage.h5``.

    Returns
    -------
    dict
        ``times, steps, censored (bool), final_basin, start_basin, temperature``
        (shape ``(M,)`` each), ``positions`` (``(M, d)``, at commitment),
        ``start`` (``(M, d)``, step 0), ``config`` and ``summary`` (dicts).
    """
    import h5py

    from ..storage import H5MDReader

    out: dict[str, Any] = {}
    with H5MDReader(path) as r:
        for key, name in (("times", "first_passage_time"), ("steps", "first_passage_step"),
                          ("censored", "censored"), ("final_basin", "final_basin"),
                          ("start_basin", "start_basin"), ("temperature", "temperature")):
            out[key] = r.observable(name)[2][-1]
        out["start"] = r.position(0)
        params = r.parameters
    out["steps"] = out["steps"].astype(np.int64)
    out["final_basin"] = out["final_basin"].astype(np.int64)
    out["start_basin"] = out["start_basin"].astype(np.int64)
    out["censored"] = out["censored"].astype(bool)
    with h5py.File(path, "r") as fh:
        out["positions"] = fh["first_passage/position"][()]
    out["config"] = params.get("config", {})
    out["summary"] = params.get("summary", {})
    return out
