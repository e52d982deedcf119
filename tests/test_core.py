"""The shared conventions: validation helpers and the exception types."""

import pickle

import numpy as np
import pytest

from langevin_opt.core import DivergenceError
from langevin_opt.core import validation as v


@pytest.mark.parametrize("bad", ["1e-4", None, True, [1.0], np.array([1.0, 2.0])])
def test_real_wrong_type_is_type_error(bad):
    with pytest.raises(TypeError, match=r"^dt must be a finite number > 0"):
        v.check_positive("dt", bad)


@pytest.mark.parametrize("bad", [0.0, -1, np.inf, np.nan])
def test_real_wrong_value_is_value_error(bad):
    with pytest.raises(ValueError, match=r"^dt must be a finite number > 0"):
        v.check_positive("dt", bad)


def test_real_accepts_numpy_scalars_and_ints():
    assert v.check_positive("dt", np.float32(0.5)) == 0.5
    assert v.check_nonnegative("friction", 0) == 0.0
    assert v.check_real("x", np.array(2.0), lo=0, hi=2) == 2.0
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        v.check_real("x", 1.0, lo=0, hi=1, hi_open=True)


def test_int():
    assert v.check_int("steps", np.int32(7), lo=0) == 7
    with pytest.raises(TypeError, match="steps must be an integer"):
        v.check_int("steps", 2.5, lo=0)
    with pytest.raises(TypeError):
        v.check_int("steps", 2.0, lo=0)
    with pytest.raises(ValueError, match=r"steps must be an integer in \[0, 9223372036854775807\]"):
        v.check_int("steps", 2**63, lo=0)


def test_seed_required_and_ranged():
    with pytest.raises(TypeError, match="seed is required"):
        v.check_seed(None)
    assert v.check_seed(2**64 - 1) == 2**64 - 1
    with pytest.raises(ValueError):
        v.check_seed(2**64)
    with pytest.raises(TypeError):
        v.check_seed("1")


def test_choice_suggests():
    with pytest.raises(ValueError, match=r"unknown method 'mlaa' \(did you mean 'mala'\?\)"):
        v.check_choice("method", "mlaa", ["gd", "mala"])
    assert v.check_choice("method", "MALA", ["gd", "mala"]) == "mala"
    with pytest.raises(TypeError):
        v.check_choice("method", 3, ["gd"])


def test_per_item():
    np.testing.assert_array_equal(v.check_per_item("temperature", 2, 3), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(3,\), got shape \(2,\)"):
        v.check_per_item("temperature", [1.0, 2.0], 3)
    with pytest.raises(ValueError, match=r"shape \(3,\), got shape \(3, 1\)"):
        v.check_per_item("temperature", np.ones((3, 1)), 3)
    with pytest.raises(ValueError, match="entry 1"):
        v.check_per_item("temperature", [1.0, np.nan, 2.0], 3, lo=0)
    with pytest.raises(TypeError):
        v.check_per_item("max_steps", [1.5, 2.0], 2, kind="i")
    assert v.check_per_item("max_steps", 5, 2, kind="i").dtype == np.int64


def test_array_exact_shape():
    a = v.check_array("accepted", np.zeros(4, np.int32), (4,), np.int64)
    assert a.dtype == np.int64
    with pytest.raises(ValueError, match=r"accepted must have shape \(4096,\), got \(8,\)"):
        v.check_array("accepted", np.zeros(8, np.int64), (4096,), np.int64)
    with pytest.raises(TypeError):
        v.check_array("positions", [[0.0]], (1, 1), np.float64)
    with pytest.raises(TypeError):
        v.check_array("accepted", np.zeros(4), (4,), np.int64)


def test_threads_context():
    import numba

    before = numba.get_num_threads()
    with v.threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(TypeError), v.threads(1.5):
        pass


def test_stream_offset():
    assert v.check_stream_offset(10, 5) == 10
    with pytest.raises(ValueError, match="stream_offset"):
        v.check_stream_offset(2**32 - 2, 5)


def test_divergence_error_pickles():
    err = DivergenceError("walker 3 diverged at step 7", 7, 3, {"x": 1})
    back = pickle.loads(pickle.dumps(err))
    assert (back.step, back.index, back.partial_result) == (7, 3, {"x": 1})
    assert str(back) == "walker 3 diverged at step 7"
    assert isinstance(back, FloatingPointError)
