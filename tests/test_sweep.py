"""Parameter sweeps and sharded ensembles on Dask (issue 20), on a local cluster of 2 workers.

Points are tiny run configs (double well, overdamped); the kernels come from the disk
cache that every worker process shares (``LANGEVIN_OPT_CACHE_DIR`` is inherited).
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import distributed  # the test extra installs it: never skipped
import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.runner import run_experiment
from langevin_opt.schema import read_toml, validate_config
from langevin_opt.storage import H5MDReader
from langevin_opt.sweep import (
    DONE,
    MANIFEST,
    TABLE,
    SweepError,
    flatten_numeric,
    plan_sweep,
    run_point,
    sweep,
)

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"

BASE = """
[experiment]
name = "sw"
seed = 7

[landscape]
name = "double_well"

[integrator]
kind = "{kind}"
dt = 0.001

[ensemble]
walkers = {walkers}
temperatures = [0.5]
steps = {steps}
init = "uniform"

[output]
record_every = {record}
checkpoint_every = {checkpoint}
"""
SWEEP = """
[sweep]
mode = "product"
[sweep.parameters]
"ensemble.temperatures" = [[0.3], [0.6]]
"experiment.seed" = {start = 1, stop = 3}
"""


def _config(tmp: Path, name: str = "sweep.toml", *, kind: str = "overdamped", walkers: int = 32,
            steps: int = 40000, record: int = 5000, checkpoint: int = 5000,
            sweep_text: str = SWEEP) -> Path:
    path = tmp / name
    path.write_text(BASE.format(kind=kind, walkers=walkers, steps=steps, record=record,
                                checkpoint=checkpoint) + sweep_text)
    return path


@pytest.fixture(scope="module")
def client():
    """A local cluster of 2 worker processes, 1 thread each (closed at the end)."""
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    c = distributed.Client(cluster, set_as_default=False)
    env = c.run(lambda: (os.environ.get("PYTHONPATH"), os.environ.get("LANGEVIN_OPT_CACHE_DIR")))
    for got in env.values():  # workers inherit the import path and the kernel cache
        assert got == (os.environ.get("PYTHONPATH"), os.environ.get("LANGEVIN_OPT_CACHE_DIR"))
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def reference(client, tmp_path_factory):
    """An uninterrupted sweep of 4 points: its config, output folder and table text."""
    tmp = tmp_path_factory.mktemp("ref")
    cfg = _config(tmp)
    res = sweep(cfg, tmp / "out", client=client)
    assert set(res.statuses.values()) == {"done"}
    return cfg, tmp / "out", (tmp / "out" / TABLE).read_text()


def _bytes(a: np.ndarray) -> tuple:
    a = np.asarray(a)
    return a.dtype.str, a.shape, a.tobytes()


def _assert_same_run(a_path: Path, b_path: Path) -> None:
    """Frames, observables and the checkpoint of two trajectory files, bit for bit."""
    with H5MDReader(a_path) as a, H5MDReader(b_path) as b:
        assert a.n_particles == b.n_particles
        assert a.steps.tolist() == b.steps.tolist()
        assert _bytes(a.times) == _bytes(b.times)
        assert _bytes(a.position()) == _bytes(b.position())
        assert a.observable_names == b.observable_names
        for name in a.observable_names:
            for x, y in zip(a.observable(name), b.observable(name), strict=True):
                assert _bytes(x) == _bytes(y), name
        ck_a, ck_b = a.checkpoint(), b.checkpoint()
        assert ck_a[0] == ck_b[0]
        assert sorted(ck_a[1]) == sorted(ck_b[1])
        for key in ck_a[1]:
            assert _bytes(ck_a[1][key]) == _bytes(ck_b[1][key]), key
        assert ck_a[2] == ck_b[2]
        pa, pb = a.parameters, b.parameters
        assert pa["config"] == pb["config"] and pa["seed"] == pb["seed"]
        assert _bytes(pa["walker_temperatures"]) == _bytes(pb["walker_temperatures"])


def _table(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _hashes(point_dir: Path) -> dict:
    return {str(p.relative_to(point_dir)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_mtime_ns)
            for p in sorted(point_dir.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------
# a small sweep
# --------------------------------------------------------------------------


def test_small_sweep_writes_points_manifest_table_matching_one_by_one(reference, tmp_path):
    cfg, out, _ = reference
    plan = plan_sweep(cfg)
    assert [p.id for p in plan.points] == [
        "000_temperatures=0.3_seed=1", "001_temperatures=0.3_seed=2",
        "002_temperatures=0.6_seed=1", "003_temperatures=0.6_seed=2"]
    dirs = sorted(p.name for p in (out / "points").iterdir())
    assert dirs == [p.id for p in plan.points]
    manifest = json.loads((out / MANIFEST).read_text())
    assert [e["status"] for e in manifest["points"]] == ["done"] * 4
    assert all(e["attempts"] == 1 and e["error"] is None for e in manifest["points"])
    assert manifest["points"][3]["parameters"] == {"ensemble.temperatures": [0.6],
                                                   "experiment.seed": 2}
    rows = _table(out / TABLE)
    assert [r["point"] for r in rows] == dirs
    assert not any("seconds" in c for c in rows[0])
    for p, row in zip(plan.points, rows, strict=True):
        point_dir = out / "points" / p.id
        assert {"trajectory.h5", "summary.json", DONE} <= {f.name for f in point_dir.iterdir()}
        # the same point run on its own, in this process
        report = run_experiment(validate_config(p.config), tmp_path / p.id, threads=1)
        expected = flatten_numeric(report.summary)
        assert expected and all(float(row[k]) == v for k, v in expected.items())
        assert row["experiment.seed"] == str(p.values["experiment.seed"])
        _assert_same_run(point_dir / "trajectory.h5", tmp_path / p.id / "trajectory.h5")


def test_flatten_numeric_leaves_out_timings_and_strings():
    s = {"status": "completed", "wall_seconds": 2.0, "wall_s": 1.0, "steps": 5, "ok": True,
         "temperatures": [{"T": 0.5, "basin": [0.25, 0.75]}], "fit": None}
    assert flatten_numeric(s) == {"steps": 5, "ok": 1, "temperatures.0.T": 0.5,
                                  "temperatures.0.basin.0": 0.25,
                                  "temperatures.0.basin.1": 0.75}


# --------------------------------------------------------------------------
# sharded ensemble
# --------------------------------------------------------------------------


def test_sharded_ensemble_from_two_workers_is_bit_identical(client, tmp_path):
    cfg = _config(tmp_path, kind="mala", walkers=9, steps=3000, record=500, checkpoint=1000,
                  sweep_text="[sweep]\nshards = 2\n")
    raw = read_toml(cfg)
    raw["ensemble"]["temperatures"] = [0.3, 0.6]  # 18 walkers split 9 + 9 across the ladder
    raw["sweep"]["shards"] = 3  # 6 + 6 + 6 walkers
    res = sweep(raw, tmp_path / "out", client=client)
    assert res.statuses == {"000": "done"}
    point = tmp_path / "out" / "points" / "000"
    assert len(list((point / "shards").iterdir())) == 3
    base = {k: v for k, v in raw.items() if k != "sweep"}
    report = run_experiment(validate_config(base), tmp_path / "single", threads=1)
    _assert_same_run(point / "trajectory.h5", tmp_path / "single" / "trajectory.h5")
    merged = json.loads((point / "summary.json").read_text())
    assert merged["temperatures"] == report.summary["temperatures"]
    assert "acceptance" in merged["temperatures"][0]


def test_shard_of_run_experiment_refuses_bad_shards(tmp_path):
    exp = validate_config({k: v for k, v in read_toml(_config(tmp_path)).items()
                           if k != "sweep"})
    with pytest.raises(ValueError, match="0 <= start < stop <= 32"):
        run_experiment(exp, tmp_path / "x", shard=(4, 40))


# --------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------


def test_failed_point_is_recorded_after_retries_and_others_go_on(client, tmp_path):
    cfg = _config(tmp_path, steps=4000, record=1000, checkpoint=1000, sweep_text="""
[sweep]
mode = "zip"
[sweep.parameters]
integrator.dt = [0.001, 1e6]
experiment.seed = [1, 2]
""")
    res = sweep(cfg, tmp_path / "out", client=client, retries=1)
    assert res.statuses == {"000_dt=0.001_seed=1": "done", "001_dt=1e+06_seed=2": "failed"}
    assert "diverged" in res.errors["001_dt=1e+06_seed=2"]
    entries = json.loads((tmp_path / "out" / MANIFEST).read_text())["points"]
    assert entries[1]["status"] == "failed" and entries[1]["attempts"] == 2
    assert "diverged" in entries[1]["error"]
    assert [r["point"] for r in _table(tmp_path / "out" / TABLE)] == ["000_dt=0.001_seed=1"]


def test_killed_worker_is_retried_and_the_point_resumes(client, tmp_path):
    cfg = _config(tmp_path, steps=100000, record=5000, checkpoint=5000)
    out = tmp_path / "out"
    killed: list[str] = []

    def kill_when_running() -> None:
        end = time.monotonic() + 60
        while time.monotonic() < end and not killed:
            for addr, keys in client.processing().items():
                if keys and (out / "points").is_dir() and any(
                        (d / "trajectory.h5").exists() for d in (out / "points").iterdir()):
                    time.sleep(0.3)  # mid-task, past its first checkpoints
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    os.kill(pid, signal.SIGKILL)
                    killed.append(addr)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=kill_when_running)
    t.start()
    try:
        res = sweep(cfg, out, client=client)
    finally:
        t.join()
    assert killed
    assert set(res.statuses.values()) == {"done"} and len(res.statuses) == 4
    entries = json.loads((out / MANIFEST).read_text())["points"]
    assert len({e["id"] for e in entries}) == 4 and all(e["status"] == "done" for e in entries)
    rerun = [e for e in entries if e["attempts"] > 1]
    assert rerun, "the killed point was not run again"
    rows = _table(out / TABLE)
    assert len(rows) == len({r["point"] for r in rows}) == 4
    # the resumed point is bit-identical to the same point run without a kill
    plan = plan_sweep(cfg)
    p = next(q for q in plan.points if q.id == rerun[0]["id"])
    run_experiment(validate_config(p.config), tmp_path / "direct", threads=1)
    _assert_same_run(out / "points" / p.id / "trajectory.h5",
                     tmp_path / "direct" / "trajectory.h5")
    client.wait_for_workers(2, timeout=60)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from langevin_opt.cli import main; main()", *args]


def test_killed_client_then_resume_keeps_finished_points(reference, tmp_path):
    cfg, _, ref_table = reference
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli("sweep", str(cfg), "--out", str(out), "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=tmp_path)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            if (out / "points").is_dir() and any((out / "points").glob(f"*/{DONE}")):
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the client and its local cluster
        proc.wait(timeout=30)
    finished = [d.parent for d in (out / "points").glob(f"*/{DONE}")]
    assert finished and len(finished) < 4, proc.stdout.read().decode()
    before = {d.name: _hashes(d) for d in finished}
    r = subprocess.run(_cli("sweep", str(cfg), "--out", str(out), "--workers", "2", "--resume"),
                       capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(finished)} of 4 points already finished (skipped)" in r.stdout
    assert r.stdout.count("done in") == 4 - len(finished)
    for d in finished:
        assert _hashes(d) == before[d.name], d.name
    assert (out / TABLE).read_text() == ref_table
    entries = json.loads((out / MANIFEST).read_text())["points"]
    assert [e["status"] for e in entries] == ["done"] * 4


# --------------------------------------------------------------------------
# bad specs
# --------------------------------------------------------------------------


BAD = {
    "unknown key": ('"ensemble.walkres" = [1, 2]', "unknown key 'walkres' (did you mean "
                    "'walkers'?)"),
    "empty list": ('"ensemble.steps" = []', "'ensemble.steps': empty array of values"),
    "wrong type": ('"ensemble.steps" = [100, "abc"]', "point 1 of 2 (ensemble.steps=\"abc\"): "
                   "[ensemble] steps: must be an integer"),
    "empty range": ('"experiment.seed" = {start = 3, stop = 3}', "empty range"),
    "not a table": ('"ensemble.steps.x" = [1]', "ensemble.steps is a integer"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_is_one_line_exit_2_nothing_started(case, tmp_path):
    line, expected = BAD[case]
    cfg = _config(tmp_path, sweep_text=f"[sweep]\n[sweep.parameters]\n{line}\n")
    r = CliRunner().invoke(cli, ["sweep", str(cfg), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    cfg = _config(tmp_path)
    t0 = time.monotonic()
    r = CliRunner().invoke(cli, ["sweep", str(cfg), "--out", str(tmp_path / "out"),
                                 "--scheduler", "tcp://127.0.0.1:9", "--timeout", "1"])
    assert time.monotonic() - t0 < 30
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "scheduler tcp://127.0.0.1:9 did not answer within 1 s" in lines[0]
    assert not (tmp_path / "out").exists()


def test_existing_sweep_needs_resume_and_resume_needs_a_sweep(reference, tmp_path):
    cfg, out, _ = reference
    r = CliRunner().invoke(cli, ["sweep", str(cfg), "--out", str(out)])
    assert r.exit_code == 2 and "holds a sweep; pass --resume" in r.output
    r = CliRunner().invoke(cli, ["sweep", str(cfg), "--out", str(tmp_path / "none"), "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.output


def test_spec_errors_of_the_python_api(tmp_path):
    raw = read_toml(_config(tmp_path))
    bad = copy.deepcopy(raw)
    bad["sweep"] = {"mode": "zip", "parameters": {"experiment.seed": [1, 2], "ensemble.steps":
                                                  [10]}}
    with pytest.raises(SweepError, match="zip needs value lists of one length"):
        plan_sweep(bad)
    bad["sweep"] = {"parameters": {"experiment.seed": [1]}, "modes": "zip"}
    with pytest.raises(SweepError, match="unknown key 'modes' \\(did you mean 'mode'"):
        plan_sweep(bad)
    bad = {k: v for k, v in raw.items() if k != "sweep"}
    with pytest.raises(SweepError, match=r"\[sweep\] section is missing"):
        plan_sweep(bad)


# --------------------------------------------------------------------------
# every config kind
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind,key,values", [
    ("arrhenius_double_well.toml", "arrhenius", "rates.walkers", [10, 20]),
    ("arrhenius_nn.toml", "arrhenius", "network.n_starts", [4, 6]),
    ("flatness.toml", "flatness", "sgld.chains_per_temperature", [2, 3]),
    ("quickstart.toml", "run", "landscape.depth_wide", {"start": 2.0, "stop": 3.0, "num": 3}),
])
def test_every_kind_plans_and_validates_its_points(name, kind, key, values):
    raw = read_toml(EXPERIMENTS / name)
    raw["sweep"] = {"parameters": {key: values}}
    plan = plan_sweep(raw, base_dir=EXPERIMENTS)
    assert plan.kind == kind
    expected = values if isinstance(values, list) else [2.0, 2.5, 3.0]
    assert [p.values[key] for p in plan.points] == expected
    raw["sweep"] = {"parameters": {key: ["x"]}}
    with pytest.raises(SweepError, match=r"^\[sweep\] point 0 of 1 .*must be"):
        plan_sweep(raw, base_dir=EXPERIMENTS)


def test_arrhenius_point_runs_the_arrhenius_command_code(tmp_path):
    raw = read_toml(EXPERIMENTS / "arrhenius_double_well.toml")
    raw["rates"].update(walkers=8, temperatures=[1.0], max_steps=2000)
    raw["theory"] = {"enabled": False}
    raw["sweep"] = {"parameters": {"experiment.seed": [3]}}
    plan = plan_sweep(raw, base_dir=EXPERIMENTS)
    s = run_point("arrhenius", plan.points[0].config, tmp_path / "p", base_dir=plan.base_dir)
    assert (tmp_path / "p" / "first_passage.h5").is_file()
    text = json.dumps(s["rows"], sort_keys=True)  # NaN fields: compare the JSON text
    assert json.dumps(json.loads((tmp_path / "p" / "summary.json").read_text())["rows"],
                      sort_keys=True) == text
    assert json.dumps(json.loads((tmp_path / "p" / DONE).read_text())["summary"]["rows"],
                      sort_keys=True) == text
    # a finished point is never run again
    stamp = (tmp_path / "p" / "first_passage.h5").stat().st_mtime_ns
    again = run_point("arrhenius", plan.points[0].config, tmp_path / "p")
    assert json.dumps(again["rows"], sort_keys=True) == text
    assert (tmp_path / "p" / "first_passage.h5").stat().st_mtime_ns == stamp


def test_missing_distributed_is_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    r = CliRunner().invoke(cli, ["sweep", str(_config(tmp_path)), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "sweeps need dask.distributed: pip install 'langevin-opt[sweep]'" in r.output
    assert not (tmp_path / "o").exists()
