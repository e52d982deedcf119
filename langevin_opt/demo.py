"""The quick-start job: a Langevin walker ensemble on the Müller–Brown surface.

Run with ``python -m langevin_opt.demo [--out DIR]``.  It releases walkers
spread over the surface, runs Metropolis-adjusted Langevin dynamics (exact
Boltzmann sampling at any step size) at ``T = 25``
(reduced units, ``k_B = 1``), prints a summary (energies, basin occupations
measured by quenching every walker to its local minimum, against the exact
Boltzmann basin probabilities by quadrature) and writes ``DIR/muller_brown.png``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .landscapes import muller_brown
from .sampling import sample, uniform_positions


def basin_of(positions: np.ndarray, minima: np.ndarray, landscape) -> np.ndarray:  # noqa: ANN001
    """Label each walker by the minimum its gradient-descent quench reaches.

    Parameters
    ----------
    positions : numpy.ndarray, shape (M, d)
        Walker positions.
    minima : numpy.ndarray, shape (k, d)
        Known minima.
    landscape : Landscape
        The surface.

    Returns
    -------
    numpy.ndarray of int, shape (M,)
        Index into ``minima``.
    """
    # two-stage quench: tiny steps first (gradients are huge far up the walls), then 1e-4
    q = sample(landscape, positions, 1000, method="gd", dt=1e-5, seed=0).state.positions
    q = sample(landscape, q, 4000, method="gd", dt=1e-4, seed=0).state.positions
    d2 = ((q[:, None, :] - minima[None, :, :]) ** 2).sum(-1)
    return d2.argmin(1)


def exact_basin_probabilities(landscape, temperature: float, n: int = 301) -> np.ndarray:  # noqa: ANN001
    """Boltzmann basin probabilities on a quadrature grid (quench-defined basins).

    Parameters
    ----------
    landscape : Landscape
        A 2-D surface with ``bounds`` and ``minima``.
    temperature : float
        ``T`` in energy units (``k_B = 1``).
    n : int
        Grid points per axis.

    Returns
    -------
    numpy.ndarray, shape (k,)
        Probability of each minimum's basin.
    """
    axes = [np.linspace(lo, hi, n) for lo, hi in landscape.bounds]
    grid = np.stack([m.ravel() for m in np.meshgrid(*axes, indexing="ij")], axis=1)
    e = landscape.energy(grid)
    w = np.exp(-(e - e.min()) / temperature)
    keep = w > 1e-14  # quench only points that carry weight (far up the walls GD is stiff)
    labels = basin_of(grid[keep], landscape.minima, landscape)
    p = np.bincount(labels, weights=w[keep], minlength=len(landscape.minima))
    return p / p.sum()


def main(argv: list[str] | None = None) -> int:
    """Run the demo and write its figure.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv``).

    Returns
    -------
    int
        Exit code.
    """
    ap = argparse.ArgumentParser(prog="python -m langevin_opt.demo", description=__doc__)
    ap.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    ap.add_argument("--walkers", type=int, default=6000)
    ap.add_argument("--steps", type=int, default=80000)
    ap.add_argument("--temperature", type=float, default=25.0)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    mb = muller_brown()
    window = np.array([[-1.75, 1.25], [-0.5, 2.25]])  # the classic view of the surface
    x0 = uniform_positions(window, args.walkers, seed=args.seed)
    t0 = time.perf_counter()
    res = sample(mb, x0, args.steps, method="mala", dt=2e-4,
                 temperature=args.temperature, seed=args.seed,
                 record_every=max(args.steps // 50, 1))
    wall = time.perf_counter() - t0
    traj = res.trajectory
    labels = basin_of(res.state.positions, mb.minima, mb)
    measured = np.bincount(labels, minlength=3) / len(labels)
    exact = exact_basin_probabilities(mb, args.temperature)
    se = np.sqrt(exact * (1 - exact) / len(labels))

    acc = res.state.accepted.sum() / (args.walkers * args.steps)
    print(f"Müller–Brown, MALA, T = {args.temperature:g}, dt = 2e-4 (acceptance {acc:.3f}), "
          f"{args.walkers} walkers x {args.steps} steps in {wall:.1f} s "
          f"({args.walkers * args.steps / wall:.3g} walker-steps/s incl. compilation)")
    print(f"mean energy: start {traj.energies[0].mean():.2f}, end {traj.energies[-1].mean():.2f}")
    print(f"{'basin':>6} {'minimum (x, y)':>20} {'U_min':>9} {'measured':>9} {'exact':>7} {'z':>6}")
    for k, m in enumerate(mb.minima):
        z = (measured[k] - exact[k]) / se[k]
        print(f"{k:>6} {f'({m[0]:.3f}, {m[1]:.3f})':>20} {mb.energy(m)[0]:9.2f} "
              f"{measured[k]:9.4f} {exact[k]:7.4f} {z:6.2f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    xs = np.linspace(*window[0], 200)
    ys = np.linspace(*window[1], 200)
    grid = mb.energy_grid(xs, ys).T
    ax = axes[0]
    ax.contour(xs, ys, np.minimum(grid, 100), levels=30, cmap="viridis", linewidths=0.7)
    sel = slice(0, min(2000, args.walkers))
    ax.scatter(*res.state.positions[sel].T, s=2, c="crimson", alpha=0.5, label="walkers (end)")
    ax.plot(*mb.minima.T, "k*", ms=10, label="minima")
    ax.set(xlabel="x", ylabel="y", xlim=window[0], ylim=window[1],
           title=f"Walkers at T = {args.temperature:g}")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    ax.plot(traj.steps, traj.energies.mean(axis=1), "C0-")
    ax.set(xlabel="step", ylabel="mean energy", title="Relaxation of the ensemble")
    fig.tight_layout()
    path = out / "muller_brown.png"
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
