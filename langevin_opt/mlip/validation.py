"""Materials properties of any ASE calculator: a network against its reference.

Every property function takes an ASE calculator (``ase.calculators.emt.EMT()``, or a
:class:`~langevin_opt.mlip.LangevinOptCalculator` wrapping a trained network), so that the
network and its reference are measured by the same code.  Units: Å, eV, GPa.

Cells are orthorhombic and fully periodic (the form :mod:`langevin_opt.mlip` takes; a slab
is a periodic box with a vacuum gap along ``z``), and large enough for cutoffs up to half
their shortest edge: bulk fcc from the cubic cell replicated ``reps`` times, the (100)
surface from ``ase.build.fcc100``.

Structures
----------
* :func:`fcc_bulk`: cubic fcc supercell.
* :func:`fcc100_slab`: (100) slab in a periodic box, bottom layers marked fixed.
* :func:`adatom_hop_endpoints`: a slab with an adatom in a hollow site and in the
  neighbouring hollow site (the two ends of the hop).
* :class:`HollowSites`: the hollow site an adatom sits in, as a ``state`` function
  for :func:`langevin_opt.particles.cluster_first_passage` (hops between equivalent sites).

Properties
----------
* :func:`lattice_constant`: the minimum of ``E(a)`` of the perfect crystal (Brent on the
  energy, no fit).
* :func:`equation_of_state`: Birch–Murnaghan fit of ``E(V)`` (own least squares): ``V0``,
  ``E0``, bulk modulus ``B`` (GPa), ``B'``.
* :func:`vacancy_formation_energy`: ``E_v = E(N-1, relaxed) - (N-1)/N E(N)`` at fixed
  volume.
* :func:`relax`: ASE's BFGS with fixed atoms.
* :func:`ase_neb_barrier`: climbing-image NEB in ASE (``ase.mep.NEB``) with any calculator.
* :func:`flat_function`: ``f(x) -> (E, g)`` on the moving atoms of a
  :class:`~langevin_opt.mlip.BoundPotential`, for :mod:`langevin_opt.rates.saddles`
  (``neb``, ``dimer``, ``hessian_fd``).
* :func:`ase_flat_function`: the same ``f(x) -> (E, g)`` for any ASE calculator (EMT).
* :func:`energy_force_errors`: RMSE of a calculator against a labelled dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from .dataset import Dataset
from .model import BoundPotential

__all__ = ["EV_PER_A3_TO_GPA", "fcc_bulk", "fcc100_slab", "adatom_hop_endpoints",
           "lattice_constant", "EOSResult", "birch_murnaghan", "equation_of_state",
           "relax", "vacancy_formation_energy", "ase_neb_barrier", "flat_function",
           "ase_flat_function", "HollowSites", "energy_force_errors"]

#: 1 eV/Å³ in GPa.
EV_PER_A3_TO_GPA = 160.21766208


# ------------------------------------------------------------------ structures
def fcc_bulk(symbol: str, a: float, reps: Sequence[int] = (3, 3, 3)) -> object:
    """Cubic fcc supercell (periodic, orthorhombic).

    Parameters
    ----------
    symbol : str
        Chemical symbol.
    a : float
        Lattice constant (Å).
    reps : (int, int, int)
        Cubic cells along x, y, z (``4 * prod(reps)`` atoms).

    Returns
    -------
    ase.Atoms
    """
    from ase.build import bulk

    return bulk(symbol, "fcc", a=float(a), cubic=True) * tuple(int(r) for r in reps)


def fcc100_slab(symbol: str, a: float, size: tuple[int, int] = (4, 4), layers: int = 4, *,
                vacuum: float = 6.0, n_fixed_layers: int = 2) -> object:
    """A (100) slab in a fully periodic orthorhombic box; the bottom layers are fixed.

    Parameters
    ----------
    symbol : str
        Chemical symbol.
    a : float
        Lattice constant (Å); in-plane spacing ``a / sqrt(2)``, layer spacing ``a / 2``.
    size : (int, int)
        Surface cells along x and y.
    layers : int
        Atomic layers.
    vacuum : float
        Vacuum on each side (Å); the box is periodic along z too, so the gap between a
        slab and its image is ``2 vacuum`` (keep it above the cutoff).
    n_fixed_layers : int
        Bottom layers held by an ``ase.constraints.FixAtoms``.

    Returns
    -------
    ase.Atoms
        ``pbc = True`` in all three directions.
    """
    from ase.build import fcc100
    from ase.constraints import FixAtoms

    slab = fcc100(symbol, size=(int(size[0]), int(size[1]), int(layers)), a=float(a),
                  vacuum=float(vacuum), orthogonal=True, periodic=True)
    slab.pbc = True
    tags = slab.get_tags()  # ase: layer 1 is the top one
    slab.set_constraint(FixAtoms(mask=tags > int(layers) - int(n_fixed_layers)))
    return slab


def adatom_hop_endpoints(slab: object, symbol: str | None = None, *,
                         height: float | None = None) -> tuple[object, object]:
    """The two ends of an adatom hop between neighbouring hollow sites of a (100) slab.

    Parameters
    ----------
    slab : ase.Atoms
        From :func:`fcc100_slab` (constraints are kept).
    symbol : str, optional
        Adatom species (default: that of the slab's first atom).
    height : float, optional
        Initial height above the top layer (Å; default half the lattice constant, the
        bulk layer spacing).

    Returns
    -------
    (ase.Atoms, ase.Atoms)
        Adatom (last atom) above a hollow site and above the next hollow site along x
        (one in-plane spacing ``a / sqrt(2)`` away); unrelaxed.
    """
    top = slab.positions[:, 2].max()
    top_layer = slab.positions[np.abs(slab.positions[:, 2] - top) < 0.1]
    d = np.sort(np.unique(np.round(top_layer[:, 0], 6)))
    spacing = float(d[1] - d[0])  # a / sqrt(2)
    h = spacing / np.sqrt(2.0) if height is None else float(height)
    x0 = top_layer[0, 0] + 0.5 * spacing + spacing * (len(d) // 2 - 1)
    y0 = top_layer[0, 1] + 0.5 * spacing + spacing * (len(d) // 2 - 1)
    sym = slab.get_chemical_symbols()[0] if symbol is None else symbol
    from ase import Atom

    ends = []
    for shift in (0.0, spacing):
        at = slab.copy()
        at.append(Atom(sym, (x0 + shift, y0, top + h)))
        ends.append(at)
    return ends[0], ends[1]


class HollowSites:
    """``state(X) -> labels``: the hollow site of a square (100) surface an adatom sits in.

    The adatom's displacement from ``minimum`` is taken relative to the mean displacement
    of the ``surface`` atoms (the top layer, so a drift of the slab changes nothing), with
    minimum images in the periodic box.  Its lateral part ``d`` is compared with the
    square lattice of hollow sites ``spacing * (i, j)`` around the start site; the adatom
    is *in* site ``(i, j)`` when ``|d - spacing (i, j)| < radius`` (the commitment
    region; the bridge between two sites is ``spacing / 2`` from both).  Used as the
    ``state`` of :func:`langevin_opt.particles.cluster_first_passage`.

    Parameters
    ----------
    minimum : array_like, shape (N, 3)
        Reference configuration with the adatom in a hollow site (Å).
    adatom : int
        Index of the adatom.
    surface : array_like of int
        Indices of the top-layer atoms under it.
    box : array_like, shape (3,)
        Periodic box (Å); its lateral edges must be whole multiples of ``spacing``.
    spacing : float
        Distance between neighbouring hollow sites (the in-plane spacing ``a / sqrt(2)``).
    radius : float
        Lateral radius of a site's commitment region (Å), in ``(0, spacing / 2)``.
    min_height : float
        An adatom less than this high above the top layer's mean height (Å) has sunk
        into it (the start of an exchange): label :attr:`other`.
    max_displacement : float, optional
        A ``surface`` atom displaced by more than this (Å, 3-D, relative to the layer's
        mean displacement) has left its lattice site (an exchange, an atom popping out, a
        disordering surface): label :attr:`other`.  Default ``0.8 * spacing``: well past
        half-way to the next site, since a soft surface at high temperature makes thermal
        excursions of more than ``spacing / 2`` that relax back; ``inf`` switches the test
        off.

    Attributes
    ----------
    n_sites : int
        Hollow sites in the box, ``nx * ny``.
    other : int
        The label of a sunk adatom or a surface atom off its site, ``n_sites``.
    neighbours : numpy.ndarray of int, shape (4,)
        Labels of the four nearest sites of the start site (one hop away).

    Notes
    -----
    ``state(X)`` takes ``X`` of shape ``(R, N, 3)`` and returns int64 labels of shape
    ``(R,)``: ``(i mod nx) * ny + (j mod ny)`` for site ``(i, j)`` (the start site is 0),
    -1 between sites, :attr:`other` if the adatom sank or a surface atom left its site.
    """

    def __init__(self, minimum: np.ndarray, adatom: int, surface: np.ndarray, box: object,
                 spacing: float, *, radius: float = 0.6, min_height: float = 0.5,
                 max_displacement: float | None = None) -> None:
        ref = np.array(minimum, dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] != 3:
            raise ValueError(f"minimum must have shape (N, 3), got {ref.shape}")
        n = ref.shape[0]
        surf = np.asarray(surface, dtype=np.int64).ravel()
        if not 0 <= int(adatom) < n or surf.size == 0 or surf.min() < 0 or surf.max() >= n \
                or int(adatom) in surf:
            raise ValueError(f"adatom and surface must be distinct atom indices below {n}")
        b = np.asarray(box, dtype=np.float64).ravel()
        if b.shape != (3,) or not np.all(b > 0):
            raise ValueError(f"box must be 3 positive edges, got {box!r}")
        if not float(spacing) > 0:
            raise ValueError(f"spacing must be > 0, got {spacing!r}")
        nxy = b[:2] / float(spacing)
        if np.any(np.abs(nxy - np.round(nxy)) > 1e-6):
            raise ValueError(f"the box's lateral edges {b[:2].tolist()} are not whole "
                             f"multiples of spacing={spacing}")
        if not 0 < radius < 0.5 * spacing:
            raise ValueError(f"radius must be in (0, spacing / 2 = {0.5 * spacing:.4g}), "
                             f"got {radius!r}")
        self.ref, self.adatom, self.surface, self.box = ref, int(adatom), surf, b
        self.spacing, self.radius, self.min_height = float(spacing), float(radius), \
            float(min_height)
        self.max_displacement = 0.8 * self.spacing if max_displacement is None else \
            float(max_displacement)
        if not self.max_displacement > 0:
            raise ValueError(f"max_displacement must be > 0, got {max_displacement!r}")
        self.nx, self.ny = (int(round(v)) for v in nxy)
        self.n_sites = self.nx * self.ny
        self.other = self.n_sites
        self.height = float(ref[self.adatom, 2] - ref[surf, 2].mean())
        self.neighbours = np.array([(i % self.nx) * self.ny + j % self.ny
                                    for i, j in ((1, 0), (-1, 0), (0, 1), (0, -1))])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Labels of configurations.

        Parameters
        ----------
        X : array_like, shape (R, N, 3)
            Configurations (Å).

        Returns
        -------
        numpy.ndarray of int64, shape (R,)
            Site label, -1 between sites, :attr:`other` if the adatom sank or a surface
            atom left its site.
        """
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != self.ref.shape:
            raise ValueError(f"X must have shape (R, {self.ref.shape[0]}, 3), got {x.shape}")
        b, s = self.box, self.spacing
        du = x[:, self.surface] - self.ref[self.surface]
        du -= b * np.round(du / b)
        shift = du.mean(axis=1)
        off = np.linalg.norm(du - shift[:, None], axis=2).max(axis=1) > self.max_displacement
        d = x[:, self.adatom] - self.ref[self.adatom] - shift
        d -= b * np.round(d / b)
        ij = np.round(d[:, :2] / s)
        r = np.linalg.norm(d[:, :2] - s * ij, axis=1)
        ij = ij.astype(np.int64)
        lab = np.where(r < self.radius, (ij[:, 0] % self.nx) * self.ny + ij[:, 1] % self.ny,
                       -1)
        sunk = self.height + d[:, 2] < self.min_height
        return np.where(sunk | off, self.other, lab).astype(np.int64)


# ------------------------------------------------------------------ bulk properties
def _energy_per_atom(calc: object, symbol: str, a: float, reps: Sequence[int]) -> float:
    at = fcc_bulk(symbol, a, reps)
    at.calc = calc
    return float(at.get_potential_energy()) / len(at)


def lattice_constant(calc: object, symbol: str = "Cu", *, a_guess: float = 3.6,
                     reps: Sequence[int] = (3, 3, 3), window: float = 0.05,
                     tol: float = 1e-5) -> tuple[float, float]:
    """Lattice constant: the minimum of the perfect crystal's ``E(a)`` (Brent, no fit).

    Parameters
    ----------
    calc : ase calculator
        Energy of the crystal.
    symbol : str
        Chemical symbol.
    a_guess : float
        Start (Å); the minimum is searched in ``a_guess * (1 ± window)``.
    reps : (int, int, int)
        Supercell (cubic cells per direction; large enough for the cutoff).
    window : float
        Relative half width of the search interval.
    tol : float
        Tolerance on ``a`` (Å).

    Returns
    -------
    (float, float)
        ``a0`` (Å) and the cohesive energy per atom there, ``E(a0) / N`` (eV).

    Raises
    ------
    RuntimeError
        If the minimum is at the edge of the interval (no minimum inside).
    """
    from scipy.optimize import minimize_scalar

    lo, hi = a_guess * (1 - window), a_guess * (1 + window)
    res = minimize_scalar(lambda a: _energy_per_atom(calc, symbol, a, reps), bounds=(lo, hi),
                          method="bounded", options={"xatol": tol})
    if not res.success or min(res.x - lo, hi - res.x) < 10 * tol:
        raise RuntimeError(f"no E(a) minimum inside [{lo:.4f}, {hi:.4f}] Å")
    return float(res.x), float(res.fun)


class EOSResult(NamedTuple):
    """Birch–Murnaghan equation of state fitted to ``E(V)``.

    Attributes
    ----------
    v0 : float
        Equilibrium volume per atom (Å³).
    e0 : float
        Energy per atom at ``v0`` (eV).
    bulk_modulus : float
        ``B = V d²E/dV²`` at ``v0`` (GPa).
    b_prime : float
        ``dB/dP`` (dimensionless).
    a0 : float
        Lattice constant of fcc with volume ``v0`` per atom, ``(4 v0)^(1/3)`` (Å).
    volumes, energies : numpy.ndarray
        The points fitted (Å³ and eV per atom).
    rms : float
        Residual RMS of the fit (eV per atom).
    """

    v0: float
    e0: float
    bulk_modulus: float
    b_prime: float
    a0: float
    volumes: np.ndarray
    energies: np.ndarray
    rms: float


def birch_murnaghan(v: np.ndarray, e0: float, b0: float, bp: float, v0: float) -> np.ndarray:
    """Third-order Birch–Murnaghan energy ``E(V)``.

    Parameters
    ----------
    v : numpy.ndarray
        Volumes (Å³).
    e0, b0, bp, v0 : float
        Minimum energy (eV), bulk modulus (eV/Å³), its pressure derivative, volume (Å³).

    Returns
    -------
    numpy.ndarray
        Energies (eV).
    """
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1.0) ** 3 * bp
                                       + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta))


def equation_of_state(calc: object, symbol: str = "Cu", *, a_guess: float = 3.6,
                      reps: Sequence[int] = (3, 3, 3), strain: float = 0.03,
                      n_points: int = 9) -> EOSResult:
    """Bulk modulus (and ``V0``, ``a0``) from a Birch–Murnaghan fit of ``E(V)``.

    Parameters
    ----------
    calc : ase calculator
        Energy of the crystal.
    symbol : str
        Chemical symbol.
    a_guess : float
        Centre of the lattice-constant grid (Å).
    reps : (int, int, int)
        Supercell.
    strain : float
        Lattice constants ``a_guess * (1 + s)`` for ``s`` in ``[-strain, strain]``.
    n_points : int
        Points of the grid (>= 5).

    Returns
    -------
    EOSResult
    """
    from scipy.optimize import curve_fit

    if n_points < 5:
        raise ValueError(f"n_points must be >= 5, got {n_points}")
    a = a_guess * (1.0 + np.linspace(-strain, strain, n_points))
    v = a**3 / 4.0
    e = np.array([_energy_per_atom(calc, symbol, ai, reps) for ai in a])
    c = np.polyfit(v, e, 2)  # start: parabola
    v0 = -c[1] / (2 * c[0])
    p0 = [float(np.polyval(c, v0)), float(2 * c[0] * v0), 4.0, float(v0)]
    p, _ = curve_fit(birch_murnaghan, v, e, p0=p0, maxfev=20000)
    rms = float(np.sqrt(np.mean((birch_murnaghan(v, *p) - e) ** 2)))
    return EOSResult(v0=float(p[3]), e0=float(p[0]), bulk_modulus=float(p[1]) *
                     EV_PER_A3_TO_GPA, b_prime=float(p[2]), a0=float((4 * p[3]) ** (1 / 3)),
                     volumes=v, energies=e, rms=rms)


def relax(atoms: object, calc: object, *, fmax: float = 0.005, steps: int = 2000) -> float:
    """Relax positions with ASE's BFGS (fixed cell; ``FixAtoms`` constraints honoured).

    Parameters
    ----------
    atoms : ase.Atoms
        Relaxed in place.
    calc : ase calculator
        Energy and forces.
    fmax : float
        Largest force at convergence (eV/Å).
    steps : int
        Step limit.

    Returns
    -------
    float
        The relaxed energy (eV).

    Raises
    ------
    RuntimeError
        If BFGS did not converge within ``steps``.
    """
    from ase.optimize import BFGS

    atoms.calc = calc
    if not BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps):
        raise RuntimeError(f"BFGS did not reach fmax={fmax} eV/Å in {steps} steps")
    return float(atoms.get_potential_energy())


def vacancy_formation_energy(calc: object, symbol: str = "Cu", *, a: float,
                             reps: Sequence[int] = (3, 3, 3), fmax: float = 0.005) -> float:
    """Vacancy formation energy at constant volume, ``E(N-1) - (N-1)/N E(N)`` (eV).

    Parameters
    ----------
    calc : ase calculator
        Energy and forces.
    symbol : str
        Chemical symbol.
    a : float
        Lattice constant (Å), normally the calculator's own (:func:`lattice_constant`).
    reps : (int, int, int)
        Supercell.
    fmax : float
        Force tolerance of the relaxation around the vacancy (eV/Å).

    Returns
    -------
    float
        eV.
    """
    perfect = fcc_bulk(symbol, a, reps)
    perfect.calc = calc
    e_bulk = float(perfect.get_potential_energy())
    n = len(perfect)
    vac = perfect.copy()
    del vac[0]
    return relax(vac, calc, fmax=fmax) - (n - 1) / n * e_bulk


def ase_neb_barrier(start: object, end: object, calc_factory: object, *, n_images: int = 7,
                    fmax: float = 0.01, steps: int = 2000) -> tuple[float, np.ndarray]:
    """Climbing-image NEB in ASE between two relaxed end points.

    Parameters
    ----------
    start, end : ase.Atoms
        Relaxed end points (same atoms, same constraints).
    calc_factory : callable
        ``calc_factory() -> calculator``, one calculator per image.
    n_images : int
        Intermediate images.
    fmax : float
        Force tolerance (eV/Å).
    steps : int
        FIRE step limit.

    Returns
    -------
    (float, numpy.ndarray)
        Barrier ``max E - E(start)`` (eV) and the image energies relative to ``start``.
    """
    from ase.mep import NEB
    from ase.optimize import FIRE

    images = [start.copy()] + [start.copy() for _ in range(n_images)] + [end.copy()]
    for im in images:
        im.calc = calc_factory()
    band = NEB(images, climb=True, method="improvedtangent")
    band.interpolate()
    if not FIRE(band, logfile=None).run(fmax=fmax, steps=steps):
        raise RuntimeError(f"ASE NEB did not reach fmax={fmax} eV/Å in {steps} steps")
    e = np.array([im.get_potential_energy() for im in images])
    return float(e.max() - e[0]), e - e[0]


def flat_function(potential: BoundPotential, positions: np.ndarray, box: object,
                  moving: np.ndarray) -> tuple[object, np.ndarray]:
    """``f(x) -> (E, g)`` over the moving atoms, the others held at ``positions``.

    Parameters
    ----------
    potential : BoundPotential
        A network bound to the atoms' species (or any object with the many-body
        ``energy_forces(positions, box) -> (E, F, W)`` interface).
    positions : numpy.ndarray, shape (N, 3)
        Full configuration; atoms not in ``moving`` stay here (Å).
    box : None or array_like, shape (3,)
        Periodic box (Å).
    moving : numpy.ndarray of int or bool
        The atoms whose coordinates form ``x`` (``x = positions[moving].ravel()``).

    Returns
    -------
    (callable, numpy.ndarray)
        ``f`` (energy in eV, gradient ``-F`` in eV/Å of shape ``(3 M,)``) and its
        starting vector ``x0``.
    """
    x_full = np.array(positions, dtype=np.float64)
    idx = np.flatnonzero(moving) if np.asarray(moving).dtype == bool else \
        np.asarray(moving, dtype=np.int64)
    b = None if box is None else np.asarray(box, dtype=np.float64)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        full = x_full.copy()
        full[idx] = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        e, F, _ = potential.energy_forces(full, b)
        return float(e), -F[idx].ravel()

    return f, x_full[idx].ravel()


def ase_flat_function(atoms: object, calc: object, moving: np.ndarray
                      ) -> tuple[object, np.ndarray]:
    """``f(x) -> (E, g)`` over the moving atoms for an ASE calculator (:func:`flat_function`).

    Parameters
    ----------
    atoms : ase.Atoms
        The configuration; a copy is kept, atoms not in ``moving`` stay where they are.
    calc : ase calculator
        Energy and forces (e.g. ``ase.calculators.emt.EMT()``).
    moving : numpy.ndarray of int or bool
        The atoms whose coordinates form ``x``.

    Returns
    -------
    (callable, numpy.ndarray)
        ``f`` (energy in eV, gradient ``-F`` in eV/Å of shape ``(3 M,)``; constraints of
        ``atoms`` are dropped, so these are the true forces) and ``x0``.
    """
    at = atoms.copy()
    at.set_constraint()
    at.calc = calc
    return flat_function(_AseEnergyForces(at), at.positions, None, moving)


class _AseEnergyForces:
    """An ASE calculator behind ``energy_forces(positions, box) -> (E, F, W)``.

    ``box`` is ignored (the atoms' own cell applies); ``W`` is not computed (0).
    """

    def __init__(self, atoms: object) -> None:
        self.atoms = atoms

    def energy_forces(self, positions: np.ndarray, box: object = None
                      ) -> tuple[float, np.ndarray, float]:
        self.atoms.positions = positions
        return (float(self.atoms.get_potential_energy()),
                np.asarray(self.atoms.get_forces()), 0.0)


def energy_force_errors(calc: object, dataset: Dataset) -> dict:
    """Energy and force errors of a calculator against a labelled dataset.

    Parameters
    ----------
    calc : ase calculator
        The model (e.g. a :class:`~langevin_opt.mlip.LangevinOptCalculator`).
    dataset : Dataset
        Reference configurations.

    Returns
    -------
    dict
        ``energy_rmse_per_atom`` (eV/atom, RMS over configurations of
        ``(E - E_ref) / N``), ``force_rmse`` (eV/Å, RMS over all force components),
        ``energy_mae_per_atom``, ``force_mae``, ``n_configurations``.
    """
    de, df = [], []
    for at in dataset.to_ase():
        e_ref, f_ref = at.get_potential_energy(), at.get_forces()
        at.calc = calc
        de.append((at.get_potential_energy() - e_ref) / len(at))
        df.append((at.get_forces() - f_ref).ravel())
    de_a, df_a = np.array(de), np.concatenate(df)
    return {"energy_rmse_per_atom": float(np.sqrt(np.mean(de_a**2))),
            "force_rmse": float(np.sqrt(np.mean(df_a**2))),
            "energy_mae_per_atom": float(np.mean(np.abs(de_a))),
            "force_mae": float(np.mean(np.abs(df_a))), "n_configurations": len(de)}
