r"""H5MD 1.1 trajectory files: a buffered, crash-safe writer and a lazy reader.

All quantities are in reduced units with :math:`k_B = 1` unless the caller
passes ``time_unit``/``length_unit`` strings, which are then stored as H5MD
``unit`` attributes (the numbers are never converted).

Layout written by :class:`H5MDWriter` (H5MD 1.1, explicit step/time arrays)::

    /h5md                       attrs: version = int32[2] {1, 1}
    /h5md/author                attrs: name (fixed-length string)
    /h5md/creator               attrs: name, version (fixed-length strings)
    /h5md/modules/units         only when a unit was given: version {1, 0}, system
    /particles/<group>/box      attrs: dimension (int32), boundary (S8[dim])
    /particles/<group>/box/edges/{step,time,value[T][dim]}   only if periodic
    /particles/<group>/position/{step int64[T], time float64[T], value float64[T][N][dim]}
    /particles/<group>/velocity, force  (float64), image (int64), optional
    /observables/<name>/{step int64[T], time float64[T], value float64[T] or [T][N]}
    /parameters/...             nested run parameters (see ``write_parameters``)
    /checkpoint                 last restart checkpoint (outside the H5MD groups)

The ``step``/``time`` datasets of ``velocity``, ``force``, ``image`` and
``box/edges`` are HDF5 hard links to those of ``position`` (required by the
spec for ``image`` and ``box/edges``, allowed for the others).  Every
time-dependent element group carries an extra integer attribute
``langevin_opt_committed_rows``: the number of rows that were completely on
disk at the end of the last :meth:`H5MDWriter.flush`.

Crash safety
------------
HDF5 has no journal: between two flushes, the library keeps dirty metadata
(dataset extents, chunk indexes) in its caches, and a process killed while
they are partly written can leave an inconsistent file.  The writer therefore
keeps the file in a state that reopens, in three ways:

1. *Buffering.*  :meth:`H5MDWriter.append_frames` and
   :meth:`H5MDWriter.append_observables` only copy their arrays into memory.
   HDF5 is touched only inside :meth:`H5MDWriter.flush` (also called
   automatically when more than ``buffer_bytes`` are pending, by
   :meth:`H5MDWriter.close` and by every structural operation).  A SIGKILL at
   any moment outside ``flush`` therefore leaves exactly the state of the
   last flush on disk.
2. *Two-phase flush.*  ``flush`` writes the data and calls ``H5Fflush``, then
   updates the ``langevin_opt_committed_rows`` attributes and calls ``H5Fflush``
   again.  :class:`H5MDReader` (and the writer in mode ``"a"``, which cuts the
   datasets back) uses ``min(len(step), len(time), len(value), committed)``
   rows, so the rows of a flush that was itself killed are ignored.  A kill
   *inside* ``flush`` (a window of milliseconds) is still not safe: without
   SWMR, HDF5 writes dirty metadata in no particular order, and a half-written
   chunk-index split can hide earlier rows or leave the file unreadable
   ("addr overflow").  In a stress test that killed a writer flushing after
   every append at random times, this happened in 1 of 2150 kills with
   4-frame chunks and 3 of 1200 with 1-frame chunks; with the default chunks
   (up to 1024 frames) index splits, and so this risk, should be far rarer
   (not measured).
3. *No consistency flags.*  Files are created with ``libver="earliest"``
   (superblock version 0).  HDF5 sets and checks its "file is open for
   writing" flags only in superblock version 3 (``libver="latest"``, needed
   for SWMR); there a killed writer leaves a file that HDF5 refuses to open
   (except in SWMR read mode) until ``h5clear -s`` has been run, and
   ``h5clear`` does not ship with h5py.  SWMR mode was rejected for that
   reason and because it forbids creating groups, datasets and attributes
   while it is on (new observables, checkpoints, parameters).

Checkpoints are written to ``/checkpoint_new``, flushed, marked complete,
flushed, and only then renamed over ``/checkpoint`` (the old one is moved to
``/checkpoint_old`` and deleted after a further flush); the reader takes the
first *complete* group among ``checkpoint``, ``checkpoint_new`` and
``checkpoint_old``, so a crash while a checkpoint is written leaves the
previous one readable.  Files are not ``fsync``-ed: flushed data survives a
crash of the process, not a crash of the operating system or a power cut.

Write throughput
----------------
``append_*`` costs one NumPy copy of its arguments (about 70 us for a frame of
1000 walkers in 3-D), so it can be called from a hot loop; each ``flush``
costs one ``resize`` and one write per dataset plus two ``H5Fflush`` calls
(a few milliseconds even for tiny data), so flush every few seconds rather
than every step.  Measured once on a development VM (100-frame batches of
``N=1000``, ``dim=3`` float64 positions, a flush per batch): about 90 MB/s
uncompressed, 27 MB/s with ``"lzf"`` and 10 MB/s with ``"gzip"``; hence no
compression by default.  To benchmark, time ``append_frames`` + ``flush`` +
``close`` and divide the bytes of ``position`` by the elapsed time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import h5py
import numpy as np

__all__ = ["Box", "H5MDReader", "H5MDWriter"]

H5MD_VERSION = (1, 1)
_COMMITTED = "langevin_opt_committed_rows"
_CONSTANT_EDGES = "langevin_opt_constant_edges"
_PARAMS_JSON = "langevin_opt_json"
_PARAM_KIND = "langevin_opt_kind"
_CK_STEP = "langevin_opt_step"
_CK_COMPLETE = "langevin_opt_complete"
_CK_NAMES = ("checkpoint", "checkpoint_new", "checkpoint_old")
_PARTICLE_ELEMENTS = ("position", "velocity", "force", "image")
_COMPRESSIONS = (None, "gzip", "lzf")
_CHUNK_TARGET_BYTES = 256 * 1024
_CHUNK_MAX_FRAMES = 1024
_NDARRAY_TAG = "__ndarray__"


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
        if not -(2**63) <= int(value) < 2**63:
            raise ValueError(f"parameter {path} = {value} does not fit in int64")
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
        elif isinstance(value, (str, bool, int, float)):
            group.attrs[key] = np.bool_(value) if isinstance(value, bool) else value
        elif isinstance(value, dict):  # encoded numpy array
            spec = value[_NDARRAY_TAG]
            data = np.array(spec["data"], dtype=np.dtype(spec["dtype"])).reshape(spec["shape"])
            group.create_dataset(key, data=data).attrs[_PARAM_KIND] = "ndarray"
        elif value and all(isinstance(v, bool) for v in value):
            group.create_dataset(key, data=np.array(value, dtype=bool)).attrs[_PARAM_KIND] = "list"
        elif value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            group.create_dataset(key, data=np.array(value, dtype=np.int64)).attrs[_PARAM_KIND] = (
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
# writer
# --------------------------------------------------------------------------


class H5MDWriter:
    """Buffered, crash-safe writer of H5MD 1.1 files for walkers or particles.

    Parameters
    ----------
    path : str or os.PathLike
        File to write (``.h5md`` is the extension MDAnalysis recognises).
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
        (reduced units).
    mode : {"w", "a"}, optional
        ``"w"`` creates the file; ``"a"`` reopens an existing file to resume,
        also one left by a killed run.  In mode ``"a"`` the layout arguments
        (``n_particles``, ``dim``, ``box_edges``, ``record_*``, units) must
        match the file.
    overwrite : bool, optional
        In mode ``"w"``, replace an existing file instead of raising
        ``FileExistsError``.
    buffer_bytes : int, optional
        Pending bytes above which ``append_*`` flushes by itself (default
        64 MiB); 0 flushes on every append.

    Raises
    ------
    FileExistsError
        Mode ``"w"`` on an existing file without ``overwrite=True``.
    FileNotFoundError
        Mode ``"a"`` on a missing file.
    ValueError
        An argument has a wrong type, shape or value, or does not match the
        file in mode ``"a"``.

    Notes
    -----
    Units are reduced units with :math:`k_B = 1`.  See the module docstring
    for the file layout and the crash-safety protocol.  Use as a context
    manager, or call :meth:`close`.  In mode ``"a"``, ``author``, ``creator``
    and ``creator_version`` are ignored (the file keeps its own).

    MDAnalysis (2.11) reads these files when ``dim == 3``:
    ``MDAnalysis.Universe(path)`` needs ``particle_group="trajectory"`` and
    both units; reduced-unit files load with
    ``Universe.empty(n_particles).load_new(path, format="H5MD",
    convert_units=False)``.  It indexes every observable with the frame
    number, so record observables at the frame steps if MDAnalysis must read
    them.
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
        mode: str = "w",
        overwrite: bool = False,
        buffer_bytes: int = 64 * 2**20,
    ) -> None:
        self._file: h5py.File | None = None
        self.path = os.fspath(path)
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

        self._pending_frames: list[dict[str, np.ndarray]] = []
        self._pending_obs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        self._pending_bytes = 0
        self._last_frame_step: int | None = None
        self._last_obs_step: dict[str, int | None] = {}
        self._obs_row_shape: dict[str, tuple[int, ...]] = {}

        if mode == "w":
            if os.path.exists(self.path) and not overwrite:
                raise FileExistsError(
                    f"{self.path} already exists; pass overwrite=True to replace it "
                    "or mode='a' to append"
                )
            self._file = h5py.File(self.path, "w", libver="earliest")
            layout = self._create_layout
            args: tuple[str, ...] = (author, creator, creator_version)
        else:
            if not os.path.exists(self.path):
                raise FileNotFoundError(
                    f"{self.path} does not exist; mode='a' appends to an existing file"
                )
            self._file = h5py.File(self.path, "r+", libver="earliest")
            layout, args = self._open_layout, ()
        try:
            layout(*args)
            self._file.flush()
        except BaseException:
            self._file.close()
            self._file = None
            raise

    # -- layout -------------------------------------------------------------

    def _dataset_kwargs(self) -> dict[str, Any]:
        if self.compression == "gzip":
            return {"compression": "gzip", "compression_opts": 4}
        if self.compression == "lzf":
            return {"compression": "lzf"}
        return {}

    def _new_dataset(
        self, group: h5py.Group, name: str, row_shape: tuple[int, ...], dtype: Any
    ) -> h5py.Dataset:
        frames = _chunk_frames(row_shape, np.dtype(dtype).itemsize, self.chunk_frames)
        return group.create_dataset(
            name,
            shape=(0, *row_shape),
            maxshape=(None, *row_shape),
            chunks=(frames, *row_shape),
            dtype=dtype,
            **self._dataset_kwargs(),
        )

    def _new_element(
        self,
        parent: h5py.Group,
        name: str,
        row_shape: tuple[int, ...],
        dtype: Any,
        link_to: h5py.Group | None = None,
        value_unit: str | None = None,
    ) -> h5py.Group:
        group = parent.create_group(name)
        if link_to is None:
            self._new_dataset(group, "step", (), np.int64)
            time = self._new_dataset(group, "time", (), np.float64)
            if self.time_unit is not None:
                time.attrs["unit"] = self.time_unit
        else:
            group["step"] = link_to["step"]
            group["time"] = link_to["time"]
        value = self._new_dataset(group, "value", row_shape, dtype)
        if value_unit is not None:
            value.attrs["unit"] = value_unit
        group.attrs[_COMMITTED] = np.int64(0)
        return group

    def _create_layout(self, author: str, creator: str, creator_version: str) -> None:
        f = self._file
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
        h5md.create_group("author").attrs["name"] = np.bytes_(author.encode("utf-8"))
        creator_group = h5md.create_group("creator")
        creator_group.attrs["name"] = np.bytes_(creator.encode("utf-8"))
        creator_group.attrs["version"] = np.bytes_(creator_version.encode("utf-8"))
        if self.time_unit is not None or self.length_unit is not None:
            units = h5md.create_group("modules").create_group("units")
            units.attrs["version"] = np.array((1, 0), dtype=np.int32)
            units.attrs["system"] = "SI"

        group = f.create_group("particles").create_group(self.particle_group)
        row = (self.n_particles, self.dim)
        velocity_unit = None
        if self.length_unit is not None and self.time_unit is not None:
            velocity_unit = f"{self.length_unit} {self.time_unit}-1"
        position = self._new_element(
            group, "position", row, np.float64, value_unit=self.length_unit
        )
        if self.record["velocity"]:
            self._new_element(group, "velocity", row, np.float64, position, velocity_unit)
        if self.record["force"]:
            self._new_element(group, "force", row, np.float64, position)
        if self.record["image"]:
            self._new_element(group, "image", row, np.int64, position)

        box = group.create_group("box")
        box.attrs["dimension"] = np.int32(self.dim)
        boundary = b"none" if self.box_edges is None else b"periodic"
        box.attrs["boundary"] = np.array([boundary] * self.dim, dtype="S8")
        if self.box_edges is not None:
            edges = self._new_element(
                box, "edges", (self.dim,), np.float64, position, self.length_unit
            )
            edges.attrs[_CONSTANT_EDGES] = self.box_edges
        f.create_group("observables")

    def _open_layout(self) -> None:
        f = self._file
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
        if "observables" not in f:
            f.create_group("observables")

        # Repair a file cut short by a crash: cut every element to its readable rows
        # (all particle elements share step/time, so they are cut to a common length).
        particle = self._particle_time_elements()
        n_frames = min(_element_length(e) for e in particle)
        observables = self._time_elements()[len(particle) :]
        cuts = [(e, n_frames) for e in particle] + [(e, _element_length(e)) for e in observables]
        for element, n in cuts:
            for name in ("step", "time", "value"):
                if element[name].shape[0] != n:
                    element[name].resize(n, axis=0)
            element.attrs[_COMMITTED] = np.int64(n)
        self._recover_checkpoint()
        self._sync_last_steps()

    def _particle_time_elements(self) -> list[h5py.Group]:
        """Time-dependent elements of the particle group (position first, then box edges)."""
        group = self._file[f"particles/{self.particle_group}"]
        out = [group[name] for name in _PARTICLE_ELEMENTS if name in group]
        if "edges" in group["box"] and isinstance(group["box/edges"], h5py.Group):
            out.append(group["box/edges"])
        return out

    def _time_elements(self) -> list[h5py.Group]:
        """All time-dependent element groups of this writer's particle group and observables."""
        f = self._file
        out = self._particle_time_elements()
        obs = f["observables"]
        out.extend(
            obs[name] for name in obs if isinstance(obs[name], h5py.Group) and "value" in obs[name]
        )
        return out

    def _sync_last_steps(self) -> None:
        f = self._file
        position = f[f"particles/{self.particle_group}/position"]
        n = position["step"].shape[0]
        self._last_frame_step = int(position["step"][n - 1]) if n else None
        obs = f["observables"]
        for name in obs:
            if isinstance(obs[name], h5py.Group) and "value" in obs[name]:
                element = obs[name]
                n = element["step"].shape[0]
                self._last_obs_step[name] = int(element["step"][n - 1]) if n else None
                self._obs_row_shape[name] = element["value"].shape[1:]

    # -- appending ------------------------------------------------------------

    def _check_open(self) -> h5py.File:
        if self._file is None:
            raise ValueError(f"H5MDWriter for {self.path} is closed")
        return self._file

    def append_frames(
        self,
        steps: Any,
        times: Any,
        position: Any,
        velocity: Any = None,
        force: Any = None,
        image: Any = None,
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
        if self._pending_bytes > self.buffer_bytes:
            self.flush()

    def append_observables(self, steps: Any, times: Any, **observables: Any) -> None:
        """Append ``F`` rows to one or more observables.

        Parameters
        ----------
        steps : array_like of int, shape (F,)
            Integration steps, strictly increasing and larger than the last
            step stored for each observable.
        times : array_like of float, shape (F,)
            Simulation times, reduced time units.
        **observables : array_like of float, shape (F,) or (F, n_particles)
            Per-frame scalars (e.g. ``potential_energy``) or per-walker values
            (e.g. ``energy`` of every walker), reduced units with
            :math:`k_B = 1`.  The shape of an observable is fixed by its first
            append.

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
            allowed = ((frames,), (frames, self.n_particles))
            if arr.shape not in allowed:
                raise ValueError(
                    f"observable {name} must have shape (F,) or (F, n_particles) = {allowed}, "
                    f"got {arr.shape}"
                )
            row_shape = self._obs_row_shape.get(name, arr.shape[1:])
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
            self._obs_row_shape[name] = arr.shape[1:]
            self._last_obs_step[name] = int(steps[-1])
            self._pending_obs.setdefault(name, []).append((steps, times, arr))
            self._pending_bytes += steps.nbytes + times.nbytes + arr.nbytes
        if self._pending_bytes > self.buffer_bytes:
            self.flush()

    @staticmethod
    def _extend(ds: h5py.Dataset, data: np.ndarray) -> None:
        start = ds.shape[0]
        ds.resize(start + data.shape[0], axis=0)
        ds[start:] = data

    def _write_element(
        self, element: h5py.Group, columns: dict[str, np.ndarray], done: set
    ) -> None:
        """Append rows to an element, extending hard-linked step/time datasets once."""
        for name, data in columns.items():
            ds = element[name]
            if ds.id in done:
                continue
            done.add(ds.id)
            self._extend(ds, data)

    def flush(self) -> None:
        """Write all buffered rows to the file and flush HDF5 to the operating system.

        After ``flush`` returns, a killed process leaves a file that
        :class:`H5MDReader` and ``H5MDWriter(..., mode="a")`` open with every
        row appended so far.

        Returns
        -------
        None
        """
        f = self._check_open()
        touched: list[h5py.Group] = []
        done: set = set()
        if self._pending_frames:
            group = f[f"particles/{self.particle_group}"]
            batch = {
                key: _join([p[key] for p in self._pending_frames])
                for key in self._pending_frames[0]
            }
            for name in _PARTICLE_ELEMENTS:
                if name in batch:
                    element = group[name]
                    cols = {"step": batch["step"], "time": batch["time"], "value": batch[name]}
                    self._write_element(element, cols, done)
                    touched.append(element)
            if self.box_edges is not None:
                edges = group["box/edges"]
                rows = np.broadcast_to(self.box_edges, (batch["step"].shape[0], self.dim))
                self._write_element(
                    edges, {"step": batch["step"], "time": batch["time"], "value": rows}, done
                )
                touched.append(edges)
        obs_root = f["observables"]
        for name, chunks in self._pending_obs.items():
            if name not in obs_root:
                element = self._new_element(obs_root, name, chunks[0][2].shape[1:], np.float64)
            element = obs_root[name]
            cols = {
                "step": _join([c[0] for c in chunks]),
                "time": _join([c[1] for c in chunks]),
                "value": _join([c[2] for c in chunks]),
            }
            self._write_element(element, cols, done)
            touched.append(element)
        self._pending_frames = []
        self._pending_obs = {}
        self._pending_bytes = 0
        f.flush()  # phase 1: data and extents
        if touched:
            for element in touched:
                element.attrs[_COMMITTED] = np.int64(element["value"].shape[0])
            f.flush()  # phase 2: commit markers

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
        """
        f = self._check_open()
        if not isinstance(mapping, Mapping):
            raise ValueError(f"mapping must be a dict, got {type(mapping).__name__}")
        normalised = _to_json(mapping, "")
        text = json.dumps(normalised, allow_nan=True)
        self.flush()
        if "parameters" in f:
            del f["parameters"]
        group = f.create_group("parameters")
        _write_param_tree(group, normalised)
        group.attrs[_PARAMS_JSON] = text
        f.flush()

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
        """
        f = self._check_open()
        group = f[f"particles/{self.particle_group}"]
        for name, value in arrays.items():
            _check_name(name, "static element name")
            if name in _PARTICLE_ELEMENTS or name == "box":
                raise ValueError(f"{name} is a time-dependent H5MD element, not a static one")
            arr = np.asarray(value)
            if arr.dtype.kind not in "biuf" or arr.ndim < 1 or arr.shape[0] != self.n_particles:
                raise ValueError(f"{name} must be a numeric array with first axis "
                                 f"n_particles={self.n_particles}, got shape {arr.shape} and "
                                 f"dtype {arr.dtype}")
            if name in group:
                del group[name]
            group.create_dataset(name, data=arr)
        f.flush()

    def write_checkpoint(
        self, step: int, arrays: Mapping[str, np.ndarray], attrs: Mapping[str, Any] | None = None
    ) -> None:
        """Store a restart checkpoint in ``/checkpoint``, replacing the previous one.

        The new checkpoint is written to ``/checkpoint_new``, flushed, marked
        complete, flushed, then renamed to ``/checkpoint``; a crash at any
        point leaves the previous (or the new) complete checkpoint readable by
        :meth:`H5MDReader.checkpoint`.  Buffered frames are flushed first.

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
        """
        f = self._check_open()
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

        self.flush()
        if "checkpoint_new" in f:
            del f["checkpoint_new"]
        group = f.create_group("checkpoint_new")
        for name, arr in checked_arrays.items():
            group.create_dataset(name, data=arr)
        for name, value in checked_attrs.items():
            group.attrs[name] = value
        group.attrs[_CK_STEP] = np.int64(step)
        f.flush()
        group.attrs[_CK_COMPLETE] = np.bool_(True)
        f.flush()
        self._commit_checkpoint()

    def _commit_checkpoint(self) -> None:
        """Rename ``/checkpoint_new`` over ``/checkpoint`` (see ``write_checkpoint``)."""
        f = self._file
        if "checkpoint_old" in f:
            del f["checkpoint_old"]
        if "checkpoint" in f:
            f.move("checkpoint", "checkpoint_old")
        f.move("checkpoint_new", "checkpoint")
        f.flush()
        if "checkpoint_old" in f:
            del f["checkpoint_old"]
            f.flush()

    def _recover_checkpoint(self) -> None:
        """After a crash, keep the newest complete checkpoint as ``/checkpoint``."""
        f = self._file
        chosen = _complete_checkpoint_name(f)
        for name in _CK_NAMES:
            if name in f and name != chosen:
                del f[name]
        if chosen is not None and chosen != "checkpoint":
            f.move(chosen, "checkpoint")

    def truncate_to_step(self, step: int) -> None:
        """Drop every frame and observable row with a step larger than ``step``.

        Use it when resuming from a checkpoint taken at ``step`` before the
        last frames were written.  Buffered rows are flushed first; the
        checkpoint and parameters are kept.

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
        """
        f = self._check_open()
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)):
            raise ValueError(f"step must be an int, got {step!r}")
        self.flush()
        for element in self._time_elements():
            n = _element_length(element)
            keep = int(np.searchsorted(_element_steps(element, n), step, side="right"))
            for name in ("step", "time", "value"):
                if name in element and element[name].shape[0] != keep:
                    element[name].resize(keep, axis=0)
            element.attrs[_COMMITTED] = np.int64(keep)
        f.flush()
        self._sync_last_steps()

    # -- lifetime -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """bool: Whether :meth:`close` has been called."""
        return self._file is None

    def close(self) -> None:
        """Flush buffered rows and close the file (idempotent).

        Returns
        -------
        None
        """
        if self._file is None:
            return
        try:
            self.flush()
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> H5MDWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    Raises
    ------
    ValueError
        The file has no ``h5md`` group, or the particle group does not exist.

    Notes
    -----
    Nothing but metadata is read on opening; arrays are read on request.
    Rows are limited to the common minimum of the ``step``, ``time`` and
    ``value`` lengths (and the writer's commit marker), so files cut short by
    a crash read consistently.  Units are reduced units with :math:`k_B = 1`
    unless ``unit`` attributes say otherwise.
    """

    def __init__(self, path: str | os.PathLike[str], particle_group: str | None = None) -> None:
        self._file: h5py.File | None = None
        self.path = os.fspath(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            if "consistency flags" not in str(err):
                raise
            # A SWMR writer (not ours) that crashed: SWMR read mode skips the flag check.
            self._file = h5py.File(self.path, "r", libver="latest", swmr=True)
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

    @property
    def observable_names(self) -> list[str]:
        """Sorted names of the time-dependent observables (list of str)."""
        f = self._check_open()
        if "observables" not in f:
            return []
        obs = f["observables"]
        return sorted(n for n in obs if isinstance(obs[n], h5py.Group) and "value" in obs[n])

    def observable(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read one observable.

        Parameters
        ----------
        name : str
            Observable name, one of :attr:`observable_names`.

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
        if name not in self.observable_names:
            raise KeyError(
                f"no observable {name!r} in {self.path}; available: {self.observable_names}"
            )
        element = f["observables"][name]
        n = _element_length(element)
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
        """Read the last complete checkpoint.

        Returns
        -------
        tuple or None
            ``(step, arrays, attrs)``: the step (int), the arrays by name and
            the attributes as Python values; ``None`` if the file holds no
            complete checkpoint.
        """
        f = self._check_open()
        name = _complete_checkpoint_name(f)
        if name is None:
            return None
        group = f[name]
        arrays = {key: group[key][()] for key in group}
        attrs = {
            key: _decode(value)
            for key, value in group.attrs.items()
            if key not in (_CK_STEP, _CK_COMPLETE)
        }
        return int(group.attrs[_CK_STEP]), arrays, attrs

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
