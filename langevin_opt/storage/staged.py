"""Outputs written in one go: a complete H5MD file appears at its name, or nothing changes.

:class:`~langevin_opt.storage.H5MDWriter` protects a *live* run: every flush is
published atomically, so a kill leaves every flushed frame readable.  Results
that are computed in memory first and then written (SG-MCMC chains, the
per-walker table of an ``arrhenius`` run) need more: the new file must replace
the old one only when it is complete.  :func:`staged_writer` gives them an
``H5MDWriter`` on a staging name ``<path>.new`` (with its own sidecars) and,
when the ``with`` block ends normally, consolidates it, ``fsync`` s it and
renames it over ``path`` (then ``fsync`` s the directory).  A kill at any
instant leaves the old ``path`` untouched (or no file, for a new output) or
the complete new one; the staging files a kill leaves behind are deleted by
the next write.  The one-writer lock of ``path`` is held throughout.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import h5py

from langevin_opt.storage._safe import (
    OutputLock,
    StorageFullError,
    fsync_dir,
    is_full_error,
    write_atomic,
)
from langevin_opt.storage.h5md import _FULL_CAUSES, H5MDWriter, _remove_run_files

__all__ = ["STAGING_SUFFIX", "staged_writer"]

STAGING_SUFFIX = ".new"


def _discard(tmp: str) -> None:
    _remove_run_files(tmp)
    for name in (tmp, tmp + ".tmp"):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


@contextlib.contextmanager
def staged_writer(path: str | os.PathLike[str], *, overwrite: bool = False,
                  lock: OutputLock | None = None,
                  finish: Callable[[h5py.File], None] | None = None,
                  **writer_kwargs: Any) -> Iterator[H5MDWriter]:
    """An ``H5MDWriter`` whose file replaces ``path`` only once it is complete.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    overwrite : bool, optional
        Replace an existing ``path`` (it stays untouched until the new file is
        complete); otherwise an existing ``path`` raises ``FileExistsError``.
    lock : OutputLock, optional
        The lock of ``path``, already held by the caller (who keeps and
        releases it).  By default the lock is taken here and released at the end.
    finish : callable, optional
        ``finish(f)`` receives the complete file (an in-memory copy opened
        ``"r+"``) to add groups the H5MD writer does not write (outside
        ``/h5md``, ``/particles``, ``/observables``, ``/parameters``).
    **writer_kwargs
        Passed to :class:`H5MDWriter` (``n_particles``, ``dim``,
        ``creator_version``...; not ``mode``, ``overwrite`` or ``lock``).

    Yields
    ------
    H5MDWriter
        Writing the staging file ``<path>.new``; do not close it.

    Raises
    ------
    OutputLockedError
        Another writer holds the lock of ``path``; nothing was touched.
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    StorageFullError
        The disk is full or a file-size limit was hit; ``path`` is unchanged
        and the staging files are removed.
    """
    path = os.path.abspath(os.fspath(path))
    for key in ("mode", "overwrite", "lock"):
        if key in writer_kwargs:
            raise TypeError(f"staged_writer does not take {key}=")
    own = lock is None
    if own:
        lock = OutputLock(path)
    elif not isinstance(lock, OutputLock) or lock.path != path or not lock.held:
        raise ValueError(f"lock must be a held OutputLock of {path}, got {lock!r}")
    tmp = path + STAGING_SUFFIX
    try:
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
        writer: H5MDWriter | None = None
        try:
            writer = H5MDWriter(tmp, overwrite=True, **writer_kwargs)
            yield writer
            writer.close()  # consolidated into tmp (fsync-ed unless fsync=False)
            if finish is not None:
                with open(tmp, "rb") as fh:
                    bio = io.BytesIO(fh.read())
                with h5py.File(bio, "r+") as f:
                    finish(f)
                write_atomic(path, bio.getbuffer(), fsync=writer.fsync)
                os.unlink(tmp)
            else:
                os.replace(tmp, path)
                if writer.fsync:
                    fsync_dir(os.path.dirname(path))
        except BaseException as err:
            if writer is not None and not writer.closed:
                writer._release()  # abandon: nothing of tmp is published
            _discard(tmp)
            if isinstance(err, StorageFullError) or is_full_error(err):
                cause = _FULL_CAUSES.get(getattr(err, "errno", None), "no space left")
                raise StorageFullError(
                    f"{path}: {cause} while writing it; nothing was published (the previous "
                    "file, if any, is unchanged)", err=getattr(err, "errno", None),
                    last_safe_step=None) from None
            raise
        _remove_run_files(path)  # sidecars of an earlier killed live run at path
    finally:
        if own:
            lock.release()
