"""Which kind of config a TOML document is, and which command runs it.

Every config kind has sections no other kind has, so a document's kind follows
from its sections (an explicit ``[experiment] kind`` key does not exist).  First
match from the top:

* ``arrhenius``: ``[rates]`` (a landscape, ``[cluster]`` or ``[network]`` system);
  run with ``langevin-opt arrhenius``.
* ``run``: ``[ensemble]``; run with ``langevin-opt run``.
* ``flatness``: ``[sgld]``, ``[quench]`` or ``[flatness]``; run from Python
  (``langevin_opt.nn.experiment``; ``python experiments/flatness_run.py CONFIG OUTDIR``).
* ``active-learn``: ``[reference]``, ``[explore]``, ``[active]`` or ``[data] initial``;
  run with ``langevin-opt active-learn``.
* ``fit-potential``: ``[descriptor]``, ``[training]`` or ``[data] train``; run with
  ``langevin-opt fit-potential``.
* ``run`` again: ``[landscape]`` or ``[integrator]`` without any of the above (a run
  config missing ``[ensemble]``, so the run validation names what is missing).

:func:`config_kind` applies the table (first match from the top);
:func:`wrong_command_message` is the one-line error of a command given another
kind's config (:func:`load_for_command`: that check, then the kind's loader);
:func:`validate_any` validates a file of any kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._base import ConfigError, read_toml

__all__ = ["KINDS", "COMMANDS", "config_kind", "describe_kind", "validate_any",
           "wrong_command_message", "load_for_command"]

#: Every config kind, in detection order.
KINDS = ("arrhenius", "run", "flatness", "active-learn", "fit-potential")

#: How each kind is run (the ``langevin-opt`` command line, or what else runs it).
COMMANDS: dict[str, str] = {
    "run": "langevin-opt run {path}",
    "arrhenius": "langevin-opt arrhenius {path}",
    "flatness": "python experiments/flatness_run.py {path} OUTDIR (no langevin-opt command; "
                "langevin_opt.nn.experiment.temperature_ladder_experiment)",
    "fit-potential": "langevin-opt fit-potential {path} --out DIR",
    "active-learn": "langevin-opt active-learn {path} --out DIR",
}

#: The sections that tell each kind, for messages.
_TOLD_BY: dict[str, str] = {
    "run": "[ensemble]",
    "arrhenius": "[rates]",
    "flatness": "[sgld]/[quench]/[flatness]",
    "fit-potential": "[descriptor] and [training] or [data] train",
    "active-learn": "[reference]/[explore]/[active] or [data] initial",
}


def _table(raw: Mapping, name: str) -> Mapping:
    t = raw.get(name)
    return t if isinstance(t, Mapping) else {}


def config_kind(raw: Mapping, *, strict: bool = False) -> str | None:
    """The kind of a parsed config document, from its sections.

    Parameters
    ----------
    raw : mapping
        A parsed TOML document (not validated).
    strict : bool
        Only a kind's own sections count: a document with ``[landscape]`` or
        ``[integrator]`` but none of the telling sections is then of no kind
        (instead of a run config missing ``[ensemble]``).

    Returns
    -------
    str or None
        One of :data:`KINDS`, or None when no kind's sections are present.
    """
    if not isinstance(raw, Mapping):
        return None
    if "rates" in raw:
        return "arrhenius"
    if "ensemble" in raw:
        return "run"
    if any(s in raw for s in ("sgld", "quench", "flatness")):
        return "flatness"
    data = _table(raw, "data")
    if any(s in raw for s in ("reference", "explore", "active")) or "initial" in data:
        return "active-learn"
    if "descriptor" in raw or "training" in raw or "train" in data:
        return "fit-potential"
    if not strict and ("landscape" in raw or "integrator" in raw):  # run without [ensemble]
        return "run"
    return None


def describe_kind(kind: str) -> str:
    """``"an arrhenius config (it has [rates])"``-style phrase for messages.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.

    Returns
    -------
    str
    """
    article = "an" if kind[0] in "aeiou" else "a"
    return f"{article} {kind} config (it has {_TOLD_BY[kind]})"


def wrong_command_message(path: str | Path, raw: Mapping, command: str) -> str | None:
    """The one-line error for a config given to a command that does not run its kind.

    Parameters
    ----------
    path : str or Path
        The config file (named in the message).
    raw : mapping
        Its parsed contents.
    command : str
        The command it was given to (a kind of :data:`KINDS`).

    Returns
    -------
    str or None
        None when the config is of ``command``'s kind (or of no known kind: the
        command's own validation then says what is missing).  A config with a
        ``[sweep]`` section always gets the ``langevin-opt sweep`` hint.
    """
    kind = config_kind(raw, strict=True)
    if isinstance(raw, Mapping) and "sweep" in raw:
        what = describe_kind(kind) if kind is not None else "a config"
        return (f"{path}: this is a sweep ([sweep] section) over {what}; run it with: "
                f"langevin-opt sweep {path} --out DIR")
    if kind is None or kind == command:
        return None
    article = "an" if command[0] in "aeiou" else "a"
    return (f"{path}: this is {describe_kind(kind)}, not {article} {command} config; run it "
            "with: "
            + COMMANDS[kind].format(path=path))


def validate_any(path: str | Path) -> tuple[str, Any]:
    """Read and validate a config file of any kind.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.

    Returns
    -------
    kind : str
        One of :data:`KINDS`.
    validated : object
        What the kind's loader returns: an :class:`~.run.Experiment` (run), a
        :class:`~.arrhenius.RatesExperiment` (arrhenius) or the filled-in dict
        (flatness, fit-potential, active-learn).

    Raises
    ------
    ConfigError
        Unreadable file, no known kind, or invalid content (one line).
    """
    p = Path(path)
    raw = read_toml(p)
    kind = config_kind(raw)
    if kind is None:
        found = ", ".join(f"[{s}]" for s in raw) or "none"
        raise ConfigError(
            f"{p}: cannot tell what kind of config this is (sections: {found}); a run config "
            "has [ensemble], arrhenius [rates], flatness [sgld], fit-potential [descriptor] "
            "and [training], active-learn [descriptor] and [active]")
    base = p.resolve().parent
    if kind == "run":
        from .run import validate_config

        return kind, validate_config(raw)
    if kind == "arrhenius":
        from .arrhenius import validate_rates_config

        return kind, validate_rates_config(raw, base_dir=base)
    if kind == "flatness":
        from .flatness import validate_flatness_config

        return kind, validate_flatness_config(raw)
    if kind == "fit-potential":
        from .fit_potential import validate_fit_config

        return kind, validate_fit_config(raw, base=base)
    from .active_learn import validate_active_config

    return kind, validate_active_config(raw, base=base)


def load_for_command(path: str | Path, command: str, loader: Callable[[Path], Any]) -> Any:
    """Load a config for ``command``, refusing another kind's config first.

    Parameters
    ----------
    path : str or Path
        The ``.toml`` file.
    command : str
        The command it was given to (a kind of :data:`KINDS`).
    loader : callable
        The kind's loader, ``loader(path)`` (it raises :class:`ConfigError`).

    Returns
    -------
    object
        What ``loader`` returns.

    Raises
    ------
    ConfigError
        One line: the :func:`wrong_command_message`, or the loader's message
        prefixed with ``path`` (once).  A file that cannot be read is left to
        the loader, whose message names the problem.
    """
    try:
        wrong = wrong_command_message(path, read_toml(path), command)
    except ConfigError:
        wrong = None
    if wrong is not None:
        raise ConfigError(wrong)
    try:
        return loader(path)
    except ConfigError as err:
        msg = " ".join(str(err).split())
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
