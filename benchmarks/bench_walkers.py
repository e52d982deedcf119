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

JIT compile time is measured on a first call with a small ensemble.  Every
contender then gets one warm-up run and ``--repeats`` timed runs, interleaved
round-robin; the median is reported.  BLAS/OpenMP pools are pinned to one
thread before NumPy is imported (see ``_common``).  As a check that all
contenders compute the same thing, the mean final positions are compared
(z-scores against langevin_opt 1 thread); langevin_opt's 2-thread and
user-landscape results must be bit-identical to the 1-thread built-in.

Run:  python benchmarks/bench_walkers.py [--walkers M] [--steps N] [--repeats R]
The last line printed is one JSON object.
"""

from __future__ import annotations

# _common pins the BLAS/OpenMP thread pools, so it must be imported before NumPy
import _common  # isort: skip

import argparse
import ctypes
import math

import numba
import numpy as np

import langevin_opt as lo
from langevin_opt import fastmath

DT = 1e-4
TEMPERATURE = 10.0
START = (-0.558224, 1.441726)
SEED = 20240521
Z_LIMIT = 5.0  # |z| of a mean-position difference above this flags a mismatch

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


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    args = ap.parse_args(argv)
    if args.walkers < 2 or args.steps < 1 or args.repeats < 1:
        ap.error("need --walkers >= 2, --steps >= 1, --repeats >= 1")
    m, n = args.walkers, args.steps
    work = m * n
    load_start = _common.load_average()
    print(f"bench_walkers: {m} walkers x {n} steps, overdamped Langevin on Müller–Brown, "
          f"dt={DT:g}, T={TEMPERATURE:g}, {args.repeats} repeats (median), 1 warm-up")
    print(f"load average at start (1, 5, 15 min): {load_start}  "
          f"[{_common.usable_cpus()} usable CPUs]")

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
    if cc:
        print(f"C compiler: {cc} ({_common.compiler_version(cc)}); C RNG: {C_RNG}; "
              "one walker at a time (steps in the inner loop)")

    progress = None if args.quiet else (lambda s: print("  " + s, flush=True))
    timings, results = _common.time_interleaved(contenders, repeats=args.repeats,
                                                warmup=1, progress=progress)
    load_end = _common.load_average()

    keys = ("langevin_opt_1t", "langevin_opt_2t", "numpy", "c_scalar", "user_landscape_1t",
            "c_scalar_O3_native")
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
    targets = {"vs_numpy_1t": 1.5, "vs_c_1t": 1.0, "scaling_2t": 1.8}
    for key, val in summary.items():
        tgt = targets.get(key)
        if val is None:
            print(f"  {key:18s} n/a")
            continue
        cpu = summary_cpu[key]
        cpu_txt = f"  ({cpu:5.2f} per CPU-s)" if cpu is not None else ""
        verdict = "" if tgt is None else (f"  target >= {tgt}: "
                                          f"{'met' if val >= tgt else 'NOT met'}")
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
    print(f"load average at end (1, 5, 15 min): {load_end}")

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
        "load_average_start": load_start,
        "load_average_end": load_end,
        "machine": machine,
        "langevin_opt_version": lo.__version__,
    })


if __name__ == "__main__":
    main()
