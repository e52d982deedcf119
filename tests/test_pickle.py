"""Pickle round trips of every public settings object, landscape, sampler and result type.

joblib/loky, Dask and ``multiprocessing`` ship these to worker processes.  Landscapes
pickle their energy function by import path where they can (built-ins and module-level
user functions: the loading process finds the dispatcher, and the kernels compiled for
it, that it already has), else by value through Numba.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import langevin_opt as lo
from langevin_opt import nn, rates, sgmcmc
from langevin_opt import particles as lp
from langevin_opt.analysis import BinProbabilities, BoltzmannResult, ChiSquareResult, QuadratureGrid
from langevin_opt.storage import REDUCED_UNITS, Box, H5MDUnits, RecoveryReport
from langevin_opt.sweep import SweepPlan, SweepPoint, SweepResult

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


# module-level user landscapes: they pickle by import path (module ``test_pickle``)
@lo.landscape(dim=1, params=[2.0], name="quartic", minima=[[0.0]])
def quartic(X, i, p, G):
    x = X[0, i]
    G[0, i] = 4.0 * p[0] * x**3
    return p[0] * x**4


def _bowl(X, i, p, G):
    x = X[0, i]
    y = X[1, i]
    G[0, i] = 2.0 * x
    G[1, i] = 2.0 * p[0] * y
    return x * x + p[0] * y * y


bowl = lo.landscape(_bowl, dim=2, params=[3.0])


def same(a, b, where="value"):
    """Deep equality of what pickling should preserve (arrays bit for bit)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, lo.Landscape):
        assert a.energy_grad is b.energy_grad, f"{where}: energy_grad"
        for f in dataclasses.fields(a):
            if f.name != "energy_grad":
                same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, tuple) and hasattr(a, "_fields"):
        for f in a._fields:
            same(getattr(a, f), getattr(b, f), f"{where}.{f}")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{k}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]")
    elif hasattr(a, "__dict__") and not callable(a):
        same(vars(a), vars(b), where)
    elif callable(a):
        assert a is b, f"{where}: {a!r} is not {b!r}"
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def round_trip(obj):
    back = pickle.loads(pickle.dumps(obj))
    same(obj, back, type(obj).__name__)
    return back


# ------------------------------------------------------------------ settings objects
def _particle_system():
    x, box = lp.fcc_lattice(2, 0.8)
    return lp.ParticleSystem(x, box=box, species=np.arange(len(x)) % 2)


def _experiment():
    from langevin_opt import schema

    return schema.load_config(REPO / "experiments" / "quickstart.toml")


SETTINGS = {
    "GradientDescent": lambda: lo.GradientDescent(0.1),
    "Overdamped": lambda: lo.Overdamped(0.05),
    "MALA": lambda: lo.MALA(0.01),
    "BAOAB": lambda: lo.BAOAB(0.01, friction=2.0, mass=1.5),
    "ReplicaExchange": lambda: lo.ReplicaExchange([1.0, 2.0, 4.0], swap_every=5),
    "Constant": lo.Constant,
    "Cosine": lambda: lo.Cosine(final=0.1),
    "Geometric": lambda: lo.Geometric(final=0.1),
    "Linear": lambda: lo.Linear(final=0.0),
    "ArraySchedule": lambda: lo.ArraySchedule([1.0, 0.5, 0.25]),
    "VelocityVerlet": lambda: lp.VelocityVerlet(0.005),
    "LangevinBAOAB": lambda: lp.LangevinBAOAB(0.005, friction=2.0),
    "LangevinOverdamped": lambda: lp.LangevinOverdamped(0.001),
    "FIRE": lambda: lp.FIRE(fmax=1e-3),
    "Container": lambda: lp.Container(radius=2.0),
    "LennardJones": lambda: lp.lennard_jones(cutoff=2.5, mode="truncated"),
    "PairPotential": lambda: lp.morse(),
    "BondPotential": lambda: lp.harmonic_bonds([[0, 1]], k=2.0),
    "GaussianBonds": lambda: lp.gaussian_bonds([[0, 1]]),
    "NeighborList": lambda: lp.NeighborList(2.5, skin=0.3),
    "ParticleSystem": _particle_system,
    "SGD": lambda: sgmcmc.SGD(step_size=1e-3),
    "SGLD": lambda: sgmcmc.SGLD(step_size=1e-3),
    "PSGLD": lambda: sgmcmc.PSGLD(step_size=1e-3),
    "SGHMC": lambda: sgmcmc.SGHMC(step_size=1e-3),
    "CyclicalSGLD": lambda: sgmcmc.CyclicalSGLD(step_size=1e-3),
    "ReplicaExchangeSGLD": lambda: sgmcmc.ReplicaExchangeSGLD(temperatures=(1.0, 2.0)),
    "EntropySGD": lambda: sgmcmc.EntropySGD(),
    "Optimizer": lambda: sgmcmc.Optimizer("sgld", lr=1e-3, seed=0),
    "Basins": lambda: rates.basins_from_landscape(lo.double_well()),
    "MLP": lambda: nn.MLP([2, 4, 2], "tanh", "softmax_ce"),
    "Dataset": lambda: nn.two_moons(40, 10, noise=0.1, seed=0),
    "Experiment": _experiment,
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_settings_round_trip(name):
    obj = SETTINGS[name]()
    assert type(obj).__name__ == name
    round_trip(obj)


# ----------------------------------------------------------------------- landscapes
@pytest.mark.parametrize("name", sorted(lo.LANDSCAPES))
def test_builtin_landscapes_round_trip_by_import_path(name):
    land = lo.make_landscape(name)
    data = pickle.dumps(land)
    assert land.energy_grad.py_func.__code__.co_code not in data  # a name, not the code
    round_trip(land)


@pytest.mark.parametrize("make", [
    lambda: sgmcmc.linear_regression(*sgmcmc.make_linear_data(50, np.ones(3), seed=0)),
    lambda: sgmcmc.logistic_regression(*sgmcmc.make_logistic_data(50, np.ones(3), seed=0),
                                       batch_size=10),
    lambda: nn.mlp_landscape(nn.MLP([2, 3, 2], "tanh", "softmax_ce"),
                             nn.two_moons(40, 10, seed=0).X_train,
                             nn.two_moons(40, 10, seed=0).y_train, batch_size=10),
    lambda: nn.mlp_landscape(nn.MLP([2, 3, 2], "tanh", "softmax_ce"),
                             nn.two_moons(40, 10, seed=0).X_train,
                             nn.two_moons(40, 10, seed=0).y_train, batch_size=10,
                             dtype="float32"),
], ids=["linear_regression", "logistic_regression", "mlp_landscape", "mlp_landscape_f32"])
def test_data_landscapes_round_trip(make):
    land = make()
    data = pickle.dumps(land)
    for fn in (land.energy_grad, land.full_energy_grad):  # module-level: by name
        assert fn.py_func.__code__.co_code not in data
    back = pickle.loads(data)
    for f in dataclasses.fields(land):
        same(getattr(land, f.name), getattr(back, f.name), f.name)


def test_user_landscapes_by_import_path_and_by_value(tmp_path):
    for land in (quartic, bowl):
        assert pickle.dumps(land).count(land.energy_grad.py_func.__code__.co_code) == 0
        assert round_trip(land).energy_grad is land.energy_grad
    lam = lo.landscape(lambda X, i, p, G: 0.5 * X[0, i] ** 2, dim=1, name="lam")
    assert round_trip(lam).energy_grad is lam.energy_grad  # Numba's by-value pickle
    # a fresh process imports this module for the by-path ones and rebuilds the lambda
    files = {"quartic": quartic, "bowl": bowl, "lam": lam}
    for k, v in files.items():
        (tmp_path / f"{k}.pkl").write_bytes(pickle.dumps(v))
    child = textwrap.dedent(f"""
        import pickle, sys
        import numpy as np
        import test_pickle as mod
        d = {str(tmp_path)!r}
        q = pickle.load(open(d + "/quartic.pkl", "rb"))
        b = pickle.load(open(d + "/bowl.pkl", "rb"))
        lam = pickle.load(open(d + "/lam.pkl", "rb"))
        assert q.energy_grad is mod.quartic.energy_grad, "quartic not by path"
        assert b.energy_grad is mod.bowl.energy_grad, "bowl not by path"
        assert q.settings == {{}} and q.name == "quartic" and q.params.tolist() == [2.0]
        assert lam.energy([[2.0]]).tolist() == [2.0], lam.energy([[2.0]])
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), str(HERE), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_landscape_that_cannot_be_pickled_says_why():
    lock = threading.Lock()  # a closure over an object that cannot be pickled

    def locked(X, i, p, G):
        if lock is None:
            return 1.0
        G[0, i] = 0.0
        return 0.0

    land = lo.landscape(locked, dim=1)
    with pytest.raises(pickle.PicklingError, match=(
            r"^landscape 'locked' cannot be pickled: its energy function "
            r"test_pickle\.test_landscape_that_cannot_be_pickled_says_why\.<locals>\.locked is "
            r"not importable by name and Numba could not pickle it by value \(TypeError: "
            r".*\); define it with def at module level of an importable module$")):
        pickle.dumps(land)


# --------------------------------------------------------------------------- Sampler
@pytest.mark.parametrize("make", [
    lambda: lo.Sampler(lo.double_well(), lo.GradientDescent(0.01), seed=1),
    lambda: lo.Sampler(quartic, lo.BAOAB(0.01, friction=0.5), temperature=np.array([0.5, 1.0]),
                       schedule=lo.Linear(final=0.5), seed=2**64 - 1, stream_offset=3,
                       total_steps=50),
    lambda: lo.Sampler(lo.muller_brown(), lo.MALA(1e-4), seed=0,
                       replica_exchange=lo.ReplicaExchange([10.0, 20.0], swap_every=5)),
], ids=["gd", "baoab-schedule", "replica-exchange"])
def test_sampler_round_trip(make):
    s = make()
    back = pickle.loads(pickle.dumps(s))
    assert type(back) is lo.Sampler and back.to_config() == s.to_config()
    same(back.landscape, s.landscape)
    for f in ("integrator", "temperature", "schedule", "replica_exchange", "seed",
              "stream_offset", "total_steps", "backend"):
        same(getattr(back, f), getattr(s, f), f)


def test_unpickled_sampler_runs_bit_identically():
    s = lo.Sampler(lo.double_well(), lo.GradientDescent(0.01), seed=1)
    x0 = np.linspace(-1.5, 1.5, 5)[:, None]
    a = s.run(s.init(x0), 40, record_every=10)
    back = pickle.loads(pickle.dumps(s))
    b = back.run(back.init(x0), 40, record_every=10)
    same(a, b)
    round_trip(a)  # a real RunResult too


# --------------------------------------------------------------------------- results
def _arr(k, shape=(2, 3), dtype=np.float64):
    return (np.arange(np.prod(shape)).reshape(shape) + k).astype(dtype)


def _ensemble_state():
    return lo.EnsembleState(_arr(0), None, _arr(1, (2,)), 7, _arr(2, (2,), np.int64),
                            _arr(3, (1, 2), np.int64), _arr(4, (1,), np.int64),
                            _arr(5, (1,), np.int64))


def _trajectory():
    return lo.Trajectory(np.array([0, 5], dtype=np.int64), _arr(0, (2, 2, 3)), _arr(1, (2, 2)))


def _md_record():
    return lp.MDRecord(np.array([10, 20]), *(_arr(k, (2,)) for k in range(7)))


def _particle_state():
    return lp.ParticleState(_arr(0, (4, 3)), _arr(1, (4, 3)), _arr(2, (4, 3)), -3.5, 0.25, 40)


def _chain_state():
    return sgmcmc.ChainState(_arr(0, (2, 3)), _arr(1, (2, 4)))


def _grid():
    dw = lo.double_well()
    return QuadratureGrid(dw, dw.bounds, (np.linspace(-2, 2, 5),), (np.full(5, 0.8),),
                          _arr(0, (5,)), np.zeros(5, dtype=np.int64), dw.minima, 2, 3)


def _harmonic_point():
    return rates.HarmonicPoint(np.zeros(2), -1.0, np.array([1.0, 2.0]), 0, 0)


def _neb():
    return rates.NEBResult(_arr(0, (5, 2)), _arr(1, (5,)), np.zeros(2), 0.5, 1e-4, 1e-3, 40,
                           True)


def _dimer():
    return rates.DimerResult(np.zeros(2), 0.5, 1e-5, -2.0, np.array([1.0, 0.0]), 12, 30, True)


def _hidden_symmetry():
    return nn.HiddenSymmetry([np.array([1, 0, 2])], [np.array([1.0, -1.0, 1.0])])


def _alignment():
    return nn.Alignment(_hidden_symmetry(), _arr(0, (9,)), 0.25, 1.5, 3)


def _path_result():
    return nn.PathResult(
        _arr(0, (5, 4)), _arr(1, (5,)), _arr(2, (5,)), 1, None, None, _arr(3, (4,)), 0.7, 1e-5,
        True, 0.5, 0.3, _arr(4, (11,)), _arr(5, (11,)), 0.9, _arr(6, (4,)), _arr(7, (4,)),
        _arr(8, (4,)), True, 0, 0, 1, True)


RESULTS = {
    "HiddenSymmetry": _hidden_symmetry,
    "Alignment": _alignment,
    "MinimaClasses": lambda: nn.MinimaClasses(np.array([0, 1, 0]), np.array([0, 1]),
                                              np.array([2, 1]), _arr(0, (3, 9)), _arr(1, (3,))),
    "NetworkMinima": lambda: nn.NetworkMinima(_arr(0, (3, 9)), _arr(1, (3,)), _arr(2, (3,)),
                                              _arr(3, (3,)), np.array([True, True, False]),
                                              _arr(4, (3, 9)), 0.01),
    "PathResult": _path_result,
    "Connection": lambda: nn.Connection(_arr(0, (4,)), _arr(1, (4,)), _alignment(),
                                        _path_result()),
    "EscapeSaddles": lambda: nn.EscapeSaddles(
        _arr(0, (4,)), _arr(1, (2, 4)), np.array([0, -1, 1]), np.array([1, 1]),
        (_path_result(), _path_result()), np.array([1, 2]), np.array([False, True]),
        np.array([0, -1]), _arr(2, (1, 4)),
        _arr(3, (1,)), _arr(4, (1,)), np.array([0]), np.array([1]), 1),
    "NetworkFirstPassage": lambda: nn.NetworkFirstPassage(
        _arr(0, (3,)), _arr(1, (3,)), np.array([False, True, False]), _arr(2, (3, 4)),
        _arr(3, (3,)), _arr(4, (4,)), -1.0, 0.01, 2.0, 0.02, 3000, 2, 1),
    "SGDFirstPassage": lambda: nn.SGDFirstPassage(
        _arr(0, (3,)), np.array([4, 4, 2]), _arr(1, (3,)), _arr(2, (3,)),
        np.array([False, True, False]), _arr(3, (3, 4)), _arr(4, (3,)), _arr(5, (4,)), -1.0,
        _arr(6, (3,)), 0.02, 3000, 2, 1),
    "SGDNoise": lambda: nn.SGDNoise(0.01, 4, 40, _arr(0, (3, 3)), _arr(1, (3, 3)), 0.2,
                                    _arr(2, (3,)), 0.3),
    "EnsembleState": _ensemble_state,
    "Trajectory": _trajectory,
    "RunResult": lambda: lo.RunResult(_ensemble_state(), _trajectory()),
    "MDRecord": _md_record,
    "ParticleState": _particle_state,
    "PartialRun": lambda: lp.PartialRun(_md_record(), _particle_state()),
    "ReplicaState": lambda: lp.ReplicaState(_arr(0, (2, 4, 3)), _arr(1, (2, 4, 3)),
                                            _arr(2, (2, 4, 3)), _arr(3, (2,)), _arr(4, (2,)),
                                            100),
    "ExchangeStats": lambda: lp.ExchangeStats(np.array([3, 4]), np.array([1, 2])),
    "MinimizeResult": lambda: lp.MinimizeResult(_arr(0, (4, 3)), -6.0, _arr(1, (4, 3)), 1e-4,
                                                37, True),
    "HoppingResult": lambda: lp.HoppingResult(_arr(0, (4, 3)), -6.0, _arr(1, (2, 4, 3)),
                                              _arr(2, (2,)), 5, np.array([2, 3]),
                                              np.array([4]), np.array([1]), _arr(3, (5,)),
                                              None, 1.5),
    "ClusterFirstPassage": lambda: lp.ClusterFirstPassage(
        _arr(0, (3,)), _arr(1, (3,)), np.array([False, True, False]), _arr(2, (3,)),
        np.array([0, -1, 1]), -6.0, 1e-3, 900),
    "ForceResult": lambda: lp.ForceResult(-2.0, _arr(0, (4, 3)), 0.5),
    "BatchResult": lambda: lp.BatchResult(_arr(0, (2,)), _arr(1, (2, 4, 3)), _arr(2, (2,))),
    "NeighborArrays": lambda: lp.NeighborArrays(*(_arr(k, (3,), np.int64) for k in range(12)),
                                                np.ones(3), True),
    "ChainState": _chain_state,
    "ChainResult": lambda: sgmcmc.ChainResult(
        _arr(0, (2, 2, 3)), np.array([0, 10]), _arr(1, (2, 2)), _arr(2, (2, 3)), _arr(3, (2,)),
        _arr(4, (2, 3)), _arr(5, (2,)), np.ones(2), np.zeros(0, np.int64),
        np.zeros(0, np.int64), np.array([-1, 4]), 20, _chain_state()),
    "FirstPassageResult": lambda: rates.FirstPassageResult(
        np.array([10, -1]), np.array([0.1, -0.01]), np.array([False, True]),
        np.array([1, -1]), _arr(0, (2, 1)), np.ones(2), np.zeros(2, dtype=np.int64), 0.01, 30),
    "ArrheniusFit": lambda: rates.arrhenius_fit([0.5, 0.6, 0.8], [1e-3, 4e-3, 2e-2],
                                                [30, 40, 50]),
    "CurvatureTest": lambda: rates.curvature_test([0.4, 0.5, 0.6, 0.8],
                                                  [1e-4, 1e-3, 4e-3, 2e-2], [30, 30, 40, 50]),
    "RateEstimate": lambda: rates.exponential_rate(np.array([1.0, 2.0, 3.5, 0.5]),
                                                   np.array([False, False, True, False])),
    "GofResult": lambda: rates.exponential_gof(np.random.default_rng(0).exponential(2.0, 50)),
    "HarmonicPoint": _harmonic_point,
    "NEBResult": _neb,
    "DimerResult": _dimer,
    "SaddleResult": lambda: rates.SaddleResult(_harmonic_point(), _harmonic_point(), 1.5,
                                               _neb(), _dimer(), True),
    "BinProbabilities": lambda: BinProbabilities(_arr(0, (4,)), 0.01, 1e-6,
                                                 (np.linspace(0, 1, 5),)),
    "ChiSquareResult": lambda: ChiSquareResult(3.2, 4, 0.5, 9.5, 0.05, 0.0, 1000, 800.0, 5,
                                               True),
    "QuadratureGrid": _grid,
    "BoltzmannResult": lambda: BoltzmannResult(0.5, -1.0, -0.8, 0.1, 0.5, 0.6, 0.4,
                                               np.array([0.5, 0.5]), 1e-9, 1e-8, 1e-8, _grid()),
    "LocalEntropy": lambda: nn.LocalEntropy(0.1, 1e-3, np.zeros(3), np.ones(3), 0.2, 1.0, 0.1,
                                            100),
    "Box": lambda: Box(3, ("periodic",) * 3, np.ones(3)),
    "H5MDUnits": lambda: H5MDUnits(*REDUCED_UNITS)._replace(length="Angstrom"),
    "RecoveryReport": lambda: RecoveryReport("run.h5", 400, 2, {"energy": 3}, ("torn",)),
    "SweepPoint": lambda: SweepPoint(1, "001_seed=2", {"experiment.seed": 2},
                                     {"experiment": {"name": "x", "seed": 2}}),
    "SweepPlan": lambda: SweepPlan("run", "zip", 2, ("experiment.seed",), (
        SweepPoint(0, "000_seed=1", {"experiment.seed": 1}, {"experiment": {"seed": 1}}),),
        "/tmp", {"sweep": {"mode": "zip"}}),
    "SweepResult": lambda: SweepResult([{"point": "000", "steps": 5}], {"000": "done"}, {},
                                       "out", {}),
}


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_result_round_trip(name):
    obj = RESULTS[name]()
    assert type(obj).__name__ == name
    round_trip(obj)


def test_exceptions_round_trip_with_their_partial_results():
    part = RESULTS["RunResult"]()
    for err in (lo.Interrupted("interrupted at step 7", 7, part),
                lo.DivergenceError("walker 1 diverged at step 7", 7, 1, part)):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err) and back.step == 7
        same(back.partial_result, part)
    assert issubclass(lo.Interrupted, KeyboardInterrupt)


#: Public NamedTuples and dataclasses that are neither settings nor results: bundles of
#: compiled kernels and scratch space of one process.
NOT_SHIPPED = {"PairKernels", "BondKernels", "ForceScratch"}
#: Covered by their own tests above.
OWN_TESTS = {"Landscape"}


def test_every_public_settings_and_result_type_is_listed():
    pkgs = ["langevin_opt", "langevin_opt.analysis", "langevin_opt.nn", "langevin_opt.particles",
            "langevin_opt.rates", "langevin_opt.sgmcmc", "langevin_opt.storage",
            "langevin_opt.schema", "langevin_opt.core", "langevin_opt.sweep"]
    public = set()
    for p in pkgs:
        mod = importlib.import_module(p)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj) and (dataclasses.is_dataclass(obj) or (
                    issubclass(obj, tuple) and hasattr(obj, "_fields"))):
                public.add(name)
    listed = set(SETTINGS) | set(RESULTS) | NOT_SHIPPED | OWN_TESTS
    assert public - listed == set(), "add these to SETTINGS or RESULTS"
