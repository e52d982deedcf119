"""Atom-centred descriptors: Behler symmetry functions and the sorted inverse-distance vector.

A descriptor maps the environment of atom ``i`` (its neighbours within the cutoff
``R_c``, with their species) to a fixed-length vector ``G_i`` that is invariant under
translations, rotations and permutations of like atoms.  Lengths are in the unit of the
positions (Å for ``units="metal"`` models, ``sigma`` for reduced units); ``eta`` is in
length⁻², ``R_s`` in length; descriptor values are dimensionless (sorted inverse distances:
length⁻¹).  Only 3-D configurations are supported: clusters (``box=None``) and periodic
orthorhombic boxes with ``R_c`` at most half the shortest edge.

Cutoff functions (zero for ``r >= R_c``)
----------------------------------------
* ``"cosine"``: ``f_c(r) = (cos(pi r / R_c) + 1) / 2`` (Behler 2007); ``f_c`` and ``f_c'``
  vanish at ``R_c``, ``f_c''`` jumps there (harmless for energies and forces, visible in
  Hessians).
* ``"tanh3"``: ``f_c(r) = tanh^3(1 - r / R_c)`` (Behler 2011); continuous up to the second
  derivative; note ``f_c(0) = tanh^3(1) ~ 0.4417``.

Symmetry functions (Behler, J. Chem. Phys. 134, 074106 (2011))
--------------------------------------------------------------
With ``d_ij = r_j - r_i``, ``R_ij = |d_ij|``, ``cos t_ijk = d_ij . d_ik / (R_ij R_ik)``:

* radial ``G2 = sum_j exp(-eta (R_ij - R_s)^2) f_c(R_ij)``, one block per neighbour species;
* angular narrow ``G4 = 2^(1-zeta) sum_{j<k} (1 + lambda cos t_ijk)^zeta
  exp(-eta (R_ij^2 + R_ik^2 + R_jk^2)) f_c(R_ij) f_c(R_ik) f_c(R_jk)``;
* angular wide ``G5``: the same without the ``R_jk`` terms.

**Pair-counting convention: every unordered pair of neighbours ``{j, k}`` counts once
(``j < k``)**; the papers' ``sum_{j,k != i}`` over ordered pairs is exactly twice this.
The angular functions are resolved by the unordered species pair ``{s_j, s_k}``.
``lambda`` is ``+1`` or ``-1``; ``zeta >= 1``; ``eta >= 0``.

Feature layout (``S`` species, ``n_r`` radial and ``n_a`` angular parameter rows): first
``S * n_r`` radial features, index ``s_j * n_r + p``; then ``S (S + 1) / 2 * n_a`` angular
ones, index ``S n_r + b(s_j, s_k) * n_a + q`` with the species pairs ``b`` numbered
``(0,0), (0,1), ..., (0,S-1), (1,1), ...``.  :meth:`SymmetryFunctions.labels` names them.

Sorted inverse distances (kept as a simple baseline, with known weak points)
----------------------------------------------------------------------------
For each neighbour species, the values ``f_c(R_ij) / R_ij`` of the neighbours of that
species, nearest first, padded with zeros to ``n_max`` (feature ``s * n_max + q``).  The
cutoff factor makes the energy continuous as a neighbour enters or leaves the sphere.
It is invariant by construction but has two weak points, shown in
``tests/test_mlip_descriptors.py``:

1. it is **not differentiable where two neighbour distances cross**: the sorted order
   swaps, so the features are continuous but their gradient jumps (forces of a model
   jump, energy is not conserved exactly in dynamics);
2. a **hard cap**: beyond ``n_max`` neighbours of one species the farther ones are
   ignored (zero force on them although they sit inside the cutoff), and as a neighbour
   crosses the ``n_max``-th distance the gradient jumps again.

Compiled kernels
----------------
One driver, :func:`descriptor_pass`, runs over fixed chunks of atoms in parallel
(``prange``); each atom is computed serially from its own row of the full neighbour list
(:mod:`langevin_opt.mlip.environment`), so results are bit-identical for any thread count.
With ``want_grad`` it forms instead the vector-Jacobian product ``g_e = sum_p C[i, p]
dG_ip / dd_e`` for every entry ``e = (i, j)`` of the list, with the analytic derivatives
with respect to every neighbour's separation vector (never finite differences).  The
force kernels of :mod:`langevin_opt.mlip.model` use it with ``C = dE/dG``; the dense
Jacobian of :meth:`Descriptor.jacobian` uses unit cotangents.

The angular functions dominate the cost (``n_nb^2 / 2`` triplets per atom).  Per atom,
the triplets ``j < k`` are gathered in blocks (only those with ``R_jk < R_c`` when every
angular row is a G4, about half of them in a dense solid), their factors (``R_jk``, its
cutoff, one exponential per distinct eta, one power per distinct ``(zeta, lambda)``) are
computed by loops over the block that LLVM turns into SIMD code (the branch-free
``exp``/``sincos``/``tanh`` of :mod:`langevin_opt._fastmath`), and the rows are evaluated
on the grid ``eta x (zeta, lambda)``: for the VJP the cotangents are summed on that grid
first, so a triplet costs ``O(n_eta n_zl)`` multiply-adds whatever the number of rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np
from numba import prange

from .. import _fastmath as fm
from ..core.validation import check_choice, check_int, check_positive, check_real
from .environment import AtomNeighbors, full_neighbor_list

__all__ = [
    "CUTOFF_FUNCTIONS",
    "Descriptor",
    "SymmetryFunctions",
    "SortedInverseDistance",
    "radial_parameters",
    "angular_parameters",
    "cutoff_function",
    "descriptor_from_dict",
    "check_configuration",
    "check_species",
    "descriptor_pass",
]

#: Cutoff function name -> kernel code.
CUTOFF_FUNCTIONS = {"cosine": 0, "tanh3": 1}
#: Descriptor kind -> kernel code.
DESCRIPTOR_KINDS = {"symmetry_functions": 0, "sorted_inverse_distance": 1}

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: Atoms per work chunk of the parallel passes (fixed: results never depend on threads).
CHUNK = 16


# ------------------------------------------------------------------ compiled math
# The vectorizable IEEE-only functions of langevin_opt._fastmath, inlined at the Numba-IR
# level (as langevin_opt.nn.mlp does) so that the triplet loops below become SIMD loops;
# left to LLVM, sincos and tanh exceed its inlining budget and stay scalar calls.
_inl = numba.njit(inline="always", error_model="numpy")
_sincos_2pi = _inl(fm.sincos_2pi.py_func)
_tanh = _inl(fm.tanh.py_func)
_exp = _inl(fm.exp.py_func)
#: Triplets gathered per block of the angular pass (bounds its scratch, keeps SIMD loops long).
TRIPLET_BLOCK = 256


@_inl
def _fc_cos(r, rc):
    """Cosine cutoff ``(f_c(r), f_c'(r))`` (zero for ``r >= rc``; branch-free)."""
    s, c = _sincos_2pi(r * (0.5 / rc))  # angle pi r / rc
    inside = r < rc
    return (0.5 * (c + 1.0) if inside else 0.0), ((-0.5 * math.pi / rc) * s if inside else 0.0)


@_inl
def _fc_tanh3(r, rc):
    """``tanh^3`` cutoff ``(f_c(r), f_c'(r))`` (zero for ``r >= rc``; branch-free)."""
    t = _tanh(1.0 - r / rc)
    t2 = t * t
    inside = r < rc
    return (t2 * t if inside else 0.0), (-3.0 * t2 * (1.0 - t2) / rc if inside else 0.0)


@_inl
def _fc(code, r, rc):
    """Cutoff function and its derivative ``(f_c(r), f_c'(r))``."""
    if code == 0:
        return _fc_cos(r, rc)
    return _fc_tanh3(r, rc)


@numba.njit(**_JIT)
def _acsf_pairs(lo, hi, nb_j, vec, rad, species, fc, rc, radial, S, G, want, C, nx, ny, nz,
                nr, nin, nf, ndf, nsp, ngx, ngy, ngz):
    """Per-neighbour terms of one atom into the scratch rows, and the radial G2 (or its VJP).

    Fills ``nx, ny, nz, nr, nin`` (separation, distance and its inverse), ``nf, ndf``
    (cutoff and its derivative), ``nsp`` (species) for the neighbours ``0 .. hi - lo - 1``;
    without ``want`` writes the radial features into ``G``, with ``want`` starts the
    gradient accumulators ``ngx, ngy, ngz`` with the radial part of the VJP.
    """
    nrad = radial.shape[0]
    nn = hi - lo
    for a in range(nn):
        e = lo + a
        nx[a] = vec[e, 0]
        ny[a] = vec[e, 1]
        nz[a] = vec[e, 2]
        nr[a] = rad[e]
        nin[a] = 1.0 / rad[e]
        nsp[a] = species[nb_j[e]]
        ngx[a] = 0.0
    if fc == 0:
        for a in range(nn):
            nf[a], ndf[a] = _fc_cos(nr[a], rc)
    else:
        for a in range(nn):
            nf[a], ndf[a] = _fc_tanh3(nr[a], rc)
    for p in range(nrad):  # SIMD over the neighbours, then sums in neighbour order
        eta = radial[p, 0]
        rs = radial[p, 1]
        for a in range(nn):
            dr = nr[a] - rs
            ngy[a] = _exp(-eta * dr * dr)
        if want:
            for a in range(nn):
                dr = nr[a] - rs
                ngz[a] = C[nsp[a] * nrad + p] * ngy[a] * (ndf[a] - 2.0 * eta * dr * nf[a])
            for a in range(nn):
                ngx[a] += ngz[a]
        else:
            for a in range(nn):
                G[nsp[a] * nrad + p] += ngy[a] * nf[a]
    for a in range(nn):  # ngx held sum_p dG2/dr; now the vector
        s = ngx[a] / nr[a]
        ngx[a] = s * nx[a]
        ngy[a] = s * ny[a]
        ngz[a] = s * nz[a]


@numba.njit(**_JIT)
def _collect_triplets(a0, nn, keep_all, rc2, nx, ny, nz, d2, ta, tb):
    """Gather the triplets ``(a, b > a)`` of rows ``a0, a0 + 1, ...`` into ``ta, tb``.

    A triplet is kept when ``R_jk^2 < R_c^2`` (or always, with ``keep_all``: wide G5 rows
    ignore ``R_jk``).  Stops after the row that brings the buffer to ``TRIPLET_BLOCK``
    entries (the buffer holds ``TRIPLET_BLOCK + nn``).  Per row, a SIMD loop computes the
    squared distances and a branch-free loop compacts the indices.

    Returns
    -------
    (int, int)
        The next row to collect and the number of triplets in the buffer.
    """
    m = 0
    a = a0
    while a < nn and m < TRIPLET_BLOCK:
        xj = nx[a]
        yj = ny[a]
        zj = nz[a]
        for b in range(a + 1, nn):
            jx = nx[b] - xj
            jy = ny[b] - yj
            jz = nz[b] - zj
            d2[b] = jx * jx + jy * jy + jz * jz
        for b in range(a + 1, nn):
            ta[m] = a
            tb[m] = b
            m += 1 if (keep_all or d2[b] < rc2) else 0
        a += 1
    return a, m


@_inl
def _triplet_geometry(m, ta, tb, nx, ny, nz, nr, nin, nf, tjx, tjy, tjz, tcs, ts2, tfw, trjk,
                      tr2):
    """Geometry of triplet ``m`` from its neighbours' rows into the buffers."""
    a = ta[m]
    b = tb[m]
    jx = nx[b] - nx[a]
    jy = ny[b] - ny[a]
    jz = nz[b] - nz[a]
    tjx[m] = jx
    tjy[m] = jy
    tjz[m] = jz
    r2 = jx * jx + jy * jy + jz * jz
    r = math.sqrt(r2)
    trjk[m] = r
    tr2[m] = r2
    cs = (nx[a] * nx[b] + ny[a] * ny[b] + nz[a] * nz[b]) * nin[a] / nr[b]
    tcs[m] = min(max(cs, -1.0), 1.0)
    ts2[m] = nr[a] * nr[a] + nr[b] * nr[b]
    tfw[m] = nf[a] * nf[b]


@numba.njit(**_JIT)
def _triplet_terms(M, fc, rc, ueta, uzl, has4, has5, ta, tb, nx, ny, nz, nr, nin, nf,
                   tjx, tjy, tjz, tcs, ts2, tfw, trjk, tr2, tfjk, tdfjk, tR, tA, tdA, tu,
                   tpw):
    """Per-triplet factors of the buffer's ``M`` triplets (SIMD loops over the triplets).

    ``tj*`` ``d_jk = d_ik - d_ij``; ``tcs`` the clamped cosine; ``ts2`` ``R_ij^2 + R_ik^2``;
    ``tfw`` ``f_c(R_ij) f_c(R_ik)``; ``trjk, tr2`` ``R_jk`` and its square; ``tfjk, tdfjk``
    its cutoff and derivative; ``tR[u]`` (``u < n_eta``, G4)
    ``exp(-eta_u (R_ij^2 + R_ik^2 + R_jk^2))`` and ``tR[n_eta + u]`` (G5)
    ``exp(-eta_u (R_ij^2 + R_ik^2))``; ``tA[v] = 2^(1-zeta) (1 + lambda cos)^zeta`` and
    ``tdA[v]`` its derivative with respect to ``cos``, for each distinct ``(zeta, lambda)``
    row ``v`` of ``uzl`` (``tu``, ``tpw``: scratch).
    """
    ne = ueta.shape[0]
    for m in range(M):
        _triplet_geometry(m, ta, tb, nx, ny, nz, nr, nin, nf, tjx, tjy, tjz, tcs, ts2, tfw,
                          trjk, tr2)
    if fc == 0:
        for m in range(M):
            tfjk[m], tdfjk[m] = _fc_cos(trjk[m], rc)
    else:
        for m in range(M):
            tfjk[m], tdfjk[m] = _fc_tanh3(trjk[m], rc)
    for u in range(ne):
        eta = ueta[u]
        if has4:
            for m in range(M):
                tR[u, m] = _exp(-eta * (ts2[m] + tr2[m]))
        if has5:
            for m in range(M):
                tR[ne + u, m] = _exp(-eta * ts2[m])
    for v in range(uzl.shape[0]):
        zeta = uzl[v, 0]
        lam = uzl[v, 1]
        pref = uzl[v, 2]
        dpref = pref * zeta * lam
        k = zeta - 1.0
        # u^(zeta - 1) by repeated products ((1 u) u) u ..., one fused loop for k <= 3
        if k == 0.0:
            for m in range(M):
                w = 1.0 + lam * tcs[m]
                tA[v, m] = pref * w
                tdA[v, m] = dpref
        elif k == 1.0:
            for m in range(M):
                w = 1.0 + lam * tcs[m]
                tA[v, m] = pref * w * w
                tdA[v, m] = dpref * w
        elif k == 2.0:
            for m in range(M):
                w = 1.0 + lam * tcs[m]
                pw = w * w
                tA[v, m] = pref * pw * w
                tdA[v, m] = dpref * pw
        elif k == 3.0:
            for m in range(M):
                w = 1.0 + lam * tcs[m]
                pw = w * w * w
                tA[v, m] = pref * pw * w
                tdA[v, m] = dpref * pw
        else:
            for m in range(M):
                tu[m] = 1.0 + lam * tcs[m]
            if k == math.floor(k) and k <= 32.0:
                for m in range(M):
                    tpw[m] = 1.0
                for _ in range(int(k)):
                    for m in range(M):
                        tpw[m] *= tu[m]
            else:
                for m in range(M):
                    tpw[m] = math.pow(tu[m], k)
            for m in range(M):
                tA[v, m] = pref * tpw[m] * tu[m]
                tdA[v, m] = dpref * tpw[m]


@numba.njit(**_JIT)
def _triplet_values(M, kind, row, ne, nz_, pidx, nsp, ta, tb, F, tR, tA, w, Gg):
    """Add the buffer's triplets of one kind (0: G4, 1: G5) to the grid ``Gg[kind, pair]``.

    ``F`` is the triplet's cutoff product and ``tR[row + u]`` its exponentials.  With one
    species pair the sums over the triplets are split over four partial sums (a fixed
    order, so still deterministic) so that they vectorize; otherwise triplet by triplet.
    """
    if Gg.shape[1] == 1:
        for u in range(ne):
            for m in range(M):
                w[m] = tR[row + u, m] * F[m]
            for v in range(nz_):
                s0 = 0.0
                s1 = 0.0
                s2 = 0.0
                s3 = 0.0
                m = 0
                while m + 4 <= M:
                    s0 += w[m] * tA[v, m]
                    s1 += w[m + 1] * tA[v, m + 1]
                    s2 += w[m + 2] * tA[v, m + 2]
                    s3 += w[m + 3] * tA[v, m + 3]
                    m += 4
                while m < M:
                    s0 += w[m] * tA[v, m]
                    m += 1
                Gg[kind, 0, u, v] += (s0 + s1) + (s2 + s3)
        return
    for m in range(M):
        pb = pidx[nsp[ta[m]], nsp[tb[m]]]
        for u in range(ne):
            wm = tR[row + u, m] * F[m]
            for v in range(nz_):
                Gg[kind, pb, u, v] += wm * tA[v, m]


@numba.njit(**_JIT)
def _triplet_cot(M, kind, row, ueta, nz_, Cg, pidx, nsp, ta, tb, tR, tA, tdA, P, Q, S1, S2,
                 S3):
    """Contract the cotangent grid with the buffer's triplets of one kind (SIMD loops).

    With ``Cg[kind, pair, eta, zl]`` (the sum of ``C`` over the rows of each cell):
    ``P_u = sum_v Cg A_v``, ``Q_u = sum_v Cg dA_v`` and ``S1 = sum_u R_u P_u``,
    ``S2 = sum_u eta_u R_u P_u``, ``S3 = sum_u R_u Q_u`` per triplet: the derivatives
    of the triplet's terms with respect to ``cos`` (``F S3``) and to the distances follow.
    """
    single = Cg.shape[1] == 1
    for m in range(M):
        S1[m] = 0.0
        S2[m] = 0.0
        S3[m] = 0.0
    for u in range(ueta.shape[0]):
        for m in range(M):
            P[m] = 0.0
            Q[m] = 0.0
        for v in range(nz_):
            if single:
                c = Cg[kind, 0, u, v]
                for m in range(M):
                    P[m] += c * tA[v, m]
                    Q[m] += c * tdA[v, m]
            else:
                for m in range(M):
                    c = Cg[kind, pidx[nsp[ta[m]], nsp[tb[m]]], u, v]
                    P[m] += c * tA[v, m]
                    Q[m] += c * tdA[v, m]
        eta = ueta[u]
        for m in range(M):
            R = tR[row + u, m]
            S1[m] += R * P[m]
            S2[m] += eta * R * P[m]
            S3[m] += R * Q[m]


@numba.njit(**_JIT)
def _triplet_vjp(M, has4, has5, ta, tb, tjx, tjy, tjz, tcs, trjk, tfjk, tdfjk, S4, S5,
                 nx, ny, nz, nr, nf, ndf, gj, gk, ngx, ngy, ngz):
    """Add the buffer's triplets' vector-Jacobian product to the accumulators ``ng*``.

    ``S4``, ``S5``: rows ``S1, S2, S3`` of :func:`_triplet_cot` for G4 and G5.  A SIMD
    loop forms each triplet's derivatives with respect to ``d_ij`` (``gj``) and ``d_ik``
    (``gk``); a serial loop adds them up in triplet order.
    """
    for m in range(M):
        a = ta[m]
        b = tb[m]
        fa = nf[a]
        fb = nf[b]
        dfa = ndf[a]
        dfb = ndf[b]
        ra = nr[a]
        rb = nr[b]
        sc = 0.0
        sij = 0.0
        sik = 0.0
        sjk = 0.0
        if has4:
            fjk = tfjk[m]
            F = fa * fb * fjk
            s1 = S4[0, m]
            s2 = S4[1, m]
            sc += F * S4[2, m]
            sij += dfa * fb * fjk * s1 - 2.0 * ra * F * s2
            sik += fa * dfb * fjk * s1 - 2.0 * rb * F * s2
            sjk += fa * fb * tdfjk[m] * s1 - 2.0 * trjk[m] * F * s2
        if has5:
            F = fa * fb
            s1 = S5[0, m]
            s2 = S5[1, m]
            sc += F * S5[2, m]
            sij += dfa * fb * s1 - 2.0 * ra * F * s2
            sik += fa * dfb * s1 - 2.0 * rb * F * s2
        # d cos / d d_ij = d_ik / (R_ij R_ik) - cos d_ij / R_ij^2 (and j <-> k)
        cs = tcs[m]
        inv = 1.0 / (ra * rb)
        cj = cs / (ra * ra)
        ck = cs / (rb * rb)
        wj = sij / ra
        wk = sik / rb
        rjk = trjk[m]
        wjk = sjk / rjk if rjk > 0.0 else 0.0
        xj = nx[a]
        yj = ny[a]
        zj = nz[a]
        xk = nx[b]
        yk = ny[b]
        zk = nz[b]
        gj[0, m] = sc * (xk * inv - cj * xj) + wj * xj - wjk * tjx[m]
        gj[1, m] = sc * (yk * inv - cj * yj) + wj * yj - wjk * tjy[m]
        gj[2, m] = sc * (zk * inv - cj * zj) + wj * zj - wjk * tjz[m]
        gk[0, m] = sc * (xj * inv - ck * xk) + wk * xk + wjk * tjx[m]
        gk[1, m] = sc * (yj * inv - ck * yk) + wk * yk + wjk * tjy[m]
        gk[2, m] = sc * (zj * inv - ck * zk) + wk * zk + wjk * tjz[m]
    for m in range(M):
        a = ta[m]
        b = tb[m]
        ngx[a] += gj[0, m]
        ngy[a] += gj[1, m]
        ngz[a] += gj[2, m]
        ngx[b] += gk[0, m]
        ngy[b] += gk[1, m]
        ngz[b] += gk[2, m]


@numba.njit(**_JIT)
def _acsf_atom(lo, hi, nb_j, vec, rad, species, fc, rc, radial, angular, ueta, uzl, pidx, S,
               G, want, C, g, nbuf, ibuf, tbuf, tR, tA, tdA, Gg, Cg):
    """Symmetry functions of one atom (row ``lo:hi``) into ``G``, or with ``want`` the VJP.

    Without ``want`` writes ``G`` (all features); with ``want`` adds the vector-Jacobian
    product to ``g`` and leaves ``G`` alone.  The angular rows are evaluated on the grid
    ``(kind, species pair, distinct eta, distinct (zeta, lambda))`` (columns 5 and 6 of
    ``angular`` index it): a triplet costs one exponential per eta and one power per
    ``(zeta, lambda)``, whatever the number of rows.  Triplets are gathered in blocks of
    about :data:`TRIPLET_BLOCK` (only those with ``R_jk < R_c`` when every row is G4), their
    factors computed by SIMD loops, then accumulated in a fixed order.  Scratch:
    ``nbuf`` (11, >= n_nb), ``ibuf`` (3, cap) int, ``tbuf`` (25, cap), ``tR`` (2 n_eta, cap),
    ``tA``, ``tdA`` (n_zl, cap) with ``cap >= TRIPLET_BLOCK + n_nb``; ``Gg``, ``Cg`` the grids.
    """
    nn = hi - lo
    nrad = radial.shape[0]
    na = angular.shape[0]
    ne = ueta.shape[0]
    nz_ = uzl.shape[0]
    if not want:
        G[:] = 0.0
    nx = nbuf[0]
    ny = nbuf[1]
    nz = nbuf[2]
    nr = nbuf[3]
    nin = nbuf[4]
    nf = nbuf[5]
    ndf = nbuf[6]
    ngx = nbuf[7]
    ngy = nbuf[8]
    ngz = nbuf[9]
    d2 = nbuf[10]
    nsp = ibuf[0]
    _acsf_pairs(lo, hi, nb_j, vec, rad, species, fc, rc, radial, S, G, want, C, nx, ny, nz,
                nr, nin, nf, ndf, nsp, ngx, ngy, ngz)
    if na > 0 and nn > 1:
        has4 = False
        has5 = False
        for q in range(na):
            if angular[q, 0] == 4.0:
                has4 = True
            else:
                has5 = True
        abase = S * nrad
        n_pairs = Gg.shape[1]
        if want:
            Cg[:] = 0.0
            for bp in range(n_pairs):
                for q in range(na):
                    Cg[0 if angular[q, 0] == 4.0 else 1, bp, int(angular[q, 5]),
                       int(angular[q, 6])] += C[abase + bp * na + q]
        else:
            Gg[:] = 0.0
        ta = ibuf[1]
        tb = ibuf[2]
        tjx = tbuf[0]
        tjy = tbuf[1]
        tjz = tbuf[2]
        tcs = tbuf[3]
        ts2 = tbuf[4]
        tfw = tbuf[5]
        trjk = tbuf[6]
        tr2 = tbuf[7]
        tfjk = tbuf[8]
        tdfjk = tbuf[9]
        tu = tbuf[10]
        tpw = tbuf[11]
        F4 = tbuf[12]
        S4 = tbuf[13:16]
        S5 = tbuf[16:19]
        gj = tbuf[19:22]
        gk = tbuf[22:25]
        a = 0
        while a < nn:
            a, M = _collect_triplets(a, nn, has5, rc * rc, nx, ny, nz, d2, ta, tb)
            _triplet_terms(M, fc, rc, ueta, uzl, has4, has5, ta, tb, nx, ny, nz, nr, nin,
                           nf, tjx, tjy, tjz, tcs, ts2, tfw, trjk, tr2, tfjk, tdfjk, tR, tA,
                           tdA, tu, tpw)
            if want:
                if has4:
                    _triplet_cot(M, 0, 0, ueta, nz_, Cg, pidx, nsp, ta, tb, tR, tA, tdA, tu,
                                 tpw, S4[0], S4[1], S4[2])
                if has5:
                    _triplet_cot(M, 1, ne, ueta, nz_, Cg, pidx, nsp, ta, tb, tR, tA, tdA, tu,
                                 tpw, S5[0], S5[1], S5[2])
                _triplet_vjp(M, has4, has5, ta, tb, tjx, tjy, tjz, tcs, trjk, tfjk, tdfjk, S4,
                             S5, nx, ny, nz, nr, nf, ndf, gj, gk, ngx, ngy, ngz)
            else:
                if has4:
                    for m in range(M):
                        F4[m] = tfw[m] * tfjk[m]
                    _triplet_values(M, 0, 0, ne, nz_, pidx, nsp, ta, tb, F4, tR, tA, tu, Gg)
                if has5:
                    _triplet_values(M, 1, ne, ne, nz_, pidx, nsp, ta, tb, tfw, tR, tA, tu, Gg)
        if not want:
            for bp in range(n_pairs):
                for q in range(na):
                    G[abase + bp * na + q] = Gg[0 if angular[q, 0] == 4.0 else 1, bp,
                                                int(angular[q, 5]), int(angular[q, 6])]
    if want:
        for a in range(nn):
            g[lo + a, 0] += ngx[a]
            g[lo + a, 1] += ngy[a]
            g[lo + a, 2] += ngz[a]


@numba.njit(**_JIT)
def _sorted_atom(lo, hi, nb_j, vec, rad, species, fc, rc, K, S, G, want, C, g, keys, ids):
    """Sorted inverse distances of one atom into ``G``; with ``want`` add the VJP to g."""
    nn = hi - lo
    for f in range(G.shape[0]):
        G[f] = 0.0
    for s in range(S):
        m = 0
        for a in range(nn):  # stable insertion sort by distance: ties keep list order
            e = lo + a
            if species[nb_j[e]] != s:
                continue
            r = rad[e]
            p = m
            while p > 0 and keys[p - 1] > r:
                keys[p] = keys[p - 1]
                ids[p] = ids[p - 1]
                p -= 1
            keys[p] = r
            ids[p] = e
            m += 1
        for q in range(min(m, K)):
            e = ids[q]
            r = rad[e]
            f, df = _fc(fc, r, rc)
            G[s * K + q] = f / r
            if want:
                w = C[s * K + q] * (df - f / r) / (r * r)
                g[e, 0] += w * vec[e, 0]
                g[e, 1] += w * vec[e, 1]
                g[e, 2] += w * vec[e, 2]


@numba.njit(parallel=True, **_JIT)
def descriptor_pass(kind, fc, rc, radial, angular, ueta, uzl, pidx, S, K, start, nb_j, vec, rad,
                    species, G, want, C, g):
    """Descriptors of every atom, or their vector-Jacobian products (compiled).

    Parameters
    ----------
    kind : int
        0 symmetry functions, 1 sorted inverse distances.
    fc : int
        Cutoff function code (:data:`CUTOFF_FUNCTIONS`).
    rc : float
        Cutoff radius (length units).
    radial : numpy.ndarray of float64, shape (n_r, 2)
        Rows ``(eta, R_s)`` (symmetry functions; may have 0 rows).
    angular : numpy.ndarray of float64, shape (n_a, 7)
        Rows ``(kind 4 or 5, eta, zeta, lambda, 2^(1 - zeta), i_eta, i_zl)`` with the
        indices of the row's eta in ``ueta`` and of its ``(zeta, lambda)`` in ``uzl``.
    ueta : numpy.ndarray of float64, shape (n_eta,)
        Distinct angular etas (at least one entry).
    uzl : numpy.ndarray of float64, shape (n_zl, 3)
        Distinct rows ``(zeta, lambda, 2^(1 - zeta))``.
    pidx : numpy.ndarray of int64, shape (S, S)
        Index of the unordered species pair.
    S : int
        Number of species.
    K : int
        ``n_max`` of the sorted inverse distances.
    start, nb_j, vec, rad : numpy.ndarray
        The full neighbour list (:class:`~langevin_opt.mlip.environment.AtomNeighbors`).
    species : numpy.ndarray of int64, shape (N,)
        Species index of every atom.
    G : numpy.ndarray of float64, shape (N, D)
        Output descriptors (overwritten without ``want``; with ``want`` its content is
        unspecified: symmetry functions leave it alone).
    want : bool
        Compute ``g`` instead of ``G``.
    C : numpy.ndarray of float64, shape (N, D)
        Cotangents ``dU/dG`` (read only with ``want``).
    g : numpy.ndarray of float64, shape (M, 3)
        Output (with ``want``, overwritten): ``g_e = sum_p C[i, p] dG_ip / dd_e`` for the
        entry ``e = (i, j)`` with separation vector ``d_e = r_j - r_i``.
    """
    n = species.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    ne = ueta.shape[0]
    nzl = uzl.shape[0]
    for q in prange(n_chunks):
        a0 = q * CHUNK
        a1 = min(n, a0 + CHUNK)
        mx = 1
        for i in range(a0, a1):
            mx = max(mx, start[i + 1] - start[i])
        cap = TRIPLET_BLOCK + mx
        nbuf = np.empty((11, mx))
        ibuf = np.empty((3, cap), dtype=np.int64)
        tbuf = np.empty((25, cap))
        tR = np.empty((2 * ne, cap))
        tA = np.empty((nzl, cap))
        tdA = np.empty((nzl, cap))
        Gg = np.empty((2, pidx.max() + 1, ne, nzl))
        Cg = np.empty((2, pidx.max() + 1, ne, nzl))
        for i in range(a0, a1):
            lo = start[i]
            hi = start[i + 1]
            if want:
                for e in range(lo, hi):
                    g[e, 0] = 0.0
                    g[e, 1] = 0.0
                    g[e, 2] = 0.0
            if kind == 0:
                _acsf_atom(lo, hi, nb_j, vec, rad, species, fc, rc, radial, angular, ueta, uzl,
                           pidx, S, G[i], want, C[i], g, nbuf, ibuf, tbuf, tR, tA, tdA, Gg, Cg)
            else:
                _sorted_atom(lo, hi, nb_j, vec, rad, species, fc, rc, K, S, G[i], want, C[i],
                             g, nbuf[0], ibuf[0])


@numba.njit(cache=True)
def _fc_array(code, r, rc):
    out = np.empty((2, r.shape[0]))
    for i in range(r.shape[0]):
        out[0, i], out[1, i] = _fc(code, r[i], rc)
    return out


def cutoff_function(name: str, r, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate a cutoff function and its derivative (the compiled code the descriptors use).

    Parameters
    ----------
    name : {"cosine", "tanh3"}
        Cutoff function (module docstring).
    r : array_like of float
        Distances (length units), ``>= 0``.
    cutoff : float
        Cutoff radius ``R_c`` (length units).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``f_c(r)`` and ``f_c'(r)`` (length⁻¹), shaped like ``r``.
    """
    code = CUTOFF_FUNCTIONS[check_choice("cutoff_function", name, CUTOFF_FUNCTIONS)]
    rc = check_positive("cutoff", cutoff)
    ra = np.asarray(r, dtype=np.float64)
    out = _fc_array(code, np.ascontiguousarray(ra.ravel()), rc)
    return out[0].reshape(ra.shape), out[1].reshape(ra.shape)


# ------------------------------------------------------------------ parameter recipes
def radial_parameters(n: int, cutoff: float, *, mode: str = "shifted",
                      r_lower: float = 0.5) -> np.ndarray:
    """Radial ``(eta, R_s)`` rows by the usual recipes (Imbalzano et al. 2018, n2p2).

    ``n`` grid points ``r_1 .. r_n`` equally spaced from ``r_lower`` to ``cutoff``:

    * ``"shifted"``: Gaussians centred on the grid, ``R_s = r_m``, of common width
      ``eta = 1 / (2 dr^2)`` with ``dr`` the grid spacing;
    * ``"centered"``: Gaussians centred at 0 (``R_s = 0``) whose widths grow along the
      grid, ``eta = 1 / (2 r_m^2)``.

    Parameters
    ----------
    n : int
        Number of functions per neighbour species, ``>= 2``.
    cutoff : float
        Upper end of the grid ``R_c`` (length units).
    mode : {"shifted", "centered"}
        Recipe.
    r_lower : float
        Lower end of the grid (length units), ``0 < r_lower < cutoff``.

    Returns
    -------
    numpy.ndarray of float64, shape (n, 2)
        Rows ``(eta [length⁻²], R_s [length])``.
    """
    n = check_int("n", n, lo=2, hi=10_000)
    rc = check_positive("cutoff", cutoff)
    mode = check_choice("mode", mode, ("shifted", "centered"))
    lo = check_real("r_lower", r_lower, lo=0.0, hi=rc, lo_open=True, hi_open=True)
    grid = np.linspace(lo, rc, n)
    if mode == "shifted":
        dr = grid[1] - grid[0]
        return np.column_stack([np.full(n, 0.5 / dr**2), grid])
    return np.column_stack([0.5 / grid**2, np.zeros(n)])


def angular_parameters(etas: Sequence[float], zetas: Sequence[float] = (1.0, 2.0, 4.0),
                       lambdas: Sequence[float] = (-1.0, 1.0), *,
                       kind: int = 4) -> np.ndarray:
    """Angular ``(kind, eta, zeta, lambda)`` rows: the grid of all combinations.

    Parameters
    ----------
    etas : sequence of float
        Radial widths (length⁻²), each ``>= 0``.
    zetas : sequence of float
        Angular resolutions, each ``>= 1`` (1, 2, 4, 16 are customary).
    lambdas : sequence of float
        Each ``+1`` or ``-1``.
    kind : {4, 5}
        ``G4`` (narrow, with the ``R_jk`` terms) or ``G5`` (wide).

    Returns
    -------
    numpy.ndarray of float64, shape (len(etas) * len(zetas) * len(lambdas), 4)
        Rows ordered by eta, then zeta, then lambda.
    """
    kind = check_int("kind", kind, lo=4, hi=5)
    rows = [(float(kind), check_real("eta", e, lo=0.0), check_real("zeta", z, lo=1.0),
             float(lam)) for e in etas for z in zetas for lam in lambdas]
    for r in rows:
        if r[3] not in (-1.0, 1.0):
            raise ValueError(f"lambdas must be +1 or -1, got {r[3]!r}")
    if not rows:
        raise ValueError("angular_parameters needs at least one eta, zeta and lambda")
    return np.array(rows, dtype=np.float64)


# ------------------------------------------------------------------ validation
def _check_species_names(species: Sequence[str]) -> tuple[str, ...]:
    if isinstance(species, str) or not isinstance(species, Sequence) or not species:
        raise TypeError(f"species must be a non-empty sequence of names, got {species!r}")
    names = tuple(species)
    for s in names:
        if not isinstance(s, str) or not s or not s.isprintable():
            raise TypeError(f"species names must be non-empty printable strings, got {s!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"species names must be distinct, got {names!r}")
    return names


def check_species(species: object, names: tuple[str, ...], n: int | None = None) -> np.ndarray:
    """Validate species given as names or indices into ``names`` (one-line errors).

    Parameters
    ----------
    species : sequence of str or array_like of int, shape (N,)
        Species names or indices.
    names : tuple of str
        The species the descriptor or model knows.
    n : int, optional
        Required number of atoms.

    Returns
    -------
    numpy.ndarray of int64, shape (N,)
        Species indices.
    """
    sp_raw = np.asarray(species) if not isinstance(species, (str, bytes)) else np.zeros(())
    if sp_raw.ndim != 1 or (n is not None and sp_raw.shape[0] != n):
        want = "(N,)" if n is None else f"({n},) (one per atom)"
        raise ValueError(f"species must have shape {want}, got {sp_raw.shape}")
    n = sp_raw.shape[0]
    if sp_raw.dtype.kind in "US":
        lookup = {s: k for k, s in enumerate(names)}
        sp = np.empty(n, dtype=np.int64)
        for i, s in enumerate(sp_raw.tolist()):
            if s not in lookup:
                raise ValueError(f"unknown species {s!r} (atom {i}); this model knows "
                                 f"{', '.join(names)}")
            sp[i] = lookup[s]
    elif sp_raw.dtype.kind in "iu":
        sp = sp_raw.astype(np.int64)
        bad = np.flatnonzero((sp < 0) | (sp >= len(names)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"unknown species index {int(sp[i])} (atom {i}); this model knows "
                             f"{len(names)} species: {', '.join(names)}")
    else:
        raise TypeError(f"species must be names or integer indices, got dtype {sp_raw.dtype}")
    return sp


def check_configuration(positions: object, species: object, box: object,
                        names: tuple[str, ...], cutoff: float
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate a configuration for a descriptor or a model (one-line errors).

    Parameters
    ----------
    positions : array_like, shape (N, 3)
        Finite positions (length units).
    species : sequence of str or array_like of int, shape (N,)
        Species names (from ``names``) or indices into ``names``.
    box : None or array_like, shape (3,)
        Periodic orthorhombic box edges (length units); ``None`` for a cluster.
    names : tuple of str
        The species the descriptor or model knows.
    cutoff : float
        Cutoff radius; must not exceed half the shortest box edge.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray or None)
        Positions ``(N, 3)`` float64, species indices ``(N,)`` int64, box ``(3,)`` or None.

    Raises
    ------
    TypeError, ValueError
        Wrong types, shapes, non-finite positions, unknown species, cutoff > half box.
    """
    raw = np.asarray(positions) if not isinstance(positions, (str, bytes)) else None
    if raw is None or raw.dtype.kind not in "iuf":
        raise TypeError(f"positions must be an (N, 3) array of numbers, got "
                        f"{type(positions).__name__}")
    x = np.ascontiguousarray(raw, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3 or x.shape[0] < 1:
        raise ValueError(f"positions must have shape (N, 3) with N >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"positions must be finite; atom {bad} is {x[bad].tolist()}")
    sp = check_species(species, names, x.shape[0])
    if box is None:
        return x, sp, None
    b = np.asarray(box, dtype=np.float64) if not isinstance(box, (str, bytes)) else None
    if b is not None and b.ndim == 0:
        b = np.full(3, float(b))
    if b is None or b.shape != (3,) or not np.all(np.isfinite(b)) or not np.all(b > 0):
        raise ValueError(f"box must be None or 3 positive finite edge lengths, got {box!r}")
    if cutoff > 0.5 * b.min():
        raise ValueError(f"cutoff {cutoff:g} exceeds half the shortest box edge "
                         f"({0.5 * b.min():g}): the minimum image would miss neighbours; "
                         f"replicate the box")
    return x, sp, b


# ------------------------------------------------------------------ descriptors
class Descriptor:
    """Base class of the descriptors: species, cutoff, cutoff function, compiled evaluation.

    Subclasses set ``kind`` and the kernel tables; users construct
    :class:`SymmetryFunctions` or :class:`SortedInverseDistance`.

    Attributes
    ----------
    species : tuple of str
        Species names; atoms are given as names or indices into this tuple.
    cutoff : float
        Cutoff radius ``R_c`` (length units).
    cutoff_function : str
        ``"cosine"`` or ``"tanh3"``.
    n_features : int
        Length ``D`` of each atom's descriptor.
    """

    kind: str = ""

    def __init__(self, species: Sequence[str], cutoff: float, cutoff_function: str) -> None:
        self.species = _check_species_names(species)
        self.cutoff = check_positive("cutoff", cutoff)
        self.cutoff_function = check_choice("cutoff_function", cutoff_function,
                                            CUTOFF_FUNCTIONS)
        S = len(self.species)
        self._pidx = np.zeros((S, S), dtype=np.int64)
        b = 0
        for a in range(S):
            for c in range(a, S):
                self._pidx[a, c] = self._pidx[c, a] = b
                b += 1
        self._radial = np.zeros((0, 2))
        self._angular = np.zeros((0, 7))
        self._ueta = np.zeros(1)
        self._uzl = np.zeros((1, 3))
        self._nmax = 0

    @property
    def n_species(self) -> int:
        """Number of species ``S``."""
        return len(self.species)

    @property
    def n_features(self) -> int:  # pragma: no cover - every subclass overrides it
        """Length ``D`` of each atom's descriptor."""
        raise NotImplementedError

    def labels(self) -> list[str]:  # pragma: no cover - every subclass overrides it
        """Names of the ``D`` features, in order."""
        raise NotImplementedError

    def to_dict(self) -> dict:  # pragma: no cover - every subclass overrides it
        """Settings as a JSON-serialisable dict (inverse: :func:`descriptor_from_dict`)."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    # -------------------------------------------------------------- kernels
    def _tables(self) -> tuple:
        return (DESCRIPTOR_KINDS[self.kind], CUTOFF_FUNCTIONS[self.cutoff_function],
                self.cutoff, self._radial, self._angular, self._ueta, self._uzl, self._pidx,
                self.n_species,
                self._nmax)

    def _pass(self, nb: AtomNeighbors, sp: np.ndarray, want: bool,
              C: np.ndarray | None = None, G: np.ndarray | None = None,
              g: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = sp.shape[0]
        G = np.empty((n, self.n_features)) if G is None else G
        if want:
            g = np.empty((nb.j.shape[0], 3)) if g is None else g
        else:
            C = np.zeros((1, self.n_features))
            g = np.zeros((1, 3))
        descriptor_pass(*self._tables(), nb.start, nb.j, nb.vec, nb.r, sp, G, want, C, g)
        return G, g

    def neighbors(self, positions: np.ndarray, box: np.ndarray | None, **kw) -> AtomNeighbors:
        """Full neighbour list at this descriptor's cutoff (validated input only).

        Parameters
        ----------
        positions : numpy.ndarray of float64, shape (N, 3)
            Positions (length units), as returned by :func:`check_configuration`.
        box : None or numpy.ndarray of float64, shape (3,)
            Box edges.
        **kw
            ``neighbor_list=`` (see :func:`~langevin_opt.mlip.environment.full_neighbor_list`).

        Returns
        -------
        AtomNeighbors
        """
        return full_neighbor_list(positions, box, self.cutoff, **kw)

    def compute(self, positions: object, species: object, box: object = None) -> np.ndarray:
        """Descriptors of every atom of one configuration.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        species : sequence of str or array_like of int, shape (N,)
            Species names or indices into :attr:`species`.
        box : None or array_like, shape (3,)
            Periodic orthorhombic box edges, at least ``2 R_c`` each; ``None``: cluster.

        Returns
        -------
        numpy.ndarray of float64, shape (N, D)
            ``G``.
        """
        x, sp, b = check_configuration(positions, species, box, self.species, self.cutoff)
        return self._pass(self.neighbors(x, b), sp, False)[0]

    def jacobian(self, positions: object, species: object,
                 box: object = None) -> tuple[np.ndarray, np.ndarray]:
        """Descriptors and their dense Jacobian with respect to every position (small systems).

        Computed with the compiled analytic derivatives (one vector-Jacobian pass per
        feature), for inspection and tests; the model's forces never form it.

        Parameters
        ----------
        positions : array_like, shape (N, 3)
            Positions (length units).
        species : sequence of str or array_like of int, shape (N,)
            Species names or indices.
        box : None or array_like, shape (3,)
            Box edges, or ``None``.

        Returns
        -------
        G : numpy.ndarray, shape (N, D)
            Descriptors.
        dG : numpy.ndarray, shape (N, D, N, 3)
            ``dG[i, p, m, a] = dG_ip / dx_ma`` (length⁻¹ times the feature's unit).
        """
        x, sp, b = check_configuration(positions, species, box, self.species, self.cutoff)
        n, d = x.shape[0], self.n_features
        if n * n * d * 3 > 50_000_000:
            raise ValueError(f"jacobian is for small systems: N^2 * D * 3 = {n * n * d * 3} "
                             "values exceeds 5e7")
        nb = self.neighbors(x, b)
        G = self._pass(nb, sp, False)[0]
        dG = np.zeros((n, d, n, 3))
        rows = np.repeat(np.arange(n), np.diff(nb.start))
        C = np.zeros((n, d))
        for p in range(d):
            C[:, p] = 1.0
            _, g = self._pass(nb, sp, True, C)
            C[:, p] = 0.0
            np.add.at(dG[:, p], (rows, nb.j), g)
            np.subtract.at(dG[:, p], (rows, rows), g)
        return G, dG


class SymmetryFunctions(Descriptor):
    """Behler atom-centred symmetry functions G2, G4 and G5, resolved by species.

    Parameters
    ----------
    species : sequence of str
        Species names (e.g. ``("Cu",)``).
    cutoff : float
        Cutoff radius ``R_c`` (length units).
    radial : array_like, shape (n_r, 2)
        Rows ``(eta, R_s)`` of the G2 functions (e.g. :func:`radial_parameters`);
        ``eta >= 0`` (length⁻²), ``R_s >= 0`` (length).
    angular : array_like, shape (n_a, 4), optional
        Rows ``(kind, eta, zeta, lambda)`` with ``kind`` 4 or 5 (e.g.
        :func:`angular_parameters`); default: none.
    cutoff_function : {"cosine", "tanh3"}
        Cutoff function.

    Notes
    -----
    Formulas, the ``j < k`` pair-counting convention and the feature layout are in the
    module docstring.  Cost per atom: ``O(n_nb n_r + n_nb^2 n_eta n_zl / 2)`` (the angular rows are
    evaluated on the grid of distinct etas and ``(zeta, lambda)`` pairs).
    """

    kind = "symmetry_functions"

    def __init__(self, species: Sequence[str], cutoff: float, radial: object,
                 angular: object = None, *, cutoff_function: str = "cosine") -> None:
        super().__init__(species, cutoff, cutoff_function)
        rad = np.zeros((0, 2)) if radial is None or np.size(radial) == 0 else \
            np.asarray(radial, dtype=np.float64)
        if rad.ndim != 2 or rad.shape[1] != 2:
            raise ValueError(f"radial must have shape (n_r, 2), got {np.shape(radial)}")
        ang = np.zeros((0, 4)) if angular is None or np.size(angular) == 0 else \
            np.asarray(angular, dtype=np.float64)
        if ang.ndim != 2 or ang.shape[1] != 4:
            raise ValueError(f"angular must have shape (n_a, 4), got {np.shape(angular)}")
        if not (np.all(np.isfinite(rad)) and np.all(np.isfinite(ang))):
            raise ValueError("radial and angular parameters must be finite")
        if np.any(rad[:, 0] < 0) or np.any(rad[:, 1] < 0):
            raise ValueError("radial rows (eta, R_s) need eta >= 0 and R_s >= 0")
        if ang.size and not (np.all(np.isin(ang[:, 0], (4.0, 5.0)))
                             and np.all(ang[:, 1] >= 0) and np.all(ang[:, 2] >= 1.0)
                             and np.all(np.isin(ang[:, 3], (-1.0, 1.0)))):
            raise ValueError("angular rows (kind, eta, zeta, lambda) need kind 4 or 5, "
                             "eta >= 0, zeta >= 1, lambda = +1 or -1")
        if rad.shape[0] + ang.shape[0] == 0:
            raise ValueError("SymmetryFunctions needs at least one radial or angular row")
        self.radial = rad.copy()
        self.angular = ang.copy()
        self.radial.flags.writeable = False
        self.angular.flags.writeable = False
        self._radial = np.ascontiguousarray(rad)
        if ang.size:
            ueta, ie = np.unique(ang[:, 1], return_inverse=True)
            uz, iz = np.unique(ang[:, 2:4], axis=0, return_inverse=True)
            pref = 2.0 ** (1.0 - ang[:, 2])
            self._angular = np.ascontiguousarray(np.column_stack(
                [ang, pref, ie.ravel(), iz.ravel()]), dtype=np.float64)
            self._ueta = np.ascontiguousarray(ueta)
            self._uzl = np.ascontiguousarray(np.column_stack([uz, 2.0 ** (1.0 - uz[:, 0])]))

    @property
    def n_features(self) -> int:
        """``S n_r + S (S + 1) / 2 n_a``."""
        S = self.n_species
        return S * self.radial.shape[0] + S * (S + 1) // 2 * self.angular.shape[0]

    def labels(self) -> list[str]:
        """Names of the features, e.g. ``"G2[Cu](eta=0.5,rs=1)"``.

        Returns
        -------
        list of str
            ``D`` names in feature order.
        """
        out = [f"G2[{s}](eta={e:g},rs={r:g})" for s in self.species for e, r in self.radial]
        S = self.n_species
        for a in range(S):
            for c in range(a, S):
                out += [f"G{int(k)}[{self.species[a]},{self.species[c]}]"
                        f"(eta={e:g},zeta={z:g},lambda={int(lam):+d})"
                        for k, e, z, lam in self.angular]
        return out

    def to_dict(self) -> dict:
        """Settings as a JSON-serialisable dict (inverse: :func:`descriptor_from_dict`).

        Returns
        -------
        dict
        """
        return {"kind": self.kind, "species": list(self.species), "cutoff": self.cutoff,
                "cutoff_function": self.cutoff_function, "radial": self.radial.tolist(),
                "angular": self.angular.tolist()}

    def __repr__(self) -> str:
        return (f"SymmetryFunctions(species={self.species}, cutoff={self.cutoff}, "
                f"n_radial={self.radial.shape[0]}, n_angular={self.angular.shape[0]}, "
                f"cutoff_function={self.cutoff_function!r}, n_features={self.n_features})")


class SortedInverseDistance(Descriptor):
    """Per neighbour species, ``f_c(R_ij) / R_ij`` of the neighbours, nearest first, padded.

    Parameters
    ----------
    species : sequence of str
        Species names.
    cutoff : float
        Cutoff radius (length units).
    n_max : int
        Fixed number of neighbours kept per species (hard cap; padding with zeros).
    cutoff_function : {"cosine", "tanh3"}
        Cutoff function.

    Notes
    -----
    A simple permutation-invariant baseline with two weak points (module docstring):
    it is non-differentiable where two neighbour distances cross, and it ignores
    neighbours beyond ``n_max``.
    """

    kind = "sorted_inverse_distance"

    def __init__(self, species: Sequence[str], cutoff: float, n_max: int, *,
                 cutoff_function: str = "cosine") -> None:
        super().__init__(species, cutoff, cutoff_function)
        self.n_max = check_int("n_max", n_max, lo=1, hi=100_000)
        self._nmax = self.n_max

    @property
    def n_features(self) -> int:
        """``S n_max``."""
        return self.n_species * self.n_max

    def labels(self) -> list[str]:
        """Names of the features, e.g. ``"invr[Cu][0]"`` for the nearest Cu neighbour.

        Returns
        -------
        list of str
        """
        return [f"invr[{s}][{q}]" for s in self.species for q in range(self.n_max)]

    def to_dict(self) -> dict:
        """Settings as a JSON-serialisable dict (inverse: :func:`descriptor_from_dict`).

        Returns
        -------
        dict
        """
        return {"kind": self.kind, "species": list(self.species), "cutoff": self.cutoff,
                "cutoff_function": self.cutoff_function, "n_max": self.n_max}

    def __repr__(self) -> str:
        return (f"SortedInverseDistance(species={self.species}, cutoff={self.cutoff}, "
                f"n_max={self.n_max}, cutoff_function={self.cutoff_function!r})")


def descriptor_from_dict(d: dict) -> Descriptor:
    """Rebuild a descriptor from :meth:`Descriptor.to_dict`.

    Parameters
    ----------
    d : dict
        Settings with a ``"kind"`` key.

    Returns
    -------
    Descriptor
    """
    if not isinstance(d, dict):
        raise TypeError(f"descriptor settings must be a dict, got {type(d).__name__}")
    kind = check_choice("descriptor kind", d.get("kind"), DESCRIPTOR_KINDS)
    keys = {"kind", "species", "cutoff", "cutoff_function"}
    if kind == "symmetry_functions":
        extra = {"radial", "angular"}
    else:
        extra = {"n_max"}
    if set(d) != keys | extra:
        raise ValueError(f"descriptor settings for {kind!r} need exactly the keys "
                         f"{sorted(keys | extra)}, got {sorted(d)}")
    if kind == "symmetry_functions":
        return SymmetryFunctions(d["species"], d["cutoff"], d["radial"], d["angular"],
                                 cutoff_function=d["cutoff_function"])
    return SortedInverseDistance(d["species"], d["cutoff"], d["n_max"],
                                 cutoff_function=d["cutoff_function"])
