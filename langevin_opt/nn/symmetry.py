"""Hidden-unit symmetries of multilayer perceptrons: group actions, alignment, distinct minima.

Two parameter vectors describe the same function when they differ by a
permutation of the hidden units of a layer, and, for an *odd* activation
(``act(-z) = -act(z)``), by a sign flip of a hidden unit.  These maps act on
the flat parameter vector ``theta`` of :mod:`.mlp` (layer after layer, ``W_l``
row-major then ``b_l``) as signed permutations of its entries, so the loss
``U(theta)`` is invariant, its gradient equivariant and its Hessian
transforms as ``M H M^T`` (``M`` the signed permutation matrix, orthogonal).

Group elements
--------------
A :class:`HiddenSymmetry` holds, for every hidden layer ``k = 0 .. L-2`` (the
outputs of affine layer ``k``, inputs of affine layer ``k + 1``), a permutation
``perms[k]`` and signs ``signs[k]`` (``+1``/``-1``): unit ``j`` of the new
network is unit ``perms[k][j]`` of the old one times ``signs[k][j]``,

``W'_k[j, :] = s_j W_k[p_j, :]``,  ``b'_k[j] = s_j b_k[p_j]``,
``W'_{k+1}[:, j] = s_j W_{k+1}[:, p_j]``.

Odd activations: ``"tanh"`` and ``"identity"`` (:data:`ODD_ACTIVATIONS`);
``"relu"``, ``"softplus"`` and ``"sigmoid"`` admit permutations only (a sign
flip of a sigmoid unit, ``σ(-z) = 1 - σ(z)``, is a symmetry only together with
a shift of the next layer's bias; it is not included).  The identity
activation also has continuous (``GL(n)``) symmetries that are not modded out.

Alignment
---------
:func:`align` finds the element ``g`` that brings ``theta_b`` closest to
``theta_a`` in Euclidean distance, ``min_g ||theta_a - g theta_b||``, by
SciPy's ``linear_sum_assignment`` one hidden layer at a time.  The cost of
matching unit ``i`` of ``a`` with unit ``j`` of ``b`` is the squared distance
of the units' parameters: incoming weights, bias and outgoing weights
(``||u_i - s v_j||^2``, minimised over the sign ``s`` when flips are allowed),
with the other layers held at their current alignment.  A first sweep from
the input side uses the incoming weights and biases only (exact for a
permuted copy: they are not yet scrambled by later layers); then sweeps over
all layers with the full cost repeat until nothing changes.  Each such sweep
is an exact minimisation over one layer, so the distance never increases; for
one hidden layer the result is the global optimum, for deeper networks a
local one (weight matching, Ainsworth, Hayase & Srinivasa, ICLR 2023).

Distinct minima
---------------
:func:`distinct_minima` groups parameter vectors into classes whose members
are within ``tol`` (Euclidean, parameter units) of the class representative
after alignment (or without it, ``symmetry=False``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.validation import check_int, check_nonnegative, check_seed
from .mlp import MLP

__all__ = [
    "ODD_ACTIVATIONS",
    "Alignment",
    "HiddenSymmetry",
    "MinimaClasses",
    "align",
    "apply_symmetry",
    "canonical_form",
    "distance_modulo_symmetry",
    "distinct_minima",
    "flips_allowed",
    "identity_symmetry",
    "random_symmetry",
    "signed_permutation",
    "symmetry_matrix",
]

#: Hidden activations with ``act(-z) = -act(z)``: sign flips of their units are symmetries.
ODD_ACTIVATIONS = frozenset({"tanh", "identity"})


@dataclass(frozen=True)
class HiddenSymmetry:
    """A hidden-unit permutation and sign flip of every hidden layer.

    Attributes
    ----------
    perms : tuple of numpy.ndarray of int64
        ``perms[k]``, shape ``(s_{k+1},)``: new unit ``j`` of hidden layer ``k``
        is old unit ``perms[k][j]``.
    signs : tuple of numpy.ndarray of float64
        ``signs[k]``, shape ``(s_{k+1},)``, entries ``+1`` or ``-1``.
    """

    perms: tuple[np.ndarray, ...]
    signs: tuple[np.ndarray, ...]

    def inverse(self) -> HiddenSymmetry:
        """The inverse element: ``g.inverse()`` undoes ``g``.

        Returns
        -------
        HiddenSymmetry
        """
        perms, signs = [], []
        for p, s in zip(self.perms, self.signs, strict=True):
            q = np.argsort(p).astype(np.int64)
            perms.append(q)
            signs.append(s[q].copy())
        return HiddenSymmetry(tuple(perms), tuple(signs))

    def compose(self, first: HiddenSymmetry) -> HiddenSymmetry:
        """``self ∘ first``: apply ``first``, then ``self``.

        Parameters
        ----------
        first : HiddenSymmetry
            Element applied first (same network).

        Returns
        -------
        HiddenSymmetry
        """
        perms, signs = [], []
        for pa, sa, pb, sb in zip(self.perms, self.signs, first.perms, first.signs, strict=True):
            perms.append(pb[pa].astype(np.int64))
            signs.append(sb[pa] * sa)
        return HiddenSymmetry(tuple(perms), tuple(signs))

    def is_identity(self) -> bool:
        """Whether every permutation is the identity and every sign ``+1``.

        Returns
        -------
        bool
        """
        return all(np.array_equal(p, np.arange(p.size)) and np.all(s == 1.0)
                   for p, s in zip(self.perms, self.signs, strict=True))


# ----------------------------------------------------------------- checks
def _check_net(net: object) -> MLP:
    if not isinstance(net, MLP):
        raise TypeError(f"net must be an MLP, got {type(net).__name__}")
    return net


def _theta(net: MLP, theta: object, name: str) -> np.ndarray:
    th = np.asarray(theta, dtype=np.float64)
    if th.shape != (net.n_params,):
        raise ValueError(f"{name} must have shape ({net.n_params},), got {np.shape(theta)}")
    if not np.all(np.isfinite(th)):
        raise ValueError(f"{name} must be finite")
    return th


def _hidden(net: MLP) -> list[int]:
    return list(net.sizes[1:-1])


def flips_allowed(net: MLP) -> tuple[bool, ...]:
    """Per hidden layer, whether sign flips are symmetries (odd activation).

    Parameters
    ----------
    net : MLP

    Returns
    -------
    tuple of bool
        One entry per hidden layer.
    """
    return tuple(a in ODD_ACTIVATIONS for a in _check_net(net).activations)


def _flip_mask(net: MLP, flips: bool | None) -> tuple[bool, ...]:
    """Which layers may flip: ``None`` where allowed; ``True`` requires all odd."""
    allowed = flips_allowed(net)
    if flips is None:
        return allowed
    if not isinstance(flips, (bool, np.bool_)):
        raise TypeError(f"flips must be None, True or False, got {flips!r}")
    if flips:
        for k, ok in enumerate(allowed):
            if not ok:
                raise ValueError(
                    f"flips: sign flips are symmetries only for odd activations "
                    f"({', '.join(sorted(ODD_ACTIVATIONS))}); hidden layer {k} has "
                    f"{net.activations[k]!r} (pass flips=False or None)")
        return allowed
    return (False,) * len(allowed)


def _check_symmetry(net: MLP, sym: object) -> HiddenSymmetry:
    if not isinstance(sym, HiddenSymmetry):
        raise TypeError(f"symmetry must be a HiddenSymmetry, got {type(sym).__name__}")
    hid = _hidden(net)
    if len(sym.perms) != len(hid) or len(sym.signs) != len(hid):
        raise ValueError(f"symmetry: need {len(hid)} hidden layers (sizes {hid}), "
                         f"got {len(sym.perms)} permutations and {len(sym.signs)} sign vectors")
    allowed = flips_allowed(net)
    for k, (n, p, s) in enumerate(zip(hid, sym.perms, sym.signs, strict=True)):
        p = np.asarray(p)
        s = np.asarray(s)
        if p.shape != (n,) or not np.array_equal(np.sort(p), np.arange(n)):
            raise ValueError(f"symmetry: perms[{k}] must be a permutation of range({n})")
        if s.shape != (n,) or not np.all(np.abs(s) == 1.0):
            raise ValueError(f"symmetry: signs[{k}] must be {n} entries of +1 or -1")
        if not allowed[k] and np.any(s != 1.0):
            raise ValueError(
                f"symmetry: sign flips are symmetries only for odd activations "
                f"({', '.join(sorted(ODD_ACTIVATIONS))}); hidden layer {k} has "
                f"{net.activations[k]!r}")
    return sym


# ----------------------------------------------------------------- group elements
def identity_symmetry(net: MLP) -> HiddenSymmetry:
    """The identity element of ``net``'s hidden-unit group.

    Parameters
    ----------
    net : MLP

    Returns
    -------
    HiddenSymmetry
    """
    hid = _hidden(_check_net(net))
    return HiddenSymmetry(tuple(np.arange(n, dtype=np.int64) for n in hid),
                          tuple(np.ones(n) for n in hid))


def random_symmetry(net: MLP, *, seed: int | None = None,
                    flips: bool | None = None) -> HiddenSymmetry:
    """A uniformly random permutation (and sign flip) of every hidden layer.

    Parameters
    ----------
    net : MLP
    seed : int
        Seed of ``numpy.random.default_rng`` (keyword only, required).
    flips : bool, optional
        ``None`` (default): random signs on the layers with an odd activation;
        ``True``: the same, but an error if any hidden activation is not odd;
        ``False``: permutations only.

    Returns
    -------
    HiddenSymmetry
    """
    _check_net(net)
    mask = _flip_mask(net, flips)
    rng = np.random.default_rng(check_seed(seed))
    perms, signs = [], []
    for n, f in zip(_hidden(net), mask, strict=True):
        perms.append(rng.permutation(n).astype(np.int64))
        signs.append(rng.choice(np.array([-1.0, 1.0]), size=n) if f else np.ones(n))
    return HiddenSymmetry(tuple(perms), tuple(signs))


def signed_permutation(net: MLP, symmetry: HiddenSymmetry) -> tuple[np.ndarray, np.ndarray]:
    """The action of ``symmetry`` on ``theta`` as ``(g theta)[q] = sign[q] * theta[index[q]]``.

    Parameters
    ----------
    net : MLP
    symmetry : HiddenSymmetry

    Returns
    -------
    (numpy.ndarray of int64, numpy.ndarray of float64)
        ``index`` and ``sign``, each of shape ``(P,)``.
    """
    _check_net(net)
    sym = _check_symmetry(net, symmetry)
    L = net.n_layers
    index = np.empty(net.n_params, dtype=np.int64)
    sign = np.empty(net.n_params)
    for l, (ws, (so, si), bs) in enumerate(net.layout()):  # noqa: E741
        rp = sym.perms[l] if l < L - 1 else np.arange(so)
        rs = sym.signs[l] if l < L - 1 else np.ones(so)
        cp = sym.perms[l - 1] if l > 0 else np.arange(si)
        cs = sym.signs[l - 1] if l > 0 else np.ones(si)
        index[ws] = (ws.start + rp[:, None] * si + cp[None, :]).ravel()
        sign[ws] = (rs[:, None] * cs[None, :]).ravel()
        index[bs] = bs.start + rp
        sign[bs] = rs
    return index, sign


def apply_symmetry(theta: np.ndarray, net: MLP, symmetry: HiddenSymmetry) -> np.ndarray:
    """``g theta``: the parameters of the network with permuted (and flipped) hidden units.

    Parameters
    ----------
    theta : numpy.ndarray, shape (P,)
    net : MLP
    symmetry : HiddenSymmetry

    Returns
    -------
    numpy.ndarray, shape (P,)
        A new vector; the network computes the same function.
    """
    th = _theta(_check_net(net), theta, "theta")
    index, sign = signed_permutation(net, symmetry)
    return sign * th[index]


def symmetry_matrix(net: MLP, symmetry: HiddenSymmetry) -> np.ndarray:
    """The signed permutation matrix ``M`` with ``g theta = M theta`` (orthogonal).

    Parameters
    ----------
    net : MLP
    symmetry : HiddenSymmetry

    Returns
    -------
    numpy.ndarray, shape (P, P)
        Gradients map as ``g(M theta) = M g(theta)``, Hessians as
        ``H(M theta) = M H(theta) M^T``.
    """
    index, sign = signed_permutation(net, symmetry)
    m = np.zeros((net.n_params, net.n_params))
    m[np.arange(net.n_params), index] = sign
    return m


# ----------------------------------------------------------------- alignment
@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align`.

    Attributes
    ----------
    symmetry : HiddenSymmetry
        ``g`` with ``theta = g theta_b`` closest to ``theta_a``.
    theta : numpy.ndarray, shape (P,)
        ``g theta_b`` (same function as ``theta_b``).
    distance : float
        ``||theta_a - g theta_b||`` (parameter units).
    distance_before : float
        ``||theta_a - theta_b||``.
    n_sweeps : int
        Full-cost sweeps over the hidden layers (after the incoming-weight sweep).
    """

    symmetry: HiddenSymmetry
    theta: np.ndarray
    distance: float
    distance_before: float
    n_sweeps: int


def _unit_vectors(net: MLP, theta: np.ndarray, k: int, incoming_only: bool) -> np.ndarray:
    """Rows: the parameters of each unit of hidden layer ``k`` (in, bias[, out])."""
    params = net.unflatten(theta)
    w_in, b_in = params[k]
    parts = [w_in, b_in[:, None]]
    if not incoming_only:
        parts.append(params[k + 1][0].T)
    return np.hstack(parts)


def _one_layer(net: MLP, k: int, perm: np.ndarray, sign: np.ndarray) -> HiddenSymmetry:
    e = identity_symmetry(net)
    perms = list(e.perms)
    signs = list(e.signs)
    perms[k] = perm.astype(np.int64)
    signs[k] = sign
    return HiddenSymmetry(tuple(perms), tuple(signs))


def _match_layer(net: MLP, a: np.ndarray, b: np.ndarray, k: int, flip: bool,
                 incoming_only: bool) -> tuple[np.ndarray, np.ndarray]:
    from scipy.optimize import linear_sum_assignment

    u = _unit_vectors(net, a, k, incoming_only)
    v = _unit_vectors(net, b, k, incoming_only)
    dots = u @ v.T
    # ||u_i - s v_j||^2 = |u_i|^2 + |v_j|^2 - 2 s u_i.v_j: minimise -s u_i.v_j
    score = np.abs(dots) if flip else dots
    rows, cols = linear_sum_assignment(-score)
    perm = np.empty(u.shape[0], dtype=np.int64)
    perm[rows] = cols
    sign = np.ones(u.shape[0])
    if flip:
        sign[rows] = np.where(dots[rows, cols] < 0.0, -1.0, 1.0)
    return perm, sign


def align(theta_a: np.ndarray, theta_b: np.ndarray, net: MLP, *, flips: bool | None = None,
          max_sweeps: int = 50) -> Alignment:
    """Permute (and flip) the hidden units of ``theta_b`` to match ``theta_a``.

    Parameters
    ----------
    theta_a : numpy.ndarray, shape (P,)
        Reference parameters.
    theta_b : numpy.ndarray, shape (P,)
        Parameters to align.
    net : MLP
        The architecture both belong to.
    flips : bool, optional
        Sign flips: ``None`` (default) where the activation is odd, ``True``
        (error unless every hidden activation is odd), ``False`` (permutations only).
    max_sweeps : int
        Most full-cost sweeps over the hidden layers (module docstring).

    Returns
    -------
    Alignment
        The distance is non-increasing over the sweeps and never above
        ``distance_before``.
    """
    _check_net(net)
    a = _theta(net, theta_a, "theta_a")
    b0 = _theta(net, theta_b, "theta_b")
    mask = _flip_mask(net, flips)
    sweeps = check_int("max_sweeps", max_sweeps, lo=0, hi=None)
    before = float(np.linalg.norm(a - b0))
    g = identity_symmetry(net)
    nh = len(_hidden(net))
    # sweep 0: incoming weights and biases only, from the input side
    for k in range(nh):
        cur = apply_symmetry(b0, net, g)
        perm, sign = _match_layer(net, a, cur, k, mask[k], True)
        g = _one_layer(net, k, perm, sign).compose(g)
    b = apply_symmetry(b0, net, g)
    if float(np.linalg.norm(a - b)) > before:  # keep the identity when it is better
        g = identity_symmetry(net)
        b = b0.copy()
    done = 0
    for _ in range(sweeps):
        changed = False
        done += 1
        for k in range(nh):
            perm, sign = _match_layer(net, a, b, k, mask[k], False)
            if np.array_equal(perm, np.arange(perm.size)) and np.all(sign == 1.0):
                continue
            step = _one_layer(net, k, perm, sign)
            nb = apply_symmetry(b, net, step)
            if float(np.linalg.norm(a - nb)) < float(np.linalg.norm(a - b)):
                g = step.compose(g)
                b = nb
                changed = True
        if not changed:
            break
    return Alignment(g, b, float(np.linalg.norm(a - b)), before, done)


def distance_modulo_symmetry(theta_a: np.ndarray, theta_b: np.ndarray, net: MLP, *,
                             flips: bool | None = None) -> float:
    """``min_g ||theta_a - g theta_b||`` as found by :func:`align`.

    Parameters
    ----------
    theta_a, theta_b : numpy.ndarray, shape (P,)
    net : MLP
    flips : bool, optional
        As in :func:`align`.

    Returns
    -------
    float
        Parameter units; exact minimum for one hidden layer, an upper bound
        (local optimum) for deeper networks.
    """
    return align(theta_a, theta_b, net, flips=flips).distance


def canonical_form(theta: np.ndarray, net: MLP, *,
                   flips: bool | None = None) -> tuple[np.ndarray, HiddenSymmetry]:
    """A representative of ``theta``'s orbit: flipped and sorted hidden units.

    Layer by layer from the input side, each unit's incoming vector
    ``(b_j, W[j, :])`` (columns already in canonical order) is flipped so that
    its entry of largest magnitude is positive (odd activations only), then the
    units are sorted lexicographically by that vector.  For generic parameters
    (no ties) every element of the orbit gives the same representative; near
    ties are sensitive to round-off, so compare minima with :func:`align`.

    Parameters
    ----------
    theta : numpy.ndarray, shape (P,)
    net : MLP
    flips : bool, optional
        As in :func:`align`.

    Returns
    -------
    (numpy.ndarray, HiddenSymmetry)
        The canonical parameters and ``g`` with ``canonical = g theta``.
    """
    _check_net(net)
    th = _theta(net, theta, "theta")
    mask = _flip_mask(net, flips)
    g = identity_symmetry(net)
    for k in range(len(_hidden(net))):
        cur = apply_symmetry(th, net, g)
        w, bvec = net.unflatten(cur)[k]
        r = np.hstack([bvec[:, None], w])
        if mask[k]:
            big = r[np.arange(r.shape[0]), np.argmax(np.abs(r), axis=1)]
            sign = np.where(big < 0.0, -1.0, 1.0)
        else:
            sign = np.ones(r.shape[0])
        r = r * sign[:, None]
        order = np.lexsort(r.T[::-1]).astype(np.int64)
        g = _one_layer(net, k, order, sign[order]).compose(g)
    return apply_symmetry(th, net, g), g


# ----------------------------------------------------------------- distinct minima
@dataclass(frozen=True)
class MinimaClasses:
    """Result of :func:`distinct_minima`.

    Attributes
    ----------
    labels : numpy.ndarray of int64, shape (n,)
        Class of each input vector (``0 .. n_classes - 1``, in order of the
        representatives).
    representatives : numpy.ndarray of int64, shape (n_classes,)
        Index of each class's representative (its lowest-energy member when
        energies are given, else its first).
    counts : numpy.ndarray of int64, shape (n_classes,)
        Members per class.
    aligned : numpy.ndarray, shape (n, P)
        Each vector aligned to its representative (``g theta``; the vector itself
        without symmetry).
    distances : numpy.ndarray, shape (n,)
        Distance of each aligned vector to its representative.
    """

    labels: np.ndarray
    representatives: np.ndarray
    counts: np.ndarray
    aligned: np.ndarray
    distances: np.ndarray

    @property
    def n_classes(self) -> int:
        """Number of distinct classes."""
        return int(self.representatives.size)


def distinct_minima(thetas: Sequence[np.ndarray] | np.ndarray, net: MLP, *,
                    energies: Sequence[float] | np.ndarray | None = None, tol: float = 1e-3,
                    energy_tol: float | None = None, symmetry: bool = True,
                    flips: bool | None = None) -> MinimaClasses:
    """Group parameter vectors (minima) into classes equal up to hidden-unit symmetry.

    The vectors are visited in order of increasing energy (given order when
    ``energies`` is ``None``); each joins the first class whose representative
    is within ``tol`` after :func:`align` (plain Euclidean distance with
    ``symmetry=False``), else founds a new class.

    Parameters
    ----------
    thetas : array_like, shape (n, P)
        Parameter vectors, normally polished minima.
    net : MLP
    energies : array_like, shape (n,), optional
        Their energies (loss units).
    tol : float
        Largest distance (parameter units, >= 0) between members and representative.
    energy_tol : float, optional
        If given, vectors whose energies differ by more than this (loss units)
        are never put in one class (a cheap pre-filter).
    symmetry : bool
        Compare modulo hidden-unit symmetries (default) or as plain vectors.
    flips : bool, optional
        As in :func:`align`.

    Returns
    -------
    MinimaClasses
    """
    _check_net(net)
    th = np.asarray(thetas, dtype=np.float64)
    if th.ndim != 2 or th.shape[1] != net.n_params or th.shape[0] < 1:
        raise ValueError(f"thetas must have shape (n >= 1, {net.n_params}), got {np.shape(thetas)}")
    if not np.all(np.isfinite(th)):
        raise ValueError("thetas must be finite")
    n = th.shape[0]
    tol = check_nonnegative("tol", tol)
    if energies is None:
        e = None
        order = np.arange(n)
    else:
        e = np.asarray(energies, dtype=np.float64)
        if e.shape != (n,) or not np.all(np.isfinite(e)):
            raise ValueError(f"energies must be {n} finite numbers, got shape {np.shape(energies)}")
        order = np.argsort(e, kind="stable")
    etol = None if energy_tol is None else check_nonnegative("energy_tol", energy_tol)
    if not isinstance(symmetry, (bool, np.bool_)):
        raise TypeError(f"symmetry must be True or False, got {symmetry!r}")
    if symmetry:
        _flip_mask(net, flips)
    labels = np.full(n, -1, dtype=np.int64)
    aligned = np.empty_like(th)
    dist = np.zeros(n)
    reps: list[int] = []
    for i in order:
        for c, r in enumerate(reps):
            if etol is not None and e is not None and abs(e[i] - e[r]) > etol:
                continue
            if symmetry:
                al = align(th[r], th[i], net, flips=flips)
                d, x = al.distance, al.theta
            else:
                d, x = float(np.linalg.norm(th[r] - th[i])), th[i].copy()
            if d <= tol:
                labels[i], aligned[i], dist[i] = c, x, d
                break
        else:
            labels[i] = len(reps)
            reps.append(int(i))
            aligned[i] = th[i]
    counts = np.bincount(labels, minlength=len(reps)).astype(np.int64)
    return MinimaClasses(labels, np.array(reps, dtype=np.int64), counts, aligned, dist)
