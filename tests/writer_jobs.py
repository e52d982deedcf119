"""Test helper: small jobs of the package's file writers, launched by tests/cli_child.py.

Each job takes string arguments (``python:writer_jobs.NAME ARGS...`` in a
cli_child spec) and writes one output file through the writer under test.
They are deterministic: the same arguments give the same frames.
"""

from __future__ import annotations

import numpy as np


def particles(path: str, steps: str = "200") -> None:
    """A 32-atom Lennard-Jones liquid (BAOAB) writing a frame every 20 steps.

    ``open_trajectory(..., buffer_bytes=0)`` flushes at every frame, so each of
    the ``steps / 20`` frames is one published flush (then ``close``).
    """
    import langevin_opt.particles as lp

    x, box = lp.fcc_lattice(2, 0.8442)
    system = lp.ParticleSystem(x, box=box)
    md = lp.Dynamics(system, lp.lennard_jones(cutoff=1.6, mode="shifted"),
                     lp.LangevinBAOAB(0.005, 1.0), temperature=1.5, seed=3)
    with lp.open_trajectory(path, system, overwrite=True, parameters={"seed": 3},
                            buffer_bytes=0, fsync=True) as w:
        md.run(int(steps), record_every=20, writer=w, frame_every=20)


def chains(path: str, seed: str = "8") -> None:
    """Four SGLD chains on a linear regression, samples written by ``run_chains(out=)``."""
    from langevin_opt.sgmcmc import SGLD, linear_regression, make_linear_data, run_chains

    X, y = make_linear_data(60, [1.0, -0.5, 0.25], seed=3)
    land = linear_regression(X, y, batch_size=20)
    run_chains(land, SGLD(step_size=1e-3), np.zeros((4, 3)), 400, seed=int(seed), burn_in=0,
               thin=2, out=path, overwrite=True)
