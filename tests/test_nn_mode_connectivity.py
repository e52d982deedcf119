"""experiments/nn_mode_connectivity.py: per-pair barriers equal direct calls, JSON self-describing."""

from __future__ import annotations

import importlib.util
import json
import os
from itertools import combinations

import numpy as np
import pytest

from langevin_opt import nn
from langevin_opt.nn.paths import energy_function

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def mc():
    spec = importlib.util.spec_from_file_location(
        "nn_mode_connectivity", os.path.join(ROOT, "experiments", "nn_mode_connectivity.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_width_four_pairs_equal_direct_calls(mc):
    r = mc.run_width(4, n_minima=4)
    ds = nn.two_moons(40, 0, noise=0.3, seed=2)
    net = nn.MLP([2, 4, 2], "tanh", "softmax_ce")
    ls = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=40, prior_sigma=2.0)
    m = nn.network_minima(ls, net, 4, seed=1, init_gain=2.0, descent_steps=100)
    np.testing.assert_array_equal(r["energies"], m.energy)
    assert r["n_params"] == 22 and r["n_data"] == 40 and all(r["is_minimum"])
    assert [(p["lower"], p["higher"]) for p in r["pairs"]] == [
        (i, j) if m.energy[i] <= m.energy[j] else (j, i) for i, j in combinations(range(4), 2)]
    distinct = [p for p in r["pairs"] if not p["same_minimum"]]
    assert distinct, "width 4 has two classes of minima: some pair must be distinct"
    for p in r["pairs"]:
        assert p["energy_lower"] <= p["energy_higher"]
        assert (p["aligned_distance"] < mc.SAME_TOL) == p["same_minimum"]
    f = energy_function(ls)
    p = distinct[0]
    con = nn.connect(ls, net, m.theta[p["lower"]], m.theta[p["higher"]], **mc.PATH_OPTIONS)
    assert p["neb_barrier"] == pytest.approx(con.path.barrier_forward, rel=1e-9)
    line = [f((1 - s) * con.theta_a + s * con.theta_b)[0] for s in np.linspace(0, 1, 41)]
    top = max(f(con.theta_a)[0], f(con.theta_b)[0])
    assert p["straight_barrier"] == pytest.approx(max(max(line) - top, 0.0), rel=1e-9)
    assert p["straight_barrier"] <= p["straight_barrier_from_lower"]
    assert p["saddle_index"] == 1 and p["ok"] and p["n_maxima"] == 1 and p["full_hessian"]
    assert p["valid"] and not p["retried"]
    st = r["stats"]
    assert st["neb_barrier"]["n"] == len(distinct)
    assert st["neb_barrier"]["median"] == pytest.approx(
        float(np.median([q["neb_barrier"] for q in distinct])))
    assert st["n_same_minimum"] == len(r["pairs"]) - len(distinct) and st["n_invalid"] == 0


def test_main_writes_self_describing_json(mc, tmp_path):
    res = mc.main(str(tmp_path), widths=(2,), n_minima=2, n_data=(40,))
    with open(tmp_path / "results.json") as fh:
        back = json.load(fh)
    assert back["widths"] == [2] and back["n_minima"] == 2 and back["n_data"] == [40]
    for key in ("description", "units", "fields", "path_options"):
        assert back[key]
    row = back["results"][0]
    assert row["width"] == 2 and row["n_data"] == 40 and len(row["pairs"]) == 1
    assert res["widths"] == [2]
