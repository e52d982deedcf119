"""Figure: a Behler–Parrinello network trained on EMT copper, measured against EMT.

Four panels (:func:`langevin_opt.plotting.potential_validation_figure`): parity plots of
held-out per-atom energies and force components, the equation of state of the network and
of EMT, and the adatom-hop energy profile on Cu(100) along the NEB path (EMT in ASE's NEB,
the network in the package's NEB and in ASE's).

Reads only the outputs of ``experiments/mlip_cu_emt.py`` (``results.json`` and
``figure_data.npz`` in its output directory); it never re-trains::

    python experiments/mlip_cu_emt.py --out-dir paper/figures/mlip_cu_emt     # ~20 min, 2 cores
    python paper/figures/fig_mlip.py [RUN_DIR] [OUT.png]

Defaults: ``paper/figures/mlip_cu_emt`` (the committed outputs of the run, including the
trained ``model.npz``) and ``paper/figures/mlip_cu_emt.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from langevin_opt.plotting import potential_validation_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(run_dir: str | Path | None = None,
         out: str | Path = HERE / "mlip_cu_emt.png") -> Path:
    """Draw the figure from a finished run directory; return the written path.

    Without ``run_dir``, the committed outputs (refused when made from another version of
    the experiment scripts).  Also writes ``OUT.json``: the run's results and adatom rates,
    the numbers the paper quotes.
    """
    if run_dir is None:
        require_fresh("mlip_cu_adatom_rates")
        run_dir = require_fresh("mlip_cu_emt")
    run = Path(run_dir)
    for name in ("results.json", "figure_data.npz"):
        if not (run / name).is_file():
            sys.exit(f"error: {run / name} not found: run experiments/mlip_cu_emt.py "
                     f"--out-dir {run} first")
    summary = json.loads((run / "results.json").read_text())
    with np.load(run / "figure_data.npz") as z:
        data = {k: z[k] for k in z.files}
    path = potential_validation_figure(data, out, summary=summary)
    numbers = {"results": summary}
    if (run / "adatom_rates.json").is_file():
        numbers["adatom_rates"] = json.loads((run / "adatom_rates.json").read_text())
    write_numbers(Path(out).with_suffix(".json"), numbers)
    print(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) > 3 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
