"""Pickling compiled functions by import path, so that worker processes reuse their kernels.

Numba pickles a dispatcher *by value*: the loading process gets a new dispatcher with
the same Python code, and every kernel built around it compiles again.  A dispatcher
that is a module-level name (``module.qualname`` resolves to it) is pickled here by that
name instead: the loading process imports the module and gets the very dispatcher it
already has, with whatever it compiled (or loaded from the disk cache) for it.  Anything
else falls back to Numba's pickle by value.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable

__all__ = ["dispatcher_ref", "import_path", "load_ref", "path_of"]


def import_path(module: str, qualname: str) -> object:
    """The object ``module.qualname`` (importing ``module``).

    Parameters
    ----------
    module : str
        Dotted module name.
    qualname : str
        Dotted attribute path inside it.

    Returns
    -------
    object
    """
    obj: object = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def path_of(fn: Callable) -> tuple[str, str] | None:
    """``(module, qualname)`` of the Python function behind ``fn``, if it could be importable.

    Parameters
    ----------
    fn : callable
        A Numba dispatcher or a Python function.

    Returns
    -------
    (str, str) or None
        ``None`` for lambdas, closures and functions of ``__main__`` (a worker process
        started by loky or Dask does not have the parent's ``__main__``).
    """
    py = getattr(fn, "py_func", fn)
    module = getattr(py, "__module__", None)
    qualname = getattr(py, "__qualname__", "")
    if not module or module == "__main__" or not qualname or "<" in qualname:
        return None
    return module, qualname


def dispatcher_ref(fn: Callable) -> tuple:
    """How to pickle a compiled function: ``("path", module, qualname)`` or ``("value", bytes)``.

    Parameters
    ----------
    fn : callable
        Usually a Numba dispatcher.

    Returns
    -------
    tuple
        For :func:`load_ref`.

    Raises
    ------
    Exception
        Whatever pickling ``fn`` by value raises (callers turn it into a one-line
        :class:`pickle.PicklingError` naming what they pickle).
    """
    where = path_of(fn)
    if where is not None:
        try:
            if import_path(*where) is fn:
                return ("path", *where)
        except (ImportError, AttributeError):
            pass
    return ("value", pickle.dumps(fn))


def load_ref(ref: tuple) -> object:
    """The function a :func:`dispatcher_ref` describes.

    Parameters
    ----------
    ref : tuple
        From :func:`dispatcher_ref`.

    Returns
    -------
    object
    """
    if ref[0] == "path":
        return import_path(ref[1], ref[2])
    return pickle.loads(ref[1])
