"""Counter-based generator: known answers, distribution and independence."""

import numpy as np
import pytest
from scipy import stats

from langevin_opt import rng
from langevin_opt.core import validation

# Random123 kat_vectors: counter (4 words), key (2 words) -> output (4 words)
KAT = [
    (10, "00000000 00000000 00000000 00000000 00000000 00000000",
     "6627e8d5 e169c58d bc57ac4c 9b00dbd8"),
    (10, "ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff",
     "408f276d 41c83b0e a20bc7c6 6d5451fd"),
    (10, "243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0",
     "d16cfe09 94fdcceb 5001e420 24126ea1"),
    (7, "00000000 00000000 00000000 00000000 00000000 00000000",
     "5f6fb709 0d893f64 4f121f81 4f730a48"),
    (7, "ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff",
     "5207ddc2 45165e59 4d8ee751 8c52f662"),
    (7, "243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0",
     "4dfccaba 190a87f0 c47362ba b6b5242a"),
]


@pytest.mark.parametrize("rounds,inp,out", KAT)
def test_philox_known_answers(rounds, inp, out):
    words = [np.uint64(int(w, 16)) for w in inp.split()]
    got = rng.philox4x32(*words, rounds)
    assert [int(g) for g in got] == [int(w, 16) for w in out.split()]


def test_unrolled_philox_matches_reference_loop():
    # the unrolled 10-round function used by the kernels == the looped reference
    from langevin_opt.rng import _philox10

    r = np.random.default_rng(0)
    for _ in range(20):
        w = [np.uint64(v) for v in r.integers(0, 2**32, size=6)]
        assert [int(a) for a in _philox10(*w)] == [int(b) for b in rng.philox4x32(*w, 10)]


def test_uniforms_open_interval_and_ks():
    u = rng.uniforms(7, (20000, 10)).ravel()
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_normals_moments_and_ks():
    z = rng.normals(11, (50000, 8), step=3).ravel()
    n = z.size
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_no_correlation_between_neighbouring_streams_and_counters():
    n = 40000
    a = rng.normals(5, (n, 2), stream_offset=0, step=0)
    # neighbouring streams: stream i vs i+1 at the same step
    r_streams = np.corrcoef(a[:-1, 0], a[1:, 0])[0, 1]
    # neighbouring counters: same streams, step 0 vs step 1
    b = rng.normals(5, (n, 2), stream_offset=0, step=1)
    r_steps = np.corrcoef(a[:, 0], b[:, 0])[0, 1]
    # the two normals of one Box-Muller pair
    r_pair = np.corrcoef(a[:, 0], a[:, 1])[0, 1]
    # draw index (columns 0-1 vs 2-3 come from different Philox calls)
    c = rng.normals(5, (n, 4), stream_offset=0, step=0)
    r_draw = np.corrcoef(c[:, 0], c[:, 2])[0, 1]
    bound = 5 / np.sqrt(n)
    for r in (r_streams, r_steps, r_pair, r_draw):
        assert abs(r) < bound
    # squared values as well (Box-Muller pairs are uncorrelated but could be dependent)
    assert abs(np.corrcoef(a[:, 0] ** 2, a[:, 1] ** 2)[0, 1]) < bound


def test_pure_function_of_key_and_counter():
    a = rng.normals(123, (16, 3), stream_offset=40, step=9)
    b = rng.normals(123, (16, 3), stream_offset=40, step=9)
    assert np.array_equal(a, b)
    # stream i of a block starting at 40 equals stream 0 of a block starting at 40 + i
    c = rng.normals(123, (1, 3), stream_offset=45, step=9)
    assert np.array_equal(a[5], c[0])
    for other in (
        rng.normals(124, (16, 3), stream_offset=40, step=9),
        rng.normals(123, (16, 3), stream_offset=41, step=9),
        rng.normals(123, (16, 3), stream_offset=40, step=10),
        rng.normals(123, (16, 3), stream_offset=40, step=9, purpose=rng.PURPOSE_ACCEPT),
    ):
        assert not np.any(other == a)


def test_large_seeds_and_steps():
    hi = rng.normals(2**64 - 1, (4, 2), step=2**48 - 1)
    lo = rng.normals(2**32 - 1, (4, 2), step=2**32 - 1)
    assert np.all(np.isfinite(hi)) and not np.any(hi == lo)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_seed_out_of_range_is_a_value_error(seed):
    with pytest.raises(ValueError, match="seed must be an integer"):
        rng.normals(seed, (2, 2))


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_seed_of_wrong_type_is_a_type_error(seed):
    with pytest.raises(TypeError, match="seed must be an integer"):
        rng.normals(seed, (2, 2))


def test_missing_seed_is_a_type_error():
    with pytest.raises(TypeError, match="seed is required"):
        rng.normals(None, (2, 2))
    assert rng.check_seed is validation.check_seed  # one implementation, re-exported


def test_bad_counter_arguments():
    with pytest.raises(ValueError, match="step"):
        rng.normals(1, (2, 2), step=2**48)
    with pytest.raises(ValueError, match="stream"):
        rng.normals(1, (2, 2), stream_offset=2**32 - 1)
    with pytest.raises(ValueError, match="shape"):
        rng.normals(1, (0, 2))
