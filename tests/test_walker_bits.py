"""Walker kernels pinned bit for bit (float64), including where a run diverges.

The digests were computed with the kernels as they stood before the finiteness check of
``_walker_template.check_and_record`` was given a vectorized pre-scan (issue 19): a
kernel optimisation must leave every bit of every integrator's results, and the step,
walker and partial result of a divergence, unchanged, for 1 and 2 threads and any
block size.  A failing digest means a change altered the numbers.

The digests were made on a ``rocketlake`` host (LLVM's name, as in ``test_pinned.py``).
On another CPU the exact digests are not asserted (vectorized code may round
differently there); the results must still agree across thread counts and block sizes.
"""

import hashlib
import math

import llvmlite.binding as llvm
import numpy as np
import pytest

import langevin_opt as lo

MB = lo.muller_brown()
SAME_CPU = llvm.get_host_cpu_name() == "rocketlake"
_FIRST: dict = {}  # on another CPU: the first configuration's result of each case


def check(case: str, got: object, pinned: object) -> None:
    if SAME_CPU:
        assert got == pinned
    else:
        assert got == _FIRST.setdefault(case, got)

# sha256 of (positions, energies, accepted, trajectory positions, trajectory energies)
PINNED = {
    "overdamped": "e3a4aca4c4b913fd481a9104cb0b8fd2cc80d26bb14ac5d7ebb7f3d60a54fd91",
    "gd": "8d6116a3a18043141deb74822b3b98a7c8716bc930ad76111c6024bdcee5a4cf",
    "mala": "93013429072da7ad54fcd88b6a57ff08d3aad054bdd59d893539e32d69251bba",
    "baoab": "9d5e9abed74c5939c98a83d23b7664d61673d1dd98d784525b1449bc78a36f83",
}
DT = {"overdamped": 1e-4, "gd": 1e-4, "mala": 2e-3, "baoab": 1e-3}


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("method", sorted(PINNED))
@pytest.mark.parametrize(("threads", "block"), [(1, 256), (2, 256), (2, 7)])
def test_walker_results_are_pinned_bit_for_bit(method, threads, block):
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 203, seed=4)
    old = lo.config.block_size
    lo.config.block_size = block
    try:
        r = lo.sample(MB, x0, 120, method=method, dt=DT[method], temperature=10.0, seed=9,
                      threads=threads, record_every=40)
    finally:
        lo.config.block_size = old
    got = digest(r.state.positions, r.state.energies, r.state.accepted,
                 r.trajectory.positions, r.trajectory.energies)
    check(method, got, PINNED[method])


@lo.landscape(dim=2, name="harmonic_nan_energy_beyond_3")
def harmonic_nan_beyond(X, i, p, G):
    """U = (x^2 + y^2) / 2 with a finite gradient, but a nan energy where x > 3."""
    x = X[0, i]
    y = X[1, i]
    G[0, i] = x
    G[1, i] = y
    e = 0.5 * (x * x + y * y)
    if x > 3.0:
        e = math.nan
    return e


def divergence(landscape, x0, **kw) -> tuple[int, int, str]:
    with pytest.raises(lo.DivergenceError) as info:
        lo.sample(landscape, x0, 400, method="overdamped", seed=9, record_every=3, **kw)
    err = info.value
    tr = err.partial_result.trajectory
    # the frames before the failing step; not the final state: walkers of other blocks
    # stop at the end of a chunk whose length depends on timing (core.chunking)
    return err.step, err.index, digest(tr.steps, tr.positions, tr.energies)


@pytest.mark.parametrize("threads", [1, 2])
def test_divergence_of_positions_is_pinned(threads):
    # walker 17 leaves Müller–Brown's basin towards the steep corner: inf/nan positions
    x0 = lo.uniform_positions([[-0.6, -0.5], [1.4, 1.5]], 300, seed=4)
    x0[17] = (1.3, 1.3)
    got = divergence(MB, x0, dt=2e-3, temperature=1.0, threads=threads)
    check("div_positions", got, PINNED_DIVERGENCE["positions"])


@pytest.mark.parametrize("threads", [1, 2])
def test_divergence_of_the_energy_alone_is_pinned(threads):
    # finite positions and gradients throughout; only the energy turns nan
    x0 = np.zeros((300, 2))
    got = divergence(harmonic_nan_beyond, x0, dt=1e-2, temperature=1.0, threads=threads)
    check("div_energy", got, PINNED_DIVERGENCE["energy"])


# (step, walker, sha256 of the frames' steps, positions and energies)
PINNED_DIVERGENCE = {
    "positions": (2, 17, "024a7189a9127a5f122a196170184b69fd645bddaf3a448f5d618dee8a659db1"),
    "energy": (92, 39, "e9aa4eb0ceed06efd6a5b98bf1ff2b8783ec947e98c4e78b44769192fba0b869"),
}
