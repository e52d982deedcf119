"""Long compiled calls in chunks: Ctrl-C between chunks and a progress display.

Compiled code holds the interpreter: Python's SIGINT handler runs only when a kernel
returns.  So a front end runs a long kernel as a series of shorter calls (*chunks*),
each about :data:`TARGET_SECONDS` long, its length adapted from the time the previous
chunk took.  Randomness is keyed by ``(seed, stream, step)``, so the split changes no
number.

:class:`ChunkLoop` gives the chunk lengths and owns SIGINT while it runs:

* Ctrl-C while a chunk runs is *deferred*: the chunk finishes, the loop stops, and the
  front end raises :class:`~langevin_opt.core.errors.Interrupted` carrying its result
  at the end of that chunk.  The state is never half-updated.
* Ctrl-C while Numba compiles a kernel (the first chunk of a fresh process can take
  tens of seconds) stops at once: the kernel has not run, so the partial result is the
  state after the last completed chunk.
* A ``progress`` callback that raises :class:`KeyboardInterrupt` stops the loop the same
  way (the chunk before it has completed).
* The handler is installed only in the main thread and only where SIGINT has Python's
  default handler: a program with its own handler (the command line's graceful stop,
  an ignored SIGINT) keeps it.

Usage in a front end::

    loop = ChunkLoop(n_steps, progress=progress, label="sample")
    with loop:
        for start, n in loop:
            kernel(..., step0 + start, n, ...)    # one compiled call, nothing after it
    if loop.interrupted:
        raise Interrupted(..., partial_result)    # the state after loop.done steps

``progress=True`` draws a bar with ETA on stderr (one carriage-return line on a
terminal, a plain line every :data:`PLAIN_EVERY` seconds otherwise); a callable is
called as ``progress(done, total)`` after every chunk.
"""

from __future__ import annotations

import _thread
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import TextIO

from numba.core.compiler_lock import global_compiler_lock

__all__ = ["ChunkLoop", "ProgressBar", "TARGET_SECONDS", "MAX_GROWTH", "FIXED_STEPS",
           "kernel_name"]

#: Wall time aimed at per chunk (seconds): the delay before Ctrl-C takes effect.
TARGET_SECONDS = 0.25
#: A chunk is at most this many times longer than the one before (noisy timings of
#: very short chunks do not jump to a chunk of minutes).
MAX_GROWTH = 8
#: Tests: every chunk this many steps (``None``: adaptive).  Results do not depend on it.
FIXED_STEPS: int | None = None
#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_EVERY = 10.0
#: Seconds between two redraws of the terminal bar.
DRAW_EVERY = 0.1

# steps per second last measured per kernel and problem size: the first chunk of the
# next call of the same kind starts at the right length instead of at one step
_RATES: dict[Hashable, float] = {}


class _CompileInterrupt(KeyboardInterrupt):
    """Ctrl-C while Numba compiled a chunk's kernel (the kernel did not run)."""


#: Code where an exception raised by the signal handler would be swallowed ("Exception
#: ignored in ..."): LLVM's ctypes callbacks and finalizers.
_SWALLOWING = (f"{os.sep}llvmlite{os.sep}", f"{os.sep}weakref.py")


def _swallowing(frame: object) -> bool:
    f = frame
    while f is not None:
        code = f.f_code  # type: ignore[attr-defined]
        if code.co_name == "__del__" or any(s in code.co_filename for s in _SWALLOWING):
            return True
        f = f.f_back  # type: ignore[attr-defined]
    return False


class _Sigint:
    """The one SIGINT handler of all (nested) chunk loops of the main thread.

    Python runs signal handlers in the main thread only; loops in other threads leave
    all of this alone (and are not stopped by Ctrl-C).
    """

    def __init__(self) -> None:
        self.pending = False
        self.depth = 0
        self.previous: object = None
        self.installed = False
        self.compile_stop = True

    def handler(self, signum: int, frame: object) -> None:
        self.pending = True
        if self.compile_stop and global_compiler_lock.is_locked():
            # this thread is compiling: the chunk's kernel has not started, stop now ...
            if _swallowing(frame):
                # ... but not from inside an LLVM callback, which would swallow the
                # exception: signal again in a moment, in Numba's own Python code
                t = threading.Timer(0.02, self._again)
                t.daemon = True
                t.start()
                return
            raise _CompileInterrupt

    def _again(self) -> None:
        if self.installed:
            _thread.interrupt_main(signal.SIGINT)

    def enter(self) -> None:
        if self.depth == 0:
            self.pending = False
            self.installed = False
            try:
                if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                    self.previous = signal.signal(signal.SIGINT, self.handler)
                    self.installed = True
            except ValueError:  # pragma: no cover - a sub-interpreter
                pass
        self.depth += 1

    def leave(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            if self.installed:
                signal.signal(signal.SIGINT, self.previous)
                self.installed = False
            self.pending = False


_SIGINT = _Sigint()


def kernel_name(fn: object) -> str:
    """A stable name of a (compiled) function, for :class:`ChunkLoop` keys.

    Parameters
    ----------
    fn : callable
        A Numba dispatcher or a plain function.

    Returns
    -------
    str
        ``module.qualname`` of the Python function (names, not ids: an id can be
        reused by a later object of quite another cost).
    """
    f = getattr(fn, "py_func", fn)
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressBar:
    """Progress with ETA on a text stream (stderr by default), throttled.

    Parameters
    ----------
    total : int
        Steps of the call.
    label : str
        What runs (first word of the line).
    stream : file, optional
        Where to write (default ``sys.stderr``).  On a terminal the line is redrawn in
        place (carriage return) at most every :data:`DRAW_EVERY` seconds; otherwise a
        plain line is written at most every :data:`PLAIN_EVERY` seconds and at the end.

    Notes
    -----
    The ETA uses the rate after the first chunk, which holds any compilation.
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None) -> None:
        self.total = int(total)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            self.tty = False
        self.t0 = time.perf_counter()
        self._first: tuple[int, float] | None = None  # (done, time) after the first chunk
        self._last_draw = -math.inf
        self._width = 0
        self._broken = False
        self._done = 0
        self._drawn = -1  # steps shown by the last plain line

    def text(self, done: int, now: float) -> str:
        """The progress line for ``done`` of :attr:`total` steps at time ``now``.

        Parameters
        ----------
        done : int
            Steps completed.
        now : float
            ``time.perf_counter()`` value.

        Returns
        -------
        str
        """
        total = max(self.total, 1)
        frac = min(done / total, 1.0)
        eta = math.inf
        if done >= self.total:
            eta = 0.0
        elif self._first is not None and done > self._first[0] and now > self._first[1]:
            rate = (done - self._first[0]) / (now - self._first[1])
            eta = (self.total - done) / rate
        elif self._first is not None and done > 0:
            eta = (self.total - done) * (self._first[1] - self.t0) / done
        head = f"{self.label}: " if self.label else ""
        width = len(str(self.total))
        bar = ""
        if self.tty:
            fill = int(frac * 24)
            bar = f"[{'#' * fill}{'-' * (24 - fill)}] "
        return (f"{head}{bar}{100 * frac:5.1f}%  step {done:>{width}}/{self.total}  "
                f"elapsed {_duration(now - self.t0)}  ETA {_duration(eta)}")

    def _write(self, s: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(s)
            self.stream.flush()
        except (OSError, ValueError):  # closed or broken stream: keep computing
            self._broken = True

    def update(self, done: int, *, force: bool = False) -> None:
        """Record ``done`` steps and redraw if the throttle allows.

        Parameters
        ----------
        done : int
            Steps completed so far.
        force : bool
            Draw regardless of the throttle.
        """
        now = time.perf_counter()
        self._done = int(done)
        if self._first is None and done > 0:
            self._first = (int(done), now)
        every = DRAW_EVERY if self.tty else PLAIN_EVERY
        if not force and now - self._last_draw < every:
            return
        self._last_draw = now
        line = self.text(int(done), now)
        if self.tty:
            pad = max(self._width - len(line), 0)
            self._width = len(line)
            self._write("\r" + line + " " * pad)
        else:
            self._drawn = int(done)
            self._write(line + "\n")

    def close(self, note: str = "") -> None:
        """Draw the final state and end the line.

        Parameters
        ----------
        note : str
            Appended to the last line (e.g. ``"interrupted"``).
        """
        now = time.perf_counter()
        line = self.text(self._done, now) + (f"  {note}" if note else "")
        if self.tty:
            pad = max(self._width - len(line), 0)
            self._write("\r" + line + " " * pad + "\n")
        elif note or self._drawn != self._done:
            self._write(line + "\n")


class ChunkLoop:
    """Chunk lengths for one long call, SIGINT deferred to chunk ends, progress.

    Parameters
    ----------
    total : int
        Steps of the call (>= 0).
    progress : bool or callable
        ``True``: a :class:`ProgressBar` on stderr; a callable: ``progress(done, total)``
        after every chunk; ``False``: nothing.  (Checked by the front end with
        :func:`langevin_opt.core.validation.check_progress`.)
    multiple : int
        Every chunk is a multiple of this many steps (replica-exchange rounds); ``total``
        must be one too.
    key : hashable, optional
        Names the kernel and problem size; the rate measured is remembered under it, so
        that the first chunk of the next call with the same key starts near the target
        length (without a key, or the first time, it is ``multiple`` steps).
    limit : int, optional
        Chunks never cross a multiple of ``limit`` steps (front ends with their own
        fixed stretches, e.g. first passage's packing interval).
    label : str
        First word of the progress line.
    compile_stop : bool
        Ctrl-C while Numba compiles stops at once (the default).  Only for loop bodies
        whose one compiled call comes before any change of state; a body that changes
        state and then calls a function compiled on first use passes ``False`` (Ctrl-C
        then waits for the compilation and the chunk).

    Attributes
    ----------
    done : int
        Steps completed (chunks whose kernel returned).
    interrupted : bool
        After the ``with`` block: Ctrl-C (or a ``KeyboardInterrupt`` from the callback)
        stopped the loop; the front end raises
        :class:`~langevin_opt.core.errors.Interrupted` with the state after ``done``
        steps.
    """

    def __init__(self, total: int, *, progress: bool | Callable[[int, int], object] = False,
                 multiple: int = 1, key: Hashable | None = None, limit: int | None = None,
                 label: str = "", compile_stop: bool = True) -> None:
        self.total = int(total)
        self.compile_stop = bool(compile_stop)
        self._outer_compile_stop = True
        self.multiple = max(int(multiple), 1)
        self.key = key
        self.limit = None if limit is None else max(int(limit), 1)
        self.callback = progress if callable(progress) else None
        self.bar = ProgressBar(self.total, label) if progress is True else None
        self.done = 0
        self.interrupted = False
        self._rate = None if key is None else _RATES.get(key)
        self._size = 0
        self._t0 = 0.0
        self._stop = False
        self._main = False

    # -- context: SIGINT handler and progress display ---------------------------------
    def __enter__(self) -> ChunkLoop:
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            _SIGINT.enter()
            self._outer_compile_stop = _SIGINT.compile_stop
            _SIGINT.compile_stop = self.compile_stop
        if self.bar is not None:
            self.bar.update(0, force=True)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None,
                 tb: object) -> bool:
        compile_stop = exc_type is not None and issubclass(exc_type, _CompileInterrupt)
        pending = self._main and _SIGINT.pending
        if exc_type is None or compile_stop:
            if compile_stop or pending or self._stop:
                self.interrupted = True
                if self._main:
                    _SIGINT.pending = False
        if self._main:
            _SIGINT.compile_stop = self._outer_compile_stop
            _SIGINT.leave()
        if self.bar is not None:
            self.bar.close("interrupted" if self.interrupted else
                           "" if exc_type is None else "stopped")
        return compile_stop

    # -- iteration ----------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[int, int]]:
        return self

    def _next_size(self) -> int:
        left = self.total - self.done
        q = self.multiple
        if FIXED_STEPS is not None:
            n = max(int(FIXED_STEPS), 1)
        else:
            n = q if self._rate is None else int(self._rate * TARGET_SECONDS)
            if self._size:
                n = min(n, MAX_GROWTH * self._size)
        n = max(q, n - n % q)
        if self.limit is not None:
            n = min(n, self.limit - self.done % self.limit)
        return min(n, left)

    def __next__(self) -> tuple[int, int]:
        if self._size:
            # the previous chunk's kernel returned: count it, time it, report it
            elapsed = time.perf_counter() - self._t0
            self.done += self._size
            if elapsed > 0:
                self._rate = self._size / elapsed
                if self.key is not None:
                    _RATES[self.key] = self._rate
            if self.bar is not None:
                self.bar.update(self.done, force=self.done >= self.total)
            if self.callback is not None:
                try:
                    self.callback(self.done, self.total)
                except KeyboardInterrupt:
                    self._stop = True
        if self.stop_requested() or self.done >= self.total:
            raise StopIteration
        self._size = self._next_size()
        self._t0 = time.perf_counter()
        return self.done, self._size

    def stop_requested(self) -> bool:
        """Whether Ctrl-C is pending (for front ends that finish a stretch before stopping).

        Returns
        -------
        bool
        """
        return self._stop or (self._main and _SIGINT.pending)
