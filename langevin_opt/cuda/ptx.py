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

__all__ = ["kernel_sources", "compile_ptx_all", "compile_ptx_many"]


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
    replica-exchange swap kernel, the first-passage kernels (overdamped and BAOAB
    on every built-in landscape), and the particle kernels.

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
    from . import first_passage as FP

    for lname, eg in lands.items():
        for mname in ("overdamped", "baoab"):
            out[f"first_passage[{lname},{mname}]"] = (
                FP.make_first_passage_kernel(eg, methods[mname]), FP.first_passage_signature())
    out.update(P.kernel_sources())
    return out


def _compile_once(fn: Callable, sig: tuple, ccs: list[tuple[int, int]]) -> dict:
    # Type and lower once, then let NVVM emit PTX per compute capability (lowering is
    # ~90 % of the time).  Uses numba-cuda's internal compile step; falls back to one
    # public compile_ptx call per capability if that changes.
    from numba import cuda

    try:
        from numba.cuda.compiler import _compile_pyfunc_with_fixup

        lib, _ = _compile_pyfunc_with_fixup(fn, sig, debug=False, lineinfo=False, device=False,
                                            fastmath=False, cc=ccs[0], opt=True, abi="numba",
                                            abi_info=None, forceinline=False,
                                            launch_bounds=None, lto=False)
    except (ImportError, TypeError):
        return {cc: cuda.compile_ptx(fn, sig, cc=cc)[0] for cc in ccs}
    return {cc: "\n".join(lib.get_asm_strs(cc=cc)) for cc in ccs}


def compile_ptx_many(ccs, *, fma: bool | None = None) -> dict[tuple[int, int], dict[str, str]]:
    """Compile every kernel to PTX for several compute capabilities.

    Parameters
    ----------
    ccs : sequence of (int, int)
        Compute capabilities, e.g. ``[(8, 0), (9, 0)]``.
    fma : bool, optional
        Multiply-add contraction (default: as the kernels are launched, see
        :func:`langevin_opt.cuda._device.nvvm_fma`).

    Returns
    -------
    dict
        Compute capability -> (kernel name -> PTX text).

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
    from ._device import nvvm_fma

    ccs = [tuple(int(v) for v in cc) for cc in ccs]
    out: dict[tuple[int, int], dict[str, str]] = {cc: {} for cc in ccs}
    with _pretend_device(ccs[0]), nvvm_fma(fma):
        for name, (fn, sig) in kernel_sources().items():
            try:
                ptx = _compile_once(fn, sig, ccs)
            except Exception as err:
                raise RuntimeError(f"{name}: PTX compilation for cc {ccs} failed: "
                                   f"{type(err).__name__}: {err}") from err
            for cc in ccs:
                out[cc][name] = ptx[cc]
    return out


def compile_ptx_all(cc: tuple[int, int] = (8, 0), *, fma: bool | None = None) -> dict[str, str]:
    """Compile every kernel to PTX for one compute capability.

    Parameters
    ----------
    cc : (int, int)
        Compute capability, e.g. ``(8, 0)`` or ``(9, 0)``.
    fma : bool, optional
        Multiply-add contraction (see :func:`compile_ptx_many`).

    Returns
    -------
    dict
        Kernel name -> PTX text.
    """
    key = tuple(int(v) for v in cc)
    return compile_ptx_many([key], fma=fma)[key]
