"""Energy + forces of a Behler–Parrinello network on bulk copper: langevin_opt vs PyTorch.

The model (that of ``experiments/mlip_cu_emt.py``): one species (Cu), cutoff 5 Å, cosine
cutoff function, 8 radial G2 (shifted, 2–5 Å) and 12 angular G4 (eta 0.005 and 0.02 Å⁻²,
zeta 1, 2, 4, lambda ±1), a tanh network (20, 16, 16, 1) with ``seed=0`` weights, the
feature standardisation fitted on the benchmark's own structure and a reference energy
``e0 = -3.5 eV``.  Structures: fcc Cu, a = 3.59 Å, cubic cells 4x4x4 (N = 256, box
14.36 Å) and 10x10x10 (N = 4,000), every atom displaced by a Gaussian of 0.05 Å per
component (seeded) so that no two environments are exactly alike.

Contenders (the same function: the benchmark checks energies and forces agree to ~1e-10):

* ``ours_1t`` / ``ours_2t``: :meth:`langevin_opt.mlip.BoundPotential.energy_forces`
  (descriptors, network and exact forces by the compiled chain rule, also the virial)
  on 1 / 2 Numba threads (``langevin_opt.core.validation.threads``).
* ``torch_1t``: an idiomatic PyTorch implementation (float64, ``torch.set_num_threads(1)``):
  pair vectors with the minimum image from a pair list, the G2 per pair and the G4 per
  triplet vectorised over all pairs / triplets (triplets ``j < k`` of each centre formed
  from the pair list with counts, offsets and ``tril_indices``, as TorchANI does),
  ``index_add_`` onto the atoms, ``nn.functional.linear`` + ``tanh``, forces
  ``-autograd.grad(E, x)``.  It runs in a subprocess of a Python with PyTorch
  (``--torch-python``, default ``$LANGEVIN_OPT_PEER_PYTHON``, else
  ``.venv-bench/bin/python`` from ``make bench-peers``), one timed call per request so
  that it takes its turn in the same interleaved rounds (parent's wall time).

What is timed, and what is cached (the same on both sides): each side builds a Verlet
pair list within ``R_c + 0.5 Å`` once, on the reference structure, untimed (ours: the
bound potential's :class:`~langevin_opt.particles.NeighborList` on its first call;
PyTorch: a chunked brute-force search).  Every timed call then evaluates a *new*
configuration, the reference plus a fresh 0.02 Å Gaussian perturbation (cycling through
``--configs`` of them; no atom moves by half the skin, so neither list is rebuilt, which
the benchmark checks), and includes everything else: the pair vectors and distances of
the listed pairs, dropping the pairs beyond ``R_c``, the descriptors, the network, the
forces (and, ours only, the virial).

Protocol: the first call of each contender (JIT compilation or loading from the kernel
cache for ours, PyTorch's first-call overheads) is reported separately as
``first_call_s``; then one untimed warm-up call each and ``--repeats`` rounds
interleaved round-robin; medians.  ``atoms_per_s = N / median seconds per call``.

Memory: for each contender and size a fresh process warms up on a 13-atom cluster, resets
its peak resident set (``/proc/self/clear_refs``), builds the bound potential / pair
list and runs two energy+forces calls; ``peak_bytes_per_atom`` is the growth of the
peak resident set over the resident set before, divided by N (everything the call
holds, temporaries included).  Linear memory shows as about the same figure at both N.

Threads on a shared machine: every 2-thread parallel region has to wait until both
threads are scheduled, so when other processes keep the cores busy ``scaling_2t`` measures
the machine's load rather than the code (``cpu/wall`` and the load averages are recorded;
``--wait-idle S`` waits up to S seconds for idle cores first).  As a load-independent
figure, ``scaling_2t_amdahl_bound`` is Amdahl's limit ``1 / ((1 - p) + p / 2)`` from the
1-thread CPU-time fraction ``p`` of a call spent in the two descriptor passes (everything
else counted as serial: conservative).

Run:  python benchmarks/bench_mlip.py [--repeats R] [--torch-python PY] [--no-torch]
                                      [--wait-idle S] [--no-memory]
The last line printed is one JSON object with ``atoms_per_s`` (per size and contender),
``vs_torch_1t`` (target >= 2.0; the smaller of the two sizes' ratios, each in
``vs_torch_1t_by_n``), ``scaling_2t`` (target >= 1.8; at N = 4,000) and
``peak_bytes_per_atom`` at both sizes.
"""

from __future__ import annotations

# _common pins the BLAS/OpenMP thread pools, so it must be imported before NumPy
import _common  # isort: skip

import argparse
import gc
import json
import math
import os
import subprocess
import sys
import tempfile

import numba
import numpy as np

from langevin_opt import mlip
from langevin_opt.core.validation import threads as numba_threads

A_CU = 3.59  # Å
CUTOFF = 5.0  # Å
SKIN = 0.5  # Å, Verlet skin of both contenders' pair lists
JITTER = 0.05  # Å, displacement of the reference structure from the lattice
PERTURB = 0.02  # Å, fresh displacement of every timed configuration
E0 = -3.5  # eV, reference energy of Cu (exported to the PyTorch model)
SEED = 20261203
SIZES = {256: 4, 4000: 10}  # N -> cubic cells per edge


# ---------------------------------------------------------------- structures, model
def fcc_copper(cells: int, *, a: float = A_CU, jitter: float = JITTER,
               seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Bulk fcc copper in a periodic cubic box, every atom randomly displaced.

    Parameters
    ----------
    cells : int
        Cubic unit cells per edge (4 atoms each).
    a : float
        Lattice constant (Å).
    jitter : float
        Standard deviation of the Gaussian displacement of each component (Å).
    seed : int
        Seed of the displacements.

    Returns
    -------
    positions : numpy.ndarray of float64, shape (4 cells^3, 3)
        Positions (Å), wrapped into the box.
    box : numpy.ndarray of float64, shape (3,)
        Box edges ``cells * a`` (Å).
    """
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(cells)] * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    x = ((g + basis) * a).reshape(-1, 3)
    box = np.full(3, cells * a)
    x = x + np.random.default_rng(seed).normal(0.0, jitter, x.shape)
    return np.mod(x, box), box


def perturbed(x: np.ndarray, k: int, *, scale: float = PERTURB, seed: int = SEED
              ) -> list[np.ndarray]:
    """``k`` configurations ``x + N(0, scale^2)`` (Å), independent displacements each."""
    rng = np.random.default_rng(seed + 1)
    return [x + rng.normal(0.0, scale, x.shape) for _ in range(k)]


def make_model(x: np.ndarray, box: np.ndarray) -> mlip.NeuralPotential:
    """The network of ``experiments/mlip_cu_emt.py``, standardised on ``(x, box)``."""
    sf = mlip.SymmetryFunctions(
        ["Cu"], CUTOFF, mlip.radial_parameters(8, CUTOFF, r_lower=2.0),
        mlip.angular_parameters([0.005, 0.02], [1.0, 2.0, 4.0], [-1.0, 1.0]))
    model = mlip.NeuralPotential(sf, hidden=(16, 16), seed=0, energy_offsets=[E0])
    model.fit_standardization([(x, ["Cu"] * x.shape[0], box)])
    return model


def export_model(model: mlip.NeuralPotential) -> dict[str, np.ndarray]:
    """Everything the PyTorch contender needs to compute the same function.

    Parameters
    ----------
    model : NeuralPotential
        A one-species symmetry-function model with angular rows of kind 4 (G4) only.

    Returns
    -------
    dict of str -> numpy.ndarray
        ``cutoff``; ``radial`` rows ``(eta, R_s)``; the distinct angular etas ``ang_eta``
        and ``(zeta, lambda, 2^(1 - zeta))`` rows ``ang_zl``; ``ang_perm[q] = i_eta(q)
        n_zl + i_zl(q)``, the column of angular feature ``q`` in the (eta, zl) outer
        product; standardisation ``mu``, ``sigma`` (shape ``(D,)``); ``e0``; the layers
        ``W{k}``, ``b{k}`` (``nn.MLP`` / ``torch.nn.Linear`` convention) and ``n_layers``.
    """
    sf = model.descriptor
    if sf.n_species != 1 or not isinstance(sf, mlip.SymmetryFunctions) \
            or sf.cutoff_function != "cosine" or np.any(sf.angular[:, 0] != 4.0):
        raise ValueError("export_model handles one species, cosine cutoff, G2 + G4 only")
    ang = sf._angular
    n_zl = sf._uzl.shape[0]
    out = {"cutoff": np.array(sf.cutoff), "radial": sf.radial.copy(),
           "ang_eta": sf._ueta.copy(), "ang_zl": sf._uzl.copy(),
           "ang_perm": (ang[:, 5] * n_zl + ang[:, 6]).astype(np.int64),
           "mu": model.feature_mean[0].copy(), "sigma": model.feature_std[0].copy(),
           "e0": np.array(model.energy_offsets[0])}
    layers = model.networks[0].unflatten(model.species_params(0))
    for k, (W, b) in enumerate(layers):
        out[f"W{k}"] = W.copy()
        out[f"b{k}"] = b.copy()
    out["n_layers"] = np.array(len(layers))
    return out


def numpy_network_energy(export: dict[str, np.ndarray], G: np.ndarray) -> np.ndarray:
    """Atomic energies from descriptors ``G`` (N, D) with the exported weights (NumPy)."""
    h = (G - export["mu"]) / export["sigma"]
    n = int(export["n_layers"])
    for k in range(n):
        h = h @ export[f"W{k}"].T + export[f"b{k}"]
        if k < n - 1:
            h = np.tanh(h)
    return h[:, 0] + float(export["e0"])


# --------------------------------------------------------------------------- PyTorch
TORCH_SCRIPT = r"""
import json, os, sys, time
import numpy as np
import torch

torch.set_num_threads(1)
cfg = json.loads(sys.argv[1])
z = np.load(cfg["data"])
dt = torch.float64
rc = float(z["cutoff"])
radial = torch.from_numpy(z["radial"])      # (n_r, 2): eta, R_s
ang_eta = torch.from_numpy(z["ang_eta"])    # (n_eta,)
ang_zl = torch.from_numpy(z["ang_zl"])      # (n_zl, 3): zeta, lambda, 2^(1 - zeta)
ang_perm = torch.from_numpy(z["ang_perm"])  # angular feature q -> column of the outer product
mu = torch.from_numpy(z["mu"]); sigma = torch.from_numpy(z["sigma"]); e0 = float(z["e0"])
layers = [(torch.from_numpy(z[f"W{k}"]), torch.from_numpy(z[f"b{k}"]))
          for k in range(int(z["n_layers"]))]


def min_image(d, box):
    return d - box * torch.round(d / box)


def pair_list(x, box, r_list):
    # full Verlet list (both orientations) sorted by centre atom; chunked brute force, no grad
    n = x.shape[0]
    ar = torch.arange(n)
    ii, jj = [], []
    with torch.no_grad():
        for a in range(0, n, 256):
            d = min_image(x[None, :, :] - x[a:a + 256, None, :], box)
            close = ((d * d).sum(-1) < r_list * r_list) & (ar[None, :] > ar[a:a + 256, None])
            i, j = close.nonzero(as_tuple=True)
            ii.append(i + a)
            jj.append(j)
    i = torch.cat(ii); j = torch.cat(jj)
    c = torch.cat([i, j]); nb = torch.cat([j, i])
    order = torch.argsort(c * n + nb)
    return c[order], nb[order], x.detach().clone()


def fc(r):
    return torch.where(r < rc, 0.5 * (torch.cos((torch.pi / rc) * r) + 1.0), torch.zeros_like(r))


def energy(x, box, centre_v, nbr_v):
    n = x.shape[0]
    d = min_image(x[nbr_v] - x[centre_v], box)
    r = d.norm(dim=-1)
    keep = r < rc                             # pairs within the cutoff, still sorted by centre
    centre, d, r = centre_v[keep], d[keep], r[keep]
    f = fc(r)
    g2 = torch.exp(-radial[:, 0] * (r[:, None] - radial[:, 1]) ** 2) * f[:, None]
    G2 = torch.zeros(n, radial.shape[0], dtype=dt).index_add_(0, centre, g2)
    # triplets j < k of each centre (TorchANI-style: counts, offsets, lower-triangle indices)
    counts = torch.bincount(centre, minlength=n)
    offs = torch.cumsum(counts, 0) - counts
    npair = counts * (counts - 1) // 2
    m = int(counts.max())
    tri = torch.tril_indices(m, m, -1)        # (row > col), rows increasing
    cen = torch.repeat_interleave(torch.arange(n), npair)
    local = torch.arange(cen.shape[0]) - torch.repeat_interleave(torch.cumsum(npair, 0) - npair,
                                                                  npair)
    e1 = offs[cen] + tri[1, local]
    e2 = offs[cen] + tri[0, local]
    dij, dik = d[e1], d[e2]
    rij, rik = r[e1], r[e2]
    rjk = (dik - dij).norm(dim=-1)
    cos = ((dij * dik).sum(-1) / (rij * rik)).clamp(-1.0, 1.0)
    A = ang_zl[:, 2] * (1.0 + ang_zl[:, 1] * cos[:, None]) ** ang_zl[:, 0]   # (T, n_zl)
    R = torch.exp(-ang_eta * (rij * rij + rik * rik + rjk * rjk)[:, None])    # (T, n_eta)
    F = f[e1] * f[e2] * fc(rjk)
    g4 = ((R * F[:, None])[:, :, None] * A[:, None, :]).reshape(cen.shape[0], -1)
    G4 = torch.zeros(n, g4.shape[1], dtype=dt).index_add_(0, cen, g4)[:, ang_perm]
    h = (torch.cat([G2, G4], dim=1) - mu) / sigma
    for k, (W, b) in enumerate(layers):
        h = torch.nn.functional.linear(h, W, b)
        if k < len(layers) - 1:
            h = torch.tanh(h)
    return h.sum() + n * e0


def energy_forces(x, box, lists):
    x = x.detach().clone().requires_grad_(True)
    E = energy(x, box, lists[0], lists[1])
    (g,) = torch.autograd.grad(E, x)
    return float(E), -g


def stale(x, box, lists, skin):
    d = min_image(x - lists[2], box)
    return bool(((d * d).sum(-1).max()) > (0.5 * skin) ** 2)


def rss_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])


if cfg["mode"] == "memory":
    z2 = np.load(cfg["warm"])
    wbox = torch.from_numpy(z2["box"]); wx = torch.from_numpy(z2["x"])
    energy_forces(wx, wbox, pair_list(wx, wbox, rc + cfg["skin"]))
    x = torch.from_numpy(z["positions"][0]); box = torch.from_numpy(z["box"])
    del z2, wx
    import gc; gc.collect()
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    r0 = rss_kb("VmRSS:")
    lists = pair_list(x, box, rc + cfg["skin"])
    for _ in range(2):
        energy_forces(x, box, lists)
    print(json.dumps({"peak_kb": rss_kb("VmHWM:") - r0, "after_kb": rss_kb("VmRSS:") - r0}))
    sys.exit(0)

box = torch.from_numpy(z["box"])
ref = torch.from_numpy(z["reference"])
configs = torch.from_numpy(z["positions"])
t0 = time.perf_counter()
lists = pair_list(ref, box, rc + cfg["skin"])
list_s = time.perf_counter() - t0
t0 = time.perf_counter()
energy_forces(configs[0], box, lists)
first = time.perf_counter() - t0
print(json.dumps({"ready": True, "first_call_s": first, "list_s": list_s,
                  "n_list_pairs": int(lists[0].shape[0]) // 2,
                  "torch_version": torch.__version__, "threads": torch.get_num_threads()}),
      flush=True)
k = 0
rebuilds = 0
for line in sys.stdin:  # one timed call per request, so the parent can interleave contenders
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
        break
    if cmd[0] == "dump":  # energy and forces of configuration 0 for the agreement check
        E, F = energy_forces(configs[0], box, lists)
        np.save(cmd[1], F.numpy())
        print(json.dumps({"energy": E}), flush=True)
        continue
    x = configs[k % configs.shape[0]]
    k += 1
    t0 = time.perf_counter()
    if stale(x, box, lists, cfg["skin"]):  # never happens with the benchmark's displacements
        lists = pair_list(x, box, rc + cfg["skin"])
        rebuilds += 1
    E, F = energy_forces(x, box, lists)
    dt_s = time.perf_counter() - t0
    print(json.dumps({"time": dt_s, "energy": E, "rebuilds": rebuilds}), flush=True)
"""


class TorchContender(_common.PeerProcess):
    """The PyTorch model in a subprocess; each call evaluates the next configuration there."""

    def __init__(self, python: str, export: dict, reference: np.ndarray, box: np.ndarray,
                 configs: list[np.ndarray]) -> None:
        super().__init__(python, TORCH_SCRIPT, {"skin": SKIN, "mode": "time"},
                         arrays={**export, "box": box, "reference": reference,
                                 "positions": np.stack(configs)},
                         prefix="lo_bench_mlip_")
        self.inner_times: list[float] = []
        self.rebuilds = 0

    def __call__(self) -> float:
        out = self.ask("run")
        self.inner_times.append(out["time"])
        self.rebuilds = out["rebuilds"]
        return out["energy"]

    def energy_forces_first(self) -> tuple[float, np.ndarray]:
        """Energy and forces of configuration 0 (for the agreement check)."""
        path = os.path.join(self.tmpdir, "forces.npy")
        out = self.ask(f"dump {path}")
        return out["energy"], np.load(path)


# ---------------------------------------------------------------------------- memory
def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def warmup_cluster() -> np.ndarray:
    """A 13-atom cuboctahedral Cu cluster (Å): compiles/loads every kernel, allocates little."""
    d = A_CU / 2
    shell = [(s1 * d, s2 * d, 0.0) for s1 in (-1, 1) for s2 in (-1, 1)]
    shell += [(s1 * d, 0.0, s2 * d) for s1 in (-1, 1) for s2 in (-1, 1)]
    shell += [(0.0, s1 * d, s2 * d) for s1 in (-1, 1) for s2 in (-1, 1)]
    return np.array([(0.0, 0.0, 0.0), *shell]) + 20.0


def memory_child(cells: int) -> None:
    """In a fresh process: peak resident-set growth of binding + two energy+forces calls."""
    wx = warmup_cluster()
    wbox = np.full(3, 40.0)
    model = make_model(wx, wbox)  # standardisation does not change the memory
    with numba_threads(1):
        model.bind(["Cu"] * wx.shape[0], skin=SKIN).energy_forces(wx, wbox)
        x, box = fcc_copper(cells)
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak resident set (VmHWM) to the current one
        r0 = _rss_kb("VmRSS:")
        pot = model.bind(["Cu"] * x.shape[0], skin=SKIN)
        for _ in range(2):
            pot.energy_forces(x, box)
        print(json.dumps({"peak_kb": _rss_kb("VmHWM:") - r0, "after_kb": _rss_kb("VmRSS:") - r0}))


def memory_per_atom(cells: int, torch_python: str | None, export: dict) -> dict:
    """Peak bytes per atom of ours and (if available) PyTorch, each in a fresh process."""
    n = 4 * cells ** 3
    env = dict(os.environ)
    for v in _common.THREAD_ENV_VARS:
        env[v] = "1"
    out = {}
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", str(cells)],
                       capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"memory child failed: {p.stderr[-600:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    out["ours"] = {"peak_bytes_per_atom": 1024 * r["peak_kb"] / n,
                   "after_bytes_per_atom": 1024 * r["after_kb"] / n}
    if torch_python:
        with tempfile.TemporaryDirectory(prefix="lo_bench_mlip_mem_") as tmp:
            x, box = fcc_copper(cells)
            wx, wbox = warmup_cluster(), np.full(3, 40.0)
            path = os.path.join(tmp, "model.npz")
            warm = os.path.join(tmp, "warm.npz")
            np.savez(path, **export, box=box, positions=x[None])
            np.savez(warm, x=wx, box=wbox)
            cfg = {"data": path, "warm": warm, "skin": SKIN, "mode": "memory"}
            p = subprocess.run([torch_python, "-c", TORCH_SCRIPT, json.dumps(cfg)],
                               capture_output=True, text=True, env=env, timeout=900)
        if p.returncode != 0:
            raise RuntimeError(f"PyTorch memory child failed: {p.stderr[-600:]}")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        out["torch"] = {"peak_bytes_per_atom": 1024 * r["peak_kb"] / n,
                        "after_bytes_per_atom": 1024 * r["after_kb"] / n}
    return out


# ------------------------------------------------------------------------------ main
def make_ours(pot: mlip.BoundPotential, configs: list[np.ndarray], box: np.ndarray,
              n_threads: int):
    """Zero-argument callable: energy+forces of the next configuration on ``n_threads``."""
    state = {"k": 0}

    def run() -> tuple[float, np.ndarray]:
        x = configs[state["k"] % len(configs)]
        state["k"] += 1
        with numba_threads(n_threads):
            e, f, _ = pot.energy_forces(x, box)
        return e, f
    return run


def bench_size(n: int, cells: int, args, torch_python: str | None) -> dict:
    """Time the contenders at one size; check agreement; return the record."""
    x0, box = fcc_copper(cells)
    model = make_model(x0, box)
    export = export_model(model)
    configs = perturbed(x0, args.configs)
    species = ["Cu"] * n
    # the export reproduces the model's atomic energies (NumPy network on its descriptors)
    res = model.evaluate(configs[0], species, box)
    G = model.descriptor.compute(configs[0], species, box)
    export_err = float(np.max(np.abs(numpy_network_energy(export, G) - res.atomic_energies)))

    pots = {f"ours_{t}t": model.bind(species, skin=SKIN) for t in (1, 2)}
    first = {}
    for name, pot in pots.items():
        with numba_threads(int(name[-2])):
            first[name], _ = _common.time_once(lambda p=pot: p.energy_forces(x0, box))
    contenders = {name: make_ours(pot, configs, box, int(name[-2]))
                  for name, pot in pots.items()}
    torch_c = None
    torch_error = None
    if torch_python:
        try:
            torch_c = TorchContender(torch_python, export, x0, box, configs)
            contenders["torch_1t"] = torch_c
        except (OSError, RuntimeError) as exc:
            torch_error = str(exc)
    check = {"export_energy_max_abs_err_eV": export_err}
    try:
        if torch_c is not None:
            e_t, f_t = torch_c.energy_forces_first()
            check["energy_rel_err"] = abs(e_t - res.energy) / abs(res.energy)
            check["forces_rel_err"] = float(np.max(np.abs(f_t - res.forces))
                                            / np.max(np.abs(res.forces)))
        timings, results = _common.time_interleaved(contenders, repeats=args.repeats[n],
                                                    warmup=1)
    finally:
        if torch_c is not None:
            torch_c.close()
    # the last timed call of each: the same configuration on 1 and 2 threads
    check["ours_threads_bit_identical"] = bool(
        results["ours_1t"][0] == results["ours_2t"][0]
        and np.array_equal(results["ours_1t"][1], results["ours_2t"][1]))
    check["list_builds"] = {name: pot.neighbor_list.n_builds for name, pot in pots.items()}
    if torch_c is not None:
        check["list_builds"]["torch_1t"] = 1 + torch_c.rebuilds
    aps = {name: n / t.median for name, t in timings.items()}
    # idle-machine limit of the 2-thread speed-up: the two descriptor passes are the only
    # large parallel regions; everything else (neighbour list, network, gather, Python)
    # is counted as serial, so this is a conservative Amdahl bound (CPU times, 1 thread)
    sp = np.zeros(n, dtype=np.int64)
    nb = model.descriptor.neighbors(configs[0], box)
    cot = np.ones((n, model.descriptor.n_features))
    with numba_threads(1):
        par = _common.time_interleaved(
            {"call": lambda: pots["ours_1t"].energy_forces(configs[0], box),
             "passes": lambda: (model.descriptor._pass(nb, sp, False),
                                model.descriptor._pass(nb, sp, True, cot))},
            repeats=5, warmup=1)[0]
    frac = min(1.0, par["passes"].cpu_median / par["call"].cpu_median)
    amdahl = 1.0 / ((1.0 - frac) + frac / 2.0)
    return {
        "n_atoms": n, "box_A": box.tolist(),
        "neighbors_per_atom": float(np.diff(model.descriptor.neighbors(x0, box).start).mean()),
        "atoms_per_s": aps,
        "vs_torch_1t": aps["ours_1t"] / aps["torch_1t"] if "torch_1t" in aps else None,
        "scaling_2t": aps["ours_2t"] / aps["ours_1t"],
        "parallel_fraction_1t": frac, "scaling_2t_amdahl_bound": amdahl,
        "first_call_s": {**first, **({"torch_1t": torch_c.info["first_call_s"]}
                                     if torch_c else {})},
        "torch": None if torch_c is None else {**torch_c.info,
                                               "inner_median_s": float(np.median(
                                                   torch_c.inner_times))},
        "torch_unavailable_reason": torch_error,
        "check": check,
        "timings": {k: {"median_s": t.median, "spread": t.spread,
                        "cpu_median_s": t.cpu_median if k != "torch_1t" else None,
                        "cpu_per_wall": t.cpu_per_wall if k != "torch_1t" else None}
                    for k, t in timings.items()},
        "energy_eV": res.energy,
    }, export


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed rounds per size (default 15 at N = 256, 5 at N = 4,000)")
    ap.add_argument("--configs", type=int, default=8,
                    help="perturbed configurations cycled through by the timed calls")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--torch-python", default=None,
                    help="interpreter with PyTorch (default "
                         f"{_common.DEFAULT_TORCH_PYTHON} if present)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                    help="first wait up to S seconds for other processes to leave the cores "
                         "idle (a shared machine; the outcome is recorded)")
    ap.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child is not None:
        memory_child(args.memory_child)
        return
    args.repeats = {n: args.repeats or (15 if n < 1000 else 5) for n in args.sizes}
    torch_python, torch_error = _common.find_torch_python(args.torch_python,
                                                          disabled=args.no_torch)
    idle = _common.wait_until_idle(args.wait_idle) if args.wait_idle > 0 else None
    load0 = _common.load_average()
    print(f"Behler-Parrinello Cu, 20 features (8 G2 + 12 G4), network 20-16-16-1 tanh, "
          f"R_c = {CUTOFF} Å, skin {SKIN} Å; Numba threads available "
          f"{numba.config.NUMBA_NUM_THREADS}; load {load0}", flush=True)
    if torch_error:
        print(f"torch: unavailable ({torch_error})")
    per_size = {}
    exports = {}
    for n in args.sizes:
        per_size[n], exports[n] = bench_size(n, SIZES[n], args, torch_python)
        r = per_size[n]
        print(f"N = {n}: checks {json.dumps(r['check'])}", flush=True)
    memory = {}
    if not args.no_memory:
        for n in args.sizes:
            memory[n] = memory_per_atom(SIZES[n], torch_python, exports[n])

    rows = []
    for n, r in per_size.items():
        for name, v in r["atoms_per_s"].items():
            t = r["timings"][name]
            cpw = "(child)" if t["cpu_per_wall"] is None else f"{t['cpu_per_wall']:.2f}"
            mem = memory.get(n, {}).get(name.split("_")[0], {}).get("peak_bytes_per_atom")
            rows.append([n, name, f"{1e3 * t['median_s']:.1f}", f"{v:,.0f}",
                         f"{t['spread']:.2f}", cpw,
                         f"{r['first_call_s'].get(name, math.nan):.2f}",
                         "n/a" if mem is None else f"{mem:,.0f}"])
    print(_common.format_table(["N", "contender", "ms/call", "atoms/s", "spread", "cpu/wall",
                                "first call s", "peak B/atom"], rows, "rlrrrrrr"))
    big = max(per_size)
    vs_all = [r["vs_torch_1t"] for r in per_size.values() if r["vs_torch_1t"] is not None]
    head_vs = min(vs_all) if vs_all else None  # the less favourable size
    head_sc = per_size[big]["scaling_2t"]
    for n, r in per_size.items():
        vs = r["vs_torch_1t"]
        print(f"N = {n}: vs PyTorch 1 thread "
              f"{'n/a' if vs is None else f'{vs:.2f}x'} (target >= 2.0), 2 threads "
              f"{r['scaling_2t']:.2f}x 1 thread (target >= 1.8; idle-machine Amdahl bound "
              f"{r['scaling_2t_amdahl_bound']:.2f}); energy/force rel. err vs "
              f"PyTorch {r['check'].get('energy_rel_err', math.nan):.1e} / "
              f"{r['check'].get('forces_rel_err', math.nan):.1e}")
    mem_ratio = {}
    for who in ("ours", "torch"):
        vals = [memory[n][who]["peak_bytes_per_atom"] for n in sorted(memory)
                if who in memory[n]]
        if len(vals) == 2:
            mem_ratio[who] = vals[1] / vals[0]
    if mem_ratio:
        print("peak bytes per atom, N = 4,000 / N = 256: "
              + ", ".join(f"{k} {v:.2f}" for k, v in mem_ratio.items()))
    _common.emit_json({
        "benchmark": "mlip_bp_cu",
        "model": {"features": 20, "radial": 8, "angular_g4": 12, "hidden": [16, 16],
                  "activation": "tanh", "cutoff_A": CUTOFF, "skin_A": SKIN,
                  "cutoff_function": "cosine"},
        "atoms_per_s": {str(n): r["atoms_per_s"] for n, r in per_size.items()},
        "vs_torch_1t": head_vs, "scaling_2t": head_sc, "scaling_2t_n": big,
        "scaling_2t_amdahl_bound": per_size[big]["scaling_2t_amdahl_bound"],
        "vs_torch_1t_by_n": {str(n): r["vs_torch_1t"] for n, r in per_size.items()},
        "scaling_2t_by_n": {str(n): r["scaling_2t"] for n, r in per_size.items()},
        "peak_bytes_per_atom": {str(n): {k: v["peak_bytes_per_atom"] for k, v in m.items()}
                                for n, m in memory.items()},
        "after_call_bytes_per_atom": {str(n): {k: v["after_bytes_per_atom"]
                                               for k, v in m.items()}
                                      for n, m in memory.items()},
        "memory_ratio_4000_256": mem_ratio,
        "targets_met": {"vs_torch_1t>=2.0": None if head_vs is None else head_vs >= 2.0,
                        "scaling_2t>=1.8": head_sc >= 1.8},
        "per_size": {str(n): r for n, r in per_size.items()},
        "idle_wait": idle, "busy_cores_at_end": _common.busy_cores(),
        "load_average_start": load0, "load_average": _common.load_average(),
        "machine": _common.machine_info(),
    })


if __name__ == "__main__":
    sys.exit(main())
