"""Backend selection: is the CUDA backend usable here, and the one-line errors when not.

``backend="cuda"`` never falls back to the CPU silently: :func:`require` raises
:class:`BackendUnavailableError` with one line that says what is missing and
names the CPU alternative.  Importing this module does not import
``numba.cuda`` (that costs a second or two); :func:`available` and
:func:`require` do, on first use.
"""

from __future__ import annotations

import importlib.util
import os

__all__ = ["BACKENDS", "BackendUnavailableError", "available", "check_backend", "require",
           "simulator"]

#: The accepted values of ``backend=``.
BACKENDS = ("cpu", "cuda")

_NO_PACKAGE = ("backend='cuda' needs NVIDIA's numba-cuda package, which is not installed "
               "(pip install 'langevin_opt[cuda]'); use backend='cpu'")
_NO_DEVICE = ("backend='cuda' needs an NVIDIA GPU and driver (numba.cuda.is_available() is "
              "False); use backend='cpu'")


class BackendUnavailableError(RuntimeError):
    """``backend="cuda"`` was asked for where it cannot run (message: one line)."""


def check_backend(backend: object) -> str:
    """Validate a ``backend=`` argument.

    Parameters
    ----------
    backend : str
        ``"cpu"`` or ``"cuda"`` (case-insensitive).

    Returns
    -------
    str
        The backend name in lower case.

    Raises
    ------
    ValueError
        If ``backend`` is not one of :data:`BACKENDS`.
    """
    if isinstance(backend, str) and backend.strip().lower() in BACKENDS:
        return backend.strip().lower()
    raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")


def _installed() -> bool:
    # numba-cuda installs the package ``numba_cuda`` (and redirects numba.cuda to it)
    return importlib.util.find_spec("numba_cuda") is not None


def simulator() -> bool:
    """Whether Numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``).

    Returns
    -------
    bool
    """
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0)) or \
        os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


def available() -> bool:
    """Whether ``backend="cuda"`` can run: numba-cuda installed and a GPU visible.

    Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) this is True: kernels
    then run as Python threads on the CPU (for tests, at small sizes).

    Returns
    -------
    bool
    """
    if not _installed():
        return False
    from numba import cuda

    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver install means "not available"
        return False


def require() -> None:
    """Raise a one-line error unless the CUDA backend can run here.

    Raises
    ------
    BackendUnavailableError
        Without numba-cuda, or without an NVIDIA GPU and driver; the message
        names the missing piece and the CPU alternative (``backend='cpu'``).
    """
    if not _installed():
        raise BackendUnavailableError(_NO_PACKAGE)
    if not available():
        raise BackendUnavailableError(_NO_DEVICE)
