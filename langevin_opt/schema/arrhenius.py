"""Config files of ``langevin-opt arrhenius`` (TOML): schema, validation and defaults.

Every problem is one :class:`~langevin_opt.schema.ConfigError` line naming the
key, as for ``langevin-opt run``.  Layout::

    [experiment]
    name = "arrhenius_muller_brown"   # str
    seed = 2026                       # int in [0, 2**64)
    description = "..."               # optional

    [landscape]
    name = "muller_brown"             # a built-in landscape and its settings

    # ... or, instead of [landscape], a cluster of atoms:
    [cluster]
    structure = "lj7_2d"              # lj7_2d (2-D LJ7 hexagon) | lj13 (LJ13 icosahedron)
    container_radius = 0.0            # spherical wall around the origin (0: none)
    energy_tol = 1e-3                 # quench energies differing by more: another minimum
    potential = {kind = "lj"}         # lj (plain Lennard-Jones) | mlip: a neural potential,
                                      # {kind = "mlip", model = "model.npz"} (path relative
                                      # to the config file; 3-D structures; species 0)

    # ... or, instead of [landscape], the loss of a small neural network (then no
    # [integrator]: the dynamics is full-batch Langevin or minibatch SGD, see [rates]):
    [data]                            # the data set, keys as in flatness.toml
    kind = "two_moons"                # teacher_student_classification |
                                      # teacher_student_regression | two_moons | iris
    n_train = 40                      # plus n_test (default 0 here), noise, label_noise,
                                      # teacher_sizes, test_fraction, seed (default:
                                      # [experiment] seed)
    [network]
    hidden = [4]                      # hidden-layer widths (inputs, outputs from the data)
    activation = "tanh"               # identity | tanh | relu | softplus | sigmoid
    loss = "auto"                     # auto (softmax_ce for classification, mse for
                                      # regression) | softmax_ce | mse
    prior_sigma = 2.0                 # Gaussian prior: U = sum_i loss_i + |θ|²/(2 σ²)
    init_gain = 2.0                   # scale of the seeded starts of the minimum search
    n_starts = 12                     # starts of nn.network_minima (seeded by [experiment])
    descent_steps = 100               # gradient-descent steps before L-BFGS, per start
    tol = 1e-3                        # distance modulo hidden-unit symmetry within which
                                      # two minima are one (classes, commitment)
    start = 0                         # start minimum: index in the distinct minima (modulo
                                      # symmetry) sorted by energy; 0 = lowest
    partner = 1                       # optional: end of the theory path (same indexing);
                                      # default: the class nearest to the start modulo
                                      # symmetry

    [integrator]                      # [landscape] and [cluster] only
    kind = "overdamped"               # overdamped | baoab
    dt = 1e-5                         # plus friction, mass for baoab (clusters: friction)

    [rates]
    temperatures = [12.0, 15.0, 20.0] # k_B = 1; >= 1 temperature (>= 2 for a fit)
    walkers = 200                     # walkers per temperature
    max_steps = 1_000_000             # step limit (censoring), or one per temperature
    start = 0                         # index of the start minimum in the landscape's minima
    basin_radius = 0.15               # optional: commitment-ball radius, or one per minimum
    basin_fraction = 0.5              # default radius: this fraction of the distance to the
                                      # nearest known saddle
    chunk = 2000                      # steps between packings of the running walkers
                                      # (clusters, networks: steps between quenches)
    level = 0.95                      # confidence level
    bootstrap = 1000                  # bootstrap replicas of the Arrhenius fit (0: normal theory)
    # [network] only:
    method = "langevin"               # langevin (full-batch overdamped Langevin at each
                                      # temperature) | sgd (minibatch SGD, no noise but the
                                      # minibatches; then no temperatures:)
    learning_rates = [0.05, 0.1]      # sgd: learning rates (> 0) ...
    batch_sizes = [4, 8]              # ... and batch sizes (1..n_train); the grid is their
                                      # outer product, learning rate outer; max_steps: one
                                      # or one per (learning rate, batch size) pair
    quench_steps = 200                # gradient-descent steps of each quench
    step_size = 0.01                  # langevin: time step eta (optional; default
                                      # 0.05 / λ_max, λ_max the largest Hessian
                                      # eigenvalue at the start minimum)

    [theory]                          # optional
    enabled = true                    # CI-NEB + dimer saddle search and rate predictions
    n_images = 11                     # ([network]: default 9)
    fmax = 1e-3                       # force tolerance (energy / length)

    [output]                          # optional
    plot = true                       # write arrhenius.png
    compression = "none"              # none | gzip | lzf

Units: reduced, ``k_B = 1``; rates in inverse time units of the integrator.  Networks:
energies and temperatures in loss units, Langevin time ``eta * steps``, SGD time
``learning_rate * steps`` (rates in their inverse).  With ``[network]``, ``max_steps``
must be a multiple of ``chunk``, and ``[rates] start``, ``basin_radius`` and
``basin_fraction`` are not used (``[network] start`` is the start).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..landscapes import Landscape, make_landscape
from ..sampling import make_integrator
from ._base import (
    ConfigError,
    Field,
    at_least,
    check_sections,
    coerce,
    coerce_lists,
    fill_section,
    in_open_unit,
    positive,
    read_toml,
)
from .flatness import SECTIONS as _FLAT_SECTIONS
from .flatness import _convert as _flat_convert
from .flatness import data_section, data_shape, training_size
from .run import SECTIONS as _RUN_SECTIONS
from .run import integrator_section, landscape_section

__all__ = ["RatesExperiment", "validate_rates_config", "load_rates_config", "INTEGRATOR_KINDS",
           "CLUSTER_STRUCTURES", "cluster_structure", "NETWORK_METHODS", "NETWORK_LOSSES"]

#: Integrators the first-passage loop supports.
INTEGRATOR_KINDS = ("overdamped", "baoab")


def _temps(v: list) -> str | None:
    if not v:
        return "must hold at least one temperature"
    if any(t <= 0 for t in v):
        return "must all be > 0"
    return None


def _distinct_positive(v: list) -> str | None:
    if not v:
        return "must hold at least one value"
    if any(x <= 0 for x in v):
        return "must all be > 0"
    return _distinct(v)


def _distinct(v: list) -> str | None:
    if not v:
        return "must hold at least one value"
    if len(set(v)) != len(v):
        return "must be distinct"
    return None


SECTIONS: dict[str, dict[str, Field]] = {
    "experiment": _RUN_SECTIONS["experiment"],
    "rates": {
        # required, except with method = "sgd" (checked in validate_rates_config)
        "temperatures": Field("float_list", default=None, check=_temps),
        "walkers": Field("int", required=True, check=at_least(1)),
        "max_steps": Field("int_or_list", required=True),
        "start": Field("int", default=0, check=at_least(0)),
        "basin_radius": Field("float_or_list", default=None),
        "basin_fraction": Field("float", default=0.5, check=in_open_unit),
        "chunk": Field("int", default=2000, check=at_least(1)),
        "level": Field("float", default=0.95, check=in_open_unit),
        "bootstrap": Field("int", default=1000, check=at_least(0)),
        # [network] only (NETWORK_RATES_KEYS)
        "method": Field("str", default=None, choices=("langevin", "sgd")),
        "learning_rates": Field("float_list", default=None, check=_distinct_positive),
        "batch_sizes": Field("int_list", default=None, check=_distinct),
        "quench_steps": Field("int", default=None, check=at_least(1)),
        "step_size": Field("float", default=None, check=positive),
    },
    "theory": {
        "enabled": Field("bool", default=True),
        "n_images": Field("int", default=11, check=at_least(3)),
        "fmax": Field("float", default=1e-3, check=positive),
    },
    "output": {
        "plot": Field("bool", default=True),
        "compression": Field("str", default="none", choices=("none", "gzip", "lzf")),
    },
}
REQUIRED = ("experiment", "rates")

#: ``[theory] n_images`` default of a ``[network]`` config (as :func:`~langevin_opt.nn.connect`:
#: 11 images can send the CI-NEB of a network's loss astray).
NETWORK_N_IMAGES = 9
#: ``[rates] method`` of a ``[network]`` config.
NETWORK_METHODS = ("langevin", "sgd")
#: ``[network] loss`` (``auto``: from the data set).
NETWORK_LOSSES = ("auto", "softmax_ce", "mse")
#: ``[rates]`` keys that only a ``[network]`` config takes, and their defaults there.
NETWORK_RATES_KEYS = {"method": "langevin", "learning_rates": None, "batch_sizes": None,
                      "quench_steps": 200, "step_size": None}
#: ``[data]``: the flatness config's keys; no test set by default (rates use the training loss).
DATA_FIELDS = {**_FLAT_SECTIONS["data"], "n_test": Field("int", default=0, extra=0)}
#: ``[network]``: the flatness config's keys plus the minimum search and the start.
NETWORK_FIELDS = {
    **_FLAT_SECTIONS["network"],
    "loss": Field("choice", default="auto", extra=NETWORK_LOSSES),
    "n_starts": Field("int", default=12, extra=1),
    "descent_steps": Field("int", default=100, extra=0),
    "tol": Field("positive", default=1e-3),
    "start": Field("int", default=0, extra=0),
    "partner": Field("int", default=None, extra=0),
}

#: Cluster start structures of ``[cluster] structure`` (plain Lennard-Jones, eps = sigma = 1).
CLUSTER_STRUCTURES = ("lj7_2d", "lj13")
#: Kinds of ``[cluster] potential``.
CLUSTER_POTENTIALS = ("lj", "mlip")
CLUSTER_FIELDS = {
    "structure": Field("str", required=True, choices=CLUSTER_STRUCTURES),
    "container_radius": Field("float", default=0.0, check=at_least(0)),
    "energy_tol": Field("float", default=1e-3, check=positive),
    "potential": Field("cluster_potential", default={"kind": "lj"}),
}


def _cluster_potential(value: object, base_dir: Path | None) -> dict:
    """Validate ``[cluster] potential``: ``{kind = "lj"}`` or ``{kind = "mlip", model = path}``.

    The model path is made absolute (relative to ``base_dir``, else the working
    directory) and the file is loaded once, so that a missing, corrupted or foreign model
    file is a one-line :class:`ConfigError` before anything runs.
    """
    where = "[cluster] potential"
    if not isinstance(value, Mapping):
        raise ConfigError(f'{where}: must be a table such as {{kind = "mlip", model = '
                          f'"model.npz"}}, got {type(value).__name__} {value!r}')
    kind = value.get("kind")
    if kind not in CLUSTER_POTENTIALS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(CLUSTER_POTENTIALS)}, "
                          f"got {kind!r}")
    allowed = {"lj": ("kind",), "mlip": ("kind", "model")}[kind]
    extra = sorted(set(value) - set(allowed))
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r} for kind {kind!r}; allowed: "
                          f"{', '.join(allowed)}")
    if kind == "lj":
        return {"kind": "lj"}
    model = value.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where}: model must be the path of a model file (str), got "
                          f"{model!r}")
    path = Path(model)
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    from ..mlip.io import load_model

    try:
        load_model(path)
    except FileNotFoundError:
        raise ConfigError(f"{where}: model file {str(path)!r} does not exist") from None
    except (ValueError, OSError) as err:  # ModelFileError is a ValueError
        raise ConfigError(f"{where}: {' '.join(str(err).split())}") from None
    return {"kind": "mlip", "model": str(path)}


def _cluster_convert(base_dir: Path | None):  # noqa: ANN202
    def convert(section: str, key: str, f: Field, v: object) -> object:
        if f.kind == "cluster_potential":
            return _cluster_potential(v, base_dir)
        return coerce(section, key, f, v)
    return convert


def cluster_structure(name: str):  # noqa: ANN201
    """Start configuration of a built-in cluster (a minimum before polishing).

    Parameters
    ----------
    name : {"lj7_2d", "lj13"}

    Returns
    -------
    numpy.ndarray, shape (N, d)
    """
    import numpy as np

    if name == "lj7_2d":
        a = np.arange(6) * np.pi / 3
        return 1.12 * np.vstack([[0.0, 0.0], np.stack([np.cos(a), np.sin(a)], axis=1)])
    phi = (1 + 5**0.5) / 2
    v = [(0, a, b) for a in (-1, 1) for b in (-phi, phi)]
    v += [(a, b, 0) for a in (-1, 1) for b in (-phi, phi)]
    v += [(b, 0, a) for a in (-1, 1) for b in (-phi, phi)]
    v = np.array(v, dtype=float)
    return np.vstack([np.zeros(3), 1.1 * v / np.linalg.norm(v[0])])


@dataclass(frozen=True)
class RatesExperiment:
    """A validated ``arrhenius`` config.

    Attributes
    ----------
    config : dict
        Normalised config (defaults filled in), stored in the output file.
    """

    config: dict

    @property
    def name(self) -> str:
        """Experiment name."""
        return self.config["experiment"]["name"]

    @property
    def seed(self) -> int:
        """Generator key."""
        return self.config["experiment"]["seed"]

    @property
    def is_cluster(self) -> bool:
        """True for a ``[cluster]`` config (atoms), False for a ``[landscape]`` one."""
        return "cluster" in self.config

    @property
    def is_network(self) -> bool:
        """True for a ``[network]`` config (the loss of a neural network)."""
        return "network" in self.config

    @property
    def method(self) -> str:
        """Dynamics: ``"langevin"`` or ``"sgd"`` (networks), else the integrator kind."""
        if self.is_network:
            return self.config["rates"]["method"]
        return self.config["integrator"]["kind"]

    @property
    def system_name(self) -> str:
        """Landscape name, cluster structure, or network and data set."""
        if self.is_network:
            sizes = "-".join(map(str, self.layer_sizes()))
            return (f"{sizes} {self.config['network']['activation']} MLP on "
                    f"{self.config['data']['kind']}")
        return (self.config["cluster"]["structure"] if self.is_cluster
                else self.config["landscape"]["name"])

    def layer_sizes(self) -> list[int]:
        """Layer sizes ``(inputs, *hidden, outputs)`` of a ``[network]`` config.

        Returns
        -------
        list of int
        """
        n_in, n_out, _ = data_shape(self.config["data"])
        return [n_in, *self.config["network"]["hidden"], n_out]

    def network(self) -> tuple:
        """Data set, network and full-batch loss of a ``[network]`` config.

        Returns
        -------
        (Dataset, MLP, DataLandscape)
            The landscape is ``U = sum_i loss_i + |θ|² / (2 prior_sigma²)`` over the
            training set, exact gradients (``batch_size = n_train``).
        """
        from ..nn.experiment import _dataset
        from ..nn.landscape import mlp_landscape
        from ..nn.mlp import MLP

        nw = self.config["network"]
        ds = _dataset(self.config["data"])
        net = MLP(self.layer_sizes(), nw["activation"], nw["loss"])
        ls = mlp_landscape(net, ds.X_train, ds.y_train, batch_size=ds.X_train.shape[0],
                           prior_sigma=nw["prior_sigma"])
        return ds, net, ls

    def settings(self) -> list[tuple[float, int]]:
        """``(learning_rate, batch_size)`` grid of an SGD config, learning rate outer.

        Returns
        -------
        list of (float, int)
        """
        r = self.config["rates"]
        return [(float(lr), int(b)) for lr in r["learning_rates"] for b in r["batch_sizes"]]

    def n_rows(self) -> int:
        """Rows of the grid: temperatures, or SGD settings.

        Returns
        -------
        int
        """
        if self.is_network and self.method == "sgd":
            return len(self.settings())
        return len(self.config["rates"]["temperatures"])

    def cluster(self) -> tuple:
        """Start configuration, potential and container of a ``[cluster]`` config.

        Returns
        -------
        (numpy.ndarray, LennardJones or mlip.NeuralPotential, Container or None)
        """
        from ..particles import Container, lennard_jones

        c = self.config["cluster"]
        box = Container(c["container_radius"]) if c["container_radius"] > 0 else None
        pot = c.get("potential") or {"kind": "lj"}
        if pot["kind"] == "mlip":
            from ..mlip.io import load_model

            # the model itself: the particle engines bind it to the cluster's species
            return cluster_structure(c["structure"]), load_model(pot["model"]), box
        return cluster_structure(c["structure"]), lennard_jones(mode="plain"), box

    def landscape(self) -> Landscape:
        """Build the landscape.

        Returns
        -------
        Landscape
        """
        s = dict(self.config["landscape"])
        return make_landscape(s.pop("name"), **s)

    def integrator(self):  # noqa: ANN201
        """Build the integrator.

        Returns
        -------
        Overdamped or BAOAB (walkers); LangevinOverdamped or LangevinBAOAB (clusters)

        Raises
        ------
        ValueError
            For a ``[network]`` config (its dynamics is ``[rates] method``).
        """
        if self.is_network:
            raise ValueError("a [network] config has no integrator: its dynamics is "
                             f"[rates] method = {self.method!r}")
        s = dict(self.config["integrator"])
        kind = s.pop("kind")
        if self.is_cluster:
            from ..particles import make_particle_integrator

            return make_particle_integrator(kind, **s)
        return make_integrator(kind, **s)

    def max_steps(self) -> list[int]:
        """Step limit per temperature (SGD: per setting of :meth:`settings`).

        Returns
        -------
        list of int
        """
        m = self.config["rates"]["max_steps"]
        return list(m) if isinstance(m, list) else [m] * self.n_rows()


def validate_rates_config(raw: Mapping, *, base_dir: str | Path | None = None
                          ) -> RatesExperiment:
    """Validate a parsed ``arrhenius`` config and fill in defaults.

    Parameters
    ----------
    raw : mapping
        Parsed TOML document.
    base_dir : str or Path, optional
        Directory that relative file names (``[cluster] potential.model``) are relative
        to (default: the working directory).

    Returns
    -------
    RatesExperiment

    Raises
    ------
    ConfigError
        On the first problem (one line naming the key).
    """
    check_sections(raw, [*SECTIONS, "landscape", "cluster", "network", "data", "integrator"],
                   REQUIRED)
    kinds = [k for k in ("landscape", "cluster", "network") if k in raw]
    if len(kinds) != 1:
        got = (", got " + " and ".join(f"[{k}]" for k in kinds)) if kinds else ""
        raise ConfigError("config: needs exactly one of the sections [landscape] (walkers), "
                          f"[cluster] (atoms) and [network] (a network's loss){got}")
    network = kinds[0] == "network"
    if network and "integrator" in raw:
        raise ConfigError("[integrator] not used with [network] (the dynamics is set by "
                          "[rates] method, its step by [rates] step_size)")
    if not network:
        if "integrator" not in raw:
            raise ConfigError("[integrator] section is missing (required)")
        if "data" in raw:
            raise ConfigError("[data] only used with [network] (the data set of the network)")
    out: dict[str, Any] = {sec: fill_section(sec, raw.get(sec, {}), fields, coerce_lists)
                           for sec, fields in SECTIONS.items()}

    r = out["rates"]
    if network:
        return _validate_network(raw, out)
    for key in NETWORK_RATES_KEYS:
        if r.pop(key) is not None:
            raise ConfigError(f"[rates] {key}: only used with [network]")
    if r["temperatures"] is None:
        raise ConfigError("[rates] temperatures: missing (required)")
    n_t = len(r["temperatures"])
    if isinstance(r["max_steps"], list) and len(r["max_steps"]) != n_t:
        raise ConfigError(f"[rates] max_steps: needs one entry per temperature ({n_t}), "
                          f"got {len(r['max_steps'])}")
    if "cluster" in raw:
        return _validate_cluster(raw, out, None if base_dir is None else Path(base_dir))
    land, built = landscape_section(raw["landscape"])
    out["landscape"] = land
    name = land["name"]
    out["integrator"] = integrator_section(raw["integrator"], INTEGRATOR_KINDS, make_integrator,
                                           " for first-passage runs")
    n_min = 0 if built.minima is None else built.minima.shape[0]
    if n_min < 2:
        raise ConfigError(f"[landscape] name: landscape {name!r} lists {n_min} minima; "
                          "escape rates need at least 2")
    if r["start"] >= n_min:
        raise ConfigError(f"[rates] start: landscape {name!r} has {n_min} minima "
                          f"(0..{n_min - 1}), got {r['start']}")
    br = r["basin_radius"]
    if isinstance(br, list) and len(br) != n_min:
        raise ConfigError(f"[rates] basin_radius: needs one radius per minimum ({n_min}), "
                          f"got {len(br)}")
    from ..rates.first_passage import basins_from_landscape

    try:
        basins_from_landscape(built, br, fraction=r["basin_fraction"])
    except ValueError as err:
        raise ConfigError(f"[rates] basin_radius: {err}") from None
    return RatesExperiment(out)


def _validate_cluster(raw: Mapping, out: dict, base_dir: Path | None) -> RatesExperiment:
    """The ``[cluster]`` branch of :func:`validate_rates_config`."""
    from ..particles import make_particle_integrator

    out["cluster"] = c = fill_section("cluster", raw["cluster"], CLUSTER_FIELDS,
                                      _cluster_convert(base_dir))
    if c["potential"]["kind"] == "mlip" and cluster_structure(c["structure"]).shape[1] != 3:
        raise ConfigError(f"[cluster] structure: a neural potential (potential.kind = "
                          f"\"mlip\") needs a 3-D structure, got {c['structure']!r}")
    out["integrator"] = integrator_section(raw["integrator"], INTEGRATOR_KINDS,
                                           make_particle_integrator, " for first-passage runs")
    r = out["rates"]
    for m in (r["max_steps"] if isinstance(r["max_steps"], list) else [r["max_steps"]]):
        if m % r["chunk"]:
            raise ConfigError(f"[rates] max_steps: must be a multiple of chunk={r['chunk']} "
                              f"(the steps between quenches) for a cluster, got {m}")
    for key in ("start", "basin_radius", "basin_fraction"):
        if key in raw["rates"]:
            raise ConfigError(f"[rates] {key}: not used for a [cluster] (basins are defined "
                              "by quenching)")
        r.pop(key)
    return RatesExperiment(out)


def _validate_network(raw: Mapping, out: dict) -> RatesExperiment:
    """The ``[network]`` branch of :func:`validate_rates_config`."""
    r = out["rates"]
    given = raw["rates"]
    for key, default in NETWORK_RATES_KEYS.items():
        if r[key] is None:
            r[key] = default
    for key in ("start", "basin_radius", "basin_fraction"):
        if given.get(key) is not None:
            hint = " (the start is [network] start)" if key == "start" else ""
            raise ConfigError(f"[rates] {key}: not used with [network]{hint}")
        r.pop(key)
    if "data" not in raw:
        raise ConfigError("[data] section is missing (required with [network])")
    if (raw.get("theory") or {}).get("n_images") is None:
        out["theory"]["n_images"] = NETWORK_N_IMAGES
    out["data"] = d = data_section(raw["data"], out["experiment"]["seed"], DATA_FIELDS)
    out["network"] = nw = fill_section("network", raw["network"], NETWORK_FIELDS, _flat_convert)
    _, _, classification = data_shape(d)
    want = "softmax_ce" if classification else "mse"
    if nw["loss"] == "auto":
        nw["loss"] = want
    elif nw["loss"] != want:
        task = "classification" if classification else "regression"
        raise ConfigError(f"[network] loss: must be auto or {want} for the {task} data set "
                          f"{d['kind']!r}, got {nw['loss']!r}")
    if nw["partner"] is not None and nw["partner"] == nw["start"]:
        raise ConfigError(f"[network] partner: must differ from start={nw['start']}, "
                          f"got {nw['partner']}")
    if r["method"] == "sgd":
        for key in ("temperatures", "step_size"):
            if r[key] is not None:
                raise ConfigError(f"[rates] {key}: not used with method = \"sgd\" (the grid "
                                  "is learning_rates x batch_sizes)")
            r.pop(key)
        for key in ("learning_rates", "batch_sizes"):
            if r[key] is None:
                raise ConfigError(f"[rates] {key}: missing (required with method = \"sgd\")")
        n_train = training_size(d)
        big = [b for b in r["batch_sizes"] if b > n_train]
        if big:
            raise ConfigError(f"[rates] batch_sizes: must all be in [1, n_train={n_train}], "
                              f"got {big[0]}")
        n_rows, what = len(r["learning_rates"]) * len(r["batch_sizes"]), \
            "(learning rate, batch size) pair"
    else:
        for key in ("learning_rates", "batch_sizes"):
            if r[key] is not None:
                raise ConfigError(f"[rates] {key}: only used with method = \"sgd\"")
            r.pop(key)
        if r["temperatures"] is None:
            raise ConfigError("[rates] temperatures: missing (required with method = "
                              "\"langevin\")")
        n_rows, what = len(r["temperatures"]), "temperature"
    steps = r["max_steps"] if isinstance(r["max_steps"], list) else [r["max_steps"]]
    if isinstance(r["max_steps"], list) and len(steps) != n_rows:
        raise ConfigError(f"[rates] max_steps: needs one entry per {what} ({n_rows}), "
                          f"got {len(steps)}")
    for m in steps:
        if m % r["chunk"]:
            raise ConfigError(f"[rates] max_steps: must be a multiple of chunk={r['chunk']} "
                              f"(the steps between quenches) for a network, got {m}")
    return RatesExperiment(out)


def load_rates_config(path: str | Path) -> RatesExperiment:
    """Read and validate an ``arrhenius`` TOML config.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    RatesExperiment

    Raises
    ------
    ConfigError
        Unreadable file, TOML syntax error, or invalid content.
    """
    return validate_rates_config(read_toml(path), base_dir=Path(path).resolve().parent)
