"""Figure: transfer learning of a neural potential from EMT copper to EMT nickel.

Learning curves (log-log) of the held-out nickel energy and force errors against the number
of nickel training configurations, for a network trained from scratch, the copper network
fine-tuned with every layer trainable, with its first layer frozen, with only its output
layer trainable, and the copper network with only its reference energy refitted
(:func:`langevin_opt.plotting.mlip.transfer_learning_figure`).

Reads only the output of ``experiments/mlip_transfer.py`` (``results.json`` in its output
directory); it never re-trains::

    python experiments/mlip_transfer.py --out-dir paper/figures/mlip_transfer
    python paper/figures/fig_mlip_transfer.py [RUN_DIR] [OUT.png]

Defaults: ``paper/figures/mlip_transfer`` (the committed run) and
``paper/figures/mlip_transfer.png``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from langevin_opt.plotting.mlip import transfer_learning_figure

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _paper import require_fresh, write_numbers  # noqa: E402

HERE = Path(__file__).resolve().parent


def main(run_dir: str | Path | None = None,
         out: str | Path = HERE / "mlip_transfer.png") -> Path:
    """Draw the figure from a finished run directory; return the written path.

    Without ``run_dir``, the committed outputs (refused when stale).  Also writes
    ``OUT.json`` (the run's results: the numbers the paper quotes).
    """
    run = Path(run_dir) if run_dir is not None else require_fresh("mlip_transfer")
    if not (run / "results.json").is_file():
        sys.exit(f"error: {run / 'results.json'} not found: run experiments/mlip_transfer.py "
                 f"--out-dir {run} first")
    res = json.loads((run / "results.json").read_text())
    st = res["settings"]
    title = (f"EMT Cu -> Ni: Cu network pretrained on {st['n_cu']} configurations, "
             f"Ni test set of {st['n_test']} ({st['atoms_per_cell']}-atom cells), "
             f"L-BFGS {st['max_iter']} iterations")
    path = transfer_learning_figure(res["table"], out, labels=st["labels"],
                                    reference=res["pretrain"]["cu_test"], title=title)
    write_numbers(Path(out).with_suffix(".json"), {"results": res})
    print(path)
    return path


if __name__ == "__main__":
    if len(sys.argv) > 3 or any(a in ("-h", "--help") for a in sys.argv[1:]):
        sys.exit(__doc__)
    main(*sys.argv[1:])
