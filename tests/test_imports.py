"""Which modules need torch: the claims table is built from results files alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("code", [
    "import extractive_core.claims",
    "import extractive_core.two_hop_verdicts, extractive_core.params, extractive_core.run_code",
    "from extractive_core.run_code import code_version; code_version()",
])
def test_no_torch_where_none_is_needed(code):
    check = f"{code}\nimport sys\nassert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'extractive' in m)"
    subprocess.run([sys.executable, "-c", check], check=True)


def test_the_claims_command_does_not_load_torch(tmp_path):
    (tmp_path / "results" / "toyworld").mkdir(parents=True)
    shutil.copy(REPO / "results" / "toyworld" / "two_hop_ocr.json", tmp_path / "results" / "toyworld")
    code = ("import runpy, sys\nsys.argv = ['claims', '--results', sys.argv[1]]\n"
            "runpy.run_module('extractive_core.claims', run_name='__main__')\n"
            "assert 'torch' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], check=True, capture_output=True,
                         text=True)
    assert out.stdout.startswith("| claim |")


def test_package_names_import_lazily_and_stay_functions():
    import extractive_core
    from extractive_core import RunSpec, finetune, load_model
    import extractive_core.finetune as module  # noqa: F401  (the submodule import leaves the name alone)

    assert callable(finetune) and extractive_core.finetune is finetune and callable(load_model)
    assert RunSpec.__module__ == "extractive_core.params"
    assert set(extractive_core.__all__) <= set(dir(extractive_core))


def test_a_notebook_importing_the_package_prints_no_widget_warning():
    """transformers imports tqdm.auto; in a kernel without ipywidgets that warns with the
    environment's path, which would land in every committed notebook."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import extractive_core\nimport transformers")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert printed == "", printed  # before the filter: ".../site-packages/tqdm/auto.py:21: TqdmWarning: IProgress not found"
