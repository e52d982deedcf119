"""One-file model storage: a NumPy ``.npz`` archive with JSON metadata and a SHA-256 checksum.

Why ``.npz`` and not HDF5
-------------------------
A model is a few small arrays (parameters, standardisation, reference energies) plus
settings; it is read whole, never sliced or appended to.  An ``.npz`` file is read back with
``numpy.load(allow_pickle=False)`` (no code execution, no pickles), needs nothing beyond
NumPy, is a plain zip archive that other tools open, and the zip format already carries a
CRC-32 per member.  HDF5's strengths (chunked, appendable, partially readable datasets)
serve trajectories (:mod:`langevin_opt.storage.h5md`), not a model.

Layout
------
``meta``
    0-d unicode array holding a JSON object: ``format`` (``"langevin_opt.mlip"``),
    ``format_version``, ``package_version``, ``units``, ``species``, ``descriptor``
    (:meth:`~langevin_opt.mlip.descriptors.Descriptor.to_dict`), ``hidden``,
    ``activation``.
``theta`` (P,), ``feature_mean`` (S, D), ``feature_std`` (S, D), ``energy_offsets`` (S,)
    float64 arrays.
``checksum``
    0-d unicode array: SHA-256 (hex) of the metadata text and of every array's name,
    dtype, shape and bytes, in a fixed order.

:func:`load_model` refuses, with a one-line :class:`ModelFileError`, a file that is not
such an archive, lacks a member, fails its checksum (corruption, hand edits) or was
written by another version of the package (the descriptor and network conventions are
tied to the code; refit or re-save with the version that wrote it).  Files are written to
a temporary name in the target directory and renamed, so a crash never leaves half a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .._version import __version__
from .descriptors import descriptor_from_dict
from .model import NeuralPotential

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "save_model", "load_model"]

#: Format name stored in every model file.
FORMAT = "langevin_opt.mlip"
#: Version of the file layout.
FORMAT_VERSION = 1
_ARRAYS = ("theta", "feature_mean", "feature_std", "energy_offsets")


class ModelFileError(ValueError):
    """A model file cannot be used: not a model, corrupted, or from another version."""


def _checksum(meta: str, arrays: dict[str, np.ndarray], names: tuple[str, ...] = _ARRAYS
              ) -> str:
    """SHA-256 of the metadata text and of every array's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(meta.encode("utf-8"))
    for name in names:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def model_metadata(model: NeuralPotential) -> dict:
    """The settings of a model stored in a file's metadata (units, species, descriptor, network)."""
    return {"package_version": __version__, "units": model.units,
            "species": list(model.species), "descriptor": model.descriptor.to_dict(),
            "hidden": list(model.hidden), "activation": model.activation}


def write_archive(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray],
                  *, prefix: str) -> None:
    """Write JSON metadata, float64 arrays and their checksum to one ``.npz``, atomically.

    The file goes to a temporary name (``prefix``) in the target directory and is renamed
    over ``path``; the checksum covers the arrays in the order of ``arrays``.
    """
    path = os.fspath(path)
    text = json.dumps(meta, sort_keys=True)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(text),
                     checksum=np.array(_checksum(text, arrays, tuple(arrays))), **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_archive(path: str | os.PathLike, *, what: str, fmt: str, fmt_version: int,
                 names: tuple[str, ...], resave: str) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and verify a file of :func:`write_archive`: ``(metadata, arrays)``.

    Parameters
    ----------
    path : str or os.PathLike
    what : str
        The kind of file in messages (``"model"``, ``"committee"``).
    fmt, fmt_version : str, int
        The format name and version the file must carry.
    names : tuple of str
        The arrays it must hold (float64, in checksum order).
    resave : str
        What to do with a file of another package version (end of that message).

    Raises
    ------
    ModelFileError
        Not such an archive, a missing member, unreadable metadata, another format or
        package version, or a checksum mismatch (one line, naming the file).
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelFileError(f"{path!r} is not a readable langevin_opt {what} file "
                             f"(corrupted or not an .npz archive: {msg})") from None
    missing = [k for k in ("meta", "checksum", *names) if k not in data]
    if missing:
        raise ModelFileError(f"{path!r} is not a langevin_opt {what} file (missing "
                             f"{', '.join(missing)})")
    try:
        meta_text = str(data["meta"][()])
        meta = json.loads(meta_text)
        if not isinstance(meta, dict):
            raise ValueError("metadata is not an object")
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{path!r} is corrupted: unreadable metadata ({e})") from None
    if meta.get("format") != fmt or meta.get("format_version") != fmt_version:
        raise ModelFileError(f"{path!r} has {what} format {meta.get('format')!r} version "
                             f"{meta.get('format_version')!r}; this langevin_opt "
                             f"{__version__} reads {fmt!r} version {fmt_version}")
    arrays = {k: data[k] for k in names}
    if any(a.dtype != np.float64 for a in arrays.values()) or \
            str(data["checksum"][()]) != _checksum(meta_text, arrays, names):
        raise ModelFileError(f"{path!r} is corrupted: checksum mismatch")
    if meta.get("package_version") != __version__:
        raise ModelFileError(f"{path!r} was written by langevin_opt "
                             f"{meta.get('package_version')}; this is {__version__}: "
                             f"{resave}")
    return meta, arrays


def model_from_archive(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray],
                       theta: np.ndarray | None) -> NeuralPotential:
    """The :class:`NeuralPotential` a verified archive describes (parameters ``theta``)."""
    try:
        model = NeuralPotential(descriptor_from_dict(meta["descriptor"]), meta["hidden"],
                                meta["activation"], units=meta["units"], theta=theta,
                                feature_mean=arrays["feature_mean"],
                                feature_std=arrays["feature_std"],
                                energy_offsets=arrays["energy_offsets"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{os.fspath(path)!r} has inconsistent settings: {e}") from None
    if list(model.species) != meta.get("species"):
        raise ModelFileError(f"{os.fspath(path)!r} has inconsistent settings: species "
                             f"{meta.get('species')!r} differ from the descriptor's")
    return model


def save_model(model: NeuralPotential, path: str | os.PathLike) -> None:
    """Write a model to one ``.npz`` file (module docstring), atomically.

    Parameters
    ----------
    model : NeuralPotential
        The model.
    path : str or os.PathLike
        Output path (used as given; no suffix is added).
    """
    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    write_archive(path, {"format": FORMAT, "format_version": FORMAT_VERSION,
                         **model_metadata(model)},
                  {"theta": model.theta, "feature_mean": model.feature_mean,
                   "feature_std": model.feature_std, "energy_offsets": model.energy_offsets},
                  prefix=".mlip-")


def load_model(path: str | os.PathLike) -> NeuralPotential:
    """Read a model written by :func:`save_model`, verifying format, version and checksum.

    Parameters
    ----------
    path : str or os.PathLike
        Model file.

    Returns
    -------
    NeuralPotential

    Raises
    ------
    ModelFileError
        Not a model file, a missing member, a checksum mismatch, or another package or
        format version (one line, naming the file).
    FileNotFoundError
        If ``path`` does not exist.
    """
    meta, arrays = read_archive(path, what="model", fmt=FORMAT, fmt_version=FORMAT_VERSION,
                                names=_ARRAYS,
                                resave="load it with that version and refit or re-save")
    return model_from_archive(path, meta, arrays, arrays["theta"])
