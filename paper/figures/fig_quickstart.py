"""Figure 1: basin occupation against temperature (narrow deep vs wide shallow well).

Reads only the outputs of a finished run (``summary.json`` and the config stored in
``trajectory.h5``) and redraws the figure:

    langevin-opt run experiments/quickstart.toml --out runs/quickstart
    python paper/figures/fig_quickstart.py runs/quickstart paper/figures/quickstart.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from langevin_opt.plotting import basin_crossover_figure
from langevin_opt.schema import validate_config
from langevin_opt.storage import H5MDReader


def main(run_dir: str, out: str) -> None:
    run = Path(run_dir)
    with H5MDReader(run / "trajectory.h5") as reader:
        exp = validate_config(reader.parameters["config"])
    summary = json.loads((run / "summary.json").read_text())
    rows = [r for r in summary["temperatures"] if "basin_exact" in r]
    basin_crossover_figure(exp.landscape(), rows, out, title=exp.name)
    print(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
