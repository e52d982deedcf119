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
_common.emit_json({{"benchmark": "demo", "ratio": 1.5, "bad": float("nan"), "n": 3}})
"""


def _run(tmp_path: Path, record_dir: Path | None) -> subprocess.CompletedProcess:
    script = tmp_path / "bench_demo.py"
    script.write_text(SCRIPT.format(bench=str(ROOT / "benchmarks")))
    env = {k: v for k, v in os.environ.items() if k != "LANGEVIN_OPT_BENCH_RECORD"}
    if record_dir is not None:
        env["LANGEVIN_OPT_BENCH_RECORD"] = str(record_dir)
    return subprocess.run([sys.executable, str(script), "--flag"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, check=True)


def test_last_line_is_strict_json_and_no_file_without_the_variable(tmp_path):
    proc = _run(tmp_path, None)
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rec == {"benchmark": "demo", "ratio": 1.5, "bad": None, "n": 3}
    assert not list(tmp_path.glob("**/*.json"))


def test_record_file_named_after_the_benchmark(tmp_path):
    out = tmp_path / "records"
    proc = _run(tmp_path, out)
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    rec = json.loads((out / "bench_demo.json").read_text())
    assert {k: rec[k] for k in line} == line
    assert rec["argv"] == ["--flag"]
    assert rec["date"].endswith("Z") and rec["date"][:2] == "20"
