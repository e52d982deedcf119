"""Bit-identical regression pins across refactors (see ``tests/pinned_cases.py``)."""

from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import pytest
from pinned_cases import CASES

DATA = np.load(Path(__file__).parent / "data" / "pinned_v0.npz")
SAME_CPU = str(DATA["host_cpu"]) == llvm.get_host_cpu_name()


@pytest.mark.parametrize("case", sorted(CASES))
def test_pinned(case):
    got = CASES[case]()
    for name, arr in got.items():
        ref = DATA[f"{case}/{name}"]
        arr = np.asarray(arr)
        assert arr.shape == ref.shape and arr.dtype == ref.dtype, f"{case}/{name}"
        if SAME_CPU:
            # the pins were made on this kind of CPU: the refactor must keep every bit
            np.testing.assert_array_equal(arr, ref, err_msg=f"{case}/{name}")
        else:
            # another CPU may round vectorized math differently; the dynamics are
            # chaotic, so only the first frames of short runs are comparable at all
            np.testing.assert_allclose(arr, ref, rtol=1e-6, atol=1e-9,
                                       err_msg=f"{case}/{name} (pins made on {DATA['host_cpu']})")
