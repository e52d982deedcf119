"""The one recording path: every engine hands its frames and observables to a :class:`Recorder`.

Walker ensembles (the CLI runner), particle dynamics, SG-MCMC chains and first-passage
runs all record the same way.  An engine decides *when* to record (its own recording
interval, or once at the end) and calls

* :meth:`Recorder.frames` with per-item arrays (positions of walkers, atoms or chain
  parameters; optionally velocities, forces, periodic images), and
* :meth:`Recorder.observables` with named series (energies, temperatures, acceptance
  rates, first-passage times; one row per step, any trailing shape).

The recorder stamps each step with its time ``step * dt`` (reduced time units,
``k_B = 1``), appends to an :class:`~langevin_opt.storage.h5md.H5MDWriter` when it has
one, and, with ``keep=True``, also keeps an in-memory copy that the engine returns as its
result (e.g. :class:`langevin_opt.particles.MDRecord`).  The writer does the buffering,
flushing and checkpoints (in its writer thread when it was created with
``asynchronous=True``, as by the walker runner and ``open_trajectory``: the recorder's
calls then return once the rows are copied); the recorder is the single place that maps
an engine's data onto it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.validation import check_positive

if TYPE_CHECKING:
    from .h5md import H5MDWriter

__all__ = ["Recorder"]


class Recorder:
    """Receive frames and observables from an engine; write them and/or keep them.

    Parameters
    ----------
    writer : H5MDWriter, optional
        Destination file (``None``: keep in memory only).
    dt : float
        Time step, reduced time units: the time of step ``s`` is ``s * dt``.
    keep : bool
        Keep a copy of every observable row in memory (see :meth:`kept`).
    file_exclude : iterable of str
        Observables kept in memory but not written (run bookkeeping such as a
        schedule's set-point that the file records elsewhere).

    Examples
    --------
    >>> import numpy as np
    >>> from langevin_opt.storage.recording import Recorder
    >>> rec = Recorder(dt=0.5, keep=True)
    >>> rec.observables([2, 4], energy=[1.0, 0.5])
    >>> rec.kept()["time"].tolist()
    [1.0, 2.0]
    """

    def __init__(self, writer: H5MDWriter | None = None, *, dt: float, keep: bool = False,
                 file_exclude: tuple[str, ...] | list[str] = ()) -> None:
        self.writer = writer
        self.dt = check_positive("dt", dt)
        self.keep = bool(keep)
        self.file_exclude = frozenset(file_exclude)
        self._rows: dict[str, list[np.ndarray]] = {}

    @property
    def writes(self) -> bool:
        """Whether a file receives what is recorded."""
        return self.writer is not None

    def wants(self, name: str) -> bool:
        """Whether the file records the per-item frame element ``name``.

        Parameters
        ----------
        name : {"velocity", "force", "image"}
            Optional frame element.

        Returns
        -------
        bool
            ``True`` if the writer was created to record it.
        """
        return self.writer is not None and bool(self.writer.record[name])

    def _times(self, steps: np.ndarray) -> np.ndarray:
        return steps.astype(np.float64) * self.dt

    def frames(self, steps: Any, position: Any, *,
               observables: dict[str, Any] | None = None, **elements: Any) -> None:
        """Record ``F`` frames of per-item data.

        Parameters
        ----------
        steps : array_like of int, shape (F,)
            Steps of the frames, increasing.
        position : array_like, shape (F, n, dim)
            Positions (walkers, atoms or chain parameters), reduced length units.
        observables : dict of str to array_like of shape (F,), optional
            Values at the frames' steps of the writer's ``frame_observables``
            (stored frame-aligned; ignored if the writer has none).
        **elements : array_like, shape (F, n, dim)
            ``velocity``, ``force`` or ``image``, for those the writer records;
            elements the writer does not record are ignored.
        """
        if self.writer is None:
            return
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        if steps.size == 0:
            return
        given = {k: v for k, v in elements.items() if self.wants(k)}
        framed = self.writer.frame_observables
        if framed:
            given["observables"] = {k: (observables or {})[k] for k in framed
                                    if k in (observables or {})}
        self.writer.append_frames(steps, self._times(steps), position, **given)

    def observables(self, steps: Any, **series: Any) -> None:
        """Record ``F`` rows of named observables.

        Parameters
        ----------
        steps : array_like of int, shape (F,)
            Steps of the rows, increasing.
        **series : array_like, shape (F, ...)
            One array per observable; row ``k`` belongs to ``steps[k]``.
        """
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        if steps.size == 0:
            return
        if self.keep:
            self._rows.setdefault("step", []).append(steps)
            self._rows.setdefault("time", []).append(self._times(steps))
            for k, v in series.items():
                self._rows.setdefault(k, []).append(np.asarray(v))
        if self.writer is not None:
            out = {k: v for k, v in series.items() if k not in self.file_exclude}
            if out:
                self.writer.append_observables(steps, self._times(steps), **out)

    def kept(self) -> dict[str, np.ndarray]:
        """Every observable row kept so far, concatenated over calls.

        Returns
        -------
        dict of str to numpy.ndarray
            ``step`` (int64), ``time`` and one array per observable, each with
            one row per recorded step (empty dict if nothing was kept).
        """
        return {k: np.concatenate(v) for k, v in self._rows.items()}
