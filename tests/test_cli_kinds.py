"""Issue 18, one consistent CLI: every config kind and output kind, labels, colours, list.

``validate`` knows every config kind and a config given to the wrong command is a
one-line error naming the right one; ``inspect`` and ``plot`` understand walker runs,
arrhenius first-passage files and particle trajectories; swap acceptance is one
dataset; the arrhenius table and the energy plot label every series unambiguously.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from langevin_opt.cli import cli
from langevin_opt.schema.kinds import config_kind

REPO = Path(__file__).resolve().parents[1]
EXP = REPO / "experiments"
PNG = b"\x89PNG\r\n\x1a\n"

FIT = """
[experiment]
name = "tiny_fit"
seed = 0
[data]
train = "train.xyz"
[descriptor]
cutoff = 4.0
[training]
max_iter = 5
"""
ACTIVE = """
[experiment]
name = "tiny_active"
seed = 0
[data]
initial = "train.xyz"
test = "train.xyz"
[descriptor]
cutoff = 4.0
[active]
rounds = 1
"""


def invoke(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result) -> str:  # noqa: ANN001
    """Assert a one-line user error without traceback (exit 2); return the line."""
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


@pytest.fixture
def mlip_configs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "train.xyz").write_text("")
    out = {}
    for kind, text in (("fit-potential", FIT), ("active-learn", ACTIVE)):
        out[kind] = tmp_path / f"{kind}.toml"
        out[kind].write_text(text)
    return out


# --------------------------------------------------------------------------------------
# configs: validate every kind, wrong command -> one line naming the right one
# --------------------------------------------------------------------------------------

SHIPPED = {"quickstart.toml": "run", "muller_brown.toml": "run",
           "arrhenius_double_well.toml": "arrhenius", "arrhenius_lj7.toml": "arrhenius",
           "arrhenius_muller_brown.toml": "arrhenius", "arrhenius_nn.toml": "arrhenius",
           "flatness.toml": "flatness"}


def test_every_shipped_config_has_a_kind_and_validates():
    from langevin_opt.schema import read_toml

    assert sorted(p.name for p in EXP.glob("*.toml")) == sorted(SHIPPED)
    for name, kind in SHIPPED.items():
        assert config_kind(read_toml(EXP / name)) == kind, name
        result = invoke("validate", EXP / name)
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith("ok: "), result.stdout
        if kind != "run":
            assert kind in result.stdout


def test_validate_fit_potential_and_active_learn(mlip_configs):
    for kind, path in mlip_configs.items():
        result = invoke("validate", path)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"ok: tiny_{kind.split('-')[0]} ({kind} config; "
                                        f"run with langevin-opt {kind} {path}")


def test_validate_errors_of_other_kinds_are_one_line(tmp_path, mlip_configs):
    bad = tmp_path / "bad_arr.toml"
    bad.write_text((EXP / "arrhenius_double_well.toml").read_text().replace(
        "walkers = ", "walkres = ", 1))
    assert "[rates] unknown key 'walkres'" in error_line(invoke("validate", bad))
    bad = tmp_path / "bad_flat.toml"
    bad.write_text((EXP / "flatness.toml").read_text() + "\n[sgld2]\nx = 1\n")
    assert "unknown section [sgld2]" in error_line(invoke("validate", bad))
    unknown = tmp_path / "notes.toml"
    unknown.write_text('[notes]\ntext = "hello"\n')
    assert "cannot tell what kind of config" in error_line(invoke("validate", unknown))


@pytest.mark.parametrize("command", ["run", "arrhenius", "fit-potential", "active-learn"])
def test_wrong_command_names_the_right_one(command, mlip_configs, tmp_path):
    configs = {"run": EXP / "quickstart.toml", "arrhenius": EXP / "arrhenius_nn.toml",
               "flatness": EXP / "flatness.toml", **mlip_configs}
    out = tmp_path / "out"
    for kind, path in configs.items():
        if kind == command:
            continue
        args = [command, path, "--out", out]
        line = error_line(invoke(*args))
        assert f"{path}: this is a" in line and f"not a{'n' if command[0] == 'a' else ''} {command} config;" in line
        hint = f"python experiments/flatness_run.py {path} OUTDIR" if kind == "flatness" \
            else f"langevin-opt {kind} {path}"
        assert f"run it with: {hint}" in line, line
        assert not out.exists()


# --------------------------------------------------------------------------------------
# a replica-exchange walker run with 11 temperature pairs
# --------------------------------------------------------------------------------------

TEMPS = [0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.35, 1.5]
REX = f"""
[experiment]
name = "tiny_rex"
seed = 3
[landscape]
name = "double_well"
barrier = 1.0
[integrator]
kind = "overdamped"
dt = 0.01
[ensemble]
walkers = 2
temperatures = {TEMPS}
steps = 100
replica_exchange = true
swap_every = 5
[output]
record_every = 20
checkpoint_every = 50
"""


@pytest.fixture(scope="module")
def rex_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rex")
    cfg = d / "rex.toml"
    cfg.write_text(REX)
    result = invoke("run", cfg, "--out", d / "out", "--quiet")
    assert result.exit_code == 0, result.output
    return d / "out" / "trajectory.h5"


def test_swap_acceptance_is_one_dataset(rex_run):
    import h5py

    from langevin_opt.storage import H5MDReader

    with h5py.File(rex_run, "r") as f:
        names = sorted(f["observables"])
    assert "swap_acceptance" in names
    assert not [n for n in names if re.fullmatch(r"swap_acceptance_\d+", n)]
    with H5MDReader(rex_run) as r:
        steps, _, acc = r.observable("swap_acceptance")
        ck = r.checkpoint()[1]
    assert acc.shape == (2, len(TEMPS) - 1) and steps.tolist() == [50, 100]
    assert np.allclose(acc[-1], ck["swap_accepts"] / np.maximum(ck["swap_attempts"], 1))
    text = invoke("inspect", rex_run).stdout
    assert "swap acceptance (last record; pair k swaps T_k and T_k+1):" in text


def test_swap_acceptance_resume_is_identical(rex_run, tmp_path):
    """Interrupted after the first checkpoint and resumed: the same one dataset."""
    from langevin_opt.runner import run_experiment
    from langevin_opt.schema import read_toml, validate_config
    from langevin_opt.storage import H5MDReader

    cfg = tmp_path / "rex.toml"
    cfg.write_text(REX)
    exp = validate_config(read_toml(cfg))

    def stop(step: int, total: int, obs: dict) -> None:
        if step == 50:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, tmp_path / "o", progress=stop, make_figures=False)
    run_experiment(exp, tmp_path / "o", resume=True, make_figures=False)
    with H5MDReader(tmp_path / "o" / "trajectory.h5") as a, H5MDReader(rex_run) as b:
        sa, sb = a.observable("swap_acceptance"), b.observable("swap_acceptance")
        assert np.array_equal(sa[0], sb[0]) and sa[2].tobytes() == sb[2].tobytes()


def test_old_per_pair_swap_groups_still_read():
    """Files written before issue 18 (one ``swap_acceptance_<k>`` group per pair)."""
    from langevin_opt.cli import _swap_acceptance

    class Old:
        observable_names = [f"swap_acceptance_{k}" for k in (0, 1, 10, 2, 3, 4, 5, 6, 7, 8, 9)]

        def observable(self, name: str):  # noqa: ANN202
            k = int(name.rsplit("_", 1)[1])
            return np.array([5, 10]), np.array([0.5, 1.0]), np.array([[k], [k + 0.5]])

    steps, acc = _swap_acceptance(Old())
    assert steps.tolist() == [5, 10]
    assert acc.shape == (2, 11) and acc[1].tolist() == [k + 0.5 for k in range(11)]


def test_energy_plot_colours_and_labels_are_distinct(rex_run, tmp_path, monkeypatch):
    from langevin_opt.plotting import _base

    seen = {}
    real = _base.save

    def capture(fig, path, dpi=120):  # noqa: ANN001, ANN202
        ax = fig.axes[0]
        seen["colors"] = [tuple(np.round(_rgba(ln.get_color()), 6)) for ln in ax.lines
                          if ln.get_linestyle() == "-"]
        seen["labels"] = [t.get_text() for t in ax.get_legend().get_texts()]
        return real(fig, path, dpi)

    def _rgba(c):  # noqa: ANN001, ANN202
        import matplotlib.colors

        return matplotlib.colors.to_rgba(c)

    monkeypatch.setattr(_base, "save", capture)
    out = tmp_path / "e.png"
    result = invoke("plot", rex_run, "--kind", "energy", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG
    assert len(seen["colors"]) == len(TEMPS) == len(set(seen["colors"]))
    temp_labels = [t for t in seen["labels"] if t.startswith("T = ")]
    assert len(temp_labels) == len(set(temp_labels)) == len(TEMPS)
    assert "T = 0.15" in temp_labels and "T = 1.5" in temp_labels
    assert _base.distinct_labels("T = ", [0.15, 0.1500001]) == ["T = 0.15", "T = 0.1500001"]


# --------------------------------------------------------------------------------------
# inspect and plot: arrhenius first-passage files and particle trajectories
# --------------------------------------------------------------------------------------

ARR = """
[experiment]
name = "tiny_arr"
seed = 7
[landscape]
name = "double_well"
barrier = 1.0
[integrator]
kind = "overdamped"
dt = 2e-3
[rates]
temperatures = [0.3, 0.5]
walkers = 10
max_steps = 3000
bootstrap = 0
"""


@pytest.fixture(scope="module")
def arr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("arr")
    cfg = d / "arr.toml"
    cfg.write_text(ARR)
    result = invoke("arrhenius", cfg, "--out", d / "out", "--quiet")
    assert result.exit_code == 0, result.output
    return d / "out" / "first_passage.h5"


@pytest.fixture(scope="module")
def md_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from langevin_opt import particles as lp

    path = tmp_path_factory.mktemp("md") / "liquid.h5md"
    x, box = lp.fcc_lattice(2, 0.8442)
    liquid = lp.ParticleSystem(x, box=box)
    md = lp.Dynamics(liquid, lp.lennard_jones(cutoff=1.5, mode="truncated"),
                     lp.LangevinBAOAB(dt=0.005, friction=1.0), temperature=1.0, seed=1)
    with lp.open_trajectory(path, liquid, overwrite=True) as traj:
        md.run(40, record_every=5, writer=traj, frame_every=20)
    return path


def test_inspect_arrhenius_file(arr_file):
    result = invoke("inspect", arr_file)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "? steps" not in text
    assert "kind: first-passage times (langevin-opt arrhenius): landscape double_well" in text
    assert "config: tiny_arr (arrhenius: landscape double_well, overdamped, 10 walkers x 2 " \
           "temperatures, max_steps 3000)" in text
    assert "escape rates (/parameters/summary):" in text
    assert re.search(r"^\s+0\.3\s+\d+\s+\d+", text, re.M)


def test_plot_arrhenius_file(arr_file, tmp_path):
    result = invoke("plot", shutil_copy(arr_file, tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "survival.png").read_bytes()[:8] == PNG
    result = invoke("plot", arr_file, "--kind", "rates", "-o", tmp_path / "r.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG
    line = error_line(invoke("plot", arr_file, "--kind", "histogram", "-o", tmp_path / "h.png"))
    assert "not for a first-passage times" in line and "survival, rates" in line


def test_inspect_particle_trajectory(md_file):
    result = invoke("inspect", md_file)
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "kind: particle trajectory (particles.open_trajectory)" in text
    assert "32 atoms" in text and "walkers" not in text
    assert "observables at the frames (/observables, one row per frame):" in text
    assert re.search(r"^  temperature: shape \(2,\), last frame", text, re.M)
    assert "observable series (/observable_series, every recorded step):" in text
    assert re.search(r"^  temperature: shape \(8,\), steps 5\.\.40 \(every 5\)", text, re.M)


def test_plot_particle_trajectory(md_file, tmp_path):
    result = invoke("plot", shutil_copy(md_file, tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "thermo.png").read_bytes()[:8] == PNG
    line = error_line(invoke("plot", md_file, "--kind", "energy", "-o", tmp_path / "e.png"))
    assert "use one of: thermo" in line


def test_plot_swaps(rex_run, tmp_path):
    result = invoke("plot", rex_run, "--kind", "swaps", "-o", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG


def shutil_copy(src: Path, dst_dir: Path) -> Path:
    import shutil

    return Path(shutil.copy(src, dst_dir / src.name))


# --------------------------------------------------------------------------------------
# the arrhenius table: every column and the saddle labelled
# --------------------------------------------------------------------------------------


def test_arrhenius_table_labels_are_unambiguous():
    from langevin_opt.rates.cli import table_lines

    row = {"temperature": 0.3, "events": 5, "censored": 1, "rate": 0.03, "rate_low": 0.01,
           "rate_high": 0.07, "mfpt": 8.4, "mfpt_restricted": False,
           "theory_Eyring-Kramers": 0.032, "ratio_Eyring-Kramers": 0.93,
           "theory_exact 1-D MFPT": 0.029, "ratio_exact 1-D MFPT": 1.01}
    summary = {"rows": [row], "theory": {
        "formulas": {"Eyring-Kramers": [0.032], "exact 1-D MFPT": [0.029]},
        "saddle": [2.206e-11], "saddle_energy": 1.0, "barrier": 1.0, "converged": True}}
    lines = table_lines(summary)
    head = re.split(r"\s{2,}|(?<=\S) (?=k/)", lines[0].strip())
    assert "k/theory" not in lines[0]
    assert "k/Eyring-Kramers" in lines[0] and "k/exact 1-D MFPT" in lines[0]
    assert len(head) == len(set(head))
    saddle = [ln for ln in lines if "saddle" in ln]
    assert saddle == ["saddle point (CI-NEB + dimer search) at x = (2.206e-11): energy 1, "
                      "barrier 1"]
    summary["theory"]["saddle"] = list(range(10))
    assert "... (10 coordinates)" in table_lines(summary)[-1]


# --------------------------------------------------------------------------------------
# list: every registry and every config section
# --------------------------------------------------------------------------------------


def test_list_shows_every_registry_and_section():
    from langevin_opt.schema import arrhenius, fit_potential, flatness
    from langevin_opt.schema import run as run_schema
    from langevin_opt.sgmcmc.methods import METHODS

    result = invoke("list")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for name, cls in METHODS.items():
        assert re.search(rf"^  {re.escape(name)} \({cls.__name__}\): \S", text, re.M), name
    for name in ("lennard_jones", "morse", "harmonic_bonds", "gaussian_bonds"):
        assert re.search(rf"^  {name}: \S", text, re.M), name
    assert "depth = 1.0, width = 0.1, r0 = 1.0" in text
    assert re.search(r"^  lj7_2d: 7 atoms in 2-D", text, re.M)
    assert re.search(r"^  lj13: 13 atoms in 3-D", text, re.M)
    for kind in ("run", "arrhenius", "flatness", "fit-potential", "active-learn"):
        assert f"  {kind} configs:" in text
    for key in arrhenius.SECTIONS["rates"]:
        assert re.search(rf"^    \[rates\] .*\b{key}\b", text, re.M), key
    for sections in (run_schema.SECTIONS, flatness.SECTIONS, fit_potential.SECTIONS):
        for sec in sections:
            assert f"    [{sec}] " in text, sec
    assert "[cluster] structure (required) in {lj7_2d, lj13}" in text


def test_a_config_missing_its_telling_section_gets_its_own_error(tmp_path):
    """No [rates] and no [ensemble]: each command says what it misses, no wrong hint."""
    cfg = tmp_path / "c.toml"
    cfg.write_text((EXP / "arrhenius_double_well.toml").read_text().replace("[rates]\n", ""))
    line = error_line(invoke("arrhenius", cfg, "--out", tmp_path / "o"))
    assert "[rates] section is missing" in line and "run it with" not in line
    line = error_line(invoke("run", cfg, "--out", tmp_path / "o"))
    assert "[ensemble] section is missing" in line and "run it with" not in line


def test_validate_checks_every_point_of_a_sweep_and_run_names_the_sweep_command(tmp_path):
    cfg = EXP / "sweeps" / "double_well_sweep.toml"
    res = invoke("validate", str(cfg))
    assert res.exit_code == 0, res.output
    assert "sweep of 6 run points" in res.output and "langevin-opt sweep" in res.output
    res = invoke("run", str(cfg), "--out", str(tmp_path / "o"))
    assert res.exit_code == 2
    assert "[sweep]" in res.output and "langevin-opt sweep" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "o").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(cfg.read_text().replace('"experiment.seed"', '"experiment.sead"'))
    res = invoke("validate", str(bad))
    assert res.exit_code == 2 and "sead" in res.output
    assert len(res.output.strip().splitlines()) == 1
