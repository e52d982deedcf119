"""Energy landscapes: the protocol, the built-ins and the user decorator.

A landscape is a potential energy ``U(x)`` on ``R^d`` in reduced units
(energies in units of ``k_B T`` scale, ``k_B = 1``; lengths dimensionless).
Its single source of truth is one compiled scalar function::

    energy_grad(X, i, params, G) -> float

which returns ``U(x)`` for the configuration stored in column ``i`` of the
structure-of-arrays positions ``X`` (shape ``(d, M)``: ``x_k = X[k, i]``),
writes ``dU/dx_k`` into ``G[k, i]`` and reads its constants from the 1-D
float64 array ``params``.  It must touch column ``i`` only and be
``numba.njit``-compilable.  The integrators inline it into their compiled step
loops, so a landscape written by a user runs exactly like a built-in one, with
no Python call per step.  The column layout is what lets LLVM vectorize the
loop over walkers on the CPU (SIMD lanes = neighbouring walkers) and gives
coalesced memory access on GPUs.

For fast SIMD code use :mod:`langevin_opt.fastmath` (``exp``, ``log``) instead of
``math.exp``/``math.log``: Numba compiles the latter to scalar library calls
that stop the vectorizer (the results are the same to 1-2 ulp).

User landscapes
---------------
>>> from langevin_opt import landscape
>>> @landscape(dim=1, params=[1.0], name="quartic")
... def quartic(X, i, p, G):
...     x = X[0, i]
...     G[0, i] = 4.0 * p[0] * x**3
...     return p[0] * x**4
>>> float(quartic.energy([[2.0]])[0])
16.0

Built-ins
---------
``double_well`` (1-D tilted), ``narrow_wide`` (a narrow deep and a wide
shallow well, 1-D or 2-D), ``muller_brown`` (standard parameters),
``gaussian`` (harmonic well, exactly solvable in any dimension),
``rastrigin`` and ``ackley`` (global-optimisation test functions).  Use
:func:`make_landscape` to build one by name with validated keyword parameters.

Pickling
--------
A landscape pickles (for ``multiprocessing``, joblib/loky, Dask) with its energy
function *by import path* where it can: the built-ins, and user landscapes whose
function is defined with ``def`` at module level of an importable module (decorated
with :func:`landscape` or passed to it).  The process that loads it imports that module
and finds the very dispatcher it already has, so kernels compiled (or cached) for it are
reused.  Any other function (a lambda, a closure, one defined in ``__main__``) is
pickled by value through Numba (the loading process compiles it afresh); if that fails
too, :func:`pickle.dumps` raises a one-line :class:`pickle.PicklingError` saying so.
"""

from __future__ import annotations

import inspect
import math
import pickle
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _fastmath as fm
from .core.pickling import dispatcher_ref, import_path, load_ref, path_of
from .core.validation import (
    check_finite,
    check_int,
    check_nonnegative,
    check_positive,
    check_settings,
    suggest,
)

__all__ = [
    "Landscape",
    "landscape",
    "double_well",
    "narrow_wide",
    "muller_brown",
    "gaussian",
    "rastrigin",
    "ackley",
    "LANDSCAPES",
    "make_landscape",
]


@dataclass(frozen=True, eq=False)
class Landscape:
    """A potential energy surface ``U: R^d -> R`` with its gradient.

    Parameters
    ----------
    name : str
        Short identifier.
    dim : int
        Dimension ``d`` of a configuration.
    params : numpy.ndarray
        1-D float64 parameter vector read by ``energy_grad``.
    energy_grad : numba dispatcher
        Compiled ``energy_grad(X, i, params, G) -> float`` (see module docs).
    minima : numpy.ndarray, optional
        Known local minima, shape ``(k, d)`` (used for basin assignment and tests).
    saddles : numpy.ndarray, optional
        Known index-1 saddle points, shape ``(k, d)``.
    global_minimum : float, optional
        Known global minimum value of ``U``.
    bounds : numpy.ndarray, optional
        Shape ``(d, 2)``: a box holding essentially all Boltzmann weight at the
        temperatures the landscape is meant for; the default quadrature domain.
    description : str
        One line for listings.
    settings : dict
        The keyword arguments that built it (for configs and provenance).
    """

    name: str
    dim: int
    params: np.ndarray
    energy_grad: Callable = field(repr=False)
    minima: np.ndarray | None = None
    saddles: np.ndarray | None = None
    global_minimum: float | None = None
    bounds: np.ndarray | None = None
    description: str = ""
    settings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", check_int("dim", self.dim, lo=1, hi=None))
        p = np.ascontiguousarray(np.asarray(self.params, dtype=np.float64).ravel())
        if p.size == 0:
            p = np.zeros(1)
        object.__setattr__(self, "params", p)
        for attr in ("minima", "saddles"):
            v = getattr(self, attr)
            if v is not None:
                object.__setattr__(
                    self, attr, np.asarray(v, dtype=np.float64).reshape(-1, self.dim)
                )
        if self.bounds is not None:
            object.__setattr__(
                self, "bounds", np.asarray(self.bounds, dtype=np.float64).reshape(self.dim, 2)
            )

    def _as_batch(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and self.dim == 1 and x.shape[0] != 1:
            x = x[:, None]
        x = np.atleast_2d(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"positions must have shape (M, {self.dim}) for landscape "
                f"'{self.name}', got {np.shape(x)}"
            )
        return np.ascontiguousarray(x)

    def energy(self, x: np.ndarray) -> np.ndarray:
        """Energies of a batch of configurations.

        Parameters
        ----------
        x : array_like, shape (M, d) or (d,)
            Configurations.

        Returns
        -------
        numpy.ndarray, shape (M,)
            ``U(x_m)`` in reduced energy units.
        """
        return self.energy_and_gradient(x)[0]

    def gradient(self, x: np.ndarray) -> np.ndarray:
        """Gradients of a batch of configurations.

        Parameters
        ----------
        x : array_like, shape (M, d) or (d,)
            Configurations.

        Returns
        -------
        numpy.ndarray, shape (M, d)
            ``dU/dx`` at each configuration.
        """
        return self.energy_and_gradient(x)[1]

    def energy_and_gradient(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies and gradients of a batch, evaluated by the compiled kernel.

        Parameters
        ----------
        x : array_like, shape (M, d) or (d,)
            Configurations.

        Returns
        -------
        energies : numpy.ndarray, shape (M,)
        gradients : numpy.ndarray, shape (M, d)
        """
        from ._kernels import kernels_for

        xb = self._as_batch(x)
        e = np.empty(xb.shape[0])
        xt = np.ascontiguousarray(xb.T)
        gt = np.empty_like(xt)
        kernels_for(self.energy_grad).evaluate(xt, self.params, e, gt)
        return e, np.ascontiguousarray(gt.T)

    def energy_grid(self, *axes: np.ndarray) -> np.ndarray:
        """Energies on the tensor grid spanned by one axis per dimension.

        Parameters
        ----------
        *axes : numpy.ndarray
            ``d`` 1-D coordinate arrays.

        Returns
        -------
        numpy.ndarray
            Array of shape ``(len(axes[0]), ..., len(axes[d-1]))`` (``ij`` indexing).
        """
        if len(axes) != self.dim:
            raise ValueError(f"energy_grid needs {self.dim} axes, got {len(axes)}")
        mesh = np.meshgrid(*axes, indexing="ij")
        pts = np.stack([m.ravel() for m in mesh], axis=1)
        return self.energy(pts).reshape(mesh[0].shape)

    def __reduce__(self) -> tuple:
        """Pickle the energy function by import path where possible (see module docs)."""
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "energy_grad"}
        return (_rebuild_landscape, (_function_ref(self.energy_grad, self.name), fields))

    def to_config(self) -> dict:
        """Return the name and settings that rebuild this landscape.

        Returns
        -------
        dict
            ``{"name": ..., **settings}`` (user landscapes have no registry entry).
        """
        return {"name": self.name, **self.settings}


# the dispatcher _njit made of each Python function: the same function gives the same
# dispatcher, so a landscape unpickled by import path finds the kernels compiled for it
_JITTED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _njit(fn: Callable) -> Callable:
    # Numba-IR inlining: LLVM alone does not inline a landscape of this size into the
    # walker loop, and a call per walker stops the loop from vectorizing.
    if isinstance(fn, numba.core.registry.CPUDispatcher):
        fn = fn.py_func
    try:
        hit = _JITTED.get(fn)
    except TypeError:  # not weak-referenceable (a builtin): not memoized
        hit = None
    if hit is None:
        hit = numba.njit(cache=True, inline="always", error_model="numpy")(fn)
        try:
            _JITTED[fn] = hit
        except TypeError:
            pass
    return hit


def _function_ref(energy_grad: Callable, name: str) -> tuple:
    """How a landscape's energy function is pickled: by import path, else by value.

    ``("path", module, qualname)``: a module-level dispatcher (the built-ins);
    ``("landscape", module, qualname)``: the function of a module-level landscape (a
    decorated user function); ``("function", module, qualname)``: a module-level Python
    function given to :func:`landscape`; ``("value", bytes)``: Numba's own pickle of the
    dispatcher (its Python function by value).
    """
    where = path_of(energy_grad)
    if where is not None:
        try:
            obj = import_path(*where)
        except (ImportError, AttributeError):
            obj = None
        py = getattr(energy_grad, "py_func", energy_grad)
        if obj is energy_grad:
            return ("path", *where)
        if isinstance(obj, Landscape) and obj.energy_grad is energy_grad:
            return ("landscape", *where)
        if obj is not None and getattr(obj, "py_func", obj) is py and \
                _JITTED.get(py) is energy_grad:
            return ("function", *where)
    try:
        return dispatcher_ref(energy_grad)
    except Exception as err:  # noqa: BLE001 - any pickling failure gets the one-line message
        py = getattr(energy_grad, "py_func", energy_grad)
        what = f"{getattr(py, '__module__', '?')}.{getattr(py, '__qualname__', '?')}"
        first = str(err).splitlines()[0] if str(err) else ""
        raise pickle.PicklingError(
            f"landscape {name!r} cannot be pickled: its energy function {what} is not "
            f"importable by name and Numba could not pickle it by value "
            f"({type(err).__name__}: {first}); define it with def at module level of an "
            "importable module") from None


def _rebuild_landscape(ref: tuple, fields: dict) -> Landscape:
    """Unpickle a :class:`Landscape` (see :func:`_function_ref`)."""
    kind = ref[0]
    if kind == "landscape":
        eg = import_path(ref[1], ref[2]).energy_grad
    elif kind == "function":
        eg = _njit(import_path(ref[1], ref[2]))
    else:
        eg = load_ref(ref)
    return Landscape(energy_grad=eg, **fields)


def landscape(
    fn: Callable | None = None,
    *,
    dim: int,
    params: Sequence[float] | np.ndarray = (),
    name: str | None = None,
    minima: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
    description: str = "",
) -> Landscape | Callable[[Callable], Landscape]:
    """Turn a plain Python ``energy_grad(X, i, params, G)`` into a :class:`Landscape`.

    Usable as ``@landscape(dim=2)`` or ``landscape(fn, dim=2)``.  The function is
    compiled with ``numba.njit`` (it must therefore use only Numba-supported
    Python and NumPy) and inlined into the compiled integrators.

    Parameters
    ----------
    fn : callable, optional
        ``fn(X, i, params, G) -> float``: returns ``U`` of configuration
        ``X[:, i]`` and writes its gradient into ``G[:, i]``; ``X`` and ``G``
        are float64 arrays of shape ``(dim, M)`` (see the module docs).
    dim : int
        Dimension of a configuration.
    params : sequence of float, optional
        Constants passed to ``fn`` as a float64 array.
    name : str, optional
        Name (defaults to the function name).
    minima : array_like, optional
        Known minima, shape ``(k, dim)``.
    bounds : array_like, optional
        Box ``(dim, 2)`` for quadrature and plots.
    description : str, optional
        One line for listings.

    Returns
    -------
    Landscape or decorator
        The landscape, or a decorator producing it.
    """

    def wrap(f: Callable) -> Landscape:
        if not callable(f):
            raise TypeError(f"landscape expects a function, got {type(f).__name__}")
        return Landscape(
            name=name or getattr(f, "__name__", "user"),
            dim=check_int("dim", dim, lo=1, hi=None),
            params=np.asarray(params, dtype=np.float64),
            energy_grad=_njit(f),
            minima=minima,
            bounds=bounds,
            description=description,
        )

    return wrap(fn) if fn is not None else wrap


# --------------------------------------------------------------------------
# Built-in landscapes.  Each kernel is the one source of truth for its formula.
# --------------------------------------------------------------------------


@numba.njit(cache=True, inline="always", error_model="numpy")
def _double_well(X, i, p, G):
    # U = h (x^2 - 1)^2 - c x
    h = p[0]
    c = p[1]
    x0 = X[0, i]
    q = x0 * x0 - 1.0
    G[0, i] = 4.0 * h * x0 * q - c
    return h * q * q - c * x0


def double_well(barrier: float = 1.0, tilt: float = 0.0) -> Landscape:
    """Tilted 1-D double well ``U(x) = h (x^2 - 1)^2 - c x``.

    Parameters
    ----------
    barrier : float
        ``h > 0``: barrier height of the untilted well (minima at ``x = ±1``,
        barrier at ``x = 0``).
    tilt : float
        ``c``: linear tilt; positive values deepen the right well.

    Returns
    -------
    Landscape
    """
    h = check_positive("barrier", barrier)
    c = check_finite("tilt", tilt)
    roots = np.roots([4.0 * h, 0.0, -4.0 * h, -c])
    real = np.sort(roots[np.abs(roots.imag) < 1e-12].real)
    minima = real[[0, -1]] if real.size == 3 else real[:1]
    saddles = real[1:2] if real.size == 3 else None
    e = h * (minima**2 - 1) ** 2 - c * minima
    return Landscape(
        name="double_well",
        dim=1,
        params=np.array([h, c]),
        energy_grad=_double_well,
        minima=minima[:, None],
        saddles=None if saddles is None else saddles[:, None],
        global_minimum=float(e.min()),
        bounds=np.array([[-2.5, 2.5]]),
        description="1-D tilted double well h (x^2-1)^2 - c x",
        settings={"barrier": h, "tilt": c},
    )


@numba.njit(cache=True, inline="always", error_model="numpy")
def _narrow_wide(X, i, p, G):
    # U = -D1 exp(-|x-c1|^2 / (2 w1^2)) - D2 exp(-|x-c2|^2 / (2 w2^2)) + k |x|^4
    # p = [D1, w1, D2, w2, k, c1 (d), c2 (d)]
    d = X.shape[0]
    d1 = p[0]
    w1 = p[1]
    d2 = p[2]
    w2 = p[3]
    kap = p[4]
    r1 = 0.0
    r2 = 0.0
    rr = 0.0
    for k in range(d):
        a = X[k, i] - p[5 + k]
        b = X[k, i] - p[5 + d + k]
        r1 += a * a
        r2 += b * b
        rr += X[k, i] * X[k, i]
    e1 = d1 * fm.exp(-0.5 * r1 / (w1 * w1))
    e2 = d2 * fm.exp(-0.5 * r2 / (w2 * w2))
    f1 = e1 / (w1 * w1)
    f2 = e2 / (w2 * w2)
    for j in range(d):
        xj = X[j, i]
        G[j, i] = f1 * (xj - p[5 + j]) + f2 * (xj - p[5 + d + j]) + 4.0 * kap * rr * xj
    return -e1 - e2 + kap * rr * rr


def narrow_wide(
    dim: int = 2,
    depth_narrow: float = 4.0,
    width_narrow: float = 0.15,
    depth_wide: float = 3.0,
    width_wide: float = 0.6,
    separation: float = 2.0,
    confinement: float = 0.01,
) -> Landscape:
    """A narrow deep Gaussian well beside a wide shallow one (the wide-minimum story).

    ``U(x) = -D_n exp(-|x - c_n|^2 / 2 w_n^2) - D_w exp(-|x - c_w|^2 / 2 w_w^2) + k |x|^4``
    with the narrow well centred at ``c_n = (-s/2, 0, ...)`` and the wide one at
    ``c_w = (+s/2, 0, ...)``.  At low temperature the deeper narrow well holds
    most of the Boltzmann weight; above a crossover temperature the wider well
    wins by entropy.  In the harmonic approximation the basin weights are
    ``Z_i ≈ exp(D_i/T) (2π T w_i^2 / D_i)^{d/2}``.

    Parameters
    ----------
    dim : int
        1 or 2.
    depth_narrow, depth_wide : float
        Well depths ``D_n > 0``, ``D_w > 0`` (energy units).
    width_narrow, width_wide : float
        Gaussian widths ``w_n > 0``, ``w_w > 0`` (length units).
    separation : float
        Distance ``s > 0`` between the two centres.
    confinement : float
        ``k >= 0``: quartic wall that keeps the density normalisable.

    Returns
    -------
    Landscape
    """
    if dim not in (1, 2):
        raise ValueError(f"dim must be 1 or 2 for narrow_wide, got {dim!r}")
    dn = check_positive("depth_narrow", depth_narrow)
    wn = check_positive("width_narrow", width_narrow)
    dw = check_positive("depth_wide", depth_wide)
    ww = check_positive("width_wide", width_wide)
    s = check_positive("separation", separation)
    k = check_nonnegative("confinement", confinement)
    cn = np.zeros(dim)
    cw = np.zeros(dim)
    cn[0] = -s / 2
    cw[0] = s / 2
    params = np.concatenate([[dn, wn, dw, ww, k], cn, cw])
    minima = _polish_minima(_narrow_wide.py_func, params, np.stack([cn, cw]))
    lo = -s / 2 - 4 * max(wn, ww) - 0.5
    hi = s / 2 + 4 * ww + 0.5
    half = 4 * ww + 0.5
    bounds = [[lo, hi]] + [[-half, half]] * (dim - 1)
    return Landscape(
        name="narrow_wide",
        dim=dim,
        params=params,
        energy_grad=_narrow_wide,
        minima=minima,
        bounds=np.array(bounds),
        description="narrow deep well vs wide shallow well (entropy-energy crossover)",
        settings={
            "dim": dim,
            "depth_narrow": dn,
            "width_narrow": wn,
            "depth_wide": dw,
            "width_wide": ww,
            "separation": s,
            "confinement": k,
        },
    )


_MB_A = np.array([-200.0, -100.0, -170.0, 15.0])
_MB_a = np.array([-1.0, -1.0, -6.5, 0.7])
_MB_b = np.array([0.0, 0.0, 11.0, 0.6])
_MB_c = np.array([-10.0, -10.0, -6.5, 0.7])
_MB_x0 = np.array([1.0, 0.0, -0.5, -1.0])
_MB_y0 = np.array([0.0, 0.5, 1.5, 1.0])


@numba.njit(cache=True, inline="always", error_model="numpy")
def _muller_brown(X, i, p, G):
    # U = sum_j A_j exp(a_j dx^2 + b_j dx dy + c_j dy^2); p = [A(4), a(4), b(4), c(4), x0(4), y0(4)]
    xx = X[0, i]
    yy = X[1, i]
    e = 0.0
    gx = 0.0
    gy = 0.0
    for j in range(4):
        dx = xx - p[16 + j]
        dy = yy - p[20 + j]
        a = p[4 + j]
        b = p[8 + j]
        c = p[12 + j]
        t = p[j] * fm.exp(a * dx * dx + b * dx * dy + c * dy * dy)
        e += t
        gx += t * (2.0 * a * dx + b * dy)
        gy += t * (b * dx + 2.0 * c * dy)
    G[0, i] = gx
    G[1, i] = gy
    return e


def muller_brown() -> Landscape:
    """The Müller–Brown surface with its standard parameters.

    ``U(x, y) = Σ_i A_i exp(a_i (x-x_i)^2 + b_i (x-x_i)(y-y_i) + c_i (y-y_i)^2)``
    with ``A = (-200, -100, -170, 15)``, ``a = (-1, -1, -6.5, 0.7)``,
    ``b = (0, 0, 11, 0.6)``, ``c = (-10, -10, -6.5, 0.7)``,
    ``x_i = (1, 0, -0.5, -1)``, ``y_i = (0, 0.5, 1.5, 1)`` (Müller & Brown,
    Theor. Chim. Acta 53, 75 (1979)).  Three minima (energies -146.70,
    -108.17, -80.77) and two saddles (-40.66, -72.25).

    Returns
    -------
    Landscape
    """
    params = np.concatenate([_MB_A, _MB_a, _MB_b, _MB_c, _MB_x0, _MB_y0])
    return Landscape(
        name="muller_brown",
        dim=2,
        params=params,
        energy_grad=_muller_brown,
        minima=np.array([[-0.558224, 1.441726], [0.623499, 0.028038], [-0.050011, 0.466694]]),
        saddles=np.array([[-0.822002, 0.624313], [0.212487, 0.292988]]),
        global_minimum=-146.69951720995402,
        # holds all but 1e-13 of the Boltzmann weight up to T = 25 (the classic plotting
        # window [-1.75, 1.25] x [-0.5, 2.25] misses 0.6% of it at T = 25)
        bounds=np.array([[-3.5, 2.0], [-1.5, 3.5]]),
        description="Müller–Brown potential, standard parameters",
        settings={},
    )


@numba.njit(cache=True, inline="always", error_model="numpy")
def _gaussian(X, i, p, G):
    # U = 1/2 (x - mu)^T K (x - mu); p = [mu (d), K (d*d) row-major]
    d = X.shape[0]
    e = 0.0
    for a in range(d):
        s = 0.0
        for b in range(d):
            s += p[d + a * d + b] * (X[b, i] - p[b])
        G[a, i] = s
        e += 0.5 * (X[a, i] - p[a]) * s
    return e


def gaussian(
    dim: int = 2,
    mean: Sequence[float] | np.ndarray | None = None,
    stiffness: float | Sequence[float] | np.ndarray = 1.0,
) -> Landscape:
    """Harmonic well ``U(x) = ½ (x-μ)ᵀ K (x-μ)``: the exactly solvable case.

    Its Boltzmann distribution at temperature ``T`` is the Gaussian
    ``N(μ, T K⁻¹)``.

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    mean : array_like, optional
        ``μ``, length ``d`` (default: origin).
    stiffness : float, array_like (d,) or (d, d)
        ``K``: a scalar (isotropic), a diagonal, or a full symmetric positive
        definite matrix.

    Returns
    -------
    Landscape
    """
    dim = _dim(dim)
    mu = np.zeros(dim) if mean is None else np.asarray(mean, dtype=np.float64).ravel()
    if mu.shape != (dim,) or not np.all(np.isfinite(mu)):
        raise ValueError(f"mean must be {dim} finite numbers, got {mean!r}")
    k = np.asarray(stiffness, dtype=np.float64)
    if k.ndim == 0:
        k = np.eye(dim) * float(k)
    elif k.ndim == 1:
        if k.shape != (dim,):
            raise ValueError(f"stiffness must have length {dim}, got shape {k.shape}")
        k = np.diag(k)
    if k.shape != (dim, dim) or not np.allclose(k, k.T):
        raise ValueError(f"stiffness must be a symmetric ({dim}, {dim}) matrix")
    if not np.all(np.isfinite(k)) or np.linalg.eigvalsh(k).min() <= 0:
        raise ValueError("stiffness must be positive definite (all eigenvalues > 0)")
    sd = np.sqrt(np.diag(np.linalg.inv(k)))
    bounds = np.stack([mu - 12 * sd, mu + 12 * sd], axis=1)
    return Landscape(
        name="gaussian",
        dim=dim,
        params=np.concatenate([mu, k.ravel()]),
        energy_grad=_gaussian,
        minima=mu[None, :],
        global_minimum=0.0,
        bounds=bounds,
        description="harmonic well 1/2 (x-mu)^T K (x-mu), exact Gaussian Boltzmann density",
        settings={"dim": dim, "mean": mu.tolist(), "stiffness": k.tolist()},
    )


@numba.njit(cache=True, inline="always", error_model="numpy")
def _rastrigin(X, i, p, G):
    # U = A d + sum_k (x_k^2 - A cos(2 pi x_k))
    a = p[0]
    d = X.shape[0]
    e = a * d
    w = 2.0 * math.pi
    for k in range(d):
        xk = X[k, i]
        e += xk * xk - a * math.cos(w * xk)
        G[k, i] = 2.0 * xk + a * w * math.sin(w * xk)
    return e


def rastrigin(dim: int = 2, amplitude: float = 10.0) -> Landscape:
    """Rastrigin function ``A d + Σ (x_i² - A cos 2π x_i)``; global minimum 0 at 0.

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    amplitude : float
        ``A > 0`` (10 is the standard).

    Returns
    -------
    Landscape
    """
    dim = _dim(dim)
    a = check_positive("amplitude", amplitude)
    return Landscape(
        name="rastrigin",
        dim=dim,
        params=np.array([a]),
        energy_grad=_rastrigin,
        minima=np.zeros((1, dim)),
        global_minimum=0.0,
        bounds=np.array([[-5.12, 5.12]] * dim),
        description="Rastrigin global-optimisation test function",
        settings={"dim": dim, "amplitude": a},
    )


@numba.njit(cache=True, inline="always", error_model="numpy")
def _ackley(X, i, p, G):
    # U = -a exp(-b sqrt(mean x^2)) - exp(mean cos(c x)) + a + e
    a = p[0]
    b = p[1]
    c = p[2]
    d = X.shape[0]
    s2 = 0.0
    sc = 0.0
    for k in range(d):
        s2 += X[k, i] * X[k, i]
        sc += math.cos(c * X[k, i])
    r = math.sqrt(s2 / d)
    t1 = -a * math.exp(-b * r)
    t2 = -math.exp(sc / d)
    for k in range(d):
        gk = -t2 * c * math.sin(c * X[k, i]) / d
        if r > 0.0:
            gk -= b * t1 * X[k, i] / (d * r)
        G[k, i] = gk
    return t1 + t2 + a + math.e


def ackley(
    dim: int = 2, a: float = 20.0, b: float = 0.2, c: float = 2.0 * math.pi
) -> Landscape:
    """Ackley function; global minimum 0 at the origin.

    ``U(x) = -a exp(-b sqrt(Σx_i²/d)) - exp(Σ cos(c x_i)/d) + a + e``.  The
    gradient is taken as 0 at the origin, where the first term has a kink.

    Parameters
    ----------
    dim : int
        Dimension ``d >= 1``.
    a, b, c : float
        Standard constants (20, 0.2, 2π); ``a, b, c > 0``.

    Returns
    -------
    Landscape
    """
    dim = _dim(dim)
    a = check_positive("a", a)
    b = check_positive("b", b)
    c = check_positive("c", c)
    return Landscape(
        name="ackley",
        dim=dim,
        params=np.array([a, b, c]),
        energy_grad=_ackley,
        minima=np.zeros((1, dim)),
        global_minimum=0.0,
        bounds=np.array([[-32.768, 32.768]] * dim),
        description="Ackley global-optimisation test function",
        settings={"dim": dim, "a": a, "b": b, "c": c},
    )


_POLISHED: dict[tuple, np.ndarray] = {}


def _polish_minima(fn: Callable, params: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    """Refine approximate minima with BFGS on the plain-Python kernel (no compilation).

    Memoised per (kernel, parameters, guesses): a config is validated and then built,
    and each build would otherwise repeat the same ~0.4 s of Python-level BFGS.
    """
    key = (fn.__module__, fn.__qualname__, params.tobytes(), guesses.tobytes(), guesses.shape)
    hit = _POLISHED.get(key)
    if hit is None:
        hit = _POLISHED[key] = _polish(fn, params, guesses)
    return hit.copy()


def _polish(fn: Callable, params: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    from scipy.optimize import minimize

    d = guesses.shape[1]

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        g = np.empty((d, 1))
        e = fn(x.reshape(d, 1), 0, params, g)
        return e, g[:, 0]

    out = [minimize(fg, x0, jac=True, method="BFGS", options={"gtol": 1e-12}).x
           for x0 in guesses]
    return np.array(out)


#: Registry of built-in landscapes: name -> factory.
LANDSCAPES: dict[str, Callable[..., Landscape]] = {
    "double_well": double_well,
    "narrow_wide": narrow_wide,
    "muller_brown": muller_brown,
    "gaussian": gaussian,
    "rastrigin": rastrigin,
    "ackley": ackley,
}


def make_landscape(name: str, **settings: object) -> Landscape:
    """Build a built-in landscape by name with validated keyword settings.

    Parameters
    ----------
    name : str
        A key of :data:`LANDSCAPES`.
    **settings
        Keyword arguments of that factory.

    Returns
    -------
    Landscape

    Raises
    ------
    ValueError
        Unknown name or setting (with a "did you mean" suggestion), or a
        setting out of range.
    """
    if not isinstance(name, str):
        raise TypeError(f"landscape name must be a string, got {type(name).__name__}")
    if name not in LANDSCAPES:
        raise ValueError(
            f"unknown landscape {name!r}{suggest(name, LANDSCAPES)}; "
            f"allowed: {', '.join(sorted(LANDSCAPES))}"
        )
    factory = LANDSCAPES[name]
    allowed = list(inspect.signature(factory).parameters)
    check_settings(settings, allowed, where=f" for landscape {name!r}")
    return factory(**settings)


#: Largest dimension a built-in landscape accepts (a guard against typos such as 10**9,
#: which would otherwise try to allocate gigabytes).
MAX_DIM = 4096


def _dim(v: object) -> int:
    return check_int("dim", v, lo=1, hi=MAX_DIM)
