"""Figure: global optimisation against SciPy (success rate and median time to solution).

Reads only the JSON record of ``benchmarks/bench_globalopt.py`` (its last output line, kept in
``paper/figures/globalopt/bench_globalopt.json``) and draws it with
:func:`langevin_opt.plotting.globalopt.globalopt_figure`; it never re-runs the benchmark::

    python benchmarks/bench_globalopt.py | tail -n 1 > paper/figures/globalopt/bench_globalopt.json
    python paper/figures/fig_globalopt.py [RECORD.json] [OUT.png]

Defaults: the committed record and ``paper/figures/globalopt.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from langevin_opt.plotting.globalopt import globalopt_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(record: str | Path | None = None,
         out: str | Path = HERE / "globalopt.png") -> Path:
    """Draw the figure from a benchmark record; return the written path.

    Without ``record``, the committed one (refused when made by another version of the
    benchmark).  Also writes ``OUT.json`` (the record: the numbers the paper quotes).
    """
    if record is None:
        record = require_fresh("globalopt") / "bench_globalopt.json"
    record = Path(record)
    if not record.is_file():
        sys.exit(f"error: {record} not found: run benchmarks/bench_globalopt.py first")
    res = json.loads(record.read_text())
    title = (f"{res['seeds']} seeds per function and method, same wall-time budget\n"
             f"default {res['default_method']}: success >= best SciPy everywhere: "
             f"{res['success_ge_best_scipy']}; faster than dual_annealing on "
             f"{res['faster_than_dual_annealing']} of {res['n_functions']}")
    path = globalopt_figure(res["table"], out, title=title)
    write_numbers(Path(out).with_suffix(".json"), res)
    print(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) > 3 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
