"""Single-thread throughput of langevin_opt._fastmath vs libm (math.*) inside Numba loops.

Each kernel evaluates the function 1e7 times over a 4096-element block that stays
in L1/L2, so this measures arithmetic throughput, not memory bandwidth.  A
W = 16 walker block (Box-Muller + Mueller-Brown gradient) is timed too.
The last line printed is a JSON object with all timings (ns per evaluation).

Run:  python benchmarks/bench_fastmath.py [n_evals]
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time

import numba
import numpy as np
from llvmlite import binding as llvm_binding

try:
    from langevin_opt import _fastmath as fm
except ImportError:  # running from a checkout without an installed package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from langevin_opt import _fastmath as fm

BLOCK = 4096
TWO_PI = 2.0 * math.pi


@numba.njit
def exp_fm(x, out, reps):
    for _ in range(reps):
        for j in range(x.size):
            out[j] = fm.exp(x[j])


@numba.njit
def exp_libm(x, out, reps):
    for _ in range(reps):
        for j in range(x.size):
            out[j] = math.exp(x[j])


@numba.njit
def log_fm(x, out, reps):
    for _ in range(reps):
        for j in range(x.size):
            out[j] = fm.log(x[j])


@numba.njit
def log_libm(x, out, reps):
    for _ in range(reps):
        for j in range(x.size):
            out[j] = math.log(x[j])


@numba.njit
def sincos_fm(u, out_s, out_c, reps):
    for _ in range(reps):
        for j in range(u.size):
            s, c = fm.sincos_2pi(u[j])
            out_s[j] = s
            out_c[j] = c


@numba.njit
def sincos_libm(u, out_s, out_c, reps):
    for _ in range(reps):
        for j in range(u.size):
            a = TWO_PI * u[j]
            out_s[j] = math.sin(a)
            out_c[j] = math.cos(a)


# Mueller-Brown parameters
MB_A = (-200.0, -100.0, -170.0, 15.0)
MB_a = (-1.0, -1.0, -6.5, 0.7)
MB_b = (0.0, 0.0, 11.0, 0.6)
MB_c = (-10.0, -10.0, -6.5, 0.7)
MB_X0 = (1.0, 0.0, -0.5, -1.0)
MB_Y0 = (0.0, 0.5, 1.5, 1.0)


def _make_walker_step(exp, log, sincos):
    @numba.njit
    def step(x, y, u1, u2, gx_out, gy_out, reps):
        # W walkers, structure of arrays; the draws u1/u2 are reused (we only time the math).
        for _ in range(reps):
            for j in range(x.size):
                gx = 0.0
                gy = 0.0
                for k in range(4):
                    dx = x[j] - MB_X0[k]
                    dy = y[j] - MB_Y0[k]
                    e = MB_A[k] * exp(MB_a[k] * dx * dx + MB_b[k] * dx * dy + MB_c[k] * dy * dy)
                    gx += e * (2.0 * MB_a[k] * dx + MB_b[k] * dy)
                    gy += e * (MB_b[k] * dx + 2.0 * MB_c[k] * dy)
                r = math.sqrt(-2.0 * log(1.0 - u1[j]))
                s, c = sincos(u2[j])
                gx_out[j] = gx + r * c
                gy_out[j] = gy + r * s

    return step


@numba.njit
def _sincos_libm_scalar(u):
    a = TWO_PI * u
    return math.sin(a), math.cos(a)


walker_fm = _make_walker_step(fm.exp, fm.log, fm.sincos_2pi)
walker_libm = _make_walker_step(math.exp, math.log, _sincos_libm_scalar)


def _best(fn, args, repeats=5):
    fn(*args[:-1], 1)  # compile + warm up
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main(n_evals: int = 10_000_000) -> dict:
    """Time all kernels and return ns per evaluation."""
    rng = np.random.default_rng(0)
    reps = max(1, n_evals // BLOCK)
    n = reps * BLOCK
    xe = rng.uniform(-700.0, 700.0, BLOCK)
    xl = np.exp(rng.uniform(-700.0, 700.0, BLOCK))
    u = rng.random(BLOCK)
    o1 = np.empty(BLOCK)
    o2 = np.empty(BLOCK)
    res = {}
    for name, fn, args in [
        ("exp_fm", exp_fm, (xe, o1, reps)),
        ("exp_libm", exp_libm, (xe, o1, reps)),
        ("log_fm", log_fm, (xl, o1, reps)),
        ("log_libm", log_libm, (xl, o1, reps)),
        ("sincos_fm", sincos_fm, (u, o1, o2, reps)),
        ("sincos_libm", sincos_libm, (u, o1, o2, reps)),
    ]:
        res[name] = 1e9 * _best(fn, args) / n
    # numpy's own SIMD ufuncs for reference (includes a memory pass per call)
    t0 = time.perf_counter()
    for _ in range(reps):
        np.exp(xe, out=o1)
    res["exp_numpy_ufunc"] = 1e9 * (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for _ in range(reps):
        np.log(xl, out=o1)
    res["log_numpy_ufunc"] = 1e9 * (time.perf_counter() - t0) / n

    w = 16
    wreps = max(1, n_evals // w // 4)
    xw = rng.uniform(-1.5, 1.0, w)
    yw = rng.uniform(-0.5, 2.0, w)
    u1 = rng.random(w)
    u2 = rng.random(w)
    gx = np.empty(w)
    gy = np.empty(w)
    for name, fn in [("walker16_fm", walker_fm), ("walker16_libm", walker_libm)]:
        res[name] = 1e9 * _best(fn, (xw, yw, u1, u2, gx, gy, wreps)) / (wreps * w)
    out = {
        "n_evals": n,
        "ns_per_eval": {k: round(v, 3) for k, v in res.items()},
        "speedup": {
            "exp": round(res["exp_libm"] / res["exp_fm"], 2),
            "log": round(res["log_libm"] / res["log_fm"], 2),
            "sincos_2pi": round(res["sincos_libm"] / res["sincos_fm"], 2),
            "walker16_step": round(res["walker16_libm"] / res["walker16_fm"], 2),
        },
        "numba": numba.__version__,
        "cpu": numba.config.CPU_NAME or llvm_binding.get_host_cpu_name(),
        "machine": platform.machine(),
    }
    for k, v in out["ns_per_eval"].items():
        print(f"{k:>18s}: {v:8.3f} ns/eval")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(int(float(sys.argv[1])) if len(sys.argv) > 1 else 10_000_000)
