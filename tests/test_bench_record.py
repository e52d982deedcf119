"""benchmarks/_common.emit_json: the JSON last line, and the record file paper/build.py reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
sys.path.insert(0, {bench!r})
import _common
rec = {{"benchmark": "demo", "ratio": 1.5, "bad": float("nan"), "n": 3}}
rec.update({extra})
_common.emit_json(rec)
"""


def _run(tmp_path: Path, record_dir: Path | None,
         extra: str = "{}") -> subprocess.CompletedProcess:
    script = tmp_path / "bench_demo.py"
    script.write_text(SCRIPT.format(bench=str(ROOT / "benchmarks"), extra=extra))
    env = {k: v for k, v in os.environ.items() if k != "LANGEVIN_OPT_BENCH_RECORD"}
    if record_dir is not None:
        env["LANGEVIN_OPT_BENCH_RECORD"] = str(record_dir)
    return subprocess.run([sys.executable, str(script), "--flag"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=True)


def test_last_line_is_strict_json_and_no_file_without_the_variable(tmp_path):
    proc = _run(tmp_path, None)
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {k: rec[k] for k in ("benchmark", "ratio", "bad", "n")} == {
        "benchmark": "demo", "ratio": 1.5, "bad": None, "n": 3}
    # the machine's state, measured at the start (import) and at the end
    assert len(rec["load_average_start"]) == 3 and len(rec["load_average_end"]) == 3
    assert rec["busy_cores_start"] >= 0 and rec["busy_cores_end"] >= 0
    assert isinstance(rec["machine_busy"], bool)
    assert not list(tmp_path.glob("**/*.json"))


def test_record_file_named_after_the_benchmark(tmp_path):
    out = tmp_path / "records"
    proc = _run(tmp_path, out)
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    rec = json.loads((out / "bench_demo.json").read_text())
    assert {k: rec[k] for k in line} == line
    assert rec["argv"] == ["--flag"]
    assert rec["date"].endswith("Z") and rec["date"][:2] == "20"


def test_targets_are_withdrawn_when_another_process_held_a_core(tmp_path):
    busy = ('{"targets_met": {"ratio>=1.2": True}, "busy_cores_start": 1.4, '
            '"busy_cores_end": 0.0}')
    rec = json.loads(_run(tmp_path, None, busy).stdout.strip().splitlines()[-1])
    assert rec["machine_busy"] is True
    assert rec["targets_met"] == {"ratio>=1.2": None}
    assert rec["targets_measured"] == {"ratio>=1.2": True}
    assert "1.4" in rec["machine_busy_note"]
    quiet = ('{"targets_met": {"ratio>=1.2": True}, "busy_cores_start": 0.05, '
             '"busy_cores_end": 0.1}')
    rec = json.loads(_run(tmp_path, None, quiet).stdout.strip().splitlines()[-1])
    assert rec["machine_busy"] is False and rec["targets_met"] == {"ratio>=1.2": True}
    assert "targets_measured" not in rec
