"""Data sets: reproducible by seed, documented shapes and label ranges, errors."""

from __future__ import annotations

import numpy as np
import pytest

from langevin_opt.nn import MLP
from langevin_opt.nn import data as D


def _same(a, b):
    for f in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))


@pytest.mark.parametrize(
    "make",
    [
        lambda s: D.teacher_student_regression(40, 10, sizes=(3, 5, 2), seed=s),
        lambda s: D.teacher_student_classification(40, 10, sizes=(3, 5, 4), seed=s),
        lambda s: D.two_moons(40, 10, seed=s),
        lambda s: D.iris(seed=s),
    ],
)
def test_reproducible_by_seed(make):
    _same(make(3), make(3))
    with pytest.raises(AssertionError):
        _same(make(3), make(4))


def test_teacher_student_shapes_and_targets():
    d = D.teacher_student_regression(40, 10, sizes=(3, 5, 2), noise=0.0, seed=1)
    assert d.X_train.shape == (40, 3) and d.y_train.shape == (40, 2)
    assert d.X_test.shape == (10, 3) and d.y_test.shape == (10, 2)
    assert d.n_classes == 0 and d.n_outputs == 2 and d.n_features == 3
    teacher = MLP((3, 5, 2), "tanh", "mse")
    np.testing.assert_allclose(teacher.forward(d.info["teacher_theta"], d.X_train), d.y_train,
                               rtol=1e-12, atol=1e-12)
    c = D.teacher_student_classification(200, sizes=(3, 5, 4), seed=1)
    assert c.y_train.dtype == np.int64 and c.y_train.shape == (200,) and c.X_test.shape == (0, 3)
    assert set(np.unique(c.y_train)) <= {0, 1, 2, 3} and len(np.unique(c.y_train)) >= 2
    f = MLP((3, 5, 4), "tanh", "softmax_ce").forward(c.info["teacher_theta"], c.X_train)
    np.testing.assert_array_equal(np.argmax(f, axis=1), c.y_train)


def test_two_moons_geometry():
    d = D.two_moons(200, noise=0.0, seed=2)
    X, y = d.X_train, d.y_train
    assert X.shape == (200, 2) and d.n_classes == 2
    np.testing.assert_array_equal(y, np.arange(200) % 2)
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0)
    assert np.all(X[y == 0, 1] >= 0) and np.all(X[y == 1, 1] <= 0.5)


def test_iris_is_the_real_data():
    d = D.iris(test_fraction=0.0, standardize=False, seed=0)
    X, y = d.X_train, d.y_train
    assert X.shape == (150, 4) and d.X_test.shape == (0, 4)
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    # the classic column means (cm) and a known row (first flower of the file)
    np.testing.assert_allclose(X.mean(axis=0), [5.843333, 3.054, 3.758667, 1.198667], atol=1e-5)
    assert any(np.array_equal(r, [5.1, 3.5, 1.4, 0.2]) for r in X[y == 0])
    s = D.iris(test_fraction=0.3, seed=1)
    assert s.X_train.shape == (105, 4) and s.X_test.shape == (45, 4)
    np.testing.assert_allclose(s.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(s.X_train.std(axis=0), 1.0, rtol=1e-12)


def test_train_test_split_partitions_rows():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    Xtr, ytr, Xte, yte = D.train_test_split(X, y, 0.3, seed=0)
    assert len(yte) == 3 and len(ytr) == 7
    assert sorted(np.concatenate([ytr, yte])) == list(range(10))
    np.testing.assert_array_equal(Xtr[:, 0], 2 * ytr)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: D.two_moons(0, seed=0), "n_train must be an integer >= 1"),
        (lambda: D.two_moons(10, -1, seed=0), "n_test must be an integer >= 0"),
        (lambda: D.two_moons(10, noise=-1.0, seed=0), "noise must be"),
        (lambda: D.iris(test_fraction=1.0, seed=0),
         r"test_fraction must be a finite number in \[0, 1\)"),
        (lambda: D.teacher_student_classification(10, sizes=(3, 1), seed=0),
         "at least|>= 2 classes"),
        (lambda: D.teacher_student_regression(10, activation="gelu", seed=0),
         "unknown activation 'gelu'"),
        (lambda: D.train_test_split(np.zeros((3, 1)), np.zeros(4), 0.5, seed=0), "same number of rows"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("make", [
    lambda **kw: D.two_moons(10, **kw),
    lambda **kw: D.iris(**kw),
    lambda **kw: D.teacher_student_regression(10, **kw),
    lambda **kw: D.teacher_student_classification(10, **kw),
    lambda **kw: D.train_test_split(np.zeros((4, 1)), np.zeros(4), 0.5, **kw),
])
def test_seed_is_required(make):
    with pytest.raises(TypeError, match="^seed is required"):
        make()
    with pytest.raises(TypeError, match="^seed must be an integer"):
        make(seed=1.5)
