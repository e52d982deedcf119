"""Issue 12 for every writer besides ``run``: a kill during a write never leaves a half file.

One driver process (tests/cli_child.py) compiles the jobs once and forks every
launch; a launch with ``flush_kill`` gets SIGALRM (default action: the process
dies, even inside HDF5's C code) a given delay after its N-th
``H5MDWriter.flush`` call.

* ``langevin-opt arrhenius`` (``first_passage.h5``, ``summary.json``,
  ``arrhenius.png``): killed while replacing an old output with ``--overwrite``,
  each file is the old one or the complete new one; the next run cleans up;
  two runs at once on one directory: one runs, the other exits 2.
* particle trajectories (``open_trajectory`` + ``Dynamics.run``): killed during
  any flush, the file opens, its checksums verify and it holds, bit for bit,
  every frame of every flush that returned.
* SG-MCMC chains (``run_chains(out=)``): killed while replacing an old file, the
  file is the old one or the complete new one.
"""

from __future__ import annotations

import json
import signal
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import cli_child  # noqa: E402

sys.path.pop(0)

from langevin_opt.rates.cli import load_first_passage  # noqa: E402
from langevin_opt.storage import H5MDReader  # noqa: E402

ARRHENIUS = """
[experiment]
name = "arr_faults"
seed = {seed}

[landscape]
name = "double_well"
barrier = 1.0

[integrator]
kind = "overdamped"
dt = 2e-3

[rates]
temperatures = [0.4, 0.6]
walkers = 20
max_steps = 2000
chunk = 1000
bootstrap = 0

[theory]
enabled = false
"""
KILLED = -signal.SIGALRM
# SIGALRM this long after the first flush call of the arrhenius / chains writers: the
# writer's flush and consolidation, the final rename, summary.json, the figure; 30 s: after
# the run (the timer dies with the process: it costs nothing)
WRITE_DELAYS = (1e-6, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 30.0)
PARTICLE_CALLS = 10  # flushes that write (one per frame, in the writer thread) of
# writer_jobs.particles(path, "100") (checked)
PARTICLE_DELAYS = (1e-6, 0.006, 0.02)  # at the start of a flush, inside it (10-90 ms)
RACES = 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every trial of this module, in one driver process."""
    tmp = tmp_path_factory.mktemp("writers")
    old_cfg, new_cfg = tmp / "old.toml", tmp / "new.toml"
    old_cfg.write_text(ARRHENIUS.format(seed=8))
    new_cfg.write_text(ARRHENIUS.format(seed=7))
    old, ref = tmp / "warm", tmp / "new"
    old_chains, ref_chains = tmp / "old_chains.h5", tmp / "new_chains.h5"
    ref_md = tmp / "md.h5"
    warm = [["arrhenius", str(old_cfg), "--out", str(old), "--quiet"],
            ["python:writer_jobs.chains", str(old_chains), "9"],
            ["python:writer_jobs.particles", str(ref_md), "100"]]
    trials: list[dict] = [
        {"launches": [["arrhenius", str(new_cfg), "--out", str(ref), "--quiet"]]},
        {"launches": [["python:writer_jobs.chains", str(ref_chains)]]},
        {"launches": [["python:writer_jobs.particles", str(tmp / "count.h5"), "100"]],
         "flush_kill": [10**9, 0.0], "flush_log": str(tmp / "count.log")},
    ]
    plan: dict[str, list] = {"arrhenius": [], "chains": [], "particles": [], "races": []}
    for i, delay in enumerate(WRITE_DELAYS):
        out = tmp / f"arr{i}"
        plan["arrhenius"].append((delay, out, len(trials)))
        trials.append({"copy": [str(old), str(out)], "flush_kill": [1, delay],
                       "launches": [["arrhenius", str(new_cfg), "--out", str(out),
                                     "--overwrite", "--quiet"]]})
        path = tmp / f"chains{i}.h5"
        plan["chains"].append((delay, path, len(trials)))
        trials.append({"copy": [str(old_chains), str(path)], "flush_kill": [1, delay],
                       "launches": [["python:writer_jobs.chains", str(path)]]})
    # after the kills: a copy of what each left, then the next --overwrite run over it
    for _, out, _ in plan["arrhenius"]:
        trials.append({"copy": [str(out), f"{out}-killed"],
                       "launches": [["arrhenius", str(new_cfg), "--out", str(out),
                                     "--overwrite", "--quiet"]]})
    for n in range(1, PARTICLE_CALLS + 1):
        for delay in PARTICLE_DELAYS:
            k = len(plan["particles"])
            path = tmp / f"md{k}.h5"
            plan["particles"].append((n, delay, path, tmp / f"md{k}.log", len(trials)))
            trials.append({"launches": [["python:writer_jobs.particles", str(path), "100"]],
                           "flush_kill": [n, delay], "flush_log": str(tmp / f"md{k}.log"),
                           "inspect": str(path)})
    for i in range(RACES):  # two launches at once on one directory (fresh or --overwrite)
        out = tmp / f"race{i}"
        base = ["arrhenius", str(new_cfg), "--out", str(out), "--quiet"]
        if i % 2:
            trials.append({"copy": [str(old), str(out)], "launches": [base + ["--overwrite"]] * 2})
        else:
            trials.append({"launches": [base, base]})
        plan["races"].append((out, i % 2 == 1, len(trials) - 1))
    results = cli_child.run_spec(tmp, {"warm": warm, "trials": trials}, timeout=1200)
    assert len(results) == len(trials)
    for res in results[:2]:
        assert res["codes"] == [0], res
    return {"tmp": tmp, "plan": plan, "results": results, "old": old, "ref": ref,
            "old_chains": old_chains, "ref_chains": ref_chains, "ref_md": ref_md}


def _arrhenius_output(out: Path) -> tuple:
    """What an arrhenius output holds (wall times left out), read as a user would."""
    fp = load_first_passage(out / "first_passage.h5")
    h5 = tuple(np.asarray(fp[k]).tobytes() for k in ("times", "steps", "censored",
                                                      "final_basin", "positions", "start"))
    summary = json.loads((out / "summary.json").read_text())
    summary.pop("wall_s")
    return h5, json.dumps(summary, sort_keys=True), (out / "arrhenius.png").read_bytes()


def _chains(path: Path) -> tuple:
    with H5MDReader(path) as r:
        _, _, energy = r.observable("energy")
        assert not r.verify()
        return r.steps.tobytes(), r.position().tobytes(), energy.tobytes(), r.parameters


def test_arrhenius_killed_while_replacing_its_output(runs):
    """Each of the three files is the old complete one or the new complete one."""
    old, new = _arrhenius_output(runs["old"]), _arrhenius_output(runs["ref"])
    assert old[0] != new[0] and old[1] != new[1] and old[2] != new[2]
    seen = {"old": 0, "new": 0}
    for delay, out, t in runs["plan"]["arrhenius"]:
        res = runs["results"][t]
        assert res["codes"][0] in (0, KILLED), (delay, res)
        assert "Traceback" not in res["stderr"][0]
        got = _arrhenius_output(Path(f"{out}-killed"))
        for k, name in enumerate(("first_passage.h5", "summary.json", "arrhenius.png")):
            assert got[k] in (old[k], new[k]), (delay, name)
        seen["old" if got[0] == old[0] else "new"] += 1
    assert seen["old"] and seen["new"], seen  # the grid spans the whole write
    print("arrhenius kills:", seen)


def test_arrhenius_after_a_kill_the_next_run_cleans_up(runs):
    results = runs["results"]
    n = len(runs["plan"]["arrhenius"])
    first = runs["plan"]["chains"][-1][2] + 1
    new = _arrhenius_output(runs["ref"])
    for (delay, out, _), res in zip(runs["plan"]["arrhenius"], results[first:first + n],
                                    strict=True):
        assert res["codes"] == [0], (delay, res)
        assert _arrhenius_output(out) == new
        assert sorted(p.name for p in out.iterdir()) == ["arrhenius.png", "first_passage.h5",
                                                         "summary.json"]


def test_arrhenius_two_launches_at_once(runs):
    """Exactly one runs; the other exits 2 with one line (the lock, or the output it finds)."""
    new = _arrhenius_output(runs["ref"])
    for out, overwrite, t in runs["plan"]["races"]:
        codes, errs = runs["results"][t]["codes"], runs["results"][t]["stderr"]
        if overwrite and codes == [0, 0]:
            continue  # ran one after the other: allowed with --overwrite
        assert sorted(codes) == [0, 2], (codes, errs)
        err = errs[codes.index(2)]
        assert "Traceback" not in err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ")
        assert "another writer" in lines[0] or "output exists" in lines[0], lines[0]
        assert _arrhenius_output(out) == new


def test_chains_killed_while_replacing_their_file(runs):
    old, new = _chains(runs["old_chains"]), _chains(runs["ref_chains"])
    assert old[1] != new[1]
    seen = {"old": 0, "new": 0}
    for delay, path, t in runs["plan"]["chains"]:
        res = runs["results"][t]
        assert res["codes"][0] in (0, KILLED), (delay, res)
        got = _chains(path)
        assert got in (old, new), delay
        seen["old" if got == old else "new"] += 1
    assert seen["old"] and seen["new"], seen
    print("chain-file kills:", seen)


def test_particle_trajectory_killed_during_every_flush(runs):
    """Readable, verified, and every frame of every completed flush is there, bit for bit."""
    calls = len((runs["tmp"] / "count.log").read_text().splitlines())
    assert calls == PARTICLE_CALLS, f"the job now makes {calls} flush calls: update the test"
    with H5MDReader(runs["ref_md"]) as r:
        steps = r.steps.tolist()
        crc = [zlib.crc32(r.position(i).tobytes()) for i in range(r.n_frames)]
    counts = {"trials": 0, "killed": 0, "frames_kept": 0}
    for n, delay, _, log, t in runs["plan"]["particles"]:
        res = runs["results"][t]
        assert res["codes"][0] in (0, KILLED), (n, delay, res)
        found = res["inspect"]
        assert found["readable"], (n, delay, found)
        assert not found["verify"] and found["recovery"] is None, (n, delay, found)
        k = len(found["steps"])
        assert found["steps"] == steps[:k] and found["frames_crc"] == crc[:k], (n, delay)
        done = [int(s) for s in (log.read_text().split()[1::2] if log.exists() else [])
                if s != "-"]
        if done:
            assert k and found["steps"][-1] >= done[-1], (n, delay, found["steps"], done)
        counts["trials"] += 1
        counts["killed"] += res["codes"][0] == KILLED
        counts["frames_kept"] += k
    print("trajectory kills:", counts)


# --------------------------------------------------------------------------------------
# the pieces, in-process
# --------------------------------------------------------------------------------------


def _staged(path: Path, value: float, **kwargs) -> None:  # noqa: ANN003
    from langevin_opt.storage import staged_writer

    with staged_writer(path, n_particles=2, dim=1, creator_version="t", **kwargs) as w:
        w.append_frames([0], [0.0], np.full((1, 2, 1), value))


def _leftovers(directory: Path, keep: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


def test_staged_writer_publishes_only_complete_files(tmp_path):
    from langevin_opt.storage import OutputLock, OutputLockedError

    path = tmp_path / "out.h5"
    _staged(path, 1.0)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        _staged(path, 2.0)
    with pytest.raises(RuntimeError, match="boom"):
        from langevin_opt.storage import staged_writer

        with staged_writer(path, overwrite=True, n_particles=2, dim=1,
                           creator_version="t") as w:
            w.append_frames([0], [0.0], np.full((1, 2, 1), 2.0))
            w.flush()
            raise RuntimeError("boom")
    assert path.read_bytes() == before and _leftovers(tmp_path, "out.h5") == []
    with OutputLock(path), pytest.raises(OutputLockedError):
        _staged(path, 2.0, overwrite=True)
    assert path.read_bytes() == before
    _staged(path, 2.0, overwrite=True)
    with H5MDReader(path) as r:
        assert r.is_consolidated and r.position(0).tolist() == [[2.0], [2.0]]
    assert _leftovers(tmp_path, "out.h5") == []


def test_staged_writer_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    import langevin_opt.storage.staged as staged
    from langevin_opt.storage import StorageFullError

    path = tmp_path / "out.h5"
    _staged(path, 1.0)
    before = path.read_bytes()

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(staged, "write_atomic", full)
    with pytest.raises(StorageFullError, match="no space left on device.*unchanged"):
        _staged(path, 2.0, overwrite=True, finish=lambda f: f.create_group("extra"))
    assert path.read_bytes() == before and _leftovers(tmp_path, "out.h5") == []


def test_flush_seconds(tmp_path):
    from langevin_opt.storage import H5MDWriter

    with pytest.raises(ValueError, match="flush_seconds"):
        H5MDWriter(tmp_path / "bad.h5", n_particles=1, dim=1, creator_version="t",
                   flush_seconds=-1.0)
    for seconds, published in ((0.0, 2), (3600.0, 0)):
        path = tmp_path / f"f{seconds}.h5"
        with H5MDWriter(path, n_particles=1, dim=1, creator_version="t",
                        flush_seconds=seconds) as w:
            w.append_frames([0], [0.0], np.zeros((1, 1, 1)))
            w.append_observables([0], [0.0], energy=[1.0])
            with H5MDReader(path) as r:  # what a reader sees while the writer is open
                assert r.n_frames + len(r.observable_names) == published, seconds
            assert w.last_safe_step == (0 if published else None)


def test_open_trajectory_flushes_every_ten_seconds(tmp_path):
    import langevin_opt.particles as lp

    x, box = lp.fcc_lattice(2, 0.8442)
    with lp.open_trajectory(tmp_path / "t.h5", lp.ParticleSystem(x, box=box)) as w:
        assert w.flush_seconds == 10.0
