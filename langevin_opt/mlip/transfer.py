"""Transfer learning: fine-tune a pretrained neural potential on a little data of another system.

:func:`fine_tune` copies a pretrained :class:`~langevin_opt.mlip.NeuralPotential` (or the
model file :func:`~langevin_opt.mlip.save_model` wrote), optionally renames its species,
freezes some of its layers and trains the rest on the new data with
:func:`langevin_opt.mlip.fit`: L-BFGS or any :mod:`langevin_opt.sgmcmc` method.  The
pretrained model is never modified.

What is kept and what is refitted
---------------------------------
* **Descriptor** (cutoff, radial and angular parameters): kept.  The architecture, and so
  every pretrained weight, is tied to it; a target system whose neighbour shells fall
  elsewhere (Au, ``a = 4.08`` Å, against Cu's 3.6 Å) may need a descriptor built for both.
* **Standardisation** ``(mu, sigma)`` of the descriptors: kept by default
  (``restandardize=False``), because it is part of what the first layer was trained on:
  a frozen first layer then computes exactly the pretrained features.
  ``restandardize=True`` refits it to the new data (a new system's environments then
  enter the network centred like the old one's).
* **Reference energies** ``e0``: refitted by default (``refit_offsets=True``): by least
  squares of the residual ``E_ref - sum_i NN(X_i)`` of the *pretrained* networks on the
  species counts, so that the pretrained network plus the new ``e0`` already matches the
  new system's mean energy per atom before training (:func:`residual_offsets`).
  Species absent from the data keep their ``e0``.

Species
-------
A model's species are the names of its descriptor (the descriptor resolves neighbours by
species, so their number and order are fixed).  Fine-tuning on a system of other elements
needs an explicit mapping from the new data's species to the pretrained ones,
``species_map={"Ni": "Cu"}``: the copper network initialises the nickel one and the
fine-tuned model's species become ``("Ni",)``.  Pretrained species that are not mapped
keep their names (for a CuAu model, ``{"Ni": "Cu"}`` gives a NiAu model).  Without a
mapping, a data species the pretrained model does not know is one ``ValueError`` line
naming it.  A model cannot gain species here: a pure-Cu model cannot fine-tune on CuNi
(both would need the one copper network).

Frozen layers
-------------
``freeze=k`` freezes the first ``k`` affine layers of every species' network (layer 0 maps
the descriptor to the first hidden layer); ``freeze=(0, 2)`` freezes the listed layers.
Frozen parameters keep their pretrained values bit for bit, for every method
(:func:`langevin_opt.mlip.parameter_mask`, ``trainable`` of :func:`~langevin_opt.mlip.fit`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from .dataset import Dataset
from .descriptors import descriptor_from_dict
from .model import NeuralPotential
from .training import FitResult, fit, parameter_mask

__all__ = ["fine_tune", "transfer_model", "frozen_mask", "residual_offsets"]


def _pretrained(pretrained: object) -> NeuralPotential:
    if isinstance(pretrained, NeuralPotential):
        return pretrained
    if isinstance(pretrained, (str, os.PathLike)):
        from .io import load_model

        return load_model(pretrained)
    raise TypeError(f"pretrained must be a NeuralPotential or a model file path, got "
                    f"{type(pretrained).__name__}")


def _renamed_species(model: NeuralPotential, species_map: object,
                     data_species: Sequence[str] | None) -> tuple[str, ...]:
    """The fine-tuned model's species: the pretrained ones renamed by ``species_map``."""
    old = model.species
    if species_map is None:
        smap: dict[str, str] = {}
    elif isinstance(species_map, Mapping) and all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in species_map.items()):
        smap = dict(species_map)
    else:
        raise TypeError(f"species_map must be a dict of new species name -> pretrained "
                        f"species name, e.g. {{'Ni': 'Cu'}}, got {species_map!r}")
    bad = sorted(v for v in smap.values() if v not in old)
    if bad:
        raise ValueError(f"species_map values must be species of the pretrained model "
                         f"{old}, got {tuple(bad)}")
    if len(set(smap.values())) != len(smap):
        raise ValueError(f"species_map maps two species to the same pretrained network: "
                         f"{smap!r}")
    inv = {v: k for k, v in smap.items()}
    new = tuple(inv.get(s, s) for s in old)
    if len(set(new)) != len(new):
        raise ValueError(f"species_map {smap!r} gives the fine-tuned model the species "
                         f"{new}: a name would stand for two networks")
    if data_species is not None:
        unused = sorted(k for k in smap if k not in data_species)
        if unused:
            raise ValueError(f"species_map keys must be species of the fine-tuning data "
                             f"{tuple(data_species)}, got {tuple(unused)}")
        unknown = sorted(s for s in data_species if s not in new)
        if unknown:
            hint = ", ".join(f"{s!r}: {old[0]!r}" for s in unknown)
            raise ValueError(f"the fine-tuning data have species {tuple(unknown)} that the "
                             f"pretrained model does not know (its species: {old}); pass "
                             f"species_map={{{hint}}} (or another pretrained species) to "
                             f"initialise them from a pretrained network")
    return new


def transfer_model(pretrained: NeuralPotential | str | os.PathLike,
                   species_map: Mapping[str, str] | None = None) -> NeuralPotential:
    """A copy of a pretrained model, its species renamed by ``species_map``.

    Parameters
    ----------
    pretrained : NeuralPotential or path
        The model, or its file (:func:`~langevin_opt.mlip.load_model`); not modified.
    species_map : dict of str to str, optional
        New species name -> pretrained species whose network, standardisation and ``e0``
        it takes (module docstring); unmapped species keep their names.

    Returns
    -------
    NeuralPotential
        Same descriptor settings, architecture, parameters, standardisation and reference
        energies, with the new species names.

    Raises
    ------
    ValueError
        A mapping to an unknown pretrained species, two species mapped to one network, or
        a renaming that makes two species share a name.
    """
    model = _pretrained(pretrained)
    new = _renamed_species(model, species_map, None)
    d = model.descriptor.to_dict()
    d["species"] = list(new)
    return NeuralPotential(descriptor_from_dict(d), model.hidden, model.activation,
                           units=model.units, theta=model.theta.copy(),
                           feature_mean=model.feature_mean.copy(),
                           feature_std=model.feature_std.copy(),
                           energy_offsets=model.energy_offsets.copy())


def frozen_mask(model: NeuralPotential, freeze: int | Sequence[int]) -> np.ndarray:
    """Boolean mask of the parameters that ``freeze`` holds fixed.

    Parameters
    ----------
    model : NeuralPotential
        Its layout (``L = len(hidden) + 1`` affine layers per species).
    freeze : int or sequence of int
        ``k`` in ``[0, L)``: the first ``k`` layers of every species' network; a sequence:
        those layer indices (in ``[-L, L)``, not all of them).

    Returns
    -------
    numpy.ndarray of bool, shape (P,)
        True at the frozen parameters (all False for ``freeze=0``).

    Raises
    ------
    ValueError
        ``k`` outside ``[0, L)``, a bad layer index, or every layer frozen.
    """
    L = len(model.hidden) + 1
    if isinstance(freeze, (int, np.integer)) and not isinstance(freeze, bool):
        if not 0 <= freeze < L:
            raise ValueError(f"freeze must be a number of first layers in [0, {L - 1}] "
                             f"(the networks have {L} layers) or a sequence of layer "
                             f"indices, got {freeze!r}")
        layers: list[int] = list(range(int(freeze)))
    elif isinstance(freeze, (list, tuple)):
        layers = list(freeze)
    else:
        raise TypeError(f"freeze must be an int or a sequence of layer indices, got "
                        f"{freeze!r}")
    if not layers:
        return np.zeros(model.n_params, dtype=bool)
    mask = parameter_mask(model, layers=layers)
    if mask.all():
        raise ValueError(f"freeze must leave at least one layer trainable (the networks "
                         f"have {L} layers), got {freeze!r}")
    return mask


def residual_offsets(model: NeuralPotential, dataset: Dataset) -> np.ndarray:
    """Reference energies ``e0`` that fit the data given the model's networks.

    Least squares of the residuals ``E_ref - sum_i NN(X_i)`` (the model's energies without
    ``e0``) on the species counts, for the species present in ``dataset``; the others keep
    their ``e0``.

    Parameters
    ----------
    model : NeuralPotential
        Networks and standardisation used as they are.
    dataset : Dataset
        Configurations with reference energies (species known to the model).

    Returns
    -------
    numpy.ndarray, shape (S,)
        Energy units per atom (eV for ``"metal"``).
    """
    if not isinstance(model, NeuralPotential):
        raise TypeError(f"model must be a NeuralPotential, got {type(model).__name__}")
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    names = model.species
    present = [s for s in names if s in dataset.species_names]
    counts = np.zeros((len(dataset), len(present)))
    nn = np.empty(len(dataset))
    for c in range(len(dataset)):
        x, sp, box = dataset.configuration(c, names, model.cutoff)
        r = model.evaluate(x, sp, box, forces=False)
        nn[c] = r.energy - float(model.energy_offsets[sp].sum())
        for k, s in enumerate(present):
            counts[c, k] = np.count_nonzero(sp == names.index(s))
    sol = np.linalg.lstsq(counts, dataset.energies - nn, rcond=None)[0]
    e0 = model.energy_offsets.copy()
    for k, s in enumerate(present):
        e0[names.index(s)] = sol[k]
    return e0


def fine_tune(pretrained: NeuralPotential | str | os.PathLike, dataset: Dataset, *,
              freeze: int | Sequence[int] = 0, species_map: Mapping[str, str] | None = None,
              method: str = "lbfgs", validation: Dataset | None = None,
              restandardize: bool = False, refit_offsets: bool = True,
              **fit_options: object) -> FitResult:
    """Fine-tune a copy of a pretrained model on new data, some layers frozen (module docstring).

    Parameters
    ----------
    pretrained : NeuralPotential or path
        The pretrained model or its file; not modified.
    dataset : Dataset
        Fine-tuning configurations (energies in eV and forces in eV/Å for ``"metal"``).
    freeze : int or sequence of int
        Frozen layers: the first ``freeze`` layers, or the listed indices (:func:`frozen_mask`;
        default 0: all trainable).
    species_map : dict of str to str, optional
        Data species -> pretrained species that initialises it, e.g. ``{"Ni": "Cu"}``.
    method : str
        ``"lbfgs"`` or an :mod:`langevin_opt.sgmcmc` method (``FIT_METHODS`` of
        :mod:`~langevin_opt.mlip.training`), with its settings in ``fit_options``
        (``step_size``, ``temperature``, ``seed``, ...).
    validation : Dataset, optional
        Held-out configurations of the new system (learning curve).
    restandardize : bool
        Refit the descriptor standardisation to ``dataset`` (default: keep the pretrained).
    refit_offsets : bool
        Refit ``e0`` of the data's species to the residual of the pretrained networks.
    **fit_options
        Other arguments of :func:`~langevin_opt.mlip.fit` (``max_iter``, ``force_weight``,
        ``prior_sigma``, ``batch_size``, ``seed``, ``log_every``, ``callback`` and the
        method's settings); ``standardize``, ``fit_offsets`` and ``trainable`` are set
        here.

    Returns
    -------
    FitResult
        ``model`` is the fine-tuned copy; ``n_trainable`` the number of trained parameters.

    Raises
    ------
    ValueError
        Data species the pretrained model does not know and ``species_map`` does not map
        (one line), a bad ``species_map`` or ``freeze``, bad fit settings.

    Examples
    --------
    >>> from langevin_opt import mlip                                 # doctest: +SKIP
    >>> res = mlip.fine_tune("cu_model.npz", ni_data, species_map={"Ni": "Cu"},
    ...                      freeze=1, max_iter=200)                  # doctest: +SKIP
    >>> mlip.save_model(res.model, "ni_model.npz")                    # doctest: +SKIP
    """
    base = _pretrained(pretrained)
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a mlip.Dataset, got {type(dataset).__name__}")
    if validation is not None and not isinstance(validation, Dataset):
        raise TypeError(f"validation must be a mlip.Dataset, got {type(validation).__name__}")
    for key in ("standardize", "fit_offsets", "trainable"):
        if key in fit_options:
            raise TypeError(f"fine_tune sets {key} itself; use restandardize, refit_offsets "
                            "or freeze")
    _renamed_species(base, species_map, dataset.species_names)
    if validation is not None:
        new = _renamed_species(base, species_map, None)
        unknown = sorted(set(validation.species_names) - set(new))
        if unknown:
            raise ValueError(f"the validation data have species {tuple(unknown)} that the "
                             f"fine-tuned model does not have (its species: {new})")
    model = transfer_model(base, species_map)
    frozen = frozen_mask(model, freeze)
    if restandardize:
        model.fit_standardization(dataset.configurations())
    if refit_offsets:
        model.energy_offsets = residual_offsets(model, dataset)
    return fit(model, dataset, method=method, validation=validation, standardize=False,
               fit_offsets=False, trainable=None if not frozen.any() else ~frozen,
               **fit_options)
