"""Argument checks with one signature: ``check_*(name, value, ...)``.

Each returns the value converted to the type the kernels use, or raises a one-line
error that names ``name`` and the allowed values.  :class:`TypeError` is for a value of
the wrong type (a string where a number goes, ``2.5`` where an integer goes);
:class:`ValueError` is for the right type with a wrong value, range or shape.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

__all__ = [
    "INT64_MAX",
    "check_array",
    "check_choice",
    "check_finite",
    "check_int",
    "check_nonnegative",
    "check_per_item",
    "check_settings",
    "check_positive",
    "check_progress",
    "check_real",
    "check_seed",
    "check_stream_offset",
    "suggest",
    "threads",
]

#: Largest integer a compiled kernel's int64 counters hold.
INT64_MAX = 2**63 - 1
#: Streams of the counter-based generator are 32-bit (``rng``): offsets plus counts stay below.
STREAM_LIMIT = 2**32


def suggest(word: object, options: Iterable[object]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest option, or ``""``.

    Parameters
    ----------
    word : object
        What the user wrote.
    options : iterable
        The allowed values (compared as strings).

    Returns
    -------
    str
        The suggestion, with a leading space, or the empty string.
    """
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_real_scalar(v: object) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf"


def _range_text(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    if lo == -math.inf and hi == math.inf:
        return ""
    if hi == math.inf:
        return f" {'>' if lo_open else '>='} {lo:g}"
    if lo == -math.inf:
        return f" {'<' if hi_open else '<='} {hi:g}"
    return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_real(name: str, value: object, *, lo: float = -math.inf, hi: float = math.inf,
               lo_open: bool = False, hi_open: bool = False) -> float:
    """Check a finite real scalar within a range.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate; Python and NumPy ints and floats (not booleans, not strings).
    lo, hi : float
        Bounds of the allowed range.
    lo_open, hi_open : bool
        Whether the bounds are excluded.

    Returns
    -------
    float
        The value.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is not finite or outside the range.
    """
    rng = _range_text(lo, hi, lo_open, hi_open)
    if not _is_real_scalar(value):
        raise TypeError(f"{name} must be a finite number{rng}, got {type(value).__name__} "
                        f"{value!r}")
    f = float(value)  # type: ignore[arg-type]
    ok = math.isfinite(f)
    ok = ok and (f > lo if lo_open else f >= lo) and (f < hi if hi_open else f <= hi)
    if not ok:
        raise ValueError(f"{name} must be a finite number{rng}, got {value!r}")
    return f


def check_finite(name: str, value: object) -> float:
    """Check a finite real number (see :func:`check_real`).

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate.

    Returns
    -------
    float
        The value.
    """
    return check_real(name, value)


def check_positive(name: str, value: object) -> float:
    """Check a finite real number ``> 0`` (see :func:`check_real`).

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate.

    Returns
    -------
    float
        The value.
    """
    return check_real(name, value, lo=0.0, lo_open=True)


def check_nonnegative(name: str, value: object) -> float:
    """Check a finite real number ``>= 0`` (see :func:`check_real`).

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate.

    Returns
    -------
    float
        The value.
    """
    return check_real(name, value, lo=0.0)


def check_int(name: str, value: object, *, lo: int | None = None,
              hi: int | None = INT64_MAX) -> int:
    """Check an integer within ``[lo, hi]`` (``hi`` defaults to what int64 holds).

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate; Python or NumPy integers only (``2.0`` and ``2.5`` are refused).
    lo, hi : int or None
        Inclusive bounds (``None``: unbounded).

    Returns
    -------
    int
        The value as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it is out of range.
    """
    if lo is not None and hi is not None:
        rng = f" in [{lo}, {hi}]"
    elif lo is not None:
        rng = f" >= {lo}"
    elif hi is not None:
        rng = f" <= {hi}"
    else:
        rng = ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer{rng}, got {type(value).__name__} "
                        f"{value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer{rng}, got {v}")
    return v


def check_seed(seed: object) -> int:
    """Check the key of the counter-based generator: required, an integer in ``[0, 2**64)``.

    Parameters
    ----------
    seed : int
        Candidate seed (``None`` means the caller did not pass one).

    Returns
    -------
    int
        The seed as a Python int.

    Raises
    ------
    TypeError
        If no seed was given or it is not an integer.
    ValueError
        If it is outside ``[0, 2**64)``.
    """
    if seed is None:
        raise TypeError("seed is required: pass seed=<an integer in [0, 2**64)> so that the "
                        "run can be reproduced")
    return check_int("seed", seed, lo=0, hi=2**64 - 1)


def check_stream_offset(value: object, count: int) -> int:
    """Check ``stream_offset``: the global index of the first walker, chain or replica.

    Random streams are numbered ``stream_offset + i``; a part of an ensemble run on its
    own with its offset gets the same numbers as the whole run.

    Parameters
    ----------
    value : int
        Candidate offset.
    count : int
        Number of streams the run uses after the offset.

    Returns
    -------
    int
        The offset.
    """
    return check_int("stream_offset", value, lo=0, hi=STREAM_LIMIT - max(int(count), 1))


def check_progress(name: str, value: object, *, call: str = "progress(step, total)") -> object:
    """Check a ``progress`` argument: ``True``/``False`` (a bar on stderr or none) or a callable.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate: a bool (NumPy bools too), ``None`` (no progress) or a callable.
    call : str
        How the callable is called, for the message.

    Returns
    -------
    bool or callable
        ``False`` for ``None``.

    Raises
    ------
    TypeError
        Anything else (one line).
    """
    if value is None:
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if callable(value):
        return value
    raise TypeError(f"{name} must be True, False or a callable {call}, got "
                    f"{type(value).__name__} {value!r}"[:300])


def check_choice(name: str, value: object, options: Iterable[str]) -> str:
    """Check a name against the allowed ones (case-insensitive), with a suggestion.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate.
    options : iterable of str
        Allowed values (lower case).

    Returns
    -------
    str
        The value, lower-cased.
    """
    opts = list(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, opts))}, got "
                        f"{type(value).__name__} {value!r}")
    v = value.lower()
    if v not in opts:
        raise ValueError(f"unknown {name} {value!r}{suggest(value, opts)}; allowed: "
                         f"{', '.join(opts)}")
    return v


def check_settings(settings: Iterable[str], allowed: Sequence[str], *, where: str = "",
                   prefix: str = "") -> None:
    """Refuse a keyword setting that a registry entry does not take, with a suggestion.

    The one check behind ``make_integrator``, ``make_schedule``, ``make_landscape``
    and ``make_method``: the first unknown key raises ``ValueError: {prefix}unknown
    setting 'key'{where} (did you mean ...?); allowed: ...``.

    Parameters
    ----------
    settings : iterable of str
        The keys given.
    allowed : sequence of str
        The keys the entry takes.
    where : str, optional
        Text after the key, e.g. ``" for landscape 'double_well'"``.
    prefix : str, optional
        Text before the message.

    Raises
    ------
    ValueError
        On the first key not in ``allowed``.
    """
    for key in settings:
        if key not in allowed:
            raise ValueError(f"{prefix}unknown setting {key!r}{where}{suggest(key, allowed)}; "
                             f"allowed: {', '.join(allowed) or '(none)'}")


def check_per_item(name: str, value: object, n: int, *, lo: float = -math.inf,
                   hi: float = math.inf, lo_open: bool = False, kind: str = "f") -> np.ndarray:
    """Check a scalar or one value per item (walker, chain, replica) and broadcast it.

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : float or array_like of shape (n,)
        One value for all, or one per item.
    n : int
        Number of items.
    lo, hi : float
        Inclusive bounds (``lo`` exclusive with ``lo_open``).
    lo_open : bool
        Exclude ``lo``.
    kind : {"f", "i"}
        ``"f"``: float64 result; ``"i"``: int64 result (integer values required).

    Returns
    -------
    numpy.ndarray, shape (n,)
        float64 or int64 values.
    """
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise TypeError(f"{name} must be a number or an array of {n} numbers, got "
                        f"{type(value).__name__}")
    a = np.asarray(value)
    if a.dtype.kind not in ("iu" if kind == "i" else "iuf"):
        what = "integers" if kind == "i" else "real numbers"
        raise TypeError(f"{name} must hold {what}, got dtype {a.dtype}")
    if a.ndim == 0:
        a = np.full(n, a[()])
    elif a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.int64 if kind == "i" else np.float64)
    ok = np.isfinite(a) & (a > lo if lo_open else a >= lo) & (a <= hi)
    if not np.all(ok):
        bad = int(np.flatnonzero(~ok)[0])
        rng = _range_text(lo, hi, lo_open, False)
        raise ValueError(f"{name} must be finite{rng}; entry {bad} is {a[bad]!r}")
    return a


def check_array(name: str, value: object, shape: tuple[int | None, ...], dtype: object,
                *, finite: bool = False) -> np.ndarray:
    """Check an array passed back into a compiled kernel (shape and dtype exactly).

    Parameters
    ----------
    name : str
        Argument name for the message.
    value : object
        Candidate; must already be a NumPy array of the given kind.
    shape : tuple of int or None
        Expected shape (``None`` matches any length on that axis).
    dtype : numpy dtype-like
        Expected dtype; integer and float arrays of another width are converted,
        other kinds are refused.
    finite : bool
        Also require every value to be finite.

    Returns
    -------
    numpy.ndarray
        A C-contiguous array of ``dtype`` (a copy where a conversion was needed).
    """
    want = np.dtype(dtype)
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape {_shape_text(shape)}, got "
                        f"{type(value).__name__}")
    if value.dtype.kind not in ("iu" if want.kind in "iu" else "iuf"):
        raise TypeError(f"{name} must have dtype {want}, got {value.dtype}")
    if value.ndim != len(shape) or any(s is not None and s != g
                                       for s, g in zip(shape, value.shape, strict=True)):
        raise ValueError(f"{name} must have shape {_shape_text(shape)}, got {value.shape}")
    a = np.ascontiguousarray(value, dtype=want)
    if finite and want.kind == "f" and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


@contextlib.contextmanager
def threads(n: object) -> Iterator[None]:
    """Run the enclosed compiled calls on ``n`` threads (``None``: leave Numba's setting).

    Parameters
    ----------
    n : int or None
        Thread count, ``1 <= n <= NUMBA_NUM_THREADS``.

    Yields
    ------
    None
    """
    if n is None:
        yield
        return
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    k = check_int("threads", n, lo=1, hi=top)
    old = numba.get_num_threads()
    numba.set_num_threads(k)
    try:
        yield
    finally:
        numba.set_num_threads(old)
