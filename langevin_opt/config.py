"""Run-time settings of the compiled kernels (module globals, STUMPY style).

Attributes
----------
config.block_size : int
    Walkers per work item of the CPU kernels.  Each block runs all steps of a
    call while its walkers stay in L1 cache; blocks are spread over threads.
    Results do not depend on it (tests check that).
config.threads_per_block : int
    CUDA threads per block of every kernel launch of the CUDA backend (walkers,
    first passage, particles), read at each launch; an integer in [1, 1024].
    Results do not depend on it (the simulator tests check that).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Config:
    block_size: int = 256
    threads_per_block: int = 128

    def reset(self) -> None:
        """Restore the defaults."""
        self.block_size = 256
        self.threads_per_block = 128


config = _Config()
