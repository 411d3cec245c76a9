"""Write the test command's copies of the notebooks: each with the parameters of
``extractive_core.reproduce.SAMPLE`` injected as papermill would (the default model on seed 0
of each experiment, the toy models in full), for nbval to execute top to bottom.

    python tools/sample_notebooks.py OUT_DIR NOTEBOOK ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from papermill.parameterize import parameterize_notebook

from extractive_core.reproduce import SAMPLE


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    out, notebooks = Path(argv[0]), [Path(p) for p in argv[1:]]
    unknown = [nb.stem for nb in notebooks if nb.stem not in SAMPLE]
    if unknown:
        print(f"no test sample for {', '.join(unknown)}: add it to extractive_core.reproduce.SAMPLE", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for nb_path in notebooks:
        nb = nbformat.read(nb_path, as_version=4)
        parameters = SAMPLE[nb_path.stem]
        if parameters:
            nb = parameterize_notebook(nb, parameters)
        nbformat.write(nb, out / nb_path.name)
        print(f"{nb_path.name}: {parameters or 'as committed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
