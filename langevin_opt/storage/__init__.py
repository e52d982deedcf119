"""Storage layer: crash-proof H5MD 1.1 trajectory files (writer, reader, checkpoints)."""

from langevin_opt.storage.h5md import (
    Box,
    CorruptionError,
    DamagedFileError,
    H5MDReader,
    H5MDWriter,
    OutputLock,
    OutputLockedError,
    RecoveryReport,
    StorageError,
    StorageFullError,
)

__all__ = [
    "Box",
    "CorruptionError",
    "DamagedFileError",
    "H5MDReader",
    "H5MDWriter",
    "OutputLock",
    "OutputLockedError",
    "RecoveryReport",
    "StorageError",
    "StorageFullError",
]
