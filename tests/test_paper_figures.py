"""The paper's core-result figures redraw from committed outputs and refuse stale ones.

For every figure script below: run it in a subprocess on the committed outputs with
``--out-dir`` in a temporary directory; it must write its PNG and a JSON identical to the
committed one (so the committed numbers are what the committed outputs give).  Then copy the
manifest, the script, its experiments' configs and outputs to a temporary tree, change one
config, and check that the script refuses with a one-line error naming the rerun command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "paper"

# script -> (output stem, experiments it reads)
FIGURES = {
    "fig_quickstart.py": ("quickstart", ["quickstart"]),
    "fig_boltzmann.py": ("boltzmann", ["muller_brown"]),
    "fig_arrhenius.py": ("arrhenius", ["arrhenius_double_well", "arrhenius_muller_brown",
                                       "arrhenius_lj7"]),
    "fig_lj38.py": ("lj38", ["lj38_global"]),
    "fig_flatness.py": ("flatness", ["flatness"]),
}


def _manifest() -> dict:
    with open(PAPER / "manifest.toml", "rb") as fh:
        raw = tomllib.load(fh)
    return {t: {e["name"]: e for e in raw[t]} for t in ("experiment", "figure")}


def _run(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(script), *args], cwd=script.parents[2],
                          env=env, capture_output=True, text=True, timeout=300)


def test_manifest_lists_these_figures() -> None:
    man = _manifest()
    for script, (stem, needs) in FIGURES.items():
        fig = [f for f in man["figure"].values() if f["script"] == script]
        assert len(fig) == 1, script
        assert sorted(fig[0]["needs"]) == sorted(needs)
        assert fig[0]["outputs"] == [f"figures/{stem}.png", f"figures/{stem}.json"]
        for name in needs:
            exp = man["experiment"][name]
            prov = json.loads((ROOT / exp["data"] / "PROVENANCE.json").read_text())
            prov = prov.get(name, prov)  # one record per experiment (or the first format)
            assert prov["seconds"] is not None  # made by `build.py --rerun`, not stamped
            # committed data stays small
            size = sum(p.stat().st_size for p in (ROOT / exp["data"]).iterdir())
            assert size < 5_000_000, (name, size)


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_figure_redraws_committed_numbers(script: str, tmp_path: Path) -> None:
    stem, _ = FIGURES[script]
    proc = _run(PAPER / "figures" / script, "--out-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    png = tmp_path / f"{stem}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    made = json.loads((tmp_path / f"{stem}.json").read_text())
    committed = json.loads((PAPER / "figures" / f"{stem}.json").read_text())
    assert made == committed


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_figure_refuses_outputs_of_a_changed_config(script: str, tmp_path: Path) -> None:
    stem, needs = FIGURES[script]
    man = _manifest()
    (tmp_path / "paper" / "figures").mkdir(parents=True)
    shutil.copy(PAPER / "manifest.toml", tmp_path / "paper")
    for f in ("_paper.py", script):
        shutil.copy(PAPER / "figures" / f, tmp_path / "paper" / "figures")
    for name in needs:
        exp = man["experiment"][name]
        for cfg in exp["configs"]:
            (tmp_path / cfg).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / cfg, tmp_path / cfg)
        shutil.copytree(ROOT / exp["data"], tmp_path / exp["data"])
    changed = man["experiment"][needs[-1]]["configs"][0]
    with open(tmp_path / changed, "a") as fh:
        fh.write("\n# changed\n")
    out = tmp_path / "out"
    proc = _run(tmp_path / "paper" / "figures" / script, "--out-dir", str(out))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert f"made from another version of {changed}" in lines[0]
    assert f"python paper/build.py --rerun {needs[-1]}" in lines[0]
    assert not (out / f"{stem}.png").exists()
    assert not (out / f"{stem}.json").exists()
