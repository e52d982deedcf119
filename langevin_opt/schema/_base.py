"""What every config kind shares: the error type, fields, sections, type names, TOML reading.

A config is a TOML document of sections (tables) of keys.  Each kind declares
its sections as ``{section: {key: Field}}`` and validates with
:func:`check_sections` (the document), :func:`fill_section` (unknown keys with
a "did you mean" hint, required keys, defaults) and a coercer per field
(:func:`coerce` for the common kinds).  Every problem is one
:class:`ConfigError` line that starts with the section, e.g.::

    [integrator] dt: must be a number > 0, got 0
    [ensemble] unknown key 'walkres' (did you mean 'walkers'?); allowed: walkers, ...
"""

from __future__ import annotations

import copy
import math
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..core.validation import suggest

__all__ = [
    "ConfigError",
    "Field",
    "at_least",
    "check_keys",
    "check_sections",
    "coerce",
    "coerce_lists",
    "fill_section",
    "in_open_unit",
    "is_finite_number",
    "is_numeric",
    "read_toml",
    "typename",
]


class ConfigError(ValueError):
    """A config file is malformed; the message is one line naming the key."""


@dataclass(frozen=True)
class Field:
    """One key of a config section.

    Attributes
    ----------
    kind : str
        What :func:`coerce` (or the kind's own coercer) accepts: ``"int"``,
        ``"float"``, ``"str"``, ``"bool"``, ``"float_list"``, ``"int_or_list"``,
        ``"float_or_list"``, or a kind-specific name.
    required : bool
        Whether the key must be given.
    default : object
        Value when it is not given (copied).
    check : callable, optional
        ``check(value) -> message or None`` after coercion.
    choices : tuple of str, optional
        Allowed values (a "did you mean" hint for others).
    extra : object
        Parameter of a kind-specific coercer (e.g. a lower bound).
    """

    kind: str
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None
    choices: tuple[str, ...] | None = None
    extra: Any = None


def at_least(lo: float) -> Callable[[float], str | None]:
    """Range check ``value >= lo`` for :attr:`Field.check`.

    Parameters
    ----------
    lo : float
        Smallest allowed value.

    Returns
    -------
    callable
        ``check(value) -> "must be >= lo" or None``.
    """
    def check(v: float) -> str | None:
        return None if v >= lo else f"must be >= {lo:g}"

    return check


def positive(v: float) -> str | None:
    """Range check ``value > 0`` for :attr:`Field.check`.

    Parameters
    ----------
    v : float
        The coerced value.

    Returns
    -------
    str or None
        The problem, or None.
    """
    return None if v > 0 else "must be > 0"


def in_open_unit(v: float) -> str | None:
    """Range check ``0 < value < 1`` for :attr:`Field.check`.

    Parameters
    ----------
    v : float
        The coerced value.

    Returns
    -------
    str or None
        The problem, or None.
    """
    return None if 0 < v < 1 else "must be in (0, 1)"


def typename(v: object) -> str:
    """TOML name of a value's type, for messages.

    Parameters
    ----------
    v : object
        A parsed TOML value.

    Returns
    -------
    str
        ``"integer"``, ``"number"``, ``"string"``, ``"array"``, ...
    """
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "array", dict: "table"}.get(type(v), type(v).__name__)


def is_finite_number(v: object) -> bool:
    """Whether ``v`` is an int or float (not a bool) that is a finite float64.

    TOML integers have no size limit: one beyond float64's range (``10**400``)
    is not finite here instead of raising ``OverflowError``.

    Parameters
    ----------
    v : object
        A parsed TOML value.

    Returns
    -------
    bool
    """
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def is_numeric(v: object) -> bool:
    """Whether ``v`` is a finite number or a non-empty (nested) array of them.

    Parameters
    ----------
    v : object
        A parsed TOML value.

    Returns
    -------
    bool
    """
    if isinstance(v, list):
        return len(v) > 0 and all(is_numeric(x) for x in v)
    return is_finite_number(v)


def coerce(section: str, key: str, f: Field, v: object) -> object:
    """Check one value against its field and convert it (ints to floats for numbers).

    Parameters
    ----------
    section, key : str
        Where the value stands (for the message).
    f : Field
        Its declaration.
    v : object
        The parsed TOML value.

    Returns
    -------
    object
        The converted value.

    Raises
    ------
    ConfigError
        One line naming ``[section] key``.
    """
    where = f"[{section}] {key}"
    if f.kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{where}: must be an integer, got {typename(v)} {v!r}")
    elif f.kind == "float":
        if not is_finite_number(v):
            raise ConfigError(f"{where}: must be a finite number, got {typename(v)} {v!r}")
        v = float(v)
    elif f.kind == "str":
        if not isinstance(v, str):
            raise ConfigError(f"{where}: must be a string, got {typename(v)} {v!r}")
        if "\x00" in v:  # HDF5 strings and file names cannot hold NUL
            raise ConfigError(f"{where}: must not contain NUL characters, got {v!r}")
    elif f.kind == "bool":
        if not isinstance(v, bool):
            raise ConfigError(f"{where}: must be true or false, got {typename(v)} {v!r}")
    elif f.kind == "float_list":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v]
        if not isinstance(v, list) or not all(is_finite_number(t) for t in v):
            raise ConfigError(f"{where}: must be an array of finite numbers, got {v!r}")
        v = [float(t) for t in v]
    elif f.kind == "int_or_list":
        items = v if isinstance(v, list) else [v]
        if not items or any(isinstance(x, bool) or not isinstance(x, int) or x < 1
                            for x in items):
            raise ConfigError(f"{where}: must be an integer >= 1 or an array of them, "
                              f"got {typename(v)} {v!r}")
    elif f.kind == "float_or_list":
        if not is_numeric(v) or (isinstance(v, list) and any(isinstance(x, list) for x in v)):
            raise ConfigError(f"{where}: must be a number > 0 or an array of them, "
                              f"got {typename(v)} {v!r}")
        vals = v if isinstance(v, list) else [v]
        if any(x <= 0 for x in vals):  # type: ignore[union-attr]
            raise ConfigError(f"{where}: must all be > 0, got {v!r}")
        v = [float(x) for x in v] if isinstance(v, list) else float(v)  # type: ignore[arg-type]
    if f.choices is not None and v not in f.choices:
        hint = suggest(v, f.choices)
        raise ConfigError(f"{where}: must be one of {', '.join(f.choices)}, got {v!r}{hint}")
    if f.check is not None:
        msg = f.check(v)
        if msg:
            raise ConfigError(f"{where}: {msg}, got {v!r}")
    return v


def coerce_lists(section: str, key: str, f: Field, v: object) -> object:
    """:func:`coerce` plus the list kinds of the potential configs.

    ``str_list``: an array of distinct non-empty strings; ``int_list``: an array of
    integers >= 1 (hidden-layer widths); both then pass the field's ``check``.  Other
    kinds go to :func:`coerce`.
    """
    where = f"[{section}] {key}"
    if f.kind == "str_list":
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v) \
                or len(set(v)) != len(v):
            raise ConfigError(f"{where}: must be an array of distinct non-empty strings, got "
                              f"{typename(v)} {v!r}")
        out = list(v)
    elif f.kind == "int_list":
        if not isinstance(v, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                              and s >= 1 for s in v):
            what = " (hidden-layer widths)" if key == "hidden" else ""
            raise ConfigError(f"{where}: must be an array of integers >= 1{what}, got "
                              f"{typename(v)} {v!r}")
        out = list(v)
    else:
        return coerce(section, key, f, v)
    msg = f.check(out) if f.check is not None else None
    if msg:
        raise ConfigError(f"{where}: {msg}, got {v!r}")
    return out


def check_keys(section: str, table: Mapping, allowed: list[str]) -> None:
    """Refuse a key that is not allowed, with a "did you mean" hint.

    Parameters
    ----------
    section : str
        Section name for the message.
    table : mapping
        The section's keys.
    allowed : list of str
        The keys it may hold.

    Raises
    ------
    ConfigError
        ``[section] unknown key 'x' (did you mean 'y'?); allowed: ...``.
    """
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"[{section}] unknown key {key!r}{suggest(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )


def check_sections(raw: object, allowed: list[str], required: tuple[str, ...]) -> Mapping:
    """Check the document: a table whose sections are allowed, present if required, tables.

    Parameters
    ----------
    raw : object
        The parsed document.
    allowed : list of str
        Section names the kind knows.
    required : tuple of str
        Sections that must be present.

    Returns
    -------
    mapping
        ``raw``.

    Raises
    ------
    ConfigError
        On the first problem.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config: the document must be a TOML table of sections, got "
                          f"{type(raw).__name__}")
    for sec in raw:
        if sec not in allowed:
            raise ConfigError(f"config: unknown section [{sec}]{suggest(sec, allowed)}; "
                              f"allowed: {', '.join(allowed)}")
    for sec in required:
        if sec not in raw:
            raise ConfigError(f"[{sec}] section is missing (required)")
    for sec in raw:
        if not isinstance(raw[sec], Mapping):
            raise ConfigError(f"[{sec}] must be a table, got {typename(raw[sec])}")
    return raw


def fill_section(section: str, table: Mapping, fields: Mapping[str, Field],
                 convert: Callable[[str, str, Field, object], object] = coerce) -> dict:
    """Validate one section: unknown keys, required keys, values, and defaults.

    Parameters
    ----------
    section : str
        Section name.
    table : mapping
        Its keys as given (``None`` values mean "default", as in a stored config).
    fields : mapping of str to Field
        Its declaration.
    convert : callable
        ``convert(section, key, field, value) -> value``; default :func:`coerce`.

    Returns
    -------
    dict
        Every declared key, given or defaulted.

    Raises
    ------
    ConfigError
        On the first problem.
    """
    check_keys(section, table, list(fields))
    out = {}
    for key, f in fields.items():
        if key in table and table[key] is not None:
            out[key] = convert(section, key, f, table[key])
        elif f.required:
            one_of = f"; one of {', '.join(f.choices)}" if f.choices else ""
            raise ConfigError(f"[{section}] {key}: missing (required){one_of}")
        else:
            out[key] = copy.deepcopy(f.default)
    return out


def read_toml(path: str | Path) -> dict:
    """Parse a TOML file, with one-line :class:`ConfigError` messages for every failure.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    dict
        The parsed document (not validated).

    Raises
    ------
    ConfigError
        Missing or unreadable file, or a TOML syntax error.
    """
    p = Path(path)
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise ConfigError(f"{p}: cannot read config ({kind}; expected a TOML file)")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: cannot read config ({st.st_size} bytes; a config is at "
                              f"most {MAX_CONFIG_BYTES} bytes)")
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read config ({err})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: TOML syntax error: {err}") from None
    except RecursionError:
        doc = None
    if doc is None or _depth(doc) > MAX_DEPTH:
        raise ConfigError(f"{p}: config nested too deeply (arrays and tables may nest at most "
                          f"{MAX_DEPTH} levels)")
    return doc


MAX_CONFIG_BYTES = 16 * 2**20
MAX_DEPTH = 32


def _depth(value: object) -> int:
    """Nesting depth of parsed TOML (iterative: deep documents must not recurse)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            break
        if isinstance(v, Mapping):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest
