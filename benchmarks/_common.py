"""Shared helpers for the benchmarks in this directory.

Import this module *before* NumPy (or anything that imports NumPy): on import
it pins the BLAS/OpenMP thread pools to one thread unless the environment
already sets them, so that NumPy baselines are single-threaded.  Numba's own
thread count is not touched here (``NUMBA_NUM_THREADS`` stays the core count,
and Numba's OpenMP layer still runs that many threads with
``OMP_NUM_THREADS=1``); benchmarks choose it per call, e.g. with
langevin_opt's ``threads=``.  It also puts the repository root on ``sys.path``
when ``langevin_opt`` is not importable otherwise.

Helpers
-------
* :func:`time_interleaved`: warm-up runs, then repeats interleaved round-robin
  over the contenders (so that a change in background load hits all of them
  alike); records wall and process CPU time (medians, and CPU/wall = cores
  actually obtained, which exposes a loaded machine).
* :func:`time_once`: wall time of a single call (e.g. a first, compiling call).
* :func:`build_c_library`: compile C source with the system compiler into a
  temporary directory and load it with ctypes (``None`` when no compiler).
* :func:`find_torch_python` and :class:`PeerProcess`: a baseline script (PyTorch)
  run by another interpreter in a subprocess that answers one JSON line per request,
  so that it takes its turn in the same interleaved rounds as in-process contenders.
* :func:`busy_cores`, :func:`wait_until_idle`: how busy the machine is (a shared
  machine makes 2-thread scaling measure the load rather than the code).
* :func:`machine_info`, :func:`load_average`, :func:`format_table`,
  :func:`emit_json` (the JSON object must be the last line a benchmark prints).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

#: True when NumPy was already imported before this module (then the thread pins
#: above may not have taken effect for its BLAS).
NUMPY_IMPORTED_FIRST = "numpy" in sys.modules

for _var in THREAD_ENV_VARS:
    os.environ.setdefault(_var, "1")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if importlib.util.find_spec("langevin_opt") is None:  # running from a plain checkout
    sys.path.insert(0, REPO_ROOT)

#: An interpreter with PyTorch: ``$LANGEVIN_OPT_PEER_PYTHON``, else ``.venv-bench``
#: (``make bench-peers``).
DEFAULT_TORCH_PYTHON = os.environ.get("LANGEVIN_OPT_PEER_PYTHON") or os.path.join(
    REPO_ROOT, ".venv-bench", "bin", "python")


# ---------------------------------------------------------------------- timing
@dataclass
class Timing:
    """Wall and process CPU times (seconds) of the repeats of one contender."""

    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times) if self.times else math.nan

    @property
    def best(self) -> float:
        return min(self.times) if self.times else math.nan

    @property
    def spread(self) -> float:
        """(max - min) / median: a rough noise indicator."""
        if len(self.times) < 2:
            return 0.0
        return (max(self.times) - min(self.times)) / self.median

    @property
    def cpu_median(self) -> float:
        """Median process CPU time (all threads) of the repeats."""
        return statistics.median(self.cpu_times) if self.cpu_times else math.nan

    @property
    def cpu_per_wall(self) -> float:
        """Summed CPU time / summed wall time: cores actually obtained (all threads)."""
        wall = sum(self.times)
        return sum(self.cpu_times) / wall if wall > 0 else math.nan


def time_once(fn: Callable[[], object]) -> tuple[float, object]:
    """Return ``(wall seconds, result)`` of one call of ``fn()``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def time_interleaved(
    contenders: dict[str, Callable[[], object]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Timing], dict[str, object]]:
    """Time zero-argument callables: ``warmup`` untimed calls each, then ``repeats`` rounds.

    Each round calls every contender once, in order; the result of each
    contender's last call is returned too (for sanity checks).

    Returns
    -------
    timings : dict of name -> Timing
    results : dict of name -> the last return value
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    results: dict[str, object] = {}
    for name, fn in contenders.items():
        for _ in range(warmup):
            dt, results[name] = time_once(fn)
            if progress:
                progress(f"warm-up {name}: {dt:.3f} s")
    timings = {name: Timing() for name in contenders}
    for r in range(repeats):
        for name, fn in contenders.items():
            c0 = time.process_time()
            dt, results[name] = time_once(fn)
            timings[name].cpu_times.append(time.process_time() - c0)
            timings[name].times.append(dt)
            if progress:
                progress(f"repeat {r + 1}/{repeats} {name}: {dt:.3f} s")
    return timings, results


# ------------------------------------------------------------------ C helpers
def find_c_compiler() -> str | None:
    """Path of the system C compiler (``$CC``, else cc, gcc, clang), or None."""
    for cand in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cand:
            path = shutil.which(cand)
            if path:
                return path
    return None


def compiler_version(cc: str) -> str:
    """First line of ``cc --version`` (empty string on failure)."""
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.splitlines()[0] if out.stdout else ""


def build_c_library(
    source: str, flags: Sequence[str], *, name: str = "bench", workdir: str | None = None
) -> tuple[ctypes.CDLL | None, str]:
    """Compile C ``source`` into a shared library and load it.

    Parameters
    ----------
    source : str
        C translation unit.
    flags : sequence of str
        Optimisation flags (``-shared -fPIC`` and ``-lm`` are added).
    name : str
        Base name of the files.
    workdir : str, optional
        Directory for the files (default: a new temporary directory, removed
        when the process exits).

    Returns
    -------
    lib : ctypes.CDLL or None
        None when no compiler was found or compilation failed.
    message : str
        The compile command, or why the library is missing.
    """
    cc = find_c_compiler()
    if cc is None:
        return None, "no C compiler found (tried $CC, cc, gcc, clang)"
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix="lo_bench_")
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    tag = "".join(ch if ch.isalnum() else "_" for ch in "".join(flags))
    src = os.path.join(workdir, f"{name}.c")
    lib = os.path.join(workdir, f"{name}{tag}.so")
    with open(src, "w") as fh:
        fh.write(source)
    cmd = [cc, *flags, "-shared", "-fPIC", "-o", lib, src, "-lm"]
    shown = " ".join([os.path.basename(cc), *flags, "-shared -fPIC", "-lm"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{shown}: {exc}"
    if proc.returncode != 0:
        return None, f"{shown} failed: {proc.stderr.strip()[:500]}"
    return ctypes.CDLL(lib), shown


# ------------------------------------------------------------ peer processes
def find_torch_python(explicit: str | None = None, *, disabled: bool = False
                      ) -> tuple[str | None, str | None]:
    """The interpreter for a PyTorch baseline, or why there is none.

    Parameters
    ----------
    explicit : str, optional
        ``--torch-python`` as given (used as is).
    disabled : bool
        ``--no-torch`` was given.

    Returns
    -------
    python : str or None
        ``explicit``, else :data:`DEFAULT_TORCH_PYTHON` if it exists, else None.
    reason : str or None
        Why ``python`` is None (None when it is not).
    """
    if disabled:
        return None, "--no-torch"
    if explicit:
        return explicit, None
    if os.path.exists(DEFAULT_TORCH_PYTHON):
        return DEFAULT_TORCH_PYTHON, None
    return None, "no PyTorch interpreter (pass --torch-python)"


class PeerProcess:
    """A baseline script run by another interpreter, one JSON line per request.

    The script gets ``json.dumps(cfg)`` as its only argument (with ``cfg["data"]``
    the path of an ``.npz`` of ``arrays`` when given), prints one JSON line when it is
    ready (kept as :attr:`info`), then answers every line it reads from stdin with one
    JSON line; ``quit`` (or end of input) ends it.  The thread variables of
    :data:`THREAD_ENV_VARS` are set to 1 in its environment.

    Parameters
    ----------
    python : str
        Interpreter.
    script : str
        Source of the script (run with ``python -c``).
    cfg : dict
        Its configuration (JSON-serialisable).
    arrays : dict of str -> numpy.ndarray, optional
        Saved to ``data.npz`` in a private temporary directory (:attr:`tmpdir`).
    prefix : str
        Prefix of the temporary directory.
    """

    def __init__(self, python: str, script: str, cfg: dict, *, arrays: dict | None = None,
                 prefix: str = "lo_bench_peer_") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.tmpdir = self._tmp.name
        cfg = dict(cfg)
        if arrays is not None:
            import numpy as np

            cfg["data"] = os.path.join(self.tmpdir, "data.npz")
            np.savez(cfg["data"], **arrays)
        env = dict(os.environ)
        for v in THREAD_ENV_VARS:
            env[v] = "1"
        self.proc = subprocess.Popen([python, "-c", script, json.dumps(cfg)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip()[-600:]
            self.close()
            raise RuntimeError(f"{python} failed: {err}")
        self.info: dict = json.loads(line)

    def ask(self, line: str) -> dict:
        """Send one request line; return the script's JSON answer."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError(f"peer process died: {self.proc.stderr.read()[-600:]}")
        return json.loads(out)

    def close(self) -> None:
        """Ask the script to quit (kill it if it does not) and remove the temporary files."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.SubprocessError):
                self.proc.kill()
        self._tmp.cleanup()


# ------------------------------------------------------------- machine/report
def busy_cores(seconds: float = 3.0) -> float:
    """Cores busy (all processes) over ``seconds``, from ``/proc/stat`` (nan elsewhere)."""
    def snap():
        with open("/proc/stat") as fh:
            v = [int(t) for t in fh.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
    except OSError:
        return math.nan
    n = os.cpu_count() or 1
    return n * (1.0 - (i1 - i0) / max(t1 - t0, 1))


def wait_until_idle(timeout: float, threshold: float = 0.3) -> dict:
    """Wait (up to ``timeout`` s) until other processes keep under ``threshold`` cores busy."""
    t0 = time.perf_counter()
    busy = busy_cores()
    while busy > threshold and time.perf_counter() - t0 < timeout:
        busy = busy_cores()
    return {"waited_s": time.perf_counter() - t0, "busy_cores_at_start": busy,
            "idle": bool(busy <= threshold)}


def load_average() -> tuple[float, float, float] | None:
    """1-, 5- and 15-minute load averages (None where unavailable)."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def usable_cpus() -> int:
    """CPUs this process may run on (affinity mask), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Versions and hardware facts for a benchmark's JSON record."""
    import numba
    import numpy

    info = {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy_version": numpy.__version__,
        "numba_version": numba.__version__,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "blas_threads_env": {v: os.environ.get(v) for v in THREAD_ENV_VARS[:2]},
        "numpy_imported_before_pin": NUMPY_IMPORTED_FIRST,
    }
    try:
        info["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        info["numba_threading_layer"] = None
    return info


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None
) -> str:
    """Plain-text table; ``align`` has one ``l`` or ``r`` per column (default ``lrr...r``)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(row, widths, align, strict=True)
        ).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def _json_default(obj: object) -> object:
    # NumPy scalars and arrays, without importing NumPy here
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite_or_none(obj: object) -> object:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


RECORD_ENV = "LANGEVIN_OPT_BENCH_RECORD"
#: Cores held by other processes above which a benchmark's targets are not judged.
BUSY_THRESHOLD = 0.3
#: The machine when a benchmark script started (measured at import, only when the running
#: script is a benchmark: importing this module from a test costs nothing).
START: dict[str, object] = {"load_average": None, "busy_cores": None}


def record_start(seconds: float = 1.0) -> None:
    """Measure the load average and the busy cores now, as the benchmark's starting state."""
    START["load_average"] = load_average()
    START["busy_cores"] = busy_cores(seconds)


def judge_machine(record: dict) -> dict:
    """Add the machine's state to ``record`` and withdraw its verdicts when it was shared.

    Sets ``load_average_start`` / ``load_average_end``, ``busy_cores_start`` /
    ``busy_cores_end`` (cores busy, all processes, measured while the benchmark itself was
    idle: at start and at the end) and ``machine_busy``.  When another process held more
    than :data:`BUSY_THRESHOLD` cores at either end (or that is unknown) and the record has
    ``targets_met``, the verdicts move to ``targets_measured`` and every ``targets_met``
    entry becomes ``None`` (not judged), with ``machine_busy_note`` saying why: a 2-core
    machine shared with anything else halves the 2-thread figures.
    """
    rec = dict(record)
    rec.setdefault("load_average_start", START["load_average"])
    rec.setdefault("load_average_end", load_average())
    b0 = rec.get("busy_cores_start", rec.get("busy_cores_at_start", START["busy_cores"]))
    b1 = rec.get("busy_cores_end", rec.get("busy_cores_at_end"))
    if b1 is None:
        b1 = busy_cores(1.0)
    rec["busy_cores_start"], rec["busy_cores_end"] = b0, b1
    known = [float(b) for b in (b0, b1) if b is not None and math.isfinite(float(b))]
    busy = len(known) < 2 or max(known) > BUSY_THRESHOLD
    rec["machine_busy"] = bool(rec.get("machine_busy", False) or busy)
    if rec["machine_busy"] and isinstance(rec.get("targets_met"), dict):
        rec.setdefault("targets_measured", rec["targets_met"])
        rec["targets_met"] = {k: None for k in rec["targets_met"]}
        rec.setdefault("machine_busy_note", (
            f"other processes held {b0} / {b1} cores at the start / end (threshold "
            f"{BUSY_THRESHOLD}; unknown counts as busy): no target is judged; "
            "targets_measured has the raw comparisons"))
    return rec


def emit_json(record: dict) -> None:
    """Print ``record`` as one line of strict JSON (nan/inf become null); print it last.

    The record first goes through :func:`judge_machine` (load averages, busy cores, targets
    withdrawn on a shared machine).  When the environment variable
    ``LANGEVIN_OPT_BENCH_RECORD`` names a directory, the record is also written there as
    ``<benchmark>.json`` (with the UTC date and the command line), which is how
    ``paper/build.py`` collects the performance table.
    """
    record = judge_machine(record)
    text = json.dumps(record, default=_json_default)
    line = json.dumps(_finite_or_none(json.loads(text)), allow_nan=False)
    where = os.environ.get(RECORD_ENV)
    if where:
        import datetime

        rec = json.loads(line)
        rec.setdefault("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ"))
        rec.setdefault("argv", sys.argv[1:])
        os.makedirs(where, exist_ok=True)
        name = os.path.splitext(os.path.basename(sys.argv[0]))[0] or "benchmark"
        with open(os.path.join(where, f"{name}.json"), "w") as fh:
            fh.write(json.dumps(rec, indent=1) + "\n")
    print(line, flush=True)


if os.path.basename(sys.argv[0]).startswith("bench_"):  # a benchmark run, not an import
    record_start()
