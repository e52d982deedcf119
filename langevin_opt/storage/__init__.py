"""Storage layer: H5MD 1.1 trajectory files (writer, reader, crash-safe checkpoints)."""

from langevin_opt.storage.h5md import Box, H5MDReader, H5MDWriter

__all__ = ["Box", "H5MDReader", "H5MDWriter"]
