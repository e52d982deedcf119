r"""H5MD 1.1 trajectory files: a buffered, crash-proof writer and a lazy reader.

All quantities are in reduced units with :math:`k_B = 1` unless the caller
passes ``units`` (an :class:`H5MDUnits`) or ``time_unit``/``length_unit``
strings, which are then stored as H5MD ``unit`` attributes (the numbers are
never converted).  Particle trajectories declare :data:`REDUCED_UNITS` (one
reduced unit = 1 nm, 1 ps, 1 kJ/mol, 1 u, a consistent set), so that
``MDAnalysis.Universe(path)`` opens them with no options.

Layout of the H5MD file (H5MD 1.1, explicit step/time arrays)::

    /h5md                       attrs: version = int32[2] {1, 1}
    /h5md/author                attrs: name (fixed-length string)
    /h5md/creator               attrs: name, version (fixed-length strings)
    /h5md/modules/units         only when a unit was given: version {1, 0}, system
                                (+ langevin_opt_mapping: how the run's units map onto them)
    /particles/<group>/box      attrs: dimension (int32), boundary (S8[dim])
    /particles/<group>/box/edges/{step,time,value[T][dim]}   only if periodic
    /particles/<group>/position/{step int64[T], time float64[T], value float64[T][N][dim]}
    /particles/<group>/velocity, force  (float64), image (int64), optional
    /observables/<name>/{step int64[T], time float64[T], value float64[T] or [T][N]}
    /observable_series/<name>/{step, time, value}   only with frame observables, see below
    /parameters/...             nested run parameters (see ``write_parameters``)
    /checkpoint                 last restart checkpoint (outside the H5MD groups)

The ``step``/``time`` datasets of ``velocity``, ``force``, ``image`` and
``box/edges`` are HDF5 hard links to those of ``position`` (required by the
spec for ``image`` and ``box/edges``, allowed for the others).  Every
time-dependent element group carries an integer attribute
``langevin_opt_committed_rows`` (its number of rows); ``time`` and ``value``
datasets carry ``unit`` attributes when units were given.

Observables.  A writer without ``frame_observables`` (walker ensembles,
SG-MCMC chains, first-passage tables) stores each observable as it was
recorded, with its own ``step``/``time``, under ``/observables/<name>``.  A
writer with ``frame_observables`` (particle trajectories) stores two things:
``/observables/<name>`` holds one row per frame, the value at that frame's
step, with ``step``/``time`` hard links to ``position``'s and the attribute
``langevin_opt_frame_aligned`` -- what a reader that indexes observables by
frame number sees (MDAnalysis' ``ts.data``, which ignores an observable's own
``step``); and ``/observable_series/<name>/{step,time,value}`` holds every
recorded row (usually denser than the frames), each an H5MD time-dependent
element for readers that follow the step/time datasets.  The frame
observable ``dt`` is the time between frames (MDAnalysis'
``trajectory.dt``).  The frame-aligned rows belong to the ``particles``
element key (they are written, merged, truncated and recovered with the
frames); the series keep their own keys ``"<group>/<name>"``.

Which readers open which files: every file here is H5MD 1.1 with explicit
step/time arrays, so this module's :class:`H5MDReader`, plain ``h5py`` and
``pyh5md`` open all of them (a live or killed run's index too, with its
sidecars beside it).  ``MDAnalysis.Universe(path)`` with no options opens
3-D particle trajectories of :func:`langevin_opt.particles.open_trajectory`
(group ``trajectory``, units); MDAnalysis cannot open 1-D/2-D files at all
(walker ensembles on 2-D landscapes, 2-D particle systems: "MDAnalysis only
supports 3-dimensional simulation boxes") and needs
``Universe.empty(n).load_new(path, format="H5MD", convert_units=False)`` for
3-D files without units or with another particle group.

Crash safety
------------
HDF5 has no journal: a process killed while the library writes its dirty
metadata (dataset extents, chunk indexes) into a file can leave that file
unreadable, and a full disk or a file-size limit met inside HDF5's C code
ends in the same state, or in a segfault.  The earlier design (buffering, a
two-phase flush with commit markers, checkpoints renamed inside the file)
narrowed that window but could not close it: a kill 74 us into the 195th
flush of a run destroyed every frame and checkpoint (issue 12).  So the
writer now never lets HDF5 modify a file that holds committed data.  Every
file is *built complete* and then *published* by the operating system's one
atomic operation, ``rename``:

* HDF5 images are built in memory (``h5py.File(io.BytesIO())``, closed, so
  complete, with ``libver="latest"``: checksummed metadata) and written by
  :func:`~langevin_opt.storage._safe.write_atomic`: ``<name>.tmp``,
  ``fsync``, ``os.replace`` over ``<name>``, ``fsync`` of the directory.  The
  bytes reach the disk through Python's ``os.write``, so ``ENOSPC`` and
  ``EFBIG`` (with ``SIGXFSZ`` ignored) are ordinary ``OSError`` s raised in
  Python, before anything is renamed.
* **Frames: segment files joined by a virtual dataset.**  Each
  :meth:`H5MDWriter.flush` writes the buffered rows as a new segment file
  ``<path>.seg/NNNNNNNN.h5`` (the same dataset paths as the H5MD file,
  chunked with Fletcher-32 checksums), then a new *index* at ``path``: the
  full H5MD layout above whose time-dependent datasets are HDF5 virtual
  datasets (VDS) over the segments (relative source names, resolved beside
  the index), plus parameters, static data and a JSON manifest attribute
  ``langevin_opt_manifest`` listing every segment with its size, CRC-32 and
  rows.  A kill at any instant leaves the old index (with all its segments)
  or the new one; a segment or index half written is only ever a ``.tmp``
  file nobody reads.  Segments are merged in levels of four (the last four
  of one level become one of the next level, up to 256 MiB), so a run of F
  flushes keeps about ``3 log4(F)`` segments and the index stays small;
  merged-away files are deleted 60 s later, so a reader that opened an
  older index keeps its files for at least that long.
* **Checkpoints: a separate file, the previous one kept.**
  :meth:`H5MDWriter.write_checkpoint` flushes, writes ``<path>.ckpt.new``
  atomically, renames ``<path>.ckpt`` to ``<path>.ckpt.prev`` and the new
  file to ``<path>.ckpt`` (the GROMACS scheme).  Every array carries a
  CRC-32 attribute (and a Fletcher-32 filter).  :meth:`H5MDReader.checkpoint`
  takes the newest intact one among the three names, skipping a damaged
  one for the previous.
* **Consolidation at close.**  :meth:`H5MDWriter.close` copies everything
  into one plain H5MD file (chunked, resizable, Fletcher-32 datasets; the
  checkpoint in ``/checkpoint``), written to ``<path>.tmp`` through a Python
  file object (so the disk's own error is kept), ``fsync``-ed and renamed
  over the index; then the sidecar files are deleted.  A closed run is one
  ordinary file; a live or killed run is the index plus its sidecars, which
  this reader, ``h5py`` and MDAnalysis all read as one H5MD file (keep the
  sidecars beside it).  ``H5MDWriter(..., mode="a")`` on a closed file takes
  it (hard-linked) as segment 0 and continues.
* **Recovery.**  Reopening a killed run checks each segment's size (reader)
  or CRC-32 (writer in mode ``"a"`` and :meth:`H5MDReader.checkpoint`, the
  resume path): frames from the first missing, short or corrupted segment on
  are dropped and reported in a :class:`RecoveryReport` (``.recovery``: last
  safe step, lost frames, which file and why), and only a checkpoint covered
  by the remaining frames is offered.  A file HDF5 cannot open at all
  (truncated, empty, not HDF5) raises :class:`DamagedFileError` with one line
  saying which ("truncated file: N bytes on disk, HDF5 expects M"), never a
  message containing "lock".  For a truncated plain file (outside damage,
  or a file of the earlier in-place writer cut by a full disk),
  ``H5MDWriter(..., mode="a")`` copies it zero-padded to the length HDF5
  expects and keeps the rows of every chunk stored wholly before the cut
  (and passing its checksum), reporting the rest as lost; if the cut took
  HDF5 metadata it says in one line that nothing can be recovered and
  leaves the file as it was.  A kill (or ``SIGALRM`` inside HDF5's C code)
  cannot produce such a file any more.
* **Full disk, file-size limit.**  :class:`StorageFullError` (an ``OSError``
  with ``errno`` ``ENOSPC``/``EDQUOT``/``EFBIG`` and ``last_safe_step``) says
  in one line the cause and the last step whose frames are safe.  The
  buffered rows are kept, everything published before stays readable, and a
  later ``flush`` (or ``mode="a"`` once space is freed) continues.
  ``close`` checks free space and ``RLIMIT_FSIZE`` before consolidating; if
  consolidation fails, the run stays complete as index + segments.
* **One writer per output.**  The writer holds ``fcntl.flock`` on
  ``<path>.lock`` from before it looks at ``path`` until ``close``; a second
  writer (``"w"``, ``overwrite=True`` or ``"a"``, in any process) gets
  :class:`OutputLockedError` without touching anything.  The lock dies with
  the process, so a killed writer never blocks a resume.  Readers take no
  lock: no file is ever open for writing by HDF5 under its published name.
* **Outputs written in one go** (results computed in memory, then saved:
  SG-MCMC chains, first-passage tables) use
  :func:`langevin_opt.storage.staged_writer`: this writer on ``<path>.new``,
  consolidated, then renamed over ``path``, so a kill leaves the previous
  file or the complete new one.
* **Checksums.**  Frame chunks: Fletcher-32 (every read checks it; a
  mismatch raises ``OSError``); segment files: CRC-32 of every byte;
  checkpoints: CRC-32 per array; metadata: HDF5's own checksums.
  :meth:`H5MDReader.verify` checks them all and names the file, dataset and
  rows of each problem.

Guarantees and limits: after ``flush`` or (synchronous writer)
``write_checkpoint`` returns, its frames and checkpoint survive a kill at any
later instant (and, with the default ``fsync=True``, an operating-system crash
or power cut); a kill
during a call leaves the state before or after it.  ``fsync=False`` keeps the
kill-safety and drops only the power-cut guarantee.  Costs and limits:
each segment carries about 12 KiB of HDF5 metadata until it is merged or
consolidated; merged-away segments occupy disk for 60 s; a reader kept open
on a live run for longer than that may read fill values where segments were
merged away (reopen it); the index itself damaged from outside (it is small
and rewritten at every flush) is reported, not rebuilt; a consolidated file
reopened with ``mode="a"`` keeps only the H5MD groups, parameters, static
data and checkpoint (groups added by other code are dropped).

Asynchronous writing
--------------------
``H5MDWriter(..., asynchronous=True)`` (the default of ``langevin-opt run`` and
:func:`langevin_opt.particles.open_trajectory`) moves every flush and checkpoint
into one background thread, the only one that touches the files.  The caller's
side validates and copies (``append_*`` as always; ``write_checkpoint`` copies
the state arrays) and hands over *jobs*: a batch of buffered rows, optionally
followed by a checkpoint.  The thread applies them in submission order, each
with the synchronous code above, so the files, their publication by rename
and every crash-safety property are the same: a checkpoint is written only
after its batch is published, and a kill at any instant (also inside a write
of the thread) leaves the state after the last completed job.
Back-pressure: a bounded queue holds at most ``max_pending`` jobs (default 2)
besides the one being written; the call that would add one more blocks until
the thread catches up.  A job that fails (``StorageFullError``, any error)
stops the thread's work: the later jobs are set aside, the error is raised by
the caller's next call (``append_*``, ``write_*``, ``flush``, ``truncate_to_step``
or ``close``) with its own type, and the rows of the failed and set-aside jobs
go back into the buffer (a later flush retries; their checkpoints are not
written, as a failed ``write_checkpoint`` writes none).  ``flush``,
``write_parameters``, ``write_static``, ``truncate_to_step`` and ``close`` wait for
the thread first; ``write_checkpoint`` returns at once, so its guarantee below
holds once the next ``flush`` (or ``close``) returns.  Ctrl-C while ``close``
waits drops the jobs not started (the one being written completes) and leaves
the file resumable as index + segment files.

Write throughput
----------------
``append_*`` costs one NumPy copy of its arguments (about 70 us for a frame of
1000 walkers in 3-D), so it can be called from a hot loop; the file is
touched only by ``flush`` (automatic once ``buffer_bytes`` are pending),
``write_*``, ``truncate_to_step`` and ``close``.  A flush builds two HDF5
images and renames two files, which costs a fixed 10-30 ms (plus
``fsync``) whatever the data; flush every few seconds, not every step.
Measured on the 2-core development VM (a virtio disk shared with other
jobs; median ms per call over 300 flushes; "old" is the in-place writer of
commit a350e99, which forced nothing to disk)::

    per flush                              old     new, fsync   new, fsync=False
    N=100, dim=2, 1 frame                  2.0     24-28        11-18
    N=2000, dim=2, 10 frames + 2 obs       2.6     28           14-16
    N=100000, dim=3, 10 frames (24 MB)     9.0     96           53-66
    write_checkpoint (N=2000 state)        0.6     12-22        1.2-6
    close                                  0.2     0.4 s for a 144 MB run (one copy)

The cost per flush does not grow with the run (segments are merged).  At
the runner's cadence (one flush + checkpoint every ~0.4 s) that is about
10 % of the wall time with ``fsync`` and 4 % without.  Compression
(``"lzf"``, ``"gzip"``) is off by default: it cuts throughput to tens of
MB/s.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import queue
import re
import resource
import shutil
import sys
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import h5py
import numpy as np

from langevin_opt.storage._safe import (
    CorruptionError,
    DamagedFileError,
    OutputLock,
    OutputLockedError,
    RecoveryReport,
    StorageError,
    StorageFullError,
    acquire_lock,
    crc32_file,
    fsync_dir,
    is_full_error,
    release_lock,
    write_atomic,
)

__all__ = [
    "REDUCED_UNITS",
    "Box",
    "CorruptionError",
    "DamagedFileError",
    "H5MDReader",
    "H5MDUnits",
    "H5MDWriter",
    "OutputLock",
    "OutputLockedError",
    "RecoveryReport",
    "StorageError",
    "StorageFullError",
]

H5MD_VERSION = (1, 1)
_COMMITTED = "langevin_opt_committed_rows"
_CONSTANT_EDGES = "langevin_opt_constant_edges"
_PARAMS_JSON = "langevin_opt_json"
_PARAM_KIND = "langevin_opt_kind"
_CK_STEP = "langevin_opt_step"
_CK_COMPLETE = "langevin_opt_complete"
_CK_NAMES = ("checkpoint", "checkpoint_new", "checkpoint_old")
_CK_CRC = "langevin_opt_crc32"
_RUN_ID = "langevin_opt_run_id"
_MANIFEST = "langevin_opt_manifest"
_MANIFEST_FORMAT = 1
_SEG_SUFFIX = ".seg"
_CK_SUFFIXES = (".ckpt", ".ckpt.new", ".ckpt.prev")
_PARTICLE_ELEMENTS = ("position", "velocity", "force", "image")
_COMPRESSIONS = (None, "gzip", "lzf")
_CHUNK_TARGET_BYTES = 256 * 1024
_CHUNK_MAX_FRAMES = 1024
_COPY_BLOCK_BYTES = 64 * 2**20
_MERGE_FAN_IN = 4
_MERGE_MAX_BYTES = 256 * 2**20
_RETIRE_AFTER_S = 60.0
_NDARRAY_TAG = "__ndarray__"
_FRAME_ALIGNED = "langevin_opt_frame_aligned"
_SERIES_GROUP = "observable_series"
_UNIT_MAPPING = "langevin_opt_mapping"
_FULL_CAUSES = {28: "no space left on device (ENOSPC)", 27: "file size limit exceeded (EFBIG)",
                122: "disk quota exceeded (EDQUOT)"}


class H5MDUnits(NamedTuple):
    """Unit strings written as H5MD ``unit`` attributes (H5MD units module 1.0).

    The numbers in the file are never converted; these strings say what they
    mean.  Every string must be a valid H5MD unit string that MDAnalysis also
    recognises (``nm``, ``Angstrom``, ``ps``, ``fs``, ``nm ps-1``,
    ``kJ mol-1 nm-1``, ...), or ``MDAnalysis.Universe(path)`` raises.

    Attributes
    ----------
    system : str
        ``system`` attribute of ``/h5md/modules/units``.
    length : str
        Unit of positions and box edges.
    time : str
        Unit of the ``time`` datasets (and of the ``dt`` observable).
    velocity : str
        Unit of velocities.
    force : str
        Unit of forces.
    energy : str
        Unit of energies (and of temperatures, :math:`k_B = 1`).
    mapping : str
        One line saying how the run's own units map onto these strings
        (stored as the ``langevin_opt_mapping`` attribute of the units module).
    """

    system: str
    length: str
    time: str
    velocity: str
    force: str
    energy: str
    mapping: str


REDUCED_UNITS = H5MDUnits(
    system="reduced",
    length="nm",
    time="ps",
    velocity="nm ps-1",
    force="kJ mol-1 nm-1",
    energy="kJ mol-1",
    mapping="reduced Lennard-Jones units stored as sigma = 1 nm, tau = 1 ps, "
            "epsilon = 1 kJ mol-1, mass = 1 u (a consistent set: epsilon tau^2 / sigma^2 = 1 u), "
            "k_B = 1 (T = 1 is epsilon / k_B); the numbers are the reduced numbers",
)
"""Default units of particle trajectories (:func:`langevin_opt.particles.open_trajectory`).

Reduced LJ units have no physical unit; the file declares the GROMACS unit set
(nm, ps, kJ/mol, u), which is self-consistent with one reduced unit of each and
which the H5MD units module and MDAnalysis both understand.  MDAnalysis then
converts to its own units: positions and box edges read through it are 10 times
the reduced numbers (Angstrom), times and ``dt`` are unchanged (ps).
"""


class Box(NamedTuple):
    """Simulation box of a particles group.

    Attributes
    ----------
    dimension : int
        Spatial dimension ``dim``.
    boundary : tuple of str
        ``"periodic"`` or ``"none"`` for each of the ``dim`` axes.
    edges : numpy.ndarray or None
        Edge lengths, shape ``(dim,)``, reduced length units; ``None`` for a
        box without periodic axes.
    """

    dimension: int
    boundary: tuple[str, ...]
    edges: np.ndarray | None


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def _check_name(name: Any, what: str) -> str:
    """Return ``name`` if it is usable as an HDF5 link name, else raise ValueError."""
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ValueError(
            f"{what} must be a non-empty str without '/' and not '.' or '..', got {name!r}"
        )
    return name


def _check_positive_int(value: Any, what: str) -> int:
    """Return ``value`` as int if it is a positive integer, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return int(value)


def _as_steps(steps: Any, what: str = "steps") -> np.ndarray:
    """Validate a 1-D integer step array and return it as int64."""
    arr = np.asarray(steps)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D integer array of shape (F,), got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must have an integer dtype, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        raise ValueError(f"{what} must be strictly increasing")
    return arr


def _as_times(times: Any, n: int, what: str = "times") -> np.ndarray:
    """Validate a float time array of shape ``(n,)`` and return it as float64."""
    try:
        arr = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a float array of shape ({n},)") from None
    if arr.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},) like steps, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite")
    return arr


def _as_array(value: Any, shape: tuple[int, ...], dtype: type, what: str) -> np.ndarray:
    """Convert ``value`` to ``dtype`` and check that its shape is ``shape``."""
    arr = np.asarray(value)
    if dtype is np.int64:
        if arr.size and arr.dtype.kind not in "iu":
            raise ValueError(f"{what} must have an integer dtype, got {arr.dtype}")
    elif arr.dtype.kind not in "biuf":
        raise ValueError(f"{what} must be a real numeric array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(
            f"{what} must have shape {shape} (frames, n_particles, dim), got {arr.shape}"
        )
    return np.array(arr, dtype=dtype, copy=True)


def _chunk_frames(row_shape: tuple[int, ...], itemsize: int, chunk_frames: int | None) -> int:
    """Return the frames per chunk: ``chunk_frames``, or about 256 KiB per chunk."""
    if chunk_frames is not None:
        return chunk_frames
    row_bytes = max(1, int(np.prod(row_shape, dtype=np.int64)) * itemsize)
    return int(max(1, min(_CHUNK_MAX_FRAMES, _CHUNK_TARGET_BYTES // row_bytes)))


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """Concatenate buffered batches along time; a single batch is used as it is (no copy)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _decode(value: Any) -> Any:
    """Convert an HDF5 attribute value into a plain Python value."""
    if isinstance(value, h5py.Empty):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
        return np.array([_decode(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    return value


def _element_length(group: h5py.Group) -> int:
    """Readable rows of a time-dependent element: the common minimum of its parts."""
    lengths = [group["value"].shape[0]]
    for name in ("step", "time"):
        if name in group and group[name].shape != ():
            lengths.append(group[name].shape[0])
    if _COMMITTED in group.attrs:
        lengths.append(int(group.attrs[_COMMITTED]))
    return max(0, min(lengths))


def _element_steps(group: h5py.Group, n: int) -> np.ndarray:
    """First ``n`` steps of an element (explicit array or H5MD 1.1 fixed interval)."""
    step = group["step"]
    if step.shape == ():
        offset = int(step.attrs.get("offset", 0))
        return offset + int(step[()]) * np.arange(n, dtype=np.int64)
    return np.asarray(step[:n], dtype=np.int64)


def _element_times(group: h5py.Group, n: int) -> np.ndarray:
    """First ``n`` times of an element; NaN when the element stores no time."""
    if "time" not in group:
        return np.full(n, np.nan)
    time = group["time"]
    if time.shape == ():
        offset = float(time.attrs.get("offset", 0.0))
        return offset + float(time[()]) * np.arange(n, dtype=np.float64)
    return np.asarray(time[:n], dtype=np.float64)


# --------------------------------------------------------------------------
# parameters: JSON encoding (exact) and HDF5 tree (browsable)
# --------------------------------------------------------------------------

_PARAM_TYPES = "dict, str, int, float, bool, None, list, tuple or numeric numpy array"


def _check_param_key(key: Any, path: str) -> str:
    if not isinstance(key, str):
        raise ValueError(f"parameter keys must be str, got {key!r} in {path or 'parameters'}")
    if key in (_PARAMS_JSON, _NDARRAY_TAG):
        raise ValueError(f"parameter key {key!r} is reserved (in {path or 'parameters'})")
    _check_name(key, f"parameter key in {path or 'parameters'}")
    return key


def _to_json(value: Any, path: str) -> Any:
    """Validate a parameter value and convert it to a JSON-encodable value."""
    if isinstance(value, Mapping):
        return {_check_param_key(k, path): _to_json(v, f"{path}/{k}") for k, v in value.items()}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        if not -(2**63) <= int(value) < 2**64:  # int64, or uint64 (e.g. a seed >= 2**63)
            raise ValueError(f"parameter {path} = {value} does not fit in int64 or uint64")
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(
                f"parameter {path} has array dtype {value.dtype}; allowed: bool, int, uint, float"
            )
        return {
            _NDARRAY_TAG: {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": value.ravel().tolist(),
            }
        }
    raise ValueError(f"parameter {path} has type {type(value).__name__}; allowed: {_PARAM_TYPES}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _NDARRAY_TAG in obj:
        spec = obj[_NDARRAY_TAG]
        return np.array(spec["data"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
    return obj


def _write_param_tree(group: h5py.Group, mapping: dict[str, Any]) -> None:
    """Write the JSON-normalised ``mapping`` as attributes, datasets and subgroups."""
    for key, value in mapping.items():
        if isinstance(value, dict) and _NDARRAY_TAG not in value:
            _write_param_tree(group.create_group(key), value)
        elif value is None:
            group.attrs[key] = h5py.Empty("f8")
        elif isinstance(value, bool):
            group.attrs[key] = np.bool_(value)
        elif isinstance(value, int) and value >= 2**63:
            group.attrs[key] = np.uint64(value)
        elif isinstance(value, (str, int, float)):
            group.attrs[key] = value
        elif isinstance(value, dict):  # encoded numpy array
            spec = value[_NDARRAY_TAG]
            data = np.array(spec["data"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
            group.create_dataset(key, data=data).attrs[_PARAM_KIND] = "ndarray"
        elif value and all(isinstance(v, bool) for v in value):
            group.create_dataset(key, data=np.array(value, dtype=bool)).attrs[_PARAM_KIND] = "list"
        elif value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            dtype = np.uint64 if max(value) >= 2**63 and min(value) >= 0 else np.int64
            if dtype is np.int64 and max(value) >= 2**63:  # mixed signs beyond int64
                ds = group.create_dataset(key, data=json.dumps(value), dtype=h5py.string_dtype())
                ds.attrs[_PARAM_KIND] = "json"
                continue
            group.create_dataset(key, data=np.array(value, dtype=dtype)).attrs[_PARAM_KIND] = (
                "list"
            )
        elif value and all(isinstance(v, float) for v in value):
            group.create_dataset(key, data=np.array(value, dtype=np.float64)).attrs[_PARAM_KIND] = (
                "list"
            )
        elif value and all(isinstance(v, str) for v in value):
            ds = group.create_dataset(key, data=value, dtype=h5py.string_dtype())
            ds.attrs[_PARAM_KIND] = "list"
        else:  # empty, nested or mixed list: JSON text
            ds = group.create_dataset(key, data=json.dumps(value), dtype=h5py.string_dtype())
            ds.attrs[_PARAM_KIND] = "json"


def _read_param_tree(group: h5py.Group) -> dict[str, Any]:
    """Rebuild a parameter dict from the HDF5 tree (used when no JSON is stored)."""
    out: dict[str, Any] = {
        key: _decode(value) for key, value in group.attrs.items() if key != _PARAMS_JSON
    }
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_param_tree(item)
            continue
        kind = _decode(item.attrs.get(_PARAM_KIND, "ndarray"))
        data = item[()]
        if kind == "json":
            out[key] = json.loads(_decode(data), object_hook=_json_hook)
        elif kind == "list":
            out[key] = [_decode(v) for v in np.asarray(data).tolist()]
        else:
            out[key] = _decode(data)
    return out


def _check_attr_value(value: Any, what: str) -> Any:
    """Validate a checkpoint attribute value and return what h5py should store."""
    if value is None:
        return h5py.Empty("f8")
    if isinstance(value, (bool, np.bool_)):
        return np.bool_(value)
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    raise ValueError(
        f"{what} has type {type(value).__name__}; allowed: str, int, float, bool, None, "
        "numeric numpy array"
    )


# --------------------------------------------------------------------------
# files of a run: index, segments, checkpoints
# --------------------------------------------------------------------------


def _seg_dir(path: str) -> str:
    return path + _SEG_SUFFIX


def _seg_path(path: str, name: str) -> str:
    return os.path.join(_seg_dir(path), name)


def _ckpt_paths(path: str) -> list[str]:
    return [path + s for s in _CK_SUFFIXES]


def _array_crc(arr: np.ndarray) -> int:
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return zlib.crc32(arr.tobytes())


def _image(build: Callable[[h5py.File], None]) -> bytes:
    """Build an HDF5 file in memory (closed, so complete) and return its bytes."""
    bio = io.BytesIO()
    with h5py.File(bio, "w", libver="latest") as f:
        build(f)
    return bio.getvalue()


def _damaged(path: str, err: OSError) -> DamagedFileError:
    """A one-line DamagedFileError for a file HDF5 cannot open (never says 'lock')."""
    text = " ".join(str(err).split())
    try:
        size = os.path.getsize(path)
    except OSError:
        size = -1
    m = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
    if size == 0:
        why = "empty file (0 bytes), not an HDF5 file (no file signature)"
    elif m:
        why = (f"truncated file: {m.group(1)} bytes on disk, HDF5 expects {m.group(2)} "
               "(cut short by a crash, a full disk or a file-size limit)")
    elif "signature" in text.lower():
        why = f"not an HDF5 file (no file signature found, {size} bytes)"
    else:
        detail = re.sub(r"\S*lock\S*", "", text, flags=re.IGNORECASE)[:160]
        why = f"damaged HDF5 file ({detail})"
    tail = ("H5MDWriter(..., mode='a') may recover the frames stored before the cut" if m
            else "nothing can be recovered from it")
    error = DamagedFileError(f"{path}: {why}; {tail}")
    error.stored_eof = int(m.group(2)) if m and size > 0 else None
    error.why = why
    return error


def _open_h5(path: str) -> h5py.File:
    """Open ``path`` read-only; a file HDF5 cannot open raises DamagedFileError."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as err:
        if "consistency flags" in str(err):
            # A SWMR writer (not ours) that crashed: SWMR read mode skips the flag check.
            return h5py.File(path, "r", libver="latest", swmr=True)
        raise _damaged(path, err) from None


def _read_manifest(f: h5py.File) -> dict | None:
    if _MANIFEST not in f.attrs:
        return None
    return json.loads(_decode(f.attrs[_MANIFEST]))


def _check_segments(path: str, manifest: dict, full: bool) -> tuple[int, list[str]]:
    """Index of the first damaged segment (``len`` if none) and one problem line per damage.

    ``full`` checks the CRC-32 of every segment; otherwise only existence and size.
    """
    for i, seg in enumerate(manifest["segments"]):
        seg_path = _seg_path(path, seg["name"])
        try:
            if full:
                size, crc = crc32_file(seg_path)
            else:
                size, crc = os.path.getsize(seg_path), seg["crc32"]
        except FileNotFoundError:
            return i, [f"segment {seg_path} is missing"]
        except OSError as err:
            return i, [f"segment {seg_path} cannot be read ({err.strerror})"]
        if size != seg["size"]:
            return i, [f"segment {seg_path} has {size} bytes, {seg['size']} were written"]
        if crc != seg["crc32"]:
            where = _locate_corruption(seg_path)
            return i, [f"segment {seg_path}: CRC-32 mismatch (corrupted bytes{where})"]
    return len(manifest["segments"]), []


def _locate_corruption(path: str) -> str:
    """``", in <dataset> rows a..b"`` for the first chunk failing its Fletcher-32 check."""
    try:
        with h5py.File(path, "r") as f:
            problems = _verify_datasets(f, "")
    except OSError:
        return ", in the HDF5 metadata"
    return f", {problems[0]}" if problems else ", outside the frame data"


def _verify_datasets(f: h5py.File, prefix: str) -> list[str]:
    """Read every stored (non-virtual) dataset in blocks; one line per failing block."""
    problems: list[str] = []
    names: list[str] = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    for name in names:
        ds = f[name]
        if ds.is_virtual or ds.shape is None:
            continue
        if ds.shape == () or ds.chunks is None:
            try:
                ds[()]
            except (OSError, RuntimeError) as err:
                problems.append(f"in {prefix}{name}: {_one_line(err)}")
            continue
        step = ds.chunks[0]
        for start in range(0, ds.shape[0], step):
            try:
                ds[start:start + step]
            except (OSError, RuntimeError) as err:
                stop = min(ds.shape[0], start + step) - 1
                problems.append(f"in {prefix}{name} rows {start}..{stop}: {_one_line(err)}")
                break
    return problems


def _first_lost_row(ds: h5py.Dataset, n: int, cut_at: int) -> int:
    """First of ``n`` rows of a chunked dataset that lay beyond byte ``cut_at`` or fail to read."""
    first = n
    if ds.chunks is None:
        return 0
    for i in range(ds.id.get_num_chunks()):
        info = ds.id.get_chunk_info(i)
        if info.byte_offset is None or info.byte_offset + info.size > cut_at:
            first = min(first, int(info.chunk_offset[0]))
    step = ds.chunks[0]
    for start in range(0, first, step):
        try:
            ds[start:min(first, start + step)]
        except (OSError, RuntimeError):
            return start
    return first


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    low = text.lower()
    if "fletcher32" in low or "filter returned failure" in low:
        return "Fletcher-32 checksum mismatch (corrupted bytes)"
    return text[:160]


def _write_ckpt_group(group: h5py.Group, step: int, arrays: Mapping[str, np.ndarray],
                      attrs: Mapping[str, Any], run_id: str | None) -> None:
    for name, arr in arrays.items():
        kwargs: dict[str, Any] = {}
        if arr.ndim and arr.size:
            kwargs = {"chunks": arr.shape, "fletcher32": True}
        ds = group.create_dataset(name, data=arr, **kwargs)
        ds.attrs[_CK_CRC] = np.int64(_array_crc(arr))
    for name, value in attrs.items():
        group.attrs[name] = value
    group.attrs[_CK_STEP] = np.int64(step)
    if run_id is not None:
        group.attrs[_RUN_ID] = run_id
    group.attrs[_CK_COMPLETE] = np.bool_(True)


def _read_ckpt_group(group: h5py.Group, where: str
                     ) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify a checkpoint group; CorruptionError names the array."""
    arrays = {}
    for key in group:
        try:
            arr = group[key][()]
        except (OSError, RuntimeError) as err:
            raise CorruptionError(f"{where}: checkpoint array {key!r}: {_one_line(err)}") from None
        stored = group[key].attrs.get(_CK_CRC)
        if stored is not None and int(stored) != _array_crc(np.asarray(arr)):
            raise CorruptionError(f"{where}: checkpoint array {key!r}: CRC-32 mismatch "
                                  "(corrupted bytes)")
        arrays[key] = arr
    attrs = {key: _decode(value) for key, value in group.attrs.items()
             if key not in (_CK_STEP, _CK_COMPLETE, _RUN_ID)}
    return int(group.attrs[_CK_STEP]), arrays, attrs


def _read_ckpt_file(path: str, run_id: str
                    ) -> tuple[int, dict[str, np.ndarray], dict[str, Any]] | None:
    """Checkpoint of a sidecar file; None if missing or of another run; CorruptionError if bad."""
    if not os.path.exists(path):
        return None
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise CorruptionError(f"{path}: checkpoint file unreadable "
                              f"({_damaged(path, err).args[0].split(': ', 1)[1]})") from None
    with f:
        group = f.get("checkpoint")
        if group is None or not bool(group.attrs.get(_CK_COMPLETE, False)):
            raise CorruptionError(f"{path}: checkpoint file incomplete")
        if _decode(group.attrs.get(_RUN_ID)) != run_id:
            return None  # left by another run
        return _read_ckpt_group(group, path)


def _best_ckpt(path: str, run_id: str, max_step: int | None, problems: list[str]
               ) -> tuple[int, dict[str, np.ndarray], dict[str, Any]] | None:
    """Newest valid sidecar checkpoint (step <= max_step if given); damage goes to problems."""
    best = None
    for ck_path in _ckpt_paths(path):
        try:
            ck = _read_ckpt_file(ck_path, run_id)
        except CorruptionError as err:
            problems.append(str(err))
            continue
        if ck is None or (max_step is not None and ck[0] > max_step):
            continue
        if best is None or ck[0] > best[0]:
            best = ck
    return best


def _remove_run_files(path: str) -> None:
    """Delete every sidecar file of ``path``: segments, checkpoints, temporaries."""
    _remove_orphans(path, set())
    try:
        os.rmdir(_seg_dir(path))
    except OSError:
        pass
    for extra in _ckpt_paths(path):
        try:
            os.unlink(extra)
        except FileNotFoundError:
            pass


def _remove_orphans(path: str, keep: set[str]) -> None:
    """Delete segment files not in ``keep`` and temporary files left by a killed writer."""
    seg_dir = _seg_dir(path)
    if os.path.isdir(seg_dir):
        for name in os.listdir(seg_dir):
            if name not in keep:
                try:
                    os.unlink(os.path.join(seg_dir, name))
                except OSError:
                    pass
    for extra in (*(p + ".tmp" for p in _ckpt_paths(path)), path + ".tmp"):
        try:
            os.unlink(extra)
        except FileNotFoundError:
            pass


# --------------------------------------------------------------------------
# writer
# --------------------------------------------------------------------------


_WRITER_THREAD = "langevin_opt-h5md-writer"


class _Batch:
    """Buffered rows handed from the caller to whoever writes them (one flush)."""

    __slots__ = ("frames", "obs", "shapes", "nbytes", "since")

    def __init__(self, frames: list[dict[str, np.ndarray]],
                 obs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
                 shapes: dict[str, tuple[int, ...]], nbytes: int, since: float | None) -> None:
        self.frames, self.obs, self.shapes = frames, obs, shapes
        self.nbytes, self.since = nbytes, since


class _Job:
    """One job of the writer thread: a batch of rows, then (optionally) a checkpoint."""

    __slots__ = ("batch", "checkpoint")

    def __init__(self, batch: _Batch | None,
                 checkpoint: tuple[int, dict[str, np.ndarray], dict[str, Any]] | None = None
                 ) -> None:
        self.batch, self.checkpoint = batch, checkpoint


def _batch_range(batch: _Batch) -> str:
    if not batch.frames:
        return "(observables only)"
    return f"at steps {int(batch.frames[0]['step'][0])}..{int(batch.frames[-1]['step'][-1])}"


_LIVE_WRITERS: weakref.WeakSet = weakref.WeakSet()  # asynchronous writers with a thread


@atexit.register
def _close_live_writers() -> None:
    """At interpreter exit (before daemon threads stop): close unclosed asynchronous writers.

    A writer thread is a daemon, frozen once the interpreter finalises; a writer still
    open then is closed here, while its thread still runs (its jobs are written and the
    file consolidated, as a synchronous writer dropped at exit is).
    """
    for writer in list(_LIVE_WRITERS):
        if not writer.closed:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - at exit: the file stays resumable
                writer._release()


def _writer_loop(jobs: queue.Queue, ref: weakref.ReferenceType) -> None:
    """Body of an asynchronous writer's thread: apply the queued jobs in order.

    The thread holds the writer only through a weak reference between jobs (a writer
    dropped without ``close`` is still finalised).  After a job fails, the error is
    kept for the caller and the later jobs are set aside unapplied (a checkpoint is
    never written after frames that were not), as are the jobs of a writer that is
    being abandoned (Ctrl-C in ``close``).  ``None`` ends the thread.
    """
    while True:
        job = jobs.get()
        writer = None
        try:
            if job is None:
                return
            writer = ref()
            if writer is None:
                continue
            if writer._error is not None or writer._abandon:
                writer._failed.append(job)
                continue
            try:
                writer._apply(job)
            except BaseException as err:  # noqa: BLE001 - handed to the caller's thread
                writer._error = err
                writer._failed.append(job)
        finally:
            writer = None  # no strong reference left once the caller sees the job done
            jobs.task_done()


class H5MDWriter:
    """Buffered, crash-proof writer of H5MD 1.1 files for walkers or particles.

    Parameters
    ----------
    path : str or os.PathLike
        File to write (``.h5md`` is the extension MDAnalysis recognises).
        While the writer is open, sidecar files ``<path>.seg/``,
        ``<path>.ckpt[.prev|.new]`` and ``<path>.lock`` lie beside it (see the
        module docstring); :meth:`close` folds them into ``path``.
    n_particles : int
        Number of walkers or particles ``N`` per frame.
    dim : int
        Spatial dimension ``dim`` of one walker/particle position.
    particle_group : str, optional
        Name of the subgroup of ``/particles``.  MDAnalysis' ``Universe(path)``
        without a topology only finds ``"trajectory"``.
    author : str, optional
        Stored as ``h5md/author`` ``name``.
    creator : str, optional
        Stored as ``h5md/creator`` ``name``.
    creator_version : str
        Stored as ``h5md/creator`` ``version`` (e.g. ``langevin_opt.__version__``).
    box_edges : array_like of shape (dim,), optional
        Edge lengths of a periodic orthorhombic box, reduced length units.
        ``None`` (default) stores boundary ``"none"`` on every axis (walker
        ensembles, open clusters).
    record_velocity, record_force, record_image : bool, optional
        Create ``velocity``/``force``/``image`` elements; ``append_frames`` then
        requires the matching array.
    compression : {None, "gzip", "lzf"}, optional
        Filter for new datasets.  Default ``None``: hot paths must not compress.
    chunk_frames : int, optional
        Frames per HDF5 chunk; default about 256 KiB per chunk (at most 1024
        frames).
    time_unit, length_unit : str, optional
        H5MD ``unit`` strings (e.g. ``"ps"``, ``"nm"``); omitted by default
        (reduced units).  Superseded by ``units``.
    units : H5MDUnits, optional
        Unit strings of every element (length, time, velocity, force, energy);
        excludes ``time_unit``/``length_unit``.  Particle trajectories use
        :data:`REDUCED_UNITS`, which ``MDAnalysis.Universe(path)`` accepts.
    observable_units : mapping of str to str, optional
        ``unit`` attribute of the ``value`` of the named observables (frame
        aligned and series).
    frame_observables : sequence of str, optional
        Scalar observables given with every frame (``append_frames(...,
        observables=...)``) and stored frame-aligned under
        ``/observables/<name>`` (``step``/``time`` hard links to
        ``position``'s), which readers that index observables by frame
        number (MDAnalysis' ``ts.data``) see at the frame's step.  When given,
        the rows of :meth:`append_observables` (the denser series, each with
        its own step/time) go to ``/observable_series/<name>`` instead of
        ``/observables/<name>``.  A frame observable named ``dt`` (the time
        between frames) becomes MDAnalysis' ``trajectory.dt``.
    mode : {"w", "a"}, optional
        ``"w"`` creates the file; ``"a"`` reopens an existing file to resume,
        also one left by a killed run (what was lost is in :attr:`recovery`).
        In mode ``"a"`` the layout arguments (``n_particles``, ``dim``,
        ``box_edges``, ``record_*``, units, ``frame_observables``) must match
        the file; units and frame observables not given are taken from it.
    overwrite : bool, optional
        In mode ``"w"``, replace an existing file instead of raising
        ``FileExistsError``.
    buffer_bytes : int, optional
        Pending bytes above which ``append_*`` flushes by itself (default
        64 MiB); 0 flushes on every append.
    fsync : bool, optional
        ``fsync`` every published file and its directory (default ``True``):
        flushed frames then also survive an operating-system crash or a power
        cut.  ``False`` keeps the kill-safety (atomic renames) and is faster.
    lock : OutputLock, optional
        The lock of ``path`` already taken by the caller (see
        :class:`OutputLock`); the writer releases it at :meth:`close`.
    flush_seconds : float, optional
        Also flush from ``append_*`` once the oldest buffered row is this
        many seconds old, so that a run appending slowly still has its rows
        on disk at least this often (a kill loses at most that much).  Default
        ``None``: only ``buffer_bytes`` triggers it.
    asynchronous : bool, optional
        Write from a background thread (default ``False``: in the caller's
        thread).  ``append_*`` and :meth:`write_checkpoint` then hand their
        (copied) rows and state to one writer thread, which owns the files
        and applies the jobs in submission order (a checkpoint only after the
        frames before it are published), while the caller computes on (the
        compiled kernels release the GIL).  :meth:`flush`, ``write_parameters``,
        ``write_static``, ``truncate_to_step`` and :meth:`close` first wait for
        every job handed over (:meth:`flush` returns when the rows are on
        disk, as in the synchronous mode).  An error of the writer thread
        (e.g. :class:`StorageFullError`) is raised, with its own type, by the
        caller's next call of the writer (or by ``close``); the rows of the
        failed and later jobs go back into the buffer (a later flush retries)
        and their checkpoints are not written.  The files are the same as
        with the synchronous writer (see "Asynchronous writing" in the module
        docstring); close the writer (or use it as a context manager).
    max_pending : int, optional
        With ``asynchronous=True``: at most this many jobs (flushes or
        checkpoints) wait for the writer thread besides the one it is
        writing (default 2, at least 1); a call that would queue one more
        blocks until the writer catches up (back-pressure), so at most
        ``max_pending + 1`` buffers of up to ``buffer_bytes`` (or one
        chunk's rows and state) are held in memory at once.

    Attributes
    ----------
    recovery : RecoveryReport or None
        In mode ``"a"``: what was lost because a segment file was damaged or
        missing; ``None`` if nothing was lost.

    Raises
    ------
    OutputLockedError
        Another writer (any process) has ``path`` open; nothing was touched.
    FileExistsError
        Mode ``"w"`` on an existing file without ``overwrite=True``.
    FileNotFoundError
        Mode ``"a"`` on a missing file.
    DamagedFileError
        Mode ``"a"`` on a file HDF5 cannot open (truncated, empty, not HDF5).
    CorruptionError
        Mode ``"a"`` on a consolidated file whose data fail their checksums.
    StorageFullError
        The disk is full or a file-size limit was hit while creating the file.
    ValueError
        An argument has a wrong type, shape or value, or does not match the
        file in mode ``"a"``.

    Notes
    -----
    Units are reduced units with :math:`k_B = 1`.  See the module docstring
    for the file layout and the crash-safety design.  Use as a context
    manager, or call :meth:`close`.  In mode ``"a"``, ``author``, ``creator``
    and ``creator_version`` are ignored (the file keeps its own).

    Which readers open which files: every file is H5MD 1.1 (explicit
    step/time arrays) and opens in this package's :class:`H5MDReader`, in
    ``h5py`` and in ``pyh5md``.  MDAnalysis (2.11) opens a file with
    ``MDAnalysis.Universe(path)`` and no options only when ``dim == 3``,
    ``particle_group="trajectory"`` and units are given (``units=``), as for
    every 3-D particle trajectory of :func:`langevin_opt.particles.open_trajectory`;
    other 3-D files load with ``Universe.empty(n_particles).load_new(path,
    format="H5MD", convert_units=False)``, and 1-D/2-D files (most walker
    ensembles, 2-D particle systems) not at all ("MDAnalysis only supports
    3-dimensional simulation boxes").  MDAnalysis reads ``/observables/<name>/
    value[frame]`` and ignores the observable's own ``step``: use
    ``frame_observables`` for what it must see at the frame's step.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_particles: int,
        dim: int,
        particle_group: str = "walkers",
        author: str = "langevin_opt user",
        creator: str = "langevin_opt",
        creator_version: str,
        box_edges: Any = None,
        record_velocity: bool = False,
        record_force: bool = False,
        record_image: bool = False,
        compression: str | None = None,
        chunk_frames: int | None = None,
        time_unit: str | None = None,
        length_unit: str | None = None,
        units: H5MDUnits | None = None,
        observable_units: Mapping[str, str] | None = None,
        frame_observables: Sequence[str] = (),
        mode: str = "w",
        overwrite: bool = False,
        buffer_bytes: int = 64 * 2**20,
        fsync: bool = True,
        lock: OutputLock | None = None,
        flush_seconds: float | None = None,
        asynchronous: bool = False,
        max_pending: int = 2,
    ) -> None:
        self._lock_fd: int | None = None
        self.path = os.path.abspath(os.fspath(path))
        self.n_particles = _check_positive_int(n_particles, "n_particles")
        self.dim = _check_positive_int(dim, "dim")
        self.particle_group = _check_name(particle_group, "particle_group")
        for what, text in (
            ("author", author),
            ("creator", creator),
            ("creator_version", creator_version),
        ):
            if not isinstance(text, str) or not text:
                raise ValueError(f"{what} must be a non-empty str, got {text!r}")
        for what, text in (("time_unit", time_unit), ("length_unit", length_unit)):
            if text is not None and (not isinstance(text, str) or not text):
                raise ValueError(f"{what} must be None or a non-empty unit string, got {text!r}")
        self.velocity_unit: str | None = None
        self.force_unit: str | None = None
        self.unit_system: str | None = None
        self.unit_mapping: str | None = None
        if units is not None:
            if not isinstance(units, H5MDUnits) or not all(
                    isinstance(u, str) and u for u in units):
                raise ValueError(f"units must be an H5MDUnits of non-empty strings, got {units!r}")
            if time_unit is not None or length_unit is not None:
                raise ValueError("give either units or time_unit/length_unit, not both")
            time_unit, length_unit = units.time, units.length
            self.velocity_unit, self.force_unit = units.velocity, units.force
            self.unit_system, self.unit_mapping = units.system, units.mapping
        self.observable_units = dict(observable_units or {})
        for key, text in self.observable_units.items():
            _check_name(key, "observable name")
            if not isinstance(text, str) or not text:
                raise ValueError(f"observable_units[{key!r}] must be a non-empty unit string, "
                                 f"got {text!r}")
        if isinstance(frame_observables, str):
            raise ValueError("frame_observables must be a sequence of names, not a str")
        self.frame_observables = tuple(_check_name(n, "frame observable name")
                                       for n in frame_observables)
        if len(set(self.frame_observables)) != len(self.frame_observables):
            raise ValueError(f"frame_observables has duplicates: {self.frame_observables}")
        self._series = _SERIES_GROUP if self.frame_observables else "observables"
        if compression not in _COMPRESSIONS:
            raise ValueError(f"compression must be one of {_COMPRESSIONS}, got {compression!r}")
        if chunk_frames is not None:
            chunk_frames = _check_positive_int(chunk_frames, "chunk_frames")
        if mode not in ("w", "a"):
            raise ValueError(f"mode must be 'w' (create) or 'a' (append/resume), got {mode!r}")
        if (
            isinstance(buffer_bytes, bool)
            or not isinstance(buffer_bytes, (int, np.integer))
            or buffer_bytes < 0
        ):
            raise ValueError(f"buffer_bytes must be an int >= 0, got {buffer_bytes!r}")
        if flush_seconds is not None and (
                isinstance(flush_seconds, bool)
                or not isinstance(flush_seconds, (int, float, np.integer, np.floating))
                or not flush_seconds >= 0 or flush_seconds == float("inf")):
            raise ValueError(f"flush_seconds must be None or a finite number of seconds >= 0, "
                             f"got {flush_seconds!r}")
        if not isinstance(asynchronous, (bool, np.bool_)):
            raise ValueError(f"asynchronous must be True or False, got {asynchronous!r}")
        if (isinstance(max_pending, bool) or not isinstance(max_pending, (int, np.integer))
                or max_pending < 1):
            raise ValueError(f"max_pending must be an int >= 1 (jobs waiting for the writer "
                             f"thread), got {max_pending!r}")
        if box_edges is not None:
            edges = np.asarray(box_edges, dtype=np.float64)
            if edges.shape != (self.dim,) or not np.all(np.isfinite(edges)) or np.any(edges <= 0):
                raise ValueError(
                    f"box_edges must be None or {self.dim} finite positive edge lengths "
                    f"(dim={self.dim}), got {box_edges!r}"
                )
            box_edges = edges
        self.box_edges: np.ndarray | None = box_edges
        self.record = {
            "position": True,
            "velocity": bool(record_velocity),
            "force": bool(record_force),
            "image": bool(record_image),
        }
        self.compression = compression
        self.chunk_frames = chunk_frames
        self.time_unit = time_unit
        self.length_unit = length_unit
        self.buffer_bytes = int(buffer_bytes)
        self.flush_seconds = None if flush_seconds is None else float(flush_seconds)
        self.fsync = bool(fsync)
        self.asynchronous = bool(asynchronous)
        self.max_pending = int(max_pending)
        self.recovery: RecoveryReport | None = None

        self._meta = {"author": author, "creator": creator, "creator_version": creator_version}
        self._params: tuple[dict[str, Any], str] | None = None
        self._statics: dict[str, np.ndarray] = {}
        self._segments: list[dict[str, Any]] = []
        self._next_id = 1
        self._run_id = uuid.uuid4().hex
        self._obs_shapes: dict[str, tuple[int, ...]] = {}
        self._safe_step: int | None = None  # last frame step in published segments
        self._retired: list[tuple[float, list[str]]] = []

        self._pending_frames: list[dict[str, np.ndarray]] = []
        self._pending_obs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._pending_bytes = 0
        self._pending_since: float | None = None  # monotonic time of the oldest pending row
        self._last_frame_step: int | None = None
        self._last_obs_step: dict[str, int | None] = {}
        # the writer thread (asynchronous=True): its job queue, its first error and the
        # jobs it did not apply after that error
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failed: list[_Job] = []
        self._abandon = False

        # One writer per output: lock before looking at (or touching) anything.
        if lock is not None:
            if not isinstance(lock, OutputLock) or lock.path != self.path:
                raise ValueError(f"lock must be an OutputLock of {self.path}, got {lock!r}")
            self._lock_fd = lock.take()
        else:
            self._lock_fd = acquire_lock(self.path)
        try:
            if mode == "w":
                if os.path.exists(self.path) and not overwrite:
                    raise FileExistsError(
                        f"{self.path} already exists; pass overwrite=True to replace it "
                        "or mode='a' to append"
                    )
                _remove_run_files(self.path)
                self._guard(self._publish, "creating the file")
            else:
                if not os.path.exists(self.path):
                    raise FileNotFoundError(
                        f"{self.path} does not exist; mode='a' appends to an existing file"
                    )
                self._open_existing()
        except BaseException:
            self._release()
            raise
        # observable row shapes known to the caller's side (checks of append_observables);
        # self._obs_shapes are those of the published files (the writer thread's side)
        self._shapes = dict(self._obs_shapes)
        if self.asynchronous:
            self._queue = queue.Queue(maxsize=self.max_pending)
            self._thread = threading.Thread(target=_writer_loop, name=_WRITER_THREAD,
                                            args=(self._queue, weakref.ref(self)), daemon=True)
            self._thread.start()
            _LIVE_WRITERS.add(self)

    # -- small helpers ---------------------------------------------------------

    @property
    def _rel_seg_dir(self) -> str:
        return os.path.basename(self.path) + _SEG_SUFFIX

    def _release(self) -> None:
        if self._lock_fd is not None:
            release_lock(self.path, self._lock_fd)
            self._lock_fd = None

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise ValueError(f"H5MDWriter for {self.path} is closed")

    def _guard(self, action: Callable[..., Any], what: str, *args: Any) -> Any:
        """Run ``action``; a full disk or file-size limit becomes StorageFullError."""
        try:
            return action(*args)
        except StorageFullError:
            raise
        except OSError as err:
            if not is_full_error(err):
                raise
            cause = _FULL_CAUSES.get(err.errno, err.strerror or "no space")
            safe = ("no frame is on disk yet" if self._safe_step is None
                    else f"frames up to step {self._safe_step} are safe on disk")
            raise StorageFullError(f"{self.path}: {cause} while {what}; {safe}",
                                   err=err.errno, last_safe_step=self._safe_step) from None

    def _keys(self) -> list[str]:
        return ["particles", *(f"{self._series}/{name}" for name in self._obs_shapes)]

    def _key_datasets(self, key: str) -> list[tuple[str, tuple[int, ...], Any]]:
        """(path, row shape, dtype) of the stored datasets of an element key."""
        if key == "particles":
            g = f"particles/{self.particle_group}"
            out = [(f"{g}/position/step", (), np.int64), (f"{g}/position/time", (), np.float64)]
            row = (self.n_particles, self.dim)
            for name in _PARTICLE_ELEMENTS:
                if self.record[name]:
                    dtype = np.int64 if name == "image" else np.float64
                    out.append((f"{g}/{name}/value", row, dtype))
            if self.box_edges is not None:
                out.append((f"{g}/box/edges/value", (self.dim,), np.float64))
            out.extend((f"observables/{name}/value", (), np.float64)
                       for name in self.frame_observables)
            return out
        name = key.split("/", 1)[1]
        o = key
        return [(f"{o}/step", (), np.int64), (f"{o}/time", (), np.float64),
                (f"{o}/value", self._obs_shapes[name], np.float64)]

    def _dataset_kwargs(self) -> dict[str, Any]:
        if self.compression == "gzip":
            return {"compression": "gzip", "compression_opts": 4}
        if self.compression == "lzf":
            return {"compression": "lzf"}
        return {}

    def _create_stored(self, f: h5py.File, dspath: str, row: tuple[int, ...], dtype: Any,
                       data: np.ndarray | None = None, rows: int = 0) -> h5py.Dataset:
        """A chunked, Fletcher-32-checked dataset of ``rows`` rows (or holding ``data``)."""
        n = rows if data is None else data.shape[0]
        frames = _chunk_frames(row, np.dtype(dtype).itemsize, self.chunk_frames)
        ds = f.create_dataset(dspath, shape=(n, *row), maxshape=(None, *row), dtype=dtype,
                              chunks=(max(1, min(frames, n)) if data is not None else frames,
                                      *row), fletcher32=True,
                              **self._dataset_kwargs())
        if data is not None and n:
            ds[...] = data
        return ds

    # -- building the published files -----------------------------------------

    def _manifest(self, segments: list[dict[str, Any]]) -> str:
        return json.dumps({
            "format": _MANIFEST_FORMAT,
            "run_id": self._run_id,
            "next_id": self._next_id,
            "observables": {k: list(v) for k, v in self._obs_shapes.items()},
            "series": self._series,
            "frame_observables": list(self.frame_observables),
            "segments": segments,
        })

    def _build(self, f: h5py.File, segments: list[dict[str, Any]], final: bool,
               checkpoint: str | None = None) -> None:
        """Write the whole H5MD layout; data as VDS over segments, or copied if ``final``."""
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
        h5md.create_group("author").attrs["name"] = np.bytes_(self._meta["author"].encode())
        creator_group = h5md.create_group("creator")
        creator_group.attrs["name"] = np.bytes_(self._meta["creator"].encode())
        creator_group.attrs["version"] = np.bytes_(self._meta["creator_version"].encode())
        if self.time_unit is not None or self.length_unit is not None:
            units = h5md.create_group("modules").create_group("units")
            units.attrs["version"] = np.array((1, 0), dtype=np.int32)
            units.attrs["system"] = self.unit_system or "SI"
            if self.unit_mapping is not None:
                units.attrs[_UNIT_MAPPING] = self.unit_mapping
        g = f.create_group("particles").create_group(self.particle_group)
        f.create_group("observables")
        if self._series != "observables":
            f.create_group(self._series)
        sources: dict[str, h5py.File] = {}
        try:
            for key in self._keys():
                total = sum(seg["rows"].get(key, 0) for seg in segments)
                for dspath, row, dtype in self._key_datasets(key):
                    if final:
                        ds = self._create_stored(f, dspath, row, dtype, rows=total)
                        self._copy_rows(ds, dspath, key, segments, sources)
                    elif total == 0:
                        self._create_stored(f, dspath, row, dtype)
                    else:
                        layout = h5py.VirtualLayout(shape=(total, *row), dtype=dtype)
                        start = 0
                        for seg in segments:
                            r = seg["rows"].get(key, 0)
                            if r:
                                stored = seg["shapes"][dspath]
                                src = h5py.VirtualSource(
                                    f"{self._rel_seg_dir}/{seg['name']}", dspath,
                                    shape=(stored, *row), dtype=dtype)
                                layout[start:start + r] = src if r == stored else src[0:r]
                                start += r
                        f.create_virtual_dataset(dspath, layout)
                element = f[dspath.rsplit("/", 1)[0]]
                element.attrs[_COMMITTED] = np.int64(total)
        finally:
            for src_file in sources.values():
                src_file.close()
        # shared step/time (hard links, as H5MD requires for image and box/edges)
        for name in ("velocity", "force", "image"):
            if self.record[name]:
                g[f"{name}/step"] = g["position/step"]
                g[f"{name}/time"] = g["position/time"]
        box = g["box"] if "box" in g else g.create_group("box")
        box.attrs["dimension"] = np.int32(self.dim)
        boundary = b"none" if self.box_edges is None else b"periodic"
        box.attrs["boundary"] = np.array([boundary] * self.dim, dtype="S8")
        if self.box_edges is not None:
            box["edges/step"] = g["position/step"]
            box["edges/time"] = g["position/time"]
            box["edges"].attrs[_CONSTANT_EDGES] = self.box_edges
            if self.length_unit is not None:
                box["edges/value"].attrs["unit"] = self.length_unit
        if self.time_unit is not None:
            g["position/time"].attrs["unit"] = self.time_unit
        if self.length_unit is not None:
            g["position/value"].attrs["unit"] = self.length_unit
            if self.record["velocity"] and self.velocity_unit is not None:
                g["velocity/value"].attrs["unit"] = self.velocity_unit
            elif self.record["velocity"] and self.time_unit is not None:
                g["velocity/value"].attrs["unit"] = f"{self.length_unit} {self.time_unit}-1"
        if self.record["force"] and self.force_unit is not None:
            g["force/value"].attrs["unit"] = self.force_unit
        for name in self.frame_observables:  # frame aligned: position's step and time
            element = f[f"observables/{name}"]
            element["step"] = g["position/step"]
            element["time"] = g["position/time"]
            element.attrs[_FRAME_ALIGNED] = np.int8(1)
        for name in self._obs_shapes:
            if self.time_unit is not None:
                f[f"{self._series}/{name}/time"].attrs["unit"] = self.time_unit
            if name in self.observable_units:
                f[f"{self._series}/{name}/value"].attrs["unit"] = self.observable_units[name]
        for name in self.frame_observables:
            if name in self.observable_units:
                f[f"observables/{name}/value"].attrs["unit"] = self.observable_units[name]
        if self._params is not None:
            group = f.create_group("parameters")
            _write_param_tree(group, self._params[0])
            group.attrs[_PARAMS_JSON] = self._params[1]
        for name, arr in self._statics.items():
            g.create_dataset(name, data=arr)
        if final:
            if checkpoint is not None:  # copy the verified checkpoint file's group as it is
                with h5py.File(checkpoint, "r") as src:
                    src.copy("checkpoint", f)
        else:
            f.attrs[_MANIFEST] = self._manifest(segments)

    def _copy_rows(self, ds: h5py.Dataset, dspath: str, key: str,
                   segments: list[dict[str, Any]], sources: dict[str, h5py.File]) -> None:
        row_bytes = max(1, ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)))
        block = max(1, _COPY_BLOCK_BYTES // row_bytes)
        start = 0
        for seg in segments:
            r = seg["rows"].get(key, 0)
            if not r:
                continue
            if seg["name"] not in sources:
                sources[seg["name"]] = h5py.File(_seg_path(self.path, seg["name"]), "r")
            src = sources[seg["name"]][dspath]
            for a in range(0, r, block):
                b = min(r, a + block)
                ds[start + a:start + b] = src[a:b]
            start += r

    def _publish(self, segments: list[dict[str, Any]] | None = None) -> None:
        """Atomically replace the index file by one listing ``segments``."""
        segments = self._segments if segments is None else segments
        image = _image(lambda f: self._build(f, segments, final=False))
        write_atomic(self.path, image, fsync=self.fsync)

    # -- reopening -------------------------------------------------------------

    def _open_existing(self) -> None:
        damaged: DamagedFileError | None = None
        try:
            f = _open_h5(self.path)
        except DamagedFileError as err:
            damaged = err
            f = self._open_padded(err)
        try:
            with f:
                manifest = _read_manifest(f)
                if manifest is not None and damaged is not None:
                    raise damaged
                self._check_observable_layout(f, manifest)
                self._check_layout(f)
                self._load_metadata(f)
                if manifest is not None:
                    self._run_id = manifest["run_id"]
                    self._next_id = int(manifest["next_id"])
                    self._obs_shapes = {k: tuple(v) for k, v in manifest["observables"].items()}
                    segments = manifest["segments"]
                else:
                    plain_ck = self._adopt_plain_file(f, damaged is not None)
        except (OSError, KeyError, RuntimeError) as err:
            if damaged is None or err is damaged:
                raise
            _remove_run_files(self.path)
            raise DamagedFileError(f"{self.path}: {damaged.why}; the part that was cut off "
                                   "held HDF5 metadata: nothing can be recovered") from None
        if manifest is None:
            self._adopt_finish(plain_ck, damaged)
            return
        good, problems = _check_segments(self.path, manifest, full=True)
        self._segments = segments[:good]
        self._sync_last_steps()
        if good < len(segments):
            lost = {}
            for seg in segments[good:]:
                for key, r in seg["rows"].items():
                    lost[key] = lost.get(key, 0) + r
            self.recovery = RecoveryReport(self.path, self._safe_step, lost.get("particles", 0),
                                           lost, tuple(problems))
            self._guard(self._publish, "recovering the file")
        _remove_orphans(self.path, {seg["name"] for seg in self._segments})

    def _check_observable_layout(self, f: h5py.File, manifest: dict | None) -> None:
        """Take (or check) the file's frame observables and series group."""
        if manifest is not None:
            stored = tuple(manifest.get("frame_observables", ()))
        else:
            obs = f["observables"] if "observables" in f else {}
            stored = tuple(n for n in obs if isinstance(obs[n], h5py.Group)
                           and _FRAME_ALIGNED in obs[n].attrs)
        if self.frame_observables and set(self.frame_observables) != set(stored):
            raise ValueError(f"frame_observables={self.frame_observables} does not match the "
                             f"file's {stored}")
        self.frame_observables = self.frame_observables or stored
        self._series = _SERIES_GROUP if stored else "observables"

    def _check_layout(self, f: h5py.File) -> None:
        where = f"particles/{self.particle_group}"
        if "h5md" not in f or where not in f or "position" not in f[where]:
            raise ValueError(
                f"{self.path} has no h5md group or no {where}/position; mode='a' needs a file "
                "written by H5MDWriter (check particle_group)"
            )
        group = f[where]
        shape = group["position/value"].shape[1:]
        if shape[0] != self.n_particles:
            raise ValueError(f"n_particles={self.n_particles} does not match the file's {shape[0]}")
        if shape[1] != self.dim:
            raise ValueError(f"dim={self.dim} does not match the file's {shape[1]}")
        for name in ("velocity", "force", "image"):
            if self.record[name] != (name in group):
                raise ValueError(f"record_{name}={self.record[name]} does not match the file")
        stored_edges = _stored_edges(group)
        if (self.box_edges is None) != (stored_edges is None) or (
            self.box_edges is not None and not np.array_equal(self.box_edges, stored_edges)
        ):
            raise ValueError(
                f"box_edges={self.box_edges!r} does not match the file's {stored_edges!r}"
            )
        for what, given, ds in (
            ("time_unit", self.time_unit, group["position/time"]),
            ("length_unit", self.length_unit, group["position/value"]),
        ):
            stored = _decode(ds.attrs.get("unit"))
            if given is not None and given != stored:
                raise ValueError(f"{what}={given!r} does not match the file's {stored!r}")
            if what == "time_unit":
                self.time_unit = stored
            else:
                self.length_unit = stored
        for what, name in (("velocity_unit", "velocity"), ("force_unit", "force")):
            if name in group:
                stored = _decode(group[f"{name}/value"].attrs.get("unit"))
                given = getattr(self, what)
                if given is not None and given != stored:
                    raise ValueError(f"{what}={given!r} does not match the file's {stored!r}")
                setattr(self, what, stored)
        units = f.get("h5md/modules/units")
        if units is not None:
            stored = _decode(units.attrs.get("system"))
            if self.unit_system is not None and self.unit_system != stored:
                raise ValueError(f"unit system {self.unit_system!r} does not match the file's "
                                 f"{stored!r}")
            self.unit_system = stored
            self.unit_mapping = _decode(units.attrs.get(_UNIT_MAPPING))
        for where in {"observables", self._series}:
            obs = f[where] if where in f else {}
            for name in obs:
                if isinstance(obs[name], h5py.Group) and "value" in obs[name]:
                    unit = _decode(obs[name]["value"].attrs.get("unit"))
                    if unit is not None:
                        self.observable_units.setdefault(name, unit)

    def _load_metadata(self, f: h5py.File) -> None:
        h5md = f["h5md"]
        self._meta = {
            "author": str(_decode(h5md["author"].attrs["name"])),
            "creator": str(_decode(h5md["creator"].attrs["name"])),
            "creator_version": str(_decode(h5md["creator"].attrs["version"])),
        }
        if "parameters" in f:
            group = f["parameters"]
            if _PARAMS_JSON in group.attrs:
                text = _decode(group.attrs[_PARAMS_JSON])
                normalised = json.loads(text)
            else:
                normalised = _to_json(_read_param_tree(group), "")
                text = json.dumps(normalised, allow_nan=True)
            self._params = (normalised, text)
        group = f[f"particles/{self.particle_group}"]
        for name in group:
            item = group[name]
            if isinstance(item, h5py.Dataset) and name not in _PARTICLE_ELEMENTS:
                self._statics[name] = item[()]

    def _open_padded(self, err: DamagedFileError) -> h5py.File:
        """A truncated file: copy it as segment 0, zero-padded to the length HDF5 expects."""
        stored = getattr(err, "stored_eof", None)
        if stored is None:
            raise err
        _remove_run_files(self.path)
        os.makedirs(_seg_dir(self.path), exist_ok=True)
        seg0 = _seg_path(self.path, f"{0:08d}.h5")
        shutil.copyfile(self.path, seg0)
        self._cut_at = os.path.getsize(seg0)
        os.truncate(seg0, stored)
        try:
            return h5py.File(seg0, "r")
        except OSError:
            _remove_run_files(self.path)
            raise DamagedFileError(f"{self.path}: {err.why}; the part that was cut off held "
                                   "HDF5 metadata: nothing can be recovered") from None

    def _adopt_plain_file(self, f: h5py.File, padded: bool = False) -> tuple | None:
        """Take a consolidated (or older-format) file as segment 0; return its checkpoint.

        ``padded``: ``f`` is the zero-padded copy of a truncated file; rows from the
        first chunk that lay (even partly) beyond the cut or fails its checksum are
        dropped, and ``self._lost_rows`` says how many.
        """
        problems = [] if padded else _verify_datasets(f, f"{self.path}:")
        if problems:
            raise CorruptionError(f"{self.path}: {problems[0]}"
                                  + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                     else ""))
        group = f[f"particles/{self.particle_group}"]
        particle = [group[name] for name in _PARTICLE_ELEMENTS if name in group]
        if "edges" in group["box"] and isinstance(group["box/edges"], h5py.Group):
            particle.append(group["box/edges"])
        rows = {"particles": min(_element_length(e) for e in particle)}
        shapes = {}
        obs = f[self._series] if self._series in f else {}
        for name in obs:
            if (isinstance(obs[name], h5py.Group) and "value" in obs[name]
                    and _FRAME_ALIGNED not in obs[name].attrs):
                self._obs_shapes[name] = tuple(obs[name]["value"].shape[1:])
                rows[f"{self._series}/{name}"] = _element_length(obs[name])
        self._lost_rows: dict[str, int] = {}
        for key in self._keys():
            for dspath, _, _ in self._key_datasets(key):
                shapes[dspath] = int(f[dspath].shape[0])
                if padded:
                    good = _first_lost_row(f[dspath], rows[key], self._cut_at)
                    if good < rows[key]:
                        self._lost_rows[key] = self._lost_rows.get(key, 0) + rows[key] - good
                        rows[key] = good
        self._plain_record = {"name": f"{0:08d}.h5", "level": 99, "rows": rows,
                              "shapes": shapes}
        name = _complete_checkpoint_name(f)
        if name is None:
            return None
        if not padded:
            return _read_ckpt_group(f[name], f"{self.path}:/{name}")
        try:
            ck = _read_ckpt_group(f[name], f"{self.path}:/{name}")
        except (CorruptionError, OSError, KeyError, RuntimeError):
            return None
        n = rows["particles"]
        step_path = self._key_datasets("particles")[0][0]
        last = int(f[step_path][n - 1]) if n else None
        return ck if last is not None and ck[0] <= last else None

    def _adopt_finish(self, checkpoint: tuple | None,
                      damaged: DamagedFileError | None = None) -> None:
        rec = self._plain_record
        del self._plain_record
        seg_path = _seg_path(self.path, rec["name"])
        if damaged is None:
            _remove_run_files(self.path)
            os.makedirs(_seg_dir(self.path), exist_ok=True)
            try:
                os.link(self.path, seg_path)
            except OSError:
                shutil.copyfile(self.path, seg_path)
        rec["size"], rec["crc32"] = crc32_file(seg_path)
        self._segments = [rec] if any(rec["rows"].values()) else []
        self._sync_last_steps()
        if checkpoint is not None:
            self._guard(self._write_ckpt_file, "writing the checkpoint", *checkpoint)
        self._guard(self._publish, "reopening the file")
        if not self._segments:
            _remove_orphans(self.path, set())
        if damaged is not None:
            self.recovery = RecoveryReport(
                self.path, self._safe_step, self._lost_rows.get("particles", 0),
                dict(self._lost_rows),
                (f"{damaged.why}; rows stored beyond the cut were dropped"
                 + ("" if checkpoint is not None else "; no intact checkpoint is left"),))

    def _segment_steps(self, seg: dict[str, Any], key: str) -> np.ndarray:
        r = seg["rows"].get(key, 0)
        if not r:
            return np.zeros(0, dtype=np.int64)
        dspath = self._key_datasets(key)[0][0]
        with h5py.File(_seg_path(self.path, seg["name"]), "r") as f:
            return np.asarray(f[dspath][:r], dtype=np.int64)

    def _last_step(self, key: str) -> int | None:
        for seg in reversed(self._segments):
            if seg["rows"].get(key, 0):
                return int(self._segment_steps(seg, key)[-1])
        return None

    def _sync_last_steps(self) -> None:
        self._safe_step = self._last_step("particles")
        self._last_frame_step = self._safe_step
        self._last_obs_step = {name: self._last_step(f"{self._series}/{name}")
                               for name in self._obs_shapes}

    # -- appending ------------------------------------------------------------
    def append_frames(
        self,
        steps: Any,
        times: Any,
        position: Any,
        velocity: Any = None,
        force: Any = None,
        image: Any = None,
        observables: Mapping[str, Any] | None = None,
    ) -> None:
        """Append ``F`` frames of walker/particle data.

        The arrays are copied into a memory buffer; they reach the file at the
        next :meth:`flush` (automatic once ``buffer_bytes`` are pending).

        Parameters
        ----------
        steps : array_like of int, shape (F,)
            Integration steps, strictly increasing and larger than every step
            already written.
        times : array_like of float, shape (F,)
            Simulation times, reduced time units.
        position : array_like of float, shape (F, n_particles, dim)
            Positions, reduced length units.
        velocity, force : array_like of float, shape (F, n_particles, dim), optional
            Required if the writer was created with ``record_velocity=True`` /
            ``record_force=True``, forbidden otherwise (reduced units,
            :math:`k_B = 1`).
        image : array_like of int, shape (F, n_particles, dim), optional
            Periodic image counts; required iff ``record_image=True``.
        observables : mapping of str to array_like of float, shape (F,), optional
            The value of every ``frame_observables`` name at these frames'
            steps; required iff the writer has frame observables.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            Wrong shape or dtype, non-increasing steps, or an element given
            that is (not) recorded.
        """
        self._check_open()
        steps = _as_steps(steps)
        frames = steps.shape[0]
        data = {"step": steps, "time": _as_times(times, frames)}
        shape = (frames, self.n_particles, self.dim)
        given = {"position": position, "velocity": velocity, "force": force, "image": image}
        for name, value in given.items():
            if self.record[name] and value is None:
                raise ValueError(f"{name} is required because record_{name}=True")
            if not self.record[name] and value is not None:
                raise ValueError(f"{name} was given but the writer has record_{name}=False")
            if value is not None:
                dtype = np.int64 if name == "image" else np.float64
                data[name] = _as_array(value, shape, dtype, name)
        given_obs = dict(observables or {})
        if set(given_obs) != set(self.frame_observables):
            raise ValueError(f"observables must give exactly the frame observables "
                             f"{sorted(self.frame_observables)}, got {sorted(given_obs)}")
        for name, value in given_obs.items():
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"frame observable {name} must be real numbers, got dtype "
                                 f"{arr.dtype}")
            data[f"observables/{name}"] = _as_array(arr, (frames,), np.float64, name)
        if frames == 0:
            return
        if self._last_frame_step is not None and steps[0] <= self._last_frame_step:
            raise ValueError(
                f"steps must be larger than the last written step {self._last_frame_step}, got "
                f"{int(steps[0])}; call truncate_to_step() before rewriting frames"
            )
        self._last_frame_step = int(steps[-1])
        self._pending_frames.append(data)
        self._pending_bytes += sum(a.nbytes for a in data.values())
        self._flush_if_due()
        self._raise_writer_error()

    def append_observables(self, steps: Any, times: Any, **observables: Any) -> None:
        """Append ``F`` rows to one or more observables.

        Parameters
        ----------
        steps : array_like of int, shape (F,)
            Integration steps, strictly increasing and larger than the last
            step stored for each observable.
        times : array_like of float, shape (F,)
            Simulation times, reduced time units.
        **observables : array_like of float, shape (F,) or (F, k)
            Per-frame scalars (e.g. ``potential_energy``), per-walker values
            (``k = n_particles``, e.g. ``energy`` of every walker) or other
            per-row arrays (e.g. ``swap_acceptance`` of every replica pair),
            reduced units with :math:`k_B = 1`.  The shape of an observable is
            fixed by its first append.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            No observable given, a bad name, shape or dtype, or non-increasing
            steps.
        """
        self._check_open()
        if not observables:
            raise ValueError("append_observables needs at least one observable keyword argument")
        steps = _as_steps(steps)
        frames = steps.shape[0]
        times = _as_times(times, frames)
        checked = {}
        for name, value in observables.items():
            _check_name(name, "observable name")
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise ValueError(
                    f"observable {name} must be a real numeric array, got dtype {arr.dtype}"
                )
            if arr.ndim not in (1, 2) or arr.shape[0] != frames or arr.size == 0 and frames:
                raise ValueError(
                    f"observable {name} must have shape (F,) or (F, k) with F = {frames} "
                    f"(k = n_particles = {self.n_particles} for per-walker values), got "
                    f"{arr.shape}"
                )
            row_shape = self._shapes.get(name, arr.shape[1:])
            if arr.shape[1:] != row_shape:
                raise ValueError(
                    f"observable {name} was stored with row shape {row_shape}, "
                    f"got rows of shape {arr.shape[1:]}"
                )
            last = self._last_obs_step.get(name)
            if frames and last is not None and steps[0] <= last:
                raise ValueError(
                    f"steps for observable {name} must be larger than its last step {last}, got "
                    f"{int(steps[0])}; call truncate_to_step() before rewriting rows"
                )
            checked[name] = np.array(arr, dtype=np.float64, copy=True)
        if frames == 0:
            return
        for name, arr in checked.items():
            self._shapes.setdefault(name, arr.shape[1:])
            self._last_obs_step[name] = int(steps[-1])
            self._pending_obs.setdefault(name, []).append((steps, times, arr))
            self._pending_bytes += steps.nbytes + times.nbytes + arr.nbytes
        self._flush_if_due()
        self._raise_writer_error()

    def _flush_if_due(self) -> None:
        """Flush from ``append_*`` past ``buffer_bytes`` or ``flush_seconds``."""
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if self._pending_bytes > self.buffer_bytes or (
                self.flush_seconds is not None and now - self._pending_since >= self.flush_seconds):
            if self._queue is not None:
                self._submit(_Job(self._take_pending()))  # the writer thread flushes
            else:
                self.flush()

    # -- buffered rows handed over as one batch ---------------------------------

    def _take_pending(self) -> _Batch | None:
        """The buffered rows as one batch (``None`` if nothing is buffered); empty the buffer."""
        if not self._pending_frames and not self._pending_obs:
            return None
        batch = _Batch(self._pending_frames, self._pending_obs,
                       {name: self._shapes[name] for name in self._pending_obs},
                       self._pending_bytes, self._pending_since)
        self._pending_frames, self._pending_obs = [], {}
        self._pending_bytes, self._pending_since = 0, None
        return batch

    def _restore_pending(self, batches: list[_Batch]) -> None:
        """Put the rows of batches not written back in front of the buffer (in order)."""
        frames: list[dict[str, np.ndarray]] = []
        obs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        nbytes, since = 0, None
        for b in [*batches, _Batch(self._pending_frames, self._pending_obs, {},
                                   self._pending_bytes, self._pending_since)]:
            frames.extend(b.frames)
            for name, chunks in b.obs.items():
                obs.setdefault(name, []).extend(chunks)
            nbytes += b.nbytes
            if b.since is not None:
                since = b.since if since is None else min(since, b.since)
        self._pending_frames, self._pending_obs = frames, obs
        self._pending_bytes, self._pending_since = nbytes, since

    def _pending_columns(self, batch: _Batch) -> dict[str, dict[str, np.ndarray]]:
        """Rows of ``batch`` by element key and dataset path."""
        cols: dict[str, dict[str, np.ndarray]] = {}
        if batch.frames:
            batch_frames = {key: _join([p[key] for p in batch.frames])
                            for key in batch.frames[0]}
            g = f"particles/{self.particle_group}"
            c = {f"{g}/position/step": batch_frames["step"],
                 f"{g}/position/time": batch_frames["time"]}
            for name in _PARTICLE_ELEMENTS:
                if name in batch_frames:
                    c[f"{g}/{name}/value"] = batch_frames[name]
            if self.box_edges is not None:
                c[f"{g}/box/edges/value"] = np.ascontiguousarray(
                    np.broadcast_to(self.box_edges, (batch_frames["step"].shape[0], self.dim)))
            for name in self.frame_observables:
                c[f"observables/{name}/value"] = batch_frames[f"observables/{name}"]
            cols["particles"] = c
        for name, chunks in batch.obs.items():
            o = f"{self._series}/{name}"
            cols[o] = {f"{o}/step": _join([c[0] for c in chunks]),
                       f"{o}/time": _join([c[1] for c in chunks]),
                       f"{o}/value": _join([c[2] for c in chunks])}
        return cols

    # -- the writer thread ------------------------------------------------------

    def _submit(self, job: _Job) -> None:
        """Queue ``job`` for the writer thread; block while ``max_pending`` jobs wait."""
        if self._error is not None:
            if job.batch is not None:  # taken from the buffer just before: put it back
                self._restore_pending([job.batch])
            self._raise_writer_error()
        if job.batch is None and job.checkpoint is None:
            return
        assert self._queue is not None
        try:
            self._queue.put(job)  # back-pressure: blocks while the queue is full
        except BaseException:  # interrupted while waiting: keep the rows
            if job.batch is not None:
                self._restore_pending([job.batch])
            raise

    def _wait_writer(self) -> None:
        """Return once the writer thread applied every job handed over; raise its error."""
        if self._queue is not None:
            if threading.current_thread() is self._thread:
                raise RuntimeError(f"H5MDWriter for {self.path}: the writer thread cannot wait "
                                   "for itself")
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError(f"H5MDWriter for {self.path}: its writer thread has ended")
            self._queue.join()
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        """Raise the writer thread's error (once), its unwritten rows back in the buffer."""
        if self._error is None:
            return
        if self._queue is not None:
            self._queue.join()  # the jobs queued after the error are set aside at once
        err, failed = self._error, self._failed
        self._error, self._failed = None, []
        self._restore_pending([job.batch for job in failed if job.batch is not None])
        raise err

    def _apply(self, job: _Job) -> None:
        """Write one job (in the writer thread, or inline): its rows, then its checkpoint."""
        if job.batch is not None:
            self._write_flush(job.batch)
            job.batch = None  # published: a failing checkpoint must not hand the rows back
        if job.checkpoint is not None:
            step, arrays, attrs = job.checkpoint
            self._guard(self._write_ckpt_file, f"writing the checkpoint at step {step}",
                        step, arrays, attrs)

    def _stop_writer(self) -> None:
        """End the writer thread (after the job it is writing, if any); synchronous after."""
        q, thread = self._queue, self._thread
        if q is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError(f"H5MDWriter for {self.path} cannot be closed from its own "
                               "writer thread")
        self._abandon = True  # queued jobs not applied yet are set aside (their rows kept)
        try:
            q.put(None)
            thread.join()
        finally:
            self._queue, self._thread, self._abandon = None, None, False
        failed, self._failed = self._failed, []
        self._restore_pending([job.batch for job in failed if job.batch is not None])

    def flush(self) -> None:
        """Publish all buffered rows: a new segment file, then a new index file.

        Both are written to a temporary name, ``fsync``-ed and renamed, so when
        ``flush`` returns every row appended so far survives a kill (and, with
        ``fsync=True``, a power cut); a kill *during* ``flush`` leaves the state
        of the previous flush.  With ``asynchronous=True`` the rows go to the
        writer thread and ``flush`` waits until it has written them and every
        job handed over before.

        Returns
        -------
        None

        Raises
        ------
        StorageFullError
            The disk is full or a file-size limit was hit; the buffered rows
            are kept (a later ``flush`` retries) and the file holds the state
            of the previous flush.
        """
        self._check_open()
        if self._queue is not None:
            self._submit(_Job(self._take_pending()))
            self._wait_writer()
            return
        batch = self._take_pending()
        if batch is None:
            return
        try:
            self._write_flush(batch)
        except BaseException:
            self._restore_pending([batch])
            raise

    def _write_flush(self, batch: _Batch) -> None:
        """Publish the rows of ``batch``: a new segment file, then a new index file.

        Runs in the writer thread (``asynchronous=True``) or in the caller's.  On an
        error nothing of ``batch`` is published and the caller keeps its rows.
        """
        new_names = [name for name in batch.shapes if name not in self._obs_shapes]
        for name in new_names:
            self._obs_shapes[name] = batch.shapes[name]
        cols = self._pending_columns(batch)
        rows = {key: len(c[next(iter(c))]) for key, c in cols.items()}
        name = f"{self._next_id:08d}.h5"

        def build(f: h5py.File) -> None:
            for key, c in cols.items():
                for dspath, row, dtype in self._key_datasets(key):
                    self._create_stored(f, dspath, row, dtype, data=c[dspath])
            f.attrs[_RUN_ID] = self._run_id

        def publish() -> dict[str, Any]:
            image = _image(build)
            seg_dir = _seg_dir(self.path)
            if not os.path.isdir(seg_dir):
                os.makedirs(seg_dir, exist_ok=True)
                if self.fsync:
                    fsync_dir(os.path.dirname(self.path))
            write_atomic(os.path.join(seg_dir, name), image, fsync=self.fsync)
            rec = {"name": name, "size": len(image), "crc32": zlib.crc32(image), "level": 0,
                   "rows": rows,
                   "shapes": {dspath: rows[key] for key, c in cols.items() for dspath in c}}
            self._next_id += 1  # never reuse a name, even if publishing the index fails
            self._publish([*self._segments, rec])
            return rec

        try:
            rec = self._guard(publish, f"writing frames {_batch_range(batch)}")
        except BaseException:
            for name in new_names:
                del self._obs_shapes[name]
            raise
        self._segments.append(rec)
        if "particles" in cols:
            self._safe_step = int(cols["particles"][next(iter(cols["particles"]))][-1])
        try:
            self._merge_segments()
        except OSError:  # merging is optional: the frames are already safe
            pass

    def _merge_segments(self) -> None:
        """Merge the last ``_MERGE_FAN_IN`` segments while they have the same level.

        Level ``L`` segments hold ``4**L`` flushes, so a run of ``F`` flushes
        keeps at most ``3 log4(F) + 1`` segments (plus those over
        ``_MERGE_MAX_BYTES``) and every row is copied about ``log4(F)`` times.
        """
        while len(self._segments) >= _MERGE_FAN_IN:
            last = self._segments[-_MERGE_FAN_IN:]
            level = last[0]["level"]
            if (any(seg["level"] != level for seg in last)
                    or sum(seg["size"] for seg in last) > _MERGE_MAX_BYTES):
                return
            cols: dict[str, dict[str, np.ndarray]] = {}
            for key in self._keys():
                parts = [seg for seg in last if seg["rows"].get(key, 0)]
                if not parts:
                    continue
                cols[key] = {}
                for dspath, _, _ in self._key_datasets(key):
                    arrays = []
                    for seg in parts:
                        with h5py.File(_seg_path(self.path, seg["name"]), "r") as f:
                            arrays.append(f[dspath][:seg["rows"][key]])
                    cols[key][dspath] = np.concatenate(arrays)
            rows = {key: len(c[next(iter(c))]) for key, c in cols.items()}
            name = f"{self._next_id:08d}.h5"

            def build(f: h5py.File, cols: dict = cols) -> None:
                for key, c in cols.items():
                    for dspath, row, dtype in self._key_datasets(key):
                        self._create_stored(f, dspath, row, dtype, data=c[dspath])
                f.attrs[_RUN_ID] = self._run_id

            image = _image(build)
            write_atomic(_seg_path(self.path, name), image, fsync=self.fsync)
            self._next_id += 1
            rec = {"name": name, "size": len(image), "crc32": zlib.crc32(image),
                   "level": level + 1, "rows": rows,
                   "shapes": {dspath: rows[key] for key, c in cols.items() for dspath in c}}
            segments = [*self._segments[:-_MERGE_FAN_IN], rec]
            self._publish(segments)
            self._segments = segments
            self._retire([seg["name"] for seg in last])

    def _retire(self, names: list[str]) -> None:
        """Delete merged-away segments once no reader can still use them (after a delay)."""
        now = time.monotonic()
        self._retired.append((now, names))
        while self._retired and now - self._retired[0][0] > _RETIRE_AFTER_S:
            for old in self._retired.pop(0)[1]:
                try:
                    os.unlink(_seg_path(self.path, old))
                except OSError:
                    pass

    # -- structural operations -----------------------------------------------

    def write_parameters(self, mapping: Mapping[str, Any]) -> None:
        """Store run parameters under ``/parameters``, replacing earlier ones.

        Type mapping (HDF5 view; :attr:`H5MDReader.parameters` returns the
        exact dict from the JSON copy stored as attribute
        ``parameters.attrs["langevin_opt_json"]``):

        ========================  =============================================
        Python value              HDF5 object under ``parameters/``
        ========================  =============================================
        dict                      subgroup
        str                       variable-length string attribute
        bool / int / float        bool (enum) / int64 / float64 attribute
        None                      empty attribute (``h5py.Empty``)
        list/tuple of bool, int,  1-D dataset (bool, int64, float64 or
        float or str              string), attribute ``langevin_opt_kind="list"``
        other list/tuple          string dataset holding JSON, kind ``"json"``
        numpy array (b, i, u, f)  dataset of the same dtype, kind ``"ndarray"``
        ========================  =============================================

        Tuples come back as lists and numpy scalars as Python scalars;
        everything else round-trips to an equal value.

        Parameters
        ----------
        mapping : Mapping[str, Any]
            Nested parameters (e.g. ``{"kT": 0.5, "dt": 1e-3, "seed": 42}``),
            reduced units with :math:`k_B = 1`.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            A key is not a usable str, or a value has an unsupported type.
        StorageFullError
            The disk is full or a file-size limit was hit (the previous
            parameters stay in the file).
        """
        self._check_open()
        if not isinstance(mapping, Mapping):
            raise ValueError(f"mapping must be a dict, got {type(mapping).__name__}")
        normalised = _to_json(mapping, "")
        text = json.dumps(normalised, allow_nan=True)
        _image(lambda f: _write_param_tree(f, normalised))  # fail early on HDF5 limits
        self.flush()
        old, self._params = self._params, (normalised, text)
        try:
            self._guard(self._publish, "writing the parameters")
        except BaseException:
            self._params = old
            raise

    def write_static(self, **arrays: Any) -> None:
        """Store time-independent per-particle data, e.g. ``species`` and ``mass``.

        H5MD allows a particle element without time dependence as a plain
        dataset ``particles/<group>/<name>`` of shape ``(n_particles, ...)``.

        Parameters
        ----------
        **arrays : array_like, shape (n_particles, ...)
            Numeric arrays (ints or floats), one per name; an existing dataset
            of the same name is replaced.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            Bad name, a name of a time-dependent element, or a wrong shape/dtype.
        StorageFullError
            The disk is full or a file-size limit was hit.
        """
        self._check_open()
        checked = {}
        for name, value in arrays.items():
            _check_name(name, "static element name")
            if name in _PARTICLE_ELEMENTS or name == "box":
                raise ValueError(f"{name} is a time-dependent H5MD element, not a static one")
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf" or arr.ndim < 1 or arr.shape[0] != self.n_particles:
                raise ValueError(f"{name} must be a numeric array with first axis "
                                 f"n_particles={self.n_particles}, got shape {arr.shape} and "
                                 f"dtype {arr.dtype}")
            checked[name] = np.array(arr, copy=True)
        self._wait_writer()  # the writer thread is idle from here on
        old = dict(self._statics)
        self._statics.update(checked)
        try:
            self._guard(self._publish, "writing static data")
        except BaseException:
            self._statics = old
            raise

    def write_checkpoint(
        self, step: int, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Store a restart checkpoint, replacing the previous one (which is kept as a spare).

        Buffered frames are flushed first (with ``asynchronous=True``: the rows
        and a copy of the state are handed to the writer thread, which writes
        the checkpoint once the frames before it are published, and the call
        returns at once).  The checkpoint is written to
        ``<path>.ckpt.new`` (temporary name, ``fsync``, rename), then the
        current ``<path>.ckpt`` is renamed to ``<path>.ckpt.prev`` and the new
        one to ``<path>.ckpt``; a kill at any instant leaves the previous or
        the new complete checkpoint readable by :meth:`H5MDReader.checkpoint`.
        Every array carries a CRC-32 (and a Fletcher-32 filter) checked on
        reading.  :meth:`close` copies the checkpoint into ``/checkpoint``.

        Parameters
        ----------
        step : int
            Step of the state saved.
        arrays : Mapping[str, numpy.ndarray]
            State arrays (positions, momenta, RNG counters...), stored with
            their own dtype and shape.
        attrs : Mapping[str, Any], optional
            Small metadata: str, int, float, bool, None or numeric arrays.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            Bad step, array name, array dtype or attribute value.
        StorageFullError
            The disk is full or a file-size limit was hit; the previous
            checkpoint is intact.
        """
        self._check_open()
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int, got {step!r}")
        if not isinstance(arrays, Mapping):
            raise ValueError(f"arrays must be a dict of numpy arrays, got {type(arrays).__name__}")
        attrs = {} if attrs is None else attrs
        if not isinstance(attrs, Mapping):
            raise ValueError(f"attrs must be a dict, got {type(attrs).__name__}")
        checked_arrays = {}
        for name, value in arrays.items():
            _check_name(name, "checkpoint array name")
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"checkpoint array {name} must be numeric, got dtype {arr.dtype}")
            checked_arrays[name] = arr
        checked_attrs = {}
        for name, value in attrs.items():
            if not isinstance(name, str) or not name or name.startswith("langevin_opt_"):
                raise ValueError(
                    "checkpoint attr names must be non-empty str not starting with "
                    f"'langevin_opt_', got {name!r}"
                )
            checked_attrs[name] = _check_attr_value(value, f"checkpoint attr {name}")
        if self._queue is not None:  # copies: the caller may overwrite its arrays at once
            arrays_copy = {k: np.array(v, copy=True) for k, v in checked_arrays.items()}
            attrs_copy = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                          for k, v in checked_attrs.items()}
            self._submit(_Job(self._take_pending(), (int(step), arrays_copy, attrs_copy)))
            return
        self.flush()
        self._guard(self._write_ckpt_file, f"writing the checkpoint at step {int(step)}",
                    int(step), checked_arrays, checked_attrs)

    def _write_ckpt_file(self, step: int, arrays: Mapping[str, np.ndarray],
                         attrs: Mapping[str, Any]) -> None:
        current, new, prev = self.path + ".ckpt", self.path + ".ckpt.new", self.path + ".ckpt.prev"
        image = _image(lambda f: _write_ckpt_group(f.create_group("checkpoint"), step, arrays,
                                                   attrs, self._run_id))
        write_atomic(new, image, fsync=self.fsync)
        if os.path.exists(current):
            os.replace(current, prev)
        os.replace(new, current)
        if self.fsync:
            fsync_dir(os.path.dirname(self.path))

    def truncate_to_step(self, step: int) -> None:
        """Drop every frame and observable row with a step larger than ``step``.

        Use it when resuming from a checkpoint taken at ``step`` before the
        last frames were written.  Buffered rows are flushed first; the
        checkpoint and parameters are kept.  The index is rewritten atomically
        and segment files no longer needed are deleted afterwards.

        Parameters
        ----------
        step : int
            Last step to keep.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            ``step`` is not an int.
        StorageFullError
            The disk is full or a file-size limit was hit (nothing was dropped).
        """
        self._check_open()
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int, got {step!r}")
        self.flush()
        kept, changed = [], False
        for seg in self._segments:
            rows = {}
            for key, r in seg["rows"].items():
                keep = int(np.searchsorted(self._segment_steps(seg, key), step, side="right"))
                changed |= keep != r
                if keep:
                    rows[key] = keep
            if rows:
                kept.append({**seg, "rows": rows})
        if not changed:
            return
        self._guard(self._publish, f"truncating to step {int(step)}", kept)
        self._segments = kept
        _remove_orphans(self.path, {seg["name"] for seg in kept})
        self._sync_last_steps()

    # -- lifetime -------------------------------------------------------------

    @property
    def last_safe_step(self) -> int | None:
        """Step of the last frame published by a completed flush (``None``: none yet).

        Returns
        -------
        int or None
            Frames up to this step survive a kill at any later instant.
        """
        return self._safe_step

    @property
    def closed(self) -> bool:
        """bool: Whether :meth:`close` has been called."""
        return self._lock_fd is None

    def close(self) -> None:
        """Flush, fold everything into one plain H5MD file at ``path``, release the lock.

        The consolidated file (chunked datasets with Fletcher-32 checksums, the
        last checkpoint in ``/checkpoint``) is written to ``<path>.tmp``,
        ``fsync``-ed and renamed over the index; then the segment and
        checkpoint files are deleted.  Idempotent.  With ``asynchronous=True``
        it first waits for every job handed to the writer thread and ends the
        thread (Ctrl-C while it waits: the jobs not yet started are dropped, the
        one being written completes, and the file stays resumable as index +
        segment files).

        Returns
        -------
        None

        Raises
        ------
        StorageFullError
            Not enough space (or file-size limit) for the final flush or the
            consolidated file.  The writer is closed anyway and the run stays
            complete and readable as index + segment files;
            ``H5MDWriter(..., mode="a")`` followed by ``close()`` retries.
        """
        if self._lock_fd is None:
            return
        try:
            if self._queue is not None:
                try:  # hand over the last rows, wait for every job, end the thread
                    self._submit(_Job(self._take_pending()))
                    self._wait_writer()
                finally:
                    self._stop_writer()
            self.flush()
            self._guard(self._consolidate, "writing the consolidated file")
        finally:
            self._release()

    def _consolidate(self) -> None:
        checkpoint, best, problems = None, None, []
        for ck_path in _ckpt_paths(self.path):
            try:
                ck = _read_ckpt_file(ck_path, self._run_id)
            except CorruptionError as err:
                problems.append(str(err))
                continue
            if ck is not None and (best is None or ck[0] > best):
                checkpoint, best = ck_path, ck[0]
        if problems and checkpoint is None:
            raise CorruptionError(problems[0])
        estimate = sum(seg["size"] for seg in self._segments)
        for ck_path in _ckpt_paths(self.path):
            if os.path.exists(ck_path):
                estimate += os.path.getsize(ck_path)
        estimate = int(1.1 * estimate) + 64 * 1024  # headroom for HDF5 metadata
        directory = os.path.dirname(self.path)
        st = os.statvfs(directory)
        if st.f_bavail * st.f_frsize < estimate:
            raise OSError(28, "No space left on device")
        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if soft != resource.RLIM_INFINITY and estimate > soft:
            raise OSError(27, "File too large")
        tmp = self.path + ".tmp"
        fh = _RecordingFile(tmp)
        try:
            try:
                with h5py.File(fh, "w", libver="latest") as f:
                    self._build(f, self._segments, final=True, checkpoint=checkpoint)
            except (OSError, RuntimeError):
                if fh.error is not None:  # the disk's own error, not HDF5's rewording
                    raise fh.error from None
                raise
            if fh.error is not None:
                raise fh.error
            if self.fsync:
                os.fsync(fh.fileno())
            fh.close()
            os.replace(tmp, self.path)
        except BaseException:
            fh.close()
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        if self.fsync:
            fsync_dir(directory)
        _remove_run_files(self.path)

    def __enter__(self) -> H5MDWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A writer dropped without close(): finish it like h5py closes a dropped file.
        if getattr(self, "_lock_fd", None) is not None:
            if getattr(self, "_thread", None) is not None and sys.is_finalizing():
                # the writer thread may be frozen already: never wait for it; the file
                # stays readable and resumable as index + segment files
                self._release()
                return
            try:
                self.close()
            except Exception:  # noqa: BLE001 - never raise from a finaliser
                self._release()


class _RecordingFile(io.FileIO):
    """A file HDF5 writes through (h5py's file-object driver) that keeps the first OSError.

    A failed write (``ENOSPC``, ``EFBIG``) is recorded, not raised: HDF5 goes on
    believing its writes succeed, so no HDF5 error path runs (no tracebacks from
    h5py's finalisers, no crash), and the writer raises the recorded error once
    HDF5 is done, then deletes the file.  Short writes are completed.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, "w+")
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = view.nbytes
        if self.error is None:
            try:
                while view.nbytes:
                    view = view[super().write(view):]
            except OSError as err:
                self.error = err
        return size

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return super().truncate(size)
            except OSError as err:
                self.error = err
        return self.tell() if size is None else size

    def flush(self) -> None:
        if self.error is None:
            try:
                super().flush()
            except OSError as err:
                self.error = err


def _stored_edges(group: h5py.Group) -> np.ndarray | None:
    """Constant box edges of a particles group, or None if no axis is periodic."""
    box = group["box"]
    if "edges" not in box:
        return None
    edges = box["edges"]
    if isinstance(edges, h5py.Dataset):
        return np.asarray(edges[()], dtype=np.float64)
    if _CONSTANT_EDGES in edges.attrs:
        return np.asarray(edges.attrs[_CONSTANT_EDGES], dtype=np.float64)
    if _element_length(edges):
        return np.asarray(edges["value"][0], dtype=np.float64)
    return None


def _complete_checkpoint_name(f: h5py.File) -> str | None:
    """First complete checkpoint group among checkpoint, checkpoint_new, checkpoint_old."""
    for name in _CK_NAMES:
        if name in f and bool(f[name].attrs.get(_CK_COMPLETE, False)):
            return name
    return None


# --------------------------------------------------------------------------
# reader
# --------------------------------------------------------------------------


class H5MDReader:
    """Lazy reader of H5MD files, including files left by a killed writer.

    Parameters
    ----------
    path : str or os.PathLike
        H5MD file.
    particle_group : str, optional
        Subgroup of ``/particles`` to read; default: the first one (by name).

    Attributes
    ----------
    recovery : RecoveryReport or None
        For a killed run whose segment files are damaged: what cannot be
        read; ``None`` if nothing is lost.
    problems : list of str
        Damaged checkpoint files skipped by the last :meth:`checkpoint` call.

    Raises
    ------
    DamagedFileError
        HDF5 cannot open the file (truncated, empty or not HDF5).
    ValueError
        The file has no ``h5md`` group, or the particle group does not exist.

    Notes
    -----
    Nothing but metadata is read on opening (and, for a live or killed run,
    the sizes of its segment files); arrays are read on request and every
    chunk is checked against its Fletcher-32 checksum (a mismatch raises
    ``OSError``).  Rows are limited to the common minimum of the ``step``,
    ``time`` and ``value`` lengths (and the writer's commit marker) and to
    the segments before a missing or truncated one (see :attr:`recovery`).
    Units are reduced units with :math:`k_B = 1` unless ``unit`` attributes say otherwise.
    """

    def __init__(self, path: str | os.PathLike[str], particle_group: str | None = None) -> None:
        self._file: h5py.File | None = None
        self.path = os.fspath(path)
        self._file = _open_h5(self.path)
        f = self._file
        if "h5md" not in f:
            self.close()
            raise ValueError(f"{self.path} is not an H5MD file (no /h5md group)")
        groups = sorted(f["particles"]) if "particles" in f else []
        if particle_group is None:
            particle_group = groups[0] if groups else None
        elif particle_group not in groups:
            self.close()
            raise ValueError(
                f"particle_group={particle_group!r} not in {self.path}; available: {groups}"
            )
        self.particle_group: str | None = particle_group
        self._group = f[f"particles/{particle_group}"] if particle_group is not None else None
        self._n_frames: int | None = None
        self._steps: np.ndarray | None = None
        self._times: np.ndarray | None = None
        self._manifest = _read_manifest(f)
        self._limits: dict[str, int] = {}
        self.recovery: RecoveryReport | None = None
        self.problems: list[str] = []
        if self._manifest is not None:
            self._apply_segment_check(full=False)

    @property
    def is_consolidated(self) -> bool:
        """bool: ``True`` for a closed run (one plain file), else ``False``.

        ``False`` means a live or killed run: an index file whose datasets are
        views of segment files.
        """
        return self._manifest is None

    def _apply_segment_check(self, full: bool) -> None:
        """Limit readable rows to the segments before the first damaged one."""
        good, problems = _check_segments(self.path, self._manifest, full)
        segments = self._manifest["segments"]
        if good == len(segments):
            return
        kept: dict[str, int] = {}
        lost: dict[str, int] = {}
        for i, seg in enumerate(segments):
            for key, r in seg["rows"].items():
                target = kept if i < good else lost
                target[key] = target.get(key, 0) + r
        series = self._manifest.get("series", "observables")
        keys = {"particles", *(f"{series}/{n}" for n in self._manifest["observables"])}
        self._limits = {key: kept.get(key, 0) for key in keys}
        self._n_frames = self._steps = self._times = None
        last = int(self.steps[-1]) if self.n_frames else None
        self.recovery = RecoveryReport(self.path, last, lost.get("particles", 0), lost,
                                       tuple(problems))

    def _check_open(self) -> h5py.File:
        if self._file is None:
            raise ValueError(f"H5MDReader for {self.path} is closed")
        return self._file

    def _particle_elements(self) -> list[h5py.Group]:
        if self._group is None:
            return []
        out = [self._group[n] for n in _PARTICLE_ELEMENTS if n in self._group]
        box = self._group.get("box")
        if box is not None and isinstance(box.get("edges"), h5py.Group):
            out.append(box["edges"])
        return out

    def static(self, name: str) -> np.ndarray:
        """A time-independent particle element (see :meth:`H5MDWriter.write_static`).

        Parameters
        ----------
        name : str
            E.g. ``"species"`` or ``"mass"``.

        Returns
        -------
        numpy.ndarray
        """
        self._check_open()
        if self._group is None or name not in self._group or not isinstance(
                self._group[name], h5py.Dataset):
            raise KeyError(f"no static element {name!r} in {self.path}")
        return self._group[name][()]

    @property
    def n_frames(self) -> int:
        """int: Number of complete frames (common minimum over the particle elements)."""
        self._check_open()
        if self._n_frames is None:
            lengths = [_element_length(g) for g in self._particle_elements()]
            if "particles" in self._limits:
                lengths.append(self._limits["particles"])
            self._n_frames = min(lengths) if lengths else 0
        return self._n_frames

    def _first_element(self) -> h5py.Group:
        elements = self._particle_elements()
        if not elements:
            raise ValueError(f"{self.path} has no particle trajectory")
        return elements[0]

    @property
    def steps(self) -> np.ndarray:
        """numpy.ndarray: Steps of the frames, int64, shape ``(n_frames,)``."""
        if self._steps is None:
            self._steps = _element_steps(self._first_element(), self.n_frames)
        return self._steps

    @property
    def times(self) -> np.ndarray:
        """numpy.ndarray: Times of the frames, float64, shape ``(n_frames,)``, reduced units."""
        if self._times is None:
            self._times = _element_times(self._first_element(), self.n_frames)
        return self._times

    @property
    def n_particles(self) -> int:
        """int: Number of walkers/particles per frame."""
        return int(self._first_element()["value"].shape[1])

    @property
    def dim(self) -> int:
        """int: Spatial dimension."""
        return int(self.box.dimension)

    def _read(self, name: str, frames: int | slice | None) -> np.ndarray:
        self._check_open()
        if self._group is None or name not in self._group:
            raise KeyError(f"{name} was not recorded in {self.path}")
        value = self._group[name]["value"]
        n = self.n_frames
        if frames is None:
            frames = slice(None)
        if isinstance(frames, slice):
            start, stop, stride = frames.indices(n)
            if stride > 0:
                return value[start:stop:stride] if stop > start else value[0:0]
            index = np.arange(start, stop, stride)
            return value[np.sort(index)][::-1] if index.size else value[0:0]
        if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
            raise ValueError(f"frame must be an int or a slice, got {frames!r}")
        frame = int(frames) + n if frames < 0 else int(frames)
        if not 0 <= frame < n:
            raise IndexError(f"frame {int(frames)} out of range for {n} frames")
        return value[frame]

    def position(self, frames: int | slice | None = None) -> np.ndarray:
        """Read positions.

        Parameters
        ----------
        frames : int or slice, optional
            Frame index (negative counts from the end) or slice; default
            (``None``) all frames.

        Returns
        -------
        numpy.ndarray
            ``(n_particles, dim)`` for an int, ``(k, n_particles, dim)`` for a
            slice; reduced length units.
        """
        return self._read("position", frames)

    def velocity(self, frames: int | slice | None = None) -> np.ndarray:
        """Read velocities.

        Parameters
        ----------
        frames : int or slice, optional
            Frame index or slice; default (``None``) all frames.

        Returns
        -------
        numpy.ndarray
            Shape as for :meth:`position`; reduced units.

        Raises
        ------
        KeyError
            Velocities were not recorded.
        """
        return self._read("velocity", frames)

    def force(self, frames: int | slice | None = None) -> np.ndarray:
        """Read forces.

        Parameters
        ----------
        frames : int or slice, optional
            Frame index or slice; default (``None``) all frames.

        Returns
        -------
        numpy.ndarray
            Shape as for :meth:`position`; reduced units (:math:`k_B = 1`).

        Raises
        ------
        KeyError
            Forces were not recorded.
        """
        return self._read("force", frames)

    def image(self, frames: int | slice | None = None) -> np.ndarray:
        """Read periodic image counts.

        Parameters
        ----------
        frames : int or slice, optional
            Frame index or slice; default (``None``) all frames.

        Returns
        -------
        numpy.ndarray
            Integer array, shape as for :meth:`position`.

        Raises
        ------
        KeyError
            Images were not recorded.
        """
        return self._read("image", frames)

    def _elements(self, where: str, frame_aligned: bool) -> list[str]:
        f = self._check_open()
        if where not in f:
            return []
        obs = f[where]
        return sorted(n for n in obs if isinstance(obs[n], h5py.Group) and "value" in obs[n]
                      and (_FRAME_ALIGNED in obs[n].attrs) == frame_aligned)

    @property
    def frame_observable_names(self) -> list[str]:
        """Sorted names of the frame-aligned observables (``/observables``, one row per frame)."""
        return self._elements("observables", True)

    @property
    def observable_names(self) -> list[str]:
        """Sorted names of every time-dependent observable (list of str).

        The recorded series (``/observable_series`` or ``/observables``) and the
        frame-aligned observables.
        """
        series = self._elements(_SERIES_GROUP, False) + self._elements("observables", False)
        return sorted(set(series) | set(self.frame_observable_names))

    def observable(self, name: str, *, at_frames: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read one observable.

        Parameters
        ----------
        name : str
            Observable name, one of :attr:`observable_names`.
        at_frames : bool
            Read the frame-aligned copy (one row per frame, at the frames'
            steps; see ``H5MDWriter(frame_observables=...)``) instead of the
            recorded series.  A name that has only one of the two is read from
            it whatever ``at_frames`` says.

        Returns
        -------
        steps : numpy.ndarray
            int64, shape ``(T,)``.
        times : numpy.ndarray
            float64, shape ``(T,)``, reduced time units.
        values : numpy.ndarray
            Shape ``(T,)`` or ``(T, n_particles)``, reduced units.

        Raises
        ------
        KeyError
            No such observable.
        """
        f = self._check_open()
        framed = name in self.frame_observable_names
        where = None
        for group in (_SERIES_GROUP, "observables"):
            if name in self._elements(group, False):
                where = group
                break
        if framed and (at_frames or where is None):
            n = self.n_frames
            value = f["observables"][name]["value"][:n]
            return self.steps.copy(), self.times.copy(), value
        if where is None:
            raise KeyError(
                f"no observable {name!r} in {self.path}; available: {self.observable_names}"
            )
        element = f[where][name]
        n = min(_element_length(element), self._limits.get(f"{where}/{name}", 2**62))
        return _element_steps(element, n), _element_times(element, n), element["value"][:n]

    @property
    def parameters(self) -> dict[str, Any]:
        """dict: Run parameters written by :meth:`H5MDWriter.write_parameters` (``{}`` if none)."""
        f = self._check_open()
        if "parameters" not in f:
            return {}
        group = f["parameters"]
        if _PARAMS_JSON in group.attrs:
            return json.loads(_decode(group.attrs[_PARAMS_JSON]), object_hook=_json_hook)
        return _read_param_tree(group)

    def checkpoint(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]] | None:
        """Read the last complete, intact checkpoint.

        For a live or killed run (index file) the segment files are verified
        first (CRC-32 of every byte); if one is damaged, the frames from it on
        are ignored (see :attr:`recovery`) and only a checkpoint whose step is
        covered by the remaining frames is returned.  A damaged checkpoint file
        is skipped for the previous one (noted in :attr:`problems`).

        Returns
        -------
        tuple or None
            ``(step, arrays, attrs)``: the step (int), the arrays by name and
            the attributes as Python values; ``None`` if the file holds no
            complete checkpoint.

        Raises
        ------
        CorruptionError
            Every checkpoint there is fails its checksum.
        """
        f = self._check_open()
        if self._manifest is None:
            name = _complete_checkpoint_name(f)
            if name is None:
                return None
            return _read_ckpt_group(f[name], f"{self.path}:/{name}")
        self._apply_segment_check(full=True)
        problems: list[str] = []
        max_step = None
        if self.recovery is not None:
            max_step = int(self.steps[-1]) if self.n_frames else -1
        ck = _best_ckpt(self.path, self._manifest["run_id"], max_step, problems)
        self.problems = problems
        if ck is None and problems:
            raise CorruptionError("; ".join(problems))
        return ck

    def verify(self) -> list[str]:
        """Check every checksum of the run: data chunks, segment files, checkpoints.

        Returns
        -------
        list of str
            One line per problem, naming the file, the dataset and the rows
            (empty if everything is intact).
        """
        f = self._check_open()
        problems: list[str] = []
        if self._manifest is None:
            problems += _verify_datasets(f, f"{self.path}:/")
            name = _complete_checkpoint_name(f)
            if name is not None:
                try:
                    _read_ckpt_group(f[name], f"{self.path}:/{name}")
                except CorruptionError as err:
                    problems.append(str(err))
            return problems
        segments = self._manifest["segments"]
        for seg in segments:
            sub = {**self._manifest, "segments": [seg]}
            problems += _check_segments(self.path, sub, full=True)[1]
        for ck_path in _ckpt_paths(self.path):
            try:
                _read_ckpt_file(ck_path, self._manifest["run_id"])
            except CorruptionError as err:
                problems.append(str(err))
        return problems

    @property
    def box(self) -> Box:
        """Box: Dimension, boundary and edges of the particle group's box."""
        self._check_open()
        if self._group is None or "box" not in self._group:
            raise ValueError(f"{self.path} has no particles box")
        box = self._group["box"]
        boundary = _decode(box.attrs["boundary"])
        boundary = tuple(str(b) for b in np.atleast_1d(boundary))
        return Box(int(box.attrs["dimension"]), boundary, _stored_edges(self._group))

    @property
    def h5md_metadata(self) -> dict[str, Any]:
        """dict: ``version``, ``author`` and ``creator``/``creator_version`` from ``/h5md``."""
        f = self._check_open()
        h5md = f["h5md"]
        return {
            "version": tuple(int(v) for v in h5md.attrs["version"]),
            "author": _decode(h5md["author"].attrs["name"]),
            "creator": _decode(h5md["creator"].attrs["name"]),
            "creator_version": _decode(h5md["creator"].attrs["version"]),
        }

    def close(self) -> None:
        """Close the file (idempotent).

        Returns
        -------
        None
        """
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> H5MDReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
