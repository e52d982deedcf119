"""The helpers of benchmarks/bench_mlip.py that its PyTorch agreement check relies on (no torch)."""

import importlib
import itertools
import os
import sys

import numpy as np
import pytest

BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "benchmarks")


@pytest.fixture(scope="module")
def bench():
    env = dict(os.environ)
    sys.path.insert(0, BENCH_DIR)
    try:
        mod = importlib.import_module("bench_mlip")
    finally:
        sys.path.remove(BENCH_DIR)
        os.environ.clear()  # _common pins thread variables on import: leave no trace
        os.environ.update(env)
    return mod


@pytest.mark.parametrize("cells, n, edge", [(4, 256, 14.36), (10, 4000, 35.9)])
def test_fcc_copper_sizes_and_box(bench, cells, n, edge):
    x, box = bench.fcc_copper(cells)
    assert x.shape == (n, 3)
    np.testing.assert_allclose(box, edge)
    assert np.all((x >= 0) & (x < box))
    # displaced lattice: every atom within a few jitters of its site, no two atoms close
    lattice, _ = bench.fcc_copper(cells, jitter=0.0)
    d = (x - lattice + box / 2) % box - box / 2
    assert 0.02 < np.abs(d).std() < 0.08 and np.abs(d).max() < 0.5
    if n <= 256:
        dd = x[:, None] - x[None]
        dd -= box * np.rint(dd / box)
        r = np.sqrt((dd ** 2).sum(-1)) + 10 * np.eye(n)
        assert r.min() > 2.0


def test_perturbed_configurations_stay_within_half_the_skin(bench):
    x, _ = bench.fcc_copper(4)
    configs = bench.perturbed(x, 3)
    assert len(configs) == 3 and not np.array_equal(configs[0], configs[1])
    assert max(np.linalg.norm(c - x, axis=1).max() for c in configs) < bench.SKIN / 2


def _naive_descriptors(export, x):
    """G2 + G4 of a cluster by loops over the exported tables (the PyTorch script's math)."""
    rc = float(export["cutoff"])

    def fc(r):
        return 0.5 * (np.cos(np.pi * r / rc) + 1.0) if r < rc else 0.0

    n = x.shape[0]
    eta = export["ang_eta"]
    zl = export["ang_zl"]
    G = np.zeros((n, export["radial"].shape[0] + export["ang_perm"].shape[0]))
    for i in range(n):
        nbrs = [j for j in range(n) if j != i and np.linalg.norm(x[j] - x[i]) < rc]
        for j in nbrs:
            r = np.linalg.norm(x[j] - x[i])
            G[i, :export["radial"].shape[0]] += np.exp(
                -export["radial"][:, 0] * (r - export["radial"][:, 1]) ** 2) * fc(r)
        for j, k in itertools.combinations(nbrs, 2):
            dij, dik = x[j] - x[i], x[k] - x[i]
            rij, rik, rjk = (np.linalg.norm(v) for v in (dij, dik, dik - dij))
            cos = dij @ dik / (rij * rik)
            A = zl[:, 2] * (1 + zl[:, 1] * cos) ** zl[:, 0]
            R = np.exp(-eta * (rij ** 2 + rik ** 2 + rjk ** 2)) * fc(rij) * fc(rik) * fc(rjk)
            G[i, export["radial"].shape[0]:] += np.outer(R, A).ravel()[export["ang_perm"]]
    return G


def test_exported_model_is_the_same_function(bench):
    x, box = bench.fcc_copper(3)
    model = bench.make_model(x, box)
    export = bench.export_model(model)
    # the network with the exported weights and standardisation on the model's descriptors
    res = model.evaluate(x, ["Cu"] * x.shape[0], box)
    G = model.descriptor.compute(x, ["Cu"] * x.shape[0], box)
    np.testing.assert_allclose(bench.numpy_network_energy(export, G), res.atomic_energies,
                               rtol=0, atol=1e-12)
    # the descriptor tables (eta x (zeta, lambda) grid and its permutation) on a cluster
    cl = bench.warmup_cluster()
    cl = cl + np.random.default_rng(1).normal(0, 0.05, cl.shape)
    np.testing.assert_allclose(_naive_descriptors(export, cl),
                               model.descriptor.compute(cl, ["Cu"] * cl.shape[0]),
                               rtol=1e-11, atol=1e-13)


def test_torch_script_is_valid_python(bench):
    compile(bench.TORCH_SCRIPT, "bench_mlip.TORCH_SCRIPT", "exec")
