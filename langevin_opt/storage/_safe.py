"""Crash-safe file primitives of the storage layer: errors, the writer lock, atomic writes.

Everything here is plain POSIX: ``fcntl.flock`` for the one-writer lock,
write-to-temporary + ``fsync`` + ``os.replace`` + directory ``fsync`` for every
file the writer publishes, and CRC-32 (``zlib.crc32``) checksums of whole files.
HDF5 itself never writes to a published file: images are built in memory
(``h5py.File(io.BytesIO())``) and written by :func:`write_atomic`, so a full
disk or a file-size limit is an ordinary ``OSError`` raised in Python, never a
failure inside HDF5's C code.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import zlib

__all__ = [
    "CorruptionError",
    "OutputLock",
    "DamagedFileError",
    "OutputLockedError",
    "RecoveryReport",
    "StorageError",
    "StorageFullError",
    "acquire_lock",
    "crc32_file",
    "fsync_dir",
    "is_full_error",
    "release_lock",
    "write_atomic",
]

_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_CRC_BLOCK = 4 * 2**20


class StorageError(OSError):
    """Base class of the storage layer's own errors (an ``OSError``, one-line message)."""

    def __init__(self, message: str, *, err: int | None = None) -> None:
        super().__init__(message)
        self.errno = err  # type: ignore[misc]

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self):  # picklable across processes
        return (_rebuild_error, (type(self), self.args[0], self.errno, self.__dict__))


def _rebuild_error(cls: type, message: str, err: int | None, state: dict) -> StorageError:
    obj = cls.__new__(cls)
    StorageError.__init__(obj, message, err=err)
    obj.__dict__.update(state)
    return obj


class StorageFullError(StorageError):
    """The disk is full (``ENOSPC``/``EDQUOT``) or a file-size limit was hit (``EFBIG``).

    Attributes
    ----------
    errno : int
        ``errno.ENOSPC``, ``errno.EDQUOT`` or ``errno.EFBIG``.
    last_safe_step : int or None
        Last step whose frames are safely on disk (``None``: no frame yet).
    """

    def __init__(self, message: str, *, err: int | None, last_safe_step: int | None) -> None:
        super().__init__(message, err=err)
        self.last_safe_step = last_safe_step


class OutputLockedError(StorageError):
    """Another writer holds the output (its ``.lock`` file is locked); nothing was touched."""


class DamagedFileError(StorageError):
    """The file cannot be opened at all (truncated, empty, not HDF5); nothing was recovered."""


class CorruptionError(StorageError):
    """A checksum does not match: the message names the file, the dataset and the rows."""


@dataclasses.dataclass(frozen=True)
class RecoveryReport:
    """What was lost when a damaged run was opened (see ``H5MDWriter.recovery``).

    Attributes
    ----------
    path : str
        The trajectory file.
    last_safe_step : int or None
        Last frame step kept (``None``: no frame kept).
    lost_frames : int
        Frames dropped (rows of the particle elements).
    lost_rows : dict
        Rows dropped per element key (``"particles"``, which includes frame-aligned
        observables, and ``"observables/<name>"`` or ``"observable_series/<name>"``).
    problems : tuple of str
        One line per damaged file: which file and why.
    """

    path: str
    last_safe_step: int | None
    lost_frames: int
    lost_rows: dict
    problems: tuple[str, ...]

    def message(self) -> str:
        """One line for the user: what was lost and what was kept.

        Returns
        -------
        str
        """
        kept = ("no frame was kept" if self.last_safe_step is None
                else f"frames up to step {self.last_safe_step} were kept")
        return (f"{self.path}: {self.lost_frames} frame(s) lost, {kept} "
                f"({'; '.join(self.problems)})")


def is_full_error(err: BaseException) -> bool:
    """Whether ``err`` is a full disk, an exceeded quota or an exceeded file-size limit."""
    return isinstance(err, OSError) and getattr(err, "errno", None) in _FULL_ERRNOS


def acquire_lock(path: str) -> int:
    """Lock ``path + ".lock"`` for this process (``flock``, exclusive, non-blocking).

    Parameters
    ----------
    path : str
        The output file the lock protects (need not exist).

    Returns
    -------
    int
        The lock's file descriptor; ``os.close`` releases the lock.

    Raises
    ------
    OutputLockedError
        Another writer (process or open writer object) holds the lock.
    """
    lock_path = path + ".lock"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputLockedError(
                f"{path}: another writer is writing this output (its lock file {lock_path} "
                "is held); nothing was changed"
            ) from None
        except OSError:
            os.close(fd)
            raise
        # The holder deletes the lock file when it releases it: make sure the file we
        # locked is still the one at lock_path, or we would share a lock with nobody.
        try:
            same = os.stat(lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def release_lock(path: str, fd: int) -> None:
    """Delete ``path + ".lock"`` and release the lock taken by :func:`acquire_lock`.

    Parameters
    ----------
    path : str
        The output file the lock protects.
    fd : int
        The descriptor returned by :func:`acquire_lock`.
    """
    try:
        os.unlink(path + ".lock")
    except OSError:
        pass
    os.close(fd)


def fsync_dir(directory: str) -> None:
    """``fsync`` a directory so that renames inside it survive a power cut (best effort)."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes | memoryview, *, fsync: bool = True) -> None:
    """Publish ``data`` as ``path``: write ``path.tmp``, ``fsync``, rename over ``path``.

    A kill at any instant leaves either the old ``path`` or the new one, never a
    mixture; on an ``OSError`` (e.g. ``ENOSPC``) the temporary file is removed and
    ``path`` is untouched.

    Parameters
    ----------
    path : str
        Destination.
    data : bytes or memoryview
        The whole new content.
    fsync : bool, optional
        ``fsync`` the file and its directory (default), so that the new content
        also survives an operating-system crash.

    Raises
    ------
    OSError
        Writing failed; ``path`` is unchanged.
    """
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view.nbytes:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(os.path.dirname(path))


def crc32_file(path: str) -> tuple[int, int]:
    """Size in bytes and CRC-32 of a whole file.

    Parameters
    ----------
    path : str

    Returns
    -------
    tuple of int
        ``(size, crc32)``.
    """
    crc, size = 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(_CRC_BLOCK):
            crc = zlib.crc32(block, crc)
            size += len(block)
    return size, crc


class OutputLock:
    """The one-writer lock of an output file, taken before anything is touched.

    ``H5MDWriter`` takes this lock itself.  A caller that must delete or check
    files *before* creating the writer (the CLI runner with ``--overwrite``)
    takes it first and hands it over: ``H5MDWriter(path, ..., lock=lock)``;
    the writer then releases it at ``close``.

    Parameters
    ----------
    path : str or os.PathLike
        The output file (``<path>.lock`` is the lock file).

    Raises
    ------
    OutputLockedError
        Another writer holds the lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.fd: int | None = acquire_lock(self.path)

    @property
    def held(self) -> bool:
        """bool: Whether this object still holds (and has not handed over) the lock."""
        return self.fd is not None

    def take(self) -> int:
        """Hand the lock's descriptor over (to a writer); this object no longer holds it."""
        if self.fd is None:
            raise ValueError(f"the lock of {self.path} was released or handed over")
        fd, self.fd = self.fd, None
        return fd

    def release(self) -> None:
        """Release the lock if this object still holds it (idempotent)."""
        if self.fd is not None:
            release_lock(self.path, self.fd)
            self.fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
