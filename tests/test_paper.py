"""The paper (issue 21): every number traced to a figure JSON, every figure made by a script.

These run on the committed outputs; `make paper-rerun` regenerates them from the configs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "paper"
FIGS = PAPER / "figures"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


sys.path.insert(0, str(FIGS))
_paper = _load("_paper", FIGS / "_paper.py")
trace = _load("trace_numbers", PAPER / "trace_numbers.py")
build = _load("paper_build", PAPER / "build.py")

MD = (PAPER / "paper.md").read_text()


def test_every_number_in_the_paper_traces_to_a_figure_json():
    bad = trace.untraced(MD)
    assert not bad, "\n".join(f"{sec}: {tok} in ...{ctx}..." for sec, tok, ctx in bad)
    # and the text has results to check at all
    assert len(trace.NUMBER.findall(trace.body_text(MD))) > 60


@pytest.mark.parametrize("token,value,pct,ok", [
    ("0.82", 0.8249, False, True), ("0.82", 0.8251, False, False),
    ("0.820", 0.82, False, True), ("0.82", 0.82049, False, True),
    ("5.7e7", 5.68e7, False, True), ("5.7e7", 5.76e7, False, False),
    ("1.3e-3", 0.0013057, False, True), ("6.2", 0.062, True, True),
    ("6.2", 0.062, False, False), ("-173.928427", -173.9284270, False, True),
    ("\u22120.5", -0.5, False, True), ("13", 13, False, True), ("13", 13.4, False, True),
    ("13", 12.4, False, False),
])
def test_rounding_rule(token, value, pct, ok):
    assert trace.matches(token, value, pct) is ok


def test_a_typed_or_altered_number_is_caught():
    sec = MD.index("## Barriers and escape on a network's loss")
    body = MD[sec:]
    num = re.search(r"\b\d\.\d{2}\b", body).group(0)
    altered = MD[:sec] + body.replace(num, f"{num}0123", 1)  # more digits: a new number
    assert any(tok == f"{num}0123" for _, tok, _ in trace.untraced(altered))
    typed = MD.replace("# Availability", "# Availability\n\nWe measured 123.456 units.\n")
    assert [tok for _, tok, _ in trace.untraced(typed)] == ["123.456"]


def test_section_markers_restrict_the_sources():
    # 0.0485 (the network's force RMSE) is in mlip_cu_emt.json, not in nn_barriers.json
    text = ("## A\n<!-- numbers: nn_barriers.json -->\nforces 0.0485 eV/Å\n"
            "## B\n<!-- numbers: mlip_cu_emt.json -->\nforces 0.0485 eV/Å\n")
    assert [(s, t) for s, t, _ in trace.untraced(text)] == [("A", "0.0485")]


def test_figures_in_the_paper_are_made_by_manifest_scripts():
    manifest = _paper.load_manifest()
    made = {o for f in manifest["figure"].values() for o in f["outputs"]}
    included = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", MD)
    assert included
    for path in included:
        assert path in made, f"paper.md includes {path}, which no manifest figure makes"
        assert (PAPER / path).is_file()
    for name, fig in manifest["figure"].items():
        assert (FIGS / fig["script"]).is_file(), name
        assert set(fig["needs"]) <= set(manifest["experiment"]), name
    for m in trace.MARKER.finditer(MD):
        for j in m.group(1).split(","):
            assert f"figures/{j.strip()}" in made, f"marker names {j}, which no figure makes"


def test_committed_outputs_were_made_from_the_committed_configs():
    manifest = _paper.load_manifest()
    stale = {n: _paper.stale_reason(n) for n in manifest["experiment"]}
    assert not {n: w for n, w in stale.items() if w}
    for e in manifest["experiment"].values():
        for cfg in e["configs"]:
            assert (ROOT / cfg).is_file()
        assert "minutes" in e and float(e["minutes"]) > 0


def test_changed_config_is_refused(tmp_path, monkeypatch):
    name, entry = next(iter(_paper.load_manifest()["experiment"].items()))
    fake = {c: "0" * 64 for c in entry["configs"]}
    data = tmp_path / "data"
    data.mkdir()
    (data / "PROVENANCE.json").write_text(json.dumps({name: {"configs": fake}}))
    for out in entry.get("outputs", []):
        (data / out).write_text("")
    monkeypatch.setattr(_paper, "experiment", lambda n: {**entry, "data": str(data)})
    assert "another version" in _paper.stale_reason(name)
    with pytest.raises(SystemExit) as exc:
        _paper.require_fresh(name)
    msg = str(exc.value)
    assert "paper/build.py --rerun" in msg and "\n" not in msg


def test_header_citations_and_references():
    meta, _ = build.split_front_matter(MD)
    assert meta["title"] and meta["date"] and meta["tags"]
    assert meta["authors"] == ["langevin_opt developers"]
    bib = build.parse_bib((PAPER / "paper.bib").read_text())
    keys = {k for grp in re.findall(r"\[(@[^\]]+)\]", MD)
            for k in re.findall(r"@([\w:-]+)", grp)}
    keys |= set(re.findall(r"(?<![\w\[])@([a-z]+\d{4})", MD))
    assert keys and keys <= set(bib), sorted(keys - set(bib))
    for key, e in bib.items():
        assert e.get("doi") or e.get("url"), key
        assert e.get("title") and e.get("year") and e.get("author"), key
    # the statement of need names the peers the issue asks about
    need = MD[MD.index("# Statement of need"):MD.index("# Design")]
    for peer in ("BlackJAX", "LAMMPS", "OpenMM", "JAX MD", "ASE"):
        assert peer in need


def test_render_html_embeds_every_figure(tmp_path):
    out = build.render_html(PAPER / "paper.md", PAPER / "paper.bib", tmp_path / "p.html")
    text = out.read_text()
    n_fig = len(re.findall(r"!\[[^\]]*\]\(([^)\s]+\.png)\)", MD))
    assert text.count("data:image/png;base64,") == n_fig
    assert "\\autoref" not in text and "[@" not in text
    assert text.count('<li id="ref-') == len(set(re.findall(r'href="#ref-([\w:-]+)"', text)))
    assert f"Figure {n_fig}" in text


@pytest.mark.parametrize("script,kwargs,written", [
    ("fig_nn_barriers.py", {"out": "nn_barriers.png"}, ["nn_barriers.json"]),
    ("fig_globalopt.py", {"out": "globalopt.png"}, ["globalopt.json"]),
    ("fig_mlip.py", {"out": "mlip_cu_emt.png"}, ["mlip_cu_emt.json"]),
    ("fig_mlip_transfer.py", {"out": "mlip_transfer.png"}, ["mlip_transfer.json"]),
    ("fig_mlip_uncertainty.py", {"out_dir": "."}, ["mlip_uncertainty.json"]),
])
def test_figure_scripts_reproduce_the_committed_numbers(script, kwargs, written, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    mod = _load(f"paper_{script[:-3]}", FIGS / script)
    mod.main(**{k: str(tmp_path / v) for k, v in kwargs.items()})
    for name in written:
        assert json.loads((tmp_path / name).read_text()) == json.loads((FIGS / name).read_text())
    assert list(tmp_path.glob("*.png"))


def test_performance_rows_from_benchmark_records(tmp_path):
    perf = _load("paper_fig_performance", FIGS / "fig_performance.py")
    quiet = {"busy_cores_start": 0.05, "busy_cores_end": 0.1}
    recs = {
        "bench_walkers": {"walker_steps_per_s": {"langevin_opt_1t": 6e7, "numpy": 2e7,
                                                 "c_scalar": 1.5e7}, **quiet,
                          "machine": {"cpu_model": "X", "cpu_count": 2}},
        "bench_lj": {"atom_steps_per_s": {"4000": {"langevin_opt_1t": 2.0e6, "lammps_1t": 1e6},
                                          "500": {"langevin_opt_1t": 1.0e6,
                                                  "lammps_opt_1t": 2e6}},
                     "machine_busy": True},
    }
    for name, rec in recs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(rec))
    table = perf.rows(recs)
    got = [(r["task"], r["peer"], r["ratio"], r["busy"]) for r in table]
    assert got == [
        ("overdamped walkers, Müller–Brown", "NumPy", 3.0, False),
        ("overdamped walkers, Müller–Brown", "scalar C", 4.0, False),
        ("LJ liquid BAOAB, N = 500", "LAMMPS opt", 0.5, True),   # sizes in numeric order
        ("LJ liquid BAOAB, N = 4000", "LAMMPS", 2.0, True),
    ]
    perf.main(tmp_path, tmp_path / "perf.png")
    numbers = json.loads((tmp_path / "perf.json").read_text())
    assert [r["ratio"] for r in numbers["rows"]] == [3.0, 4.0, 0.5, 2.0]
    assert (tmp_path / "perf.png").stat().st_size > 0


def _fake_manifest(tmp_path, commands: dict[str, str], after: dict[str, list[str]],
                   minutes: dict[str, float] | None = None):
    exps = {}
    for name, cmd in commands.items():
        (tmp_path / f"{name}.toml").write_text(f"x = {len(name)}\n")
        exps[name] = {"name": name, "configs": [f"{name}.toml"], "command": cmd,
                      "data": f"out/{name}", "minutes": (minutes or {}).get(name, 1),
                      "after": after.get(name, [])}
    return {"experiment": exps, "figure": {}}


def test_rerun_runs_in_dependency_order_and_in_parallel(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(_paper, "ROOT", tmp_path)
    stamp = ("{python} -c \"import time,pathlib; p=pathlib.Path('log'); p.mkdir(exist_ok=True);"
             " t=time.time(); time.sleep(%s); (p/'%s').write_text(f'{t} {time.time()}')\"")
    cmds = {"a": stamp % (0.8, "a"), "b": stamp % (0.1, "b"), "c": stamp % (0.8, "c")}
    manifest = _fake_manifest(tmp_path, cmds, {"b": ["a"]})
    assert build.rerun_order(["b", "c", "a"], manifest) == ["a", "b", "c"]
    times = build.rerun(["b", "a", "c"], manifest, jobs=2)
    assert set(times) == {"a", "b", "c"}
    span = {n: [float(x) for x in (tmp_path / "log" / n).read_text().split()] for n in cmds}
    assert span["b"][0] >= span["a"][1]          # b waited for a
    assert span["c"][0] < span["a"][1]           # c ran alongside a
    for n in cmds:
        prov = json.loads((tmp_path / "out" / n / "PROVENANCE.json").read_text())[n]
        assert prov["configs"] == _paper.config_hashes(manifest["experiment"][n])
        assert prov["seconds"] > 0


def test_rerun_starts_the_longest_first(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(_paper, "ROOT", tmp_path)
    stamp = ("{python} -c \"import time,pathlib; p=pathlib.Path('log'); p.mkdir(exist_ok=True);"
             " (p/'%s').write_text(str(time.time())); time.sleep(0.5)\"")
    cmds = {n: stamp % n for n in ("x", "y", "z")}
    manifest = _fake_manifest(tmp_path, cmds, {}, {"x": 1, "y": 9, "z": 5})
    build.rerun(["x", "y", "z"], manifest, jobs=2)
    start = {n: float((tmp_path / "log" / n).read_text()) for n in cmds}
    assert start["x"] > max(start["y"], start["z"]) + 0.3  # x waited for a free slot


def test_exclusive_experiments_run_last_alone_with_every_core(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(_paper, "ROOT", tmp_path)
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    stamp = ("{python} -c \"import os,time,pathlib; p=pathlib.Path('log'); p.mkdir(exist_ok=True);"
             " t=time.time(); time.sleep(0.4); (p/'%s').write_text(f'{t} {time.time()} '"
             " + os.environ.get('NUMBA_NUM_THREADS', 'all'))\"")
    cmds = {n: stamp % n for n in ("bench", "a", "b")}
    manifest = _fake_manifest(tmp_path, cmds, {}, {"bench": 9, "a": 1, "b": 1})
    manifest["experiment"]["bench"]["exclusive"] = True
    build.rerun(["bench", "a", "b"], manifest, jobs=2)
    log = {n: (tmp_path / "log" / n).read_text().split() for n in cmds}
    assert float(log["bench"][0]) >= max(float(log["a"][1]), float(log["b"][1]))
    assert log["bench"][2] == "all"                       # the environment unchanged
    assert log["a"][2] == log["b"][2] == str(max(1, (os.cpu_count() or 1) // 2))


def test_rerun_failure_names_the_experiment_and_skips_its_dependants(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(_paper, "ROOT", tmp_path)
    manifest = _fake_manifest(tmp_path, {"a": "{python} -c 'raise SystemExit(3)'",
                                         "b": "{python} -c 'pass'"}, {"b": ["a"]})
    with pytest.raises(SystemExit) as exc:
        build.rerun(["a", "b"], manifest, jobs=2)
    assert "a (exit 3)" in str(exc.value) and "not run: b" in str(exc.value)
    assert not (tmp_path / "out" / "b").exists()
