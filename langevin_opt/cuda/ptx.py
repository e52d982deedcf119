"""Compile every CUDA kernel of the package to PTX, without a GPU or a driver.

``numba.cuda.compile_ptx`` needs only NVIDIA's compiler wheels (NVVM, from
``numba-cuda[cu13]``).  It type-checks and compiles kernels the simulator runs
as Python, so type errors the simulator cannot see fail here.

One detail needs a workaround: when a kernel calls a non-inlined ``njit``
function (here ``_fastmath.exp``/``log``/``sincos_2pi``), numba-cuda compiles
it as a device function for "the current device" and asks the driver for that
device's compute capability, which fails without a driver.  While compiling,
:func:`compile_ptx_all` tells numba-cuda's dispatcher that the current device
has the requested compute capability (the device function is emitted as NVVM
IR and linked into the kernel, which is then compiled for ``cc``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["kernel_sources", "compile_ptx_all"]


@contextlib.contextmanager
def _pretend_device(cc: tuple[int, int]) -> Iterator[None]:
    import numba.cuda.dispatcher as disp

    class _Device:
        compute_capability = tuple(cc)

    saved = disp.get_current_device
    disp.get_current_device = lambda: _Device()
    try:
        yield
    finally:
        disp.get_current_device = saved


def kernel_sources() -> dict[str, tuple[Callable, tuple]]:
    """Every kernel of the CUDA backend as (Python source, argument types).

    Walker step kernels for every built-in landscape and every integrator, the
    replica-exchange swap kernel, and the particle kernels.

    Returns
    -------
    dict
        Kernel name -> ``(function, signature)`` for ``numba.cuda.compile_ptx``.
    """
    from .. import landscapes as L
    from .._kernels import BAOAB, GD, MALA, OVERDAMPED
    from . import particles as P
    from . import walkers as W

    out: dict[str, tuple[Callable, tuple]] = {}
    lands = {name: make().energy_grad for name, make in L.LANDSCAPES.items()}
    methods = {"gd": GD, "overdamped": OVERDAMPED, "mala": MALA, "baoab": BAOAB}
    sig = W.step_signature()
    for lname, eg in lands.items():
        for mname, code in methods.items():
            out[f"walkers.step[{lname},{mname}]"] = (W.make_step_kernel(eg, code), sig)
    out["walkers.swap"] = (W.make_swap_kernel(), W.swap_signature())
    out.update(P.kernel_sources())
    return out


def compile_ptx_all(cc: tuple[int, int] = (8, 0), *, fma: bool | None = None) -> dict[str, str]:
    """Compile every kernel to PTX for one compute capability.

    Parameters
    ----------
    cc : (int, int)
        Compute capability, e.g. ``(8, 0)`` or ``(9, 0)``.
    fma : bool, optional
        Multiply-add contraction (default: as the kernels are launched, see
        :func:`langevin_opt.cuda._device.nvvm_fma`).

    Returns
    -------
    dict
        Kernel name -> PTX text.

    Raises
    ------
    RuntimeError
        If the simulator is on (it has no compiler) or a kernel fails to compile
        (the message names the kernel).
    """
    from .backend import simulator

    if simulator():
        raise RuntimeError("compile_ptx_all needs the real numba-cuda target; "
                           "unset NUMBA_ENABLE_CUDASIM")
    from numba import cuda

    from ._device import nvvm_fma

    ptx: dict[str, str] = {}
    with _pretend_device(cc), nvvm_fma(fma):
        for name, (fn, sig) in kernel_sources().items():
            try:
                ptx[name], _ = cuda.compile_ptx(fn, sig, cc=tuple(cc))
            except Exception as err:
                raise RuntimeError(f"{name}: PTX compilation for cc {cc} failed: "
                                   f"{type(err).__name__}: {err}") from err
    return ptx
