"""Storage layer: crash-proof H5MD 1.1 trajectory files (writer, reader, checkpoints)."""

from langevin_opt.storage.h5md import (
    REDUCED_UNITS,
    Box,
    CorruptionError,
    DamagedFileError,
    H5MDReader,
    H5MDUnits,
    H5MDWriter,
    OutputLock,
    OutputLockedError,
    RecoveryReport,
    StorageError,
    StorageFullError,
)
from langevin_opt.storage.recording import Recorder
from langevin_opt.storage.staged import staged_writer

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
    "Recorder",
    "RecoveryReport",
    "StorageError",
    "StorageFullError",
    "staged_writer",
]
