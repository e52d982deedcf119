"""Small runs of every engine whose outputs are pinned bit for bit.

The arrays in ``tests/data/pinned_v0.npz`` were written by ``python tests/pinned_cases.py``
with the code as it stood *before* the engine-contract refactor (issue 11). When the public
API changes, the calls below change with it; the stored arrays never do. A failing
``test_pinned.py`` means a refactor changed the numbers.
"""

from __future__ import annotations

import numpy as np


def walkers_mala() -> dict[str, np.ndarray]:
    import langevin_opt as lo

    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 64, seed=1)
    res = lo.sample(mb, x0, 200, method="mala", dt=2e-4, temperature=25.0, seed=3,
                    record_every=50)
    return {"positions": res.state.positions, "accepted": res.state.accepted,
            "trajectory": res.trajectory.positions}


def walkers_baoab_schedule() -> dict[str, np.ndarray]:
    import langevin_opt as lo

    dw = lo.double_well()
    x0 = np.linspace(-1.5, 1.5, 32).reshape(32, 1)
    res = lo.sample(dw, x0, 300, method="baoab", dt=1e-2, temperature=np.linspace(0.1, 1.0, 32),
                    seed=5, schedule=lo.Geometric(final=0.1), friction=2.0, record_every=100)
    return {"positions": res.state.positions, "velocities": res.state.velocities,
            "trajectory": res.trajectory.positions}


def walkers_replica_exchange() -> dict[str, np.ndarray]:
    import langevin_opt as lo

    mb = lo.muller_brown()
    x0 = lo.uniform_positions([[-1.5, 1.0], [-0.5, 2.0]], 20, seed=2)
    rex = lo.ReplicaExchange(temperatures=[10, 15, 22, 33, 50], swap_every=10)
    res = lo.sample(mb, x0, 200, dt=1e-4, seed=7, replica_exchange=rex)
    return {"positions": res.state.positions, "permutation": res.state.permutation,
            "swap_accepts": res.state.swap_accepts}


def particles_dynamics() -> dict[str, np.ndarray]:
    from langevin_opt import particles as lp

    x, box = lp.fcc_lattice(3, 0.8442)
    system = lp.ParticleSystem(x, box=box)
    lj = lp.lennard_jones(cutoff=2.5, mode="truncated")
    md = lp.Dynamics(system, lj, lp.LangevinBAOAB(dt=0.005, friction=1.0), temperature=1.0,
                     neighbors=lp.NeighborList(2.5, skin=0.3), seed=1)
    rec = md.run(100, record_every=20)
    return {"positions": md.x.copy(), "velocities": md.v.copy(),
            "potential_energy": np.asarray(rec.potential_energy)}


def particles_replicas() -> dict[str, np.ndarray]:
    from langevin_opt import particles as lp

    X = np.random.default_rng(0).uniform(-1.2, 1.2, (4, 13, 3))
    lj = lp.lennard_jones(mode="plain")
    X = lp.fire_replicas(X, lj, fire=lp.FIRE(fmax=1.0)).positions
    state = lp.run_replicas(X, lj, lp.LangevinBAOAB(0.005), 200, temperatures=0.35, seed=1,
                            container=lp.Container(radius=2.0))
    q = lp.fire_replicas(state.positions, lj)
    return {"fire_positions": X, "positions": state.positions, "velocities": state.velocities,
            "quench_energy": q.energy}


def sgmcmc_chains() -> dict[str, np.ndarray]:
    from langevin_opt import nn, sgmcmc

    ds = nn.two_moons(100, 20, noise=0.1, seed=0)
    net = nn.MLP([2, 8, 2], "tanh", "softmax_ce")
    land = nn.mlp_landscape(net, ds.X_train, ds.y_train, batch_size=20, prior_sigma=1.0)
    res = sgmcmc.run_chains(land, "sgld", net.init_params(0), 100, seed=1, n_chains=2,
                            step_size=0.05 / land.n_data, thin=25, temperature=1.0)
    # the pins are time first (the layout before issue 18): transpose the chain-first result
    return {"samples": res.samples.transpose(1, 0, 2), "theta": res.theta,
            "energies": res.energies.T}


def first_passage() -> dict[str, np.ndarray]:
    import langevin_opt as lo
    from langevin_opt import rates

    dw = lo.double_well()
    basins = rates.basins_from_landscape(dw)
    x0 = np.full((64, 1), basins.centers[0, 0])
    res = rates.first_passage(dw, lo.Overdamped(dt=1e-2), x0, basins, temperature=0.5,
                              max_steps=5000, seed=11)
    return {"steps": res.steps, "final_basin": res.final_basin, "positions": res.positions}


CASES = {
    "walkers_mala": walkers_mala,
    "walkers_baoab_schedule": walkers_baoab_schedule,
    "walkers_replica_exchange": walkers_replica_exchange,
    "particles_dynamics": particles_dynamics,
    "particles_replicas": particles_replicas,
    "sgmcmc_chains": sgmcmc_chains,
    "first_passage": first_passage,
}


def run_all() -> dict[str, np.ndarray]:
    """Every case's arrays, keyed ``case/name``."""
    out = {}
    for case, fn in CASES.items():
        for name, arr in fn().items():
            out[f"{case}/{name}"] = np.asarray(arr)
    return out


if __name__ == "__main__":
    import llvmlite.binding as llvm

    arrays = run_all()
    arrays["host_cpu"] = np.array(llvm.get_host_cpu_name())
    np.savez_compressed("tests/data/pinned_v0.npz", **arrays)
    for k, v in arrays.items():
        print(k, v.shape, v.dtype)
