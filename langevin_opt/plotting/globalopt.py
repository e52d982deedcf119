"""The global-optimisation comparison figure (``benchmarks/bench_globalopt.py --figure``).

Two panels over the benchmark functions: the success rate of every method, and its median
wall time to solution (log scale; absent where a method never succeeded).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from . import _base

__all__ = ["globalopt_figure"]


def globalopt_figure(table: Mapping, path: str | Path, title: str | None = None) -> Path:
    """Draw success rate and median time to solution per function and method.

    Parameters
    ----------
    table : mapping
        ``{function: {"results": {method: {"success_rate": float in [0, 1],
        "median_time_s": float or None}}}}``, the ``table`` field of the benchmark's JSON
        record (methods may differ between functions).
    path : str or Path
        Figure file (the format follows the extension).
    title : str, optional
        Figure title.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ValueError
        An empty table, a function without results, or a success rate outside ``[0, 1]``.
    """
    if not isinstance(table, Mapping) or not table:
        raise ValueError("table must be a non-empty mapping of function -> results")
    funcs = list(table)
    methods: list[str] = []
    for f in funcs:
        res = table[f].get("results") if isinstance(table[f], Mapping) else None
        if not res:
            raise ValueError(f"table[{f!r}] has no 'results'")
        for m, v in res.items():
            rate = float(v["success_rate"])
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"success_rate of {m!r} on {f!r} must lie in [0, 1], "
                                 f"got {rate}")
            if m not in methods:
                methods.append(m)
    plt = _base.plt()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8.0, 0.55 * len(funcs) + 3), 7.5),
                                 sharex=True)
    x = np.arange(len(funcs))
    w = 0.8 / len(methods)
    cmap = plt.get_cmap("tab10")
    for j, m in enumerate(methods):
        rate = [table[f]["results"][m]["success_rate"] if m in table[f]["results"] else np.nan
                for f in funcs]
        tts = [table[f]["results"].get(m, {}).get("median_time_s") for f in funcs]
        tts = [np.nan if t is None else float(t) for t in tts]
        off = x - 0.4 + (j + 0.5) * w
        a1.bar(off, rate, w, color=cmap(j % 10), label=m)
        a2.bar(off, tts, w, color=cmap(j % 10))
    a1.set_ylabel("success rate")
    a1.set_ylim(0, 1.05)
    a1.legend(fontsize=7, ncol=min(4, len(methods)), loc="lower left",
              bbox_to_anchor=(0.0, 1.01), frameon=False)
    a2.set_yscale("log")
    a2.set_ylabel("median time to solution (s)")
    a2.set_xticks(x)
    a2.set_xticklabels(funcs, rotation=60, ha="right", fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _base.save(fig, path)
