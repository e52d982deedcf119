"""Walker-steps per second of overdamped Langevin on Müller–Brown: langevin_opt vs baselines.

The computation: M walkers (default 100,000), all starting at the deepest
Müller–Brown minimum (-0.558224, 1.441726), take N (default 1,000)
Euler–Maruyama steps ``x <- x - dt grad U(x) + sqrt(2 T dt) xi`` with
dt = 1e-4 and T = 10.  Contenders, all float64:

* ``langevin_opt_1t`` / ``langevin_opt_2t``: ``lo.sample(lo.muller_brown(), ...)``
  with ``threads=1`` / ``threads=2`` (the whole call is timed, including input
  validation and the transposes to and from the column layout).
* ``user_landscape_1t``: the same through a Müller–Brown written by the user
  with ``@lo.landscape`` and ``langevin_opt.fastmath.exp``, 1 thread.
* ``numpy``: vectorised NumPy over all walkers, one step at a time; noise from
  ``numpy.random.Generator(PCG64).standard_normal``; ``np.exp``.
* ``c_scalar``: scalar C (``cc -O2``), one walker at a time (the walker's whole
  trajectory in the inner loop), libm ``exp``, xoshiro256+ uniforms and the
  Marsaglia polar method for the normal pair; called through ctypes.  Also
  ``c_scalar_O3_native`` (``-O3 -march=native``) as an extra figure.
* ``c_simd_1t``: blocked SIMD C, the reference for "near the SIMD limit" (issue
  19).  Structure of arrays (x[], y[]), walkers in blocks of 8 whose state
  (positions, and one xoshiro256+ generator per walker, seeded by splitmix64)
  sits in local arrays of 8; each stage of a step (the Müller–Brown gradient
  with its 4 ``exp``, the xoshiro256+ draws, the Box–Muller ``log``/``sqrt``/
  ``cos``/``sin``, the update) is a loop over the 8 lanes that the compiler
  vectorises, with glibc's libmvec SIMD ``exp``/``log``/``sin``/``cos`` under
  ``-O3 -march=native -ffast-math``.  A flag the compiler rejects is dropped and
  named in ``c_build``, which also records the vector math calls found in the
  generated assembly (``_ZGVdN4v_exp`` etc.), any scalar libm calls left, and
  GCC's ``-fopt-info-vec`` lines.  Not bit-comparable with anything else (its
  own RNG, 52-bit uniforms, fast-math libmvec at ~4 ulp).

JIT compile time is measured on a first call with a small ensemble.  Every
contender then gets one warm-up run and ``--repeats`` timed runs, interleaved
round-robin; the median is reported.  BLAS/OpenMP pools are pinned to one
thread before NumPy is imported (see ``_common``).  As a check that all
contenders compute the same thing, the mean final positions are compared
(z-scores against langevin_opt 1 thread); langevin_opt's 2-thread and
user-landscape results must be bit-identical to the 1-thread built-in.

Load: the load average is reported at start and end, and the cores kept busy by
other processes are measured (3 s of ``/proc/stat``) before and after the
timings.  When either exceeds 0.3 cores, ``machine_busy`` is true and
``targets_met`` (``vs_simd_c_1t >= 0.8``: langevin_opt 1 thread / ``c_simd_1t``)
holds ``None``: not judged on a shared machine (``targets_measured`` has the raw
comparison).

``--profile`` instead splits a step of the overdamped kernel into its parts, for
langevin_opt (variants of the walker template with parts replaced: no noise,
Philox replaced by a cheap uniform, no Box–Muller, a harmonic gradient instead of
Müller–Brown's four ``exp``, no finiteness check) and for ``c_simd_1t`` (built
with ``-DNO_GRAD`` / ``-DNO_BOXMULLER``), and reports CPU nanoseconds per
walker-step (median and range over the repeats, process CPU time, 1 thread).

Run:  python benchmarks/bench_walkers.py [--walkers M] [--steps N] [--repeats R]
      [--profile]
The last line printed is one JSON object.
"""

from __future__ import annotations

# _common pins the BLAS/OpenMP thread pools, so it must be imported before NumPy
import _common  # isort: skip

import argparse
import ctypes
import math
import os
import re
import subprocess
import tempfile
import time
from collections import Counter

import numba
import numpy as np

import langevin_opt as lo
from langevin_opt import fastmath

DT = 1e-4
TEMPERATURE = 10.0
START = (-0.558224, 1.441726)
SEED = 20240521
Z_LIMIT = 5.0  # |z| of a mean-position difference above this flags a mismatch
BUSY_THRESHOLD = 0.3  # cores held by other processes above which no target is judged
TARGETS = {"vs_simd_c_1t": 0.8}

# Müller–Brown parameters (Müller & Brown 1979), the same as lo.muller_brown()
MB_A = (-200.0, -100.0, -170.0, 15.0)
MB_a = (-1.0, -1.0, -6.5, 0.7)
MB_b = (0.0, 0.0, 11.0, 0.6)
MB_c = (-10.0, -10.0, -6.5, 0.7)
MB_X0 = (1.0, 0.0, -0.5, -1.0)
MB_Y0 = (0.0, 0.5, 1.5, 1.0)
MB_PARAMS = np.array(MB_A + MB_a + MB_b + MB_c + MB_X0 + MB_Y0)


# ------------------------------------------------------------ user landscape
@lo.landscape(dim=2, params=MB_PARAMS, name="muller_brown_user")
def user_muller_brown(X, i, p, G):
    """Müller–Brown in the column protocol, written as a user would."""
    x = X[0, i]
    y = X[1, i]
    e = 0.0
    gx = 0.0
    gy = 0.0
    for j in range(4):
        dx = x - p[16 + j]
        dy = y - p[20 + j]
        a = p[4 + j]
        b = p[8 + j]
        c = p[12 + j]
        t = p[j] * fastmath.exp(a * dx * dx + b * dx * dy + c * dy * dy)
        e += t
        gx += t * (2.0 * a * dx + b * dy)
        gy += t * (b * dx + 2.0 * c * dy)
    G[0, i] = gx
    G[1, i] = gy
    return e


def run_langevin_opt(landscape: lo.Landscape, x0: np.ndarray, n_steps: int,
                     threads: int) -> np.ndarray:
    res = lo.sample(landscape, x0, n_steps, method="overdamped", dt=DT,
                    temperature=TEMPERATURE, seed=SEED, threads=threads)
    return res.state.positions


# --------------------------------------------------------------------- NumPy
def run_numpy(x0: np.ndarray, n_steps: int, seed: int = SEED) -> np.ndarray:
    """Vectorised over walkers, one step at a time; ``np.exp`` per Müller–Brown term.

    (A variant with preallocated ``out=`` work arrays measured the same speed.)
    """
    x = np.array(x0[:, 0], dtype=np.float64)
    y = np.array(x0[:, 1], dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    sigma = math.sqrt(2.0 * TEMPERATURE * DT)
    terms = list(zip(MB_A, MB_a, MB_b, MB_c, MB_X0, MB_Y0, strict=True))
    for _ in range(n_steps):
        gx = np.zeros_like(x)
        gy = np.zeros_like(y)
        for big_a, a, b, c, xj, yj in terms:
            dx = x - xj
            dy = y - yj
            t = big_a * np.exp(a * dx * dx + b * dx * dy + c * dy * dy)
            gx += t * (2.0 * a * dx + b * dy)
            gy += t * (b * dx + 2.0 * c * dy)
        xi = rng.standard_normal((2, x.size))
        x += -DT * gx + sigma * xi[0]
        y += -DT * gy + sigma * xi[1]
    return np.stack([x, y], axis=1)


# ------------------------------------------------------------------------- C
C_SOURCE = r"""
#include <math.h>
#include <stdint.h>

static const double A[4] = {-200.0, -100.0, -170.0, 15.0};
static const double a[4] = {-1.0, -1.0, -6.5, 0.7};
static const double b[4] = {0.0, 0.0, 11.0, 0.6};
static const double c[4] = {-10.0, -10.0, -6.5, 0.7};
static const double cx[4] = {1.0, 0.0, -0.5, -1.0};
static const double cy[4] = {0.0, 0.5, 1.5, 1.0};

/* xoshiro256+ (Blackman & Vigna), seeded with splitmix64 */
static uint64_t s[4];

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t next_u64(void) {
    const uint64_t result = s[0] + s[3];
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [-1, 1) from the top 53 bits */
static inline double next_sym(void) {
    return (double)(next_u64() >> 11) * 0x1.0p-52 - 1.0;
}

/* positions: (m, 2) row-major, updated in place */
void overdamped_mb(double *pos, int64_t m, int64_t n_steps, double dt, double temperature,
                   uint64_t seed) {
    uint64_t sm = seed;
    for (int k = 0; k < 4; k++) s[k] = splitmix64(&sm);
    const double sigma = sqrt(2.0 * temperature * dt);
    for (int64_t i = 0; i < m; i++) {
        double x = pos[2 * i], y = pos[2 * i + 1];
        for (int64_t n = 0; n < n_steps; n++) {
            double gx = 0.0, gy = 0.0;
            for (int j = 0; j < 4; j++) {
                const double dx = x - cx[j], dy = y - cy[j];
                const double t = A[j] * exp(a[j] * dx * dx + b[j] * dx * dy + c[j] * dy * dy);
                gx += t * (2.0 * a[j] * dx + b[j] * dy);
                gy += t * (b[j] * dx + 2.0 * c[j] * dy);
            }
            /* Marsaglia polar method: one pair of standard normals */
            double u, v, r2;
            do {
                u = next_sym();
                v = next_sym();
                r2 = u * u + v * v;
            } while (r2 >= 1.0 || r2 == 0.0);
            const double f = sqrt(-2.0 * log(r2) / r2);
            x += -dt * gx + sigma * (u * f);
            y += -dt * gy + sigma * (v * f);
        }
        pos[2 * i] = x;
        pos[2 * i + 1] = y;
    }
}
"""

C_RNG = "xoshiro256+ uniforms, Marsaglia polar normals"
C_VARIANTS = {"c_scalar": ["-O2"], "c_scalar_O3_native": ["-O3", "-march=native"]}


def load_c(flags: list[str]) -> tuple[object | None, str]:
    lib, msg = _common.build_c_library(C_SOURCE, flags, name="overdamped_mb")
    if lib is None:
        return None, msg
    fn = lib.overdamped_mb
    fn.restype = None
    fn.argtypes = [
        np.ctypeslib.ndpointer(np.float64, ndim=2, flags=("C_CONTIGUOUS", "WRITEABLE")),
        ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double, ctypes.c_uint64,
    ]
    return fn, msg


def run_c(fn, x0: np.ndarray, n_steps: int) -> np.ndarray:
    pos = np.array(x0, dtype=np.float64, order="C")
    fn(pos, pos.shape[0], n_steps, DT, TEMPERATURE, SEED)
    return pos


# ------------------------------------------------------------- blocked SIMD C
C_SIMD_SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <string.h>

#define W 8 /* walkers per block: the lanes of every loop below */

static const double A[4] = {-200.0, -100.0, -170.0, 15.0};
static const double a[4] = {-1.0, -1.0, -6.5, 0.7};
static const double b[4] = {0.0, 0.0, 11.0, 0.6};
static const double c[4] = {-10.0, -10.0, -6.5, 0.7};
static const double cx[4] = {1.0, 0.0, -0.5, -1.0};
static const double cy[4] = {0.0, 0.5, 1.5, 1.0};

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* top 52 bits -> [0, 1) through the exponent field (vectorises without int -> double) */
static inline double unit52(uint64_t r) {
    const uint64_t bits = (r >> 12) | 0x3FF0000000000000ULL;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d - 1.0;
}

/* Overdamped Langevin on Mueller-Brown; xs, ys: the m walkers' coordinates, in place.
   Walker i has its own xoshiro256+ generator (Blackman & Vigna), seeded by splitmix64
   from seed and i.  -DNO_GRAD (harmonic force instead) and -DNO_BOXMULLER (uniforms
   instead of normals) are profiling variants, not the benchmark. */
void overdamped_mb_simd(double *restrict xs, double *restrict ys, int64_t m,
                        int64_t n_steps, double dt, double temperature, uint64_t seed) {
    const double sigma = sqrt(2.0 * temperature * dt);
    const double two_pi = 6.283185307179586;
    for (int64_t i0 = 0; i0 < m; i0 += W) {
        const int64_t w = (m - i0 < W) ? m - i0 : W; /* spare lanes copy walker i0 */
        double x[W], y[W];
        uint64_t s0[W], s1[W], s2[W], s3[W];
        for (int l = 0; l < W; l++) {
            const int64_t i = i0 + (l < w ? l : 0);
            x[l] = xs[i];
            y[l] = ys[i];
            uint64_t sm = seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(i0 + l + 1));
            s0[l] = splitmix64(&sm);
            s1[l] = splitmix64(&sm);
            s2[l] = splitmix64(&sm);
            s3[l] = splitmix64(&sm);
        }
        for (int64_t n = 0; n < n_steps; n++) {
            double gx[W], gy[W], u1[W], u2[W], rad[W], zc[W], zs[W];
#ifdef NO_GRAD
            for (int l = 0; l < W; l++) {
                gx[l] = x[l];
                gy[l] = y[l];
            }
#else
            for (int l = 0; l < W; l++) {
                gx[l] = 0.0;
                gy[l] = 0.0;
            }
            for (int j = 0; j < 4; j++) {
                for (int l = 0; l < W; l++) {
                    const double dx = x[l] - cx[j], dy = y[l] - cy[j];
                    const double t = A[j] * exp(a[j] * dx * dx + b[j] * dx * dy
                                                + c[j] * dy * dy);
                    gx[l] += t * (2.0 * a[j] * dx + b[j] * dy);
                    gy[l] += t * (b[j] * dx + 2.0 * c[j] * dy);
                }
            }
#endif
            /* xoshiro256+: two outputs per lane and step */
            for (int l = 0; l < W; l++) {
                const uint64_t r0 = s0[l] + s3[l];
                uint64_t t = s1[l] << 17;
                s2[l] ^= s0[l];
                s3[l] ^= s1[l];
                s1[l] ^= s2[l];
                s0[l] ^= s3[l];
                s2[l] ^= t;
                s3[l] = (s3[l] << 45) | (s3[l] >> 19);
                const uint64_t r1 = s0[l] + s3[l];
                t = s1[l] << 17;
                s2[l] ^= s0[l];
                s3[l] ^= s1[l];
                s1[l] ^= s2[l];
                s0[l] ^= s3[l];
                s2[l] ^= t;
                s3[l] = (s3[l] << 45) | (s3[l] >> 19);
                u1[l] = 1.0 - unit52(r0); /* (0, 1] */
                u2[l] = unit52(r1);       /* [0, 1) */
            }
#ifdef NO_BOXMULLER
            for (int l = 0; l < W; l++) {
                rad[l] = sigma;
                zc[l] = u1[l] - 0.5;
                zs[l] = u2[l] - 0.5;
            }
#else
            /* Box-Muller, one function per loop, each kept rolled: otherwise GCC fuses
               sin and cos into sincos, or unrolls the 8 lanes, and either leaves scalar
               libm calls instead of libmvec's SIMD ones */
#pragma GCC unroll 1
            for (int l = 0; l < W; l++) rad[l] = sigma * sqrt(-2.0 * log(u1[l]));
#pragma GCC unroll 1
            for (int l = 0; l < W; l++) zc[l] = cos(two_pi * u2[l]);
#pragma GCC unroll 1
            for (int l = 0; l < W; l++) zs[l] = sin(two_pi * u2[l]);
#endif
            for (int l = 0; l < W; l++) {
                x[l] += -dt * gx[l] + rad[l] * zc[l];
                y[l] += -dt * gy[l] + rad[l] * zs[l];
            }
        }
        for (int l = 0; l < w; l++) {
            xs[i0 + l] = x[l];
            ys[i0 + l] = y[l];
        }
    }
}
"""

C_SIMD_RNG = ("xoshiro256+ (one generator per walker, splitmix64-seeded), 52-bit uniforms, "
              "Box-Muller normals")
SIMD_FLAGS = ["-O3", "-march=native", "-ffast-math"]
VECTOR_MATH = re.compile(r"\b(_ZGV[a-zA-Z]N\d+v+_(?:exp|log|sin|cos|sincos))\b")
SCALAR_MATH = re.compile(r"\bcall[lq]?\s+\*?(exp|log|sin|cos|sincos)(?:@PLT)?\b")


def _compiles(cc: str, flags: list[str]) -> bool:
    """Whether ``cc`` accepts ``flags`` on a trivial translation unit."""
    with tempfile.TemporaryDirectory(prefix="lo_bench_flag_") as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as fh:
            fh.write("int lo_probe(int x) { return x + 1; }\n")
        try:
            proc = subprocess.run([cc, *flags, "-c", "-o", os.path.join(tmp, "probe.o"), src],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
        return proc.returncode == 0


def vector_report(cc: str, flags: list[str], source: str = C_SIMD_SOURCE) -> dict:
    """Compile ``source`` to assembly and say what vectorised.

    Returns the SIMD math calls (libmvec ``_ZGV...`` symbols) and scalar libm calls in
    the assembly with their counts, the vector registers used, the compiler's own
    vectorisation remarks (GCC ``-fopt-info-vec-optimized``, clang
    ``-Rpass=loop-vectorize``), and ``vectorised``: every one of ``exp``, ``log``,
    ``sin``, ``cos`` is called in a SIMD version and none as scalar libm.
    """
    is_clang = "clang" in _common.compiler_version(cc).lower()
    info = ["-Rpass=loop-vectorize"] if is_clang else ["-fopt-info-vec-optimized"]
    with tempfile.TemporaryDirectory(prefix="lo_bench_asm_") as tmp:
        src = os.path.join(tmp, "simd.c")
        asm = os.path.join(tmp, "simd.s")
        with open(src, "w") as fh:
            fh.write(source)
        try:
            proc = subprocess.run([cc, *flags, *info, "-fPIC", "-S", "-o", asm, src],
                                  capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            return {"error": str(exc)}
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[:500]}
        with open(asm) as fh:
            text = fh.read()
    calls = [ln for ln in text.splitlines() if re.match(r"\s*(call|jmp)", ln)]
    vec = Counter(m.group(1) for ln in calls for m in VECTOR_MATH.finditer(ln))
    scalar = Counter(m.group(1) for ln in calls for m in SCALAR_MATH.finditer(ln))
    regs = Counter(re.findall(r"%([xyz]mm)\d+", text))
    remarks = [ln.replace(src, "simd.c").strip() for ln in proc.stderr.splitlines()
               if "vectoriz" in ln]
    wanted = ("exp", "log", "sin", "cos")
    return {
        "vector_math_calls": dict(vec),
        "scalar_math_calls": dict(scalar),
        "vector_registers": dict(regs),
        "remarks": remarks[:20],
        "loops_vectorized": sum("loop vectorized" in r for r in remarks),
        "vectorised": (all(any(k.endswith("_" + f) for k in vec) for f in wanted)
                       and not scalar),
    }


def load_c_simd(extra: tuple[str, ...] = (), report: bool = True) -> tuple[object | None, dict]:
    """Build ``C_SIMD_SOURCE`` with :data:`SIMD_FLAGS` (less any flag the compiler rejects).

    Returns the ctypes function (None if no compiler or the build failed) and the
    build notes: the command, the rejected flags, and :func:`vector_report`.
    """
    cc = _common.find_c_compiler()
    if cc is None:
        return None, {"command": None, "error": "no C compiler found"}
    flags = list(SIMD_FLAGS)
    rejected = [f for f in flags if not _compiles(cc, [f])]
    flags = [f for f in flags if f not in rejected]
    lib, msg = _common.build_c_library(C_SIMD_SOURCE, [*flags, *extra],
                                       name="overdamped_mb_simd")
    note: dict = {"command": msg, "rejected_flags": rejected}
    if rejected:
        note["note"] = (f"{cc} rejected {' '.join(rejected)}: built without "
                        f"{'it' if len(rejected) == 1 else 'them'}")
    if lib is None:
        return None, note
    if report:
        note["vectorisation"] = vector_report(cc, [*flags, *extra])
    fn = lib.overdamped_mb_simd
    fn.restype = None
    vec = np.ctypeslib.ndpointer(np.float64, ndim=1, flags=("C_CONTIGUOUS", "WRITEABLE"))
    fn.argtypes = [vec, vec, ctypes.c_int64, ctypes.c_int64, ctypes.c_double, ctypes.c_double,
                   ctypes.c_uint64]
    return fn, note


def run_c_simd(fn, x0: np.ndarray, n_steps: int) -> np.ndarray:
    """Structure of arrays in, (M, 2) out (the layout changes are timed, as for lo.sample)."""
    x = np.array(x0[:, 0], dtype=np.float64)
    y = np.array(x0[:, 1], dtype=np.float64)
    fn(x, y, x.size, n_steps, DT, TEMPERATURE, SEED)
    return np.stack([x, y], axis=1)


# -------------------------------------------------------------------- checks
def mean_check(results: dict[str, np.ndarray], ref: str) -> dict[str, dict]:
    """Mean, std and z-score of the mean difference to ``ref`` for every contender."""
    r = results[ref]
    out = {}
    for name, pos in results.items():
        mean = pos.mean(axis=0)
        std = pos.std(axis=0, ddof=1)
        se = np.sqrt(std**2 / pos.shape[0] + r.std(axis=0, ddof=1) ** 2 / r.shape[0])
        z = np.zeros(2) if name == ref else (mean - r.mean(axis=0)) / se
        out[name] = {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "z_vs_ref": [float(v) for v in z],
            "finite": bool(np.all(np.isfinite(pos))),
        }
    return out


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or not den > 0:
        return None
    return num / den


# ------------------------------------------------------------------- profile
# Text substitutions on the walker template (langevin_opt/_walker_template.py), each
# replacing one part of an overdamped step; the template must contain every "old" text.
_NOISE_CALL = "z0, z1 = normal2(seed, s0 + j, step, q, PURPOSE_NOISE)"
_CHEAP_RNG = '''
@numba.njit(inline="always", error_model="numpy", _nrt=False)
def _cheap_uniform2(stream, step):
    # a few flops instead of Philox: two numbers in (0.25, 0.75) that vary per walker and step
    t = stream * 0.6180339887498949 + step * 0.7548776662466927
    u = t * 1.324717957244746
    return 0.5 * (t - math.floor(t)) + 0.25, 0.5 * (u - math.floor(u)) + 0.25


@numba.njit(inline="always", error_model="numpy", _nrt=False)
def _cheap_normal2(stream, step):
    u1, u2 = _cheap_uniform2(stream, step)
    r = math.sqrt(-2.0 * _fm.log(u1))
    s, c = _fm.sincos_2pi(u2)
    return r * c, r * s
'''
LO_VARIANTS = {
    "full": [],
    "no_noise": [(_NOISE_CALL, "z0, z1 = 0.0, 0.0")],
    "philox_no_boxmuller": [(_NOISE_CALL, _NOISE_CALL.replace("normal2", "uniform2"))],
    "cheap_rng_boxmuller": [(_NOISE_CALL, "z0, z1 = _cheap_normal2(s0 + j, step)")],
    "cheap_rng_no_boxmuller": [(_NOISE_CALL, "z0, z1 = _cheap_uniform2(s0 + j, step)")],
    "no_check": [("        if check_and_record(", "        if False and check_and_record(")],
}
HARMONIC_VARIANTS = ("full", "no_noise")


@numba.njit(inline="always", error_model="numpy")
def _harmonic(X, i, p, G):
    # U = (x^2 + y^2) / 2: a gradient without exp, in the landscape protocol
    G[0, i] = X[0, i]
    G[1, i] = X[1, i]
    return 0.5 * (X[0, i] * X[0, i] + X[1, i] * X[1, i])


def _template_variant(subs: list[tuple[str, str]], energy_grad) -> object:
    """The overdamped ``drive`` of the walker template with ``subs`` applied (not cached)."""
    import types

    from langevin_opt import _kernels
    from langevin_opt.core import codes, jitcache

    origin, src = jitcache._template_source(_kernels.TEMPLATE)
    src = src.replace("# jitcache: end", "# jitcache: end\n"
                      "from langevin_opt import _fastmath as _fm\n" + _CHEAP_RNG)
    for old, new in subs:
        if old not in src:
            raise RuntimeError(f"the walker template no longer contains {old!r}: update "
                               "LO_VARIANTS in bench_walkers.py")
        src = src.replace(old, new)
    mod = types.ModuleType("bench_walkers_variant")
    mod.__dict__["_bind"] = {"eg": energy_grad, "METHOD": codes.OVERDAMPED}
    lines = ["eg = _bind['eg']", "METHOD = _bind['METHOD']", "CACHE = False"]
    exec(compile(jitcache._render(_kernels.TEMPLATE, src, lines), origin, "exec"),  # noqa: S102
         mod.__dict__)
    return mod.drive


def _drive_runner(drive, x0: np.ndarray, params: np.ndarray, n: int):
    """A zero-argument call of a template ``drive`` as ``lo.sample`` makes it (1 thread)."""
    from langevin_opt import _kernels, config
    from langevin_opt.core import codes

    m = x0.shape[0]
    block = int(config.block_size)

    def run():
        xt = np.array(x0.T, order="C")
        numba.set_num_threads(1)
        drive(xt, np.zeros((2, 1)), np.zeros(m), params, np.full(m, TEMPERATURE), np.ones(n),
              DT, 1.0, 1.0, np.uint64(SEED), 0, 0, n, 0, 0, np.empty((0, m, 2)),
              np.empty((0, m)), np.zeros(m, dtype=np.int64), np.full(m, -1, dtype=np.int64),
              block, _kernels.make_scratch(m, 2, block, codes.OVERDAMPED))
        return xt.T
    return run


def profile(m: int, n: int, repeats: int) -> None:
    """Print and emit (JSON) CPU ns per walker-step of kernel variants, 1 thread."""
    print(f"bench_walkers --profile: {m} walkers x {n} steps, {repeats} repeats, 1 thread; "
          "process CPU time per walker-step")
    load_start = _common.load_average()
    builtin = lo.muller_brown()
    x0 = np.tile(np.array(START), (m, 1))
    contenders = {}
    for name, subs in LO_VARIANTS.items():
        t0 = time.perf_counter()
        contenders[f"lo_{name}"] = _drive_runner(_template_variant(subs, builtin.energy_grad),
                                                 x0, builtin.params, n)
        contenders[f"lo_{name}"]()
        print(f"  compiled lo_{name} in {time.perf_counter() - t0:.1f} s", flush=True)
    for name in HARMONIC_VARIANTS:
        drive = _template_variant(LO_VARIANTS[name], _harmonic)
        contenders[f"lo_harmonic_{name}"] = _drive_runner(drive, x0, builtin.params, n)
        contenders[f"lo_harmonic_{name}"]()
    contenders["lo_sample"] = lambda: run_langevin_opt(builtin, x0, n, 1)
    c_variants = {"c_simd_full": (), "c_simd_no_grad": ("-DNO_GRAD",),
                  "c_simd_no_boxmuller": ("-DNO_BOXMULLER",),
                  "c_simd_no_grad_no_boxmuller": ("-DNO_GRAD", "-DNO_BOXMULLER")}
    c_notes = {}
    for name, extra in c_variants.items():
        fn, c_notes[name] = load_c_simd(extra, report=name == "c_simd_full")
        if fn is not None:
            contenders[name] = lambda fn=fn: run_c_simd(fn, x0, n)
    timings, results = _common.time_interleaved(contenders, repeats=repeats, warmup=1)
    load_end = _common.load_average()
    ns = {k: [1e9 * t / (m * n) for t in v.cpu_times] for k, v in timings.items()}
    med = {k: float(np.median(v)) for k, v in ns.items()}
    rows = [[k, f"{med[k]:.2f}", f"{min(v):.2f}", f"{max(v):.2f}", f"{1e3 / med[k]:.1f}"]
            for k, v in ns.items()]
    print(_common.format_table(["variant", "ns median", "min", "max", "M walker-steps/s"], rows))

    def diff(a: str, b: str) -> float | None:
        return med[a] - med[b] if a in med and b in med else None

    split = {
        "langevin_opt": {
            "total_kernel": med["lo_full"],
            "sample_call_overhead": diff("lo_sample", "lo_full"),
            "gradient_4exp": diff("lo_full", "lo_harmonic_full"),
            "philox": diff("lo_full", "lo_cheap_rng_boxmuller"),
            "box_muller": diff("lo_cheap_rng_boxmuller", "lo_cheap_rng_no_boxmuller"),
            "finiteness_check": diff("lo_full", "lo_no_check"),
            "rest_harmonic_no_noise": med["lo_harmonic_no_noise"],
        },
        "c_simd": {
            "total": med.get("c_simd_full"),
            "gradient_4exp": diff("c_simd_full", "c_simd_no_grad"),
            "box_muller": diff("c_simd_full", "c_simd_no_boxmuller"),
            "rest_xoshiro_update": med.get("c_simd_no_grad_no_boxmuller"),
        },
    }
    print("\nsplit (ns per walker-step, differences of medians):")
    for side, parts in split.items():
        print(f"  {side}: " + ", ".join(f"{k} {'n/a' if v is None else f'{v:.2f}'}"
                                        for k, v in parts.items()))
    ref = np.asarray(results["lo_sample"])
    print(f"lo_full bit-identical to lo.sample: {np.array_equal(results['lo_full'], ref)}; "
          f"load average {load_start} -> {load_end}")
    _common.emit_json({
        "benchmark": "bench_walkers_profile",
        "ns_per_walker_step_median": med,
        "ns_per_walker_step": ns,
        "split_ns": split,
        "lo_full_bit_identical_to_sample": bool(np.array_equal(results["lo_full"], ref)),
        "config": {"walkers": m, "steps": n, "repeats": repeats, "dt": DT,
                   "temperature": TEMPERATURE},
        "c_build": c_notes,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "machine": _common.machine_info(),
    })


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    ap.add_argument("--profile", action="store_true",
                    help="split a step into its parts (RNG, Box-Muller, gradient, check) instead")
    args = ap.parse_args(argv)
    if args.walkers < 2 or args.steps < 1 or args.repeats < 1:
        ap.error("need --walkers >= 2, --steps >= 1, --repeats >= 1")
    if args.profile:
        profile(args.walkers, args.steps, args.repeats)
        return
    m, n = args.walkers, args.steps
    work = m * n
    load_start = _common.load_average()
    busy_start = _common.busy_cores()
    print(f"bench_walkers: {m} walkers x {n} steps, overdamped Langevin on Müller–Brown, "
          f"dt={DT:g}, T={TEMPERATURE:g}, {args.repeats} repeats (median), 1 warm-up")
    print(f"load average at start (1, 5, 15 min): {load_start}  "
          f"[{_common.usable_cpus()} usable CPUs]; other processes busy on "
          f"{busy_start:.2f} cores")

    builtin = lo.muller_brown()
    x0 = np.tile(np.array(START), (m, 1))
    small = np.tile(np.array(START), (64, 1))

    # JIT compile time: first calls on a small ensemble (kernels are not disk-cached)
    compile_s, _ = _common.time_once(lambda: run_langevin_opt(builtin, small, 10, 1))
    compile_user_s, _ = _common.time_once(
        lambda: run_langevin_opt(user_muller_brown, small, 10, 1))
    print(f"JIT compile (first call, 64 walkers x 10 steps): built-in {compile_s:.2f} s, "
          f"user landscape {compile_user_s:.2f} s")

    max_threads = numba.config.NUMBA_NUM_THREADS
    contenders = {"langevin_opt_1t": lambda: run_langevin_opt(builtin, x0, n, 1)}
    if max_threads >= 2:
        contenders["langevin_opt_2t"] = lambda: run_langevin_opt(builtin, x0, n, 2)
    else:
        print(f"skipping langevin_opt_2t: NUMBA_NUM_THREADS = {max_threads}")
    contenders["user_landscape_1t"] = lambda: run_langevin_opt(user_muller_brown, x0, n, 1)
    contenders["numpy"] = lambda: run_numpy(x0, n)

    cc = _common.find_c_compiler()
    c_notes = {}
    for name, flags in C_VARIANTS.items():
        fn, msg = load_c(flags)
        c_notes[name] = msg
        if fn is None:
            print(f"skipping {name}: {msg}")
        else:
            contenders[name] = lambda fn=fn: run_c(fn, x0, n)
    fn, c_notes["c_simd_1t"] = load_c_simd()
    if fn is None:
        print(f"skipping c_simd_1t: {c_notes['c_simd_1t']}")
    else:
        contenders["c_simd_1t"] = lambda fn=fn: run_c_simd(fn, x0, n)
    if cc:
        print(f"C compiler: {cc} ({_common.compiler_version(cc)}); C RNG: {C_RNG}; "
              "one walker at a time (steps in the inner loop)")
        simd = c_notes["c_simd_1t"]
        vec = simd.get("vectorisation", {})
        print(f"SIMD C: {simd.get('command')}; RNG: {C_SIMD_RNG}; blocks of 8 walkers; "
              f"vectorised: {vec.get('vectorised')} (SIMD calls {vec.get('vector_math_calls')}, "
              f"scalar libm calls {vec.get('scalar_math_calls')})"
              + (f"; {simd['note']}" if simd.get("note") else ""))

    progress = None if args.quiet else (lambda s: print("  " + s, flush=True))
    timings, results = _common.time_interleaved(contenders, repeats=args.repeats,
                                                warmup=1, progress=progress)
    busy_end = _common.busy_cores()
    load_end = _common.load_average()
    busy = not (busy_start <= BUSY_THRESHOLD and busy_end <= BUSY_THRESHOLD)  # nan: busy

    keys = ("langevin_opt_1t", "langevin_opt_2t", "numpy", "c_scalar", "user_landscape_1t",
            "c_scalar_O3_native", "c_simd_1t")
    rates = {k: work / t.median for k, t in timings.items()}
    wsps = {k: rates.get(k) for k in keys}
    # per CPU-second (process CPU time, all threads): less sensitive to background load;
    # for the 2-thread run it shows parallel efficiency rather than speed
    cpu_rates = {k: work / t.cpu_median for k, t in timings.items()}
    wspc = {k: cpu_rates.get(k) for k in keys}

    def speedups(r: dict) -> dict:
        return {
            "vs_numpy_1t": ratio(r["langevin_opt_1t"], r["numpy"]),
            "vs_c_1t": ratio(r["langevin_opt_1t"], r["c_scalar"]),
            "vs_c_O3_native_1t": ratio(r["langevin_opt_1t"], r["c_scalar_O3_native"]),
            "vs_simd_c_1t": ratio(r["langevin_opt_1t"], r["c_simd_1t"]),
            "scaling_2t": ratio(r["langevin_opt_2t"], r["langevin_opt_1t"]),
            "user_vs_builtin": ratio(r["user_landscape_1t"], r["langevin_opt_1t"]),
        }

    summary = speedups(wsps)
    summary_cpu = speedups(wspc)
    lo1 = wsps["langevin_opt_1t"]

    # ----------------------------------------------------------------- report
    descr = {
        "langevin_opt_1t": "lo.sample, built-in muller_brown, threads=1",
        "langevin_opt_2t": "lo.sample, built-in muller_brown, threads=2",
        "user_landscape_1t": "lo.sample, @lo.landscape user MB, threads=1",
        "numpy": "NumPy vectorised, PCG64 normals, np.exp",
        "c_scalar": f"scalar C, {c_notes.get('c_scalar', '')}",
        "c_scalar_O3_native": f"scalar C, {c_notes.get('c_scalar_O3_native', '')}",
        "c_simd_1t": f"SIMD C, 8-wide blocks, {c_notes['c_simd_1t'].get('command')}",
    }
    rows = []
    for k, t in timings.items():
        rows.append([k, f"{t.median:.3f}", f"{t.best:.3f}", f"{100 * t.spread:.0f}%",
                     f"{t.cpu_per_wall:.2f}", f"{rates[k] / 1e6:.2f}", f"{rates[k] / lo1:.2f}",
                     f"{cpu_rates[k] / 1e6:.2f}", descr[k]])
    print()
    print(_common.format_table(
        ["contender", "median s", "best s", "spread", "cpu/wall", "M walker-steps/s",
         "rel. lo_1t", "M per CPU-s", "what"], rows, align="lrrrrrrrl"))
    print("(spread = (max - min) / median of the repeats; cpu/wall = CPU cores the process "
          "actually got;\n M per CPU-s = walker-steps per second of process CPU time, all "
          "threads, a load-robust figure)")

    print("\nspeed-ups from wall-clock medians (per CPU-second in brackets); targets "
          "reported, not asserted:")
    targets = {"vs_numpy_1t": 1.5, "vs_c_1t": 1.0, "scaling_2t": 1.8, **TARGETS}
    for key, val in summary.items():
        tgt = targets.get(key)
        if val is None:
            print(f"  {key:18s} n/a")
            continue
        cpu = summary_cpu[key]
        cpu_txt = f"  ({cpu:5.2f} per CPU-s)" if cpu is not None else ""
        verdict = "" if tgt is None else (f"  target >= {tgt}: "
                                          f"{'met' if val >= tgt else 'NOT met'}")
        if tgt is not None and key in TARGETS and busy:
            verdict += " (machine busy: not judged)"
        print(f"  {key:18s} {val:6.2f}{cpu_txt}{verdict}")

    # sanity: same computation?
    finals = {k: np.asarray(v) for k, v in results.items()}
    checks = mean_check(finals, "langevin_opt_1t")
    ref = finals["langevin_opt_1t"]
    bitwise = {k: bool(np.array_equal(finals[k], ref))
               for k in ("langevin_opt_2t", "user_landscape_1t") if k in finals}
    print(f"\nsanity: final positions after {n} steps (mean, std over walkers; z of the mean "
          f"difference to langevin_opt_1t, |z| <= {Z_LIMIT:g} expected)")
    rows = [[k, f"{c['mean'][0]:+.5f}", f"{c['mean'][1]:+.5f}", f"{c['std'][0]:.5f}",
             f"{c['std'][1]:.5f}", f"{c['z_vs_ref'][0]:+.2f}", f"{c['z_vs_ref'][1]:+.2f}"]
            for k, c in checks.items()]
    print(_common.format_table(["contender", "mean x", "mean y", "std x", "std y", "z x", "z y"],
                               rows))
    for k, same in bitwise.items():
        print(f"  {k} bit-identical to langevin_opt_1t: {same}")
    sanity_ok = (all(c["finite"] and max(abs(z) for z in c["z_vs_ref"]) <= Z_LIMIT
                     for c in checks.values()) and all(bitwise.values()))
    print(f"  sanity {'OK' if sanity_ok else 'FAILED: contenders disagree'}")
    print(f"load average at end (1, 5, 15 min): {load_end}; other processes busy on "
          f"{busy_end:.2f} cores")
    measured = {f"{k}>={v:g}": (None if summary[k] is None else bool(summary[k] >= v))
                for k, v in TARGETS.items()}
    targets_met = {k: None for k in measured} if busy else measured
    busy_note = None
    if busy:
        busy_note = (f"other processes held {busy_start:.2f} / {busy_end:.2f} cores before / "
                     f"after the timings (threshold {BUSY_THRESHOLD}): targets not judged on a "
                     "shared machine; targets_measured has the raw comparison")
        print(busy_note)

    machine = _common.machine_info()
    machine["c_compiler"] = _common.compiler_version(cc) if cc else None
    _common.emit_json({
        "benchmark": "bench_walkers",
        "walker_steps_per_s": wsps,
        "compile_s": compile_s,
        "compile_user_landscape_s": compile_user_s,
        **summary,
        "walker_steps_per_cpu_s": wspc,
        "speedups_per_cpu_s": summary_cpu,
        "median_s": {k: t.median for k, t in timings.items()},
        "times_s": {k: t.times for k, t in timings.items()},
        "cpu_per_wall": {k: t.cpu_per_wall for k, t in timings.items()},
        "sanity_ok": sanity_ok,
        "sanity": {"checks": checks, "bitwise_equal_to_lo_1t": bitwise},
        "config": {"walkers": m, "steps": n, "repeats": args.repeats, "warmup": 1,
                   "dt": DT, "temperature": TEMPERATURE, "start": START, "seed": SEED},
        "c_build": c_notes,
        "c_rng": C_RNG,
        "c_simd_rng": C_SIMD_RNG,
        "targets_met": targets_met,
        "targets_measured": measured,
        "machine_busy": busy,
        "machine_busy_note": busy_note,
        "busy_cores_start": busy_start,
        "busy_cores_end": busy_end,
        "load_average_start": load_start,
        "load_average_end": load_end,
        "machine": machine,
        "langevin_opt_version": lo.__version__,
    })


if __name__ == "__main__":
    main()
