"""The network barrier / escape figure: written from plain arrays, refuses bad input whole."""

import numpy as np
import pytest

from langevin_opt.plotting.barriers import network_barriers_figure

PNG = b"\x89PNG\r\n\x1a\n"


def _inputs():
    s = np.linspace(0, 1, 9)
    path = {"neb_s": s, "neb_energy": np.sin(np.pi * s), "line_s": s,
            "line_energy": 2 * np.sin(np.pi * s), "label": "2-4-2 tanh"}
    width = {"width": [2, 2, 4, 4, 8], "neb_barrier": [1.0, 0.5, 0.2, 0.1, 0.0],
             "line_barrier": [3.0, 2.0, 1.0, 1.5, 0.5]}
    T = np.array([0.2, 0.25, 0.3])
    k = np.exp(-1 / T)
    lang = {"temperature": T, "rate": k, "rate_low": 0.8 * k, "rate_high": 1.2 * k,
            "eyring_kramers": 0.5 * k, "eyring_kramers_total": k}
    sgd = [{"label": "flat", "batch_over_lr": [10, 20, 40], "time": [1.0, 3.0, np.inf],
            "time_low": [0.8, 2.0, np.nan], "time_high": [1.3, 4.0, np.nan]},
           {"label": "sharp", "batch_over_lr": [10, 20, 40], "time": [2.0, 9.0, 30.0],
            "time_low": [1.5, 7.0, 20.0], "time_high": [2.5, 12.0, 45.0]}]
    return path, width, lang, sgd


def test_figure_is_written(tmp_path):
    out = network_barriers_figure(*_inputs(), tmp_path / "f.png", title="t")
    assert out.read_bytes()[:8] == PNG


def test_missing_key_names_it_and_writes_nothing(tmp_path):
    path, width, lang, sgd = _inputs()
    del lang["rate_low"]
    with pytest.raises(KeyError, match="rate_low"):
        network_barriers_figure(path, width, lang, sgd, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


def test_length_mismatch_and_empty_sgd_are_refused(tmp_path):
    path, width, lang, sgd = _inputs()
    bad = dict(width, neb_barrier=[1.0])
    with pytest.raises(ValueError, match="neb_barrier"):
        network_barriers_figure(path, bad, lang, sgd, tmp_path / "h.png")
    with pytest.raises(ValueError, match="sgd"):
        network_barriers_figure(path, width, lang, [], tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_several_width_series(tmp_path):
    path, width, lang, sgd = _inputs()
    two = [dict(width, label="N = 40"), dict(width, label="N = 100")]
    out = network_barriers_figure(path, two, lang, sgd, tmp_path / "w.png")
    assert out.read_bytes()[:8] == PNG
    with pytest.raises(KeyError, match=r"width_scan\[1\].*line_barrier"):
        network_barriers_figure(path, [width, {"width": [2], "neb_barrier": [1.0]}], lang, sgd,
                                tmp_path / "v.png")
    assert not (tmp_path / "v.png").exists()
