"""Installed without a checkout: the built-in params and the toy models are package data, and
outputs go to ``$EXTRACTIVE_OUTPUT``, the checkout's root, or the current folder
(``settings.output_root``).

The slow test builds the wheel offline from a copy of the package (nothing is written into the
checkout), installs it with ``pip install --no-deps --target`` (the dependencies are this
environment's), and runs it from a folder outside the checkout with that target first on
``PYTHONPATH``, so the checkout's package is not the one imported: loading params, the output
root, and chapter 01's notebook on the toy model alone (seed 0, fresh caches)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from extractive_core import settings
from extractive_core.params import builtin_params_dir

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_output_root_rule(tmp_path, monkeypatch):
    monkeypatch.delenv("EXTRACTIVE_OUTPUT", raising=False)
    assert settings.checkout() == REPO and settings.output_root() == REPO  # running from this checkout
    monkeypatch.setattr(settings, "PACKAGE", tmp_path / "site" / "extractive_core")  # as if installed
    monkeypatch.chdir(tmp_path)
    assert settings.checkout() is None and settings.output_root() == tmp_path
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path / "out"))
    assert settings.output_root() == tmp_path / "out" and (tmp_path / "out").is_dir()


def test_the_builtin_params_are_in_the_package():
    assert builtin_params_dir() == REPO / "extractive_core" / "model_params"
    assert {"gemma3_270m", "toyworld"} <= {p.stem for p in builtin_params_dir().glob("*.yaml")}


def _build_wheel(tmp: Path) -> Path:
    """The wheel, built offline from a copy of the package's sources (no build/ in the checkout)."""
    src = tmp / "src"
    shutil.copytree(REPO / "extractive_core", src / "extractive_core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(tmp / "dist"), str(src)], check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("*.whl")
    return wheel


@pytest.mark.slow
def test_an_installed_wheel_works_without_a_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    assert wheel.name.startswith("extractive_structures_edition-" + PROJECT["version"])
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {str(p.relative_to(REPO)) for d in ("model_params", "toy_checkpoints")
               for p in (REPO / "extractive_core" / d).rglob("*") if p.is_file()}
    assert shipped and shipped <= names, f"not in the wheel: {sorted(shipped - names)[:5]}"

    site, work = tmp_path / "site", tmp_path / "work"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
                    str(wheel)], check=True, cwd=tmp_path)
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTIVE_")}
    env.update(PYTHONPATH=str(site), EXTRACTIVE_CACHE=str(tmp_path / "cache"), EXTRACTIVE_PROGRESS="0",
               EXTRACTIVE_THREADS="1")

    def python(code: str) -> str:
        done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    shown = json.loads(python(
        "import json, extractive_core\n"
        "from extractive_core.params import load_params, builtin_params_dir\n"
        "from extractive_core.results import results_path, output_root\n"
        "from extractive_core.run_code import code_version\n"
        "from extractive_core.numerics import package_versions\n"
        "print(json.dumps({'file': extractive_core.__file__, 'params': str(builtin_params_dir()),\n"
        "  'models': [load_params(m).name for m in ('toyworld', 'gemma3_270m')],\n"
        "  'results': str(results_path('toyworld', 'x')), 'root': str(output_root()),\n"
        "  'code': code_version(), 'versions': package_versions()}))"))
    assert Path(shown["file"]).is_relative_to(site), shown["file"]  # not the checkout's package
    assert Path(shown["params"]) == site / "extractive_core" / "model_params"
    assert shown["models"] == ["toyworld", "gemma3_270m"]
    assert Path(shown["root"]) == work and Path(shown["results"]) == work / "results" / "toyworld" / "x.json"
    from extractive_core.run_code import code_version

    assert shown["code"] == code_version()  # the run cache's key reads the installed package's code alike
    assert shown["versions"]["extractive-structures-edition"] == PROJECT["version"]

    # Chapter 01 on the toy model alone, seed 0, with empty caches, from outside the checkout.
    notebook = work / "01_two_hop_ocr.ipynb"
    shutil.copy2(REPO / "notebooks" / "01_two_hop_ocr.ipynb", notebook)
    python("import papermill\n"
           f"papermill.execute_notebook({str(notebook)!r}, {str(work / 'out.ipynb')!r}, cwd={str(work)!r},\n"
           "    parameters={'model': 'toyworld', 'seeds': [0], 'toy_model': None}, progress_bar=False)")
    results = json.loads((work / "results" / "toyworld" / "two_hop_ocr.json").read_text())
    assert results["model"] == "toyworld" and results["seeds"] == [0] and list(results["first_hop"]["per_seed"]) == ["0"]
    assert results["provenance"]["packages"]["extractive-structures-edition"] == PROJECT["version"]
    assert results["provenance"]["run_cache"]["trained"] == 2  # both hops trained here, none reused
    assert (work / "figures" / "toyworld" / "two_hop_ocr.png").is_file()
    assert not (site / "results").exists() and not (site / "figures").exists()

    # The same chapter on a hub id with no params file: a tiny random llama saved as a local
    # checkpoint (no download), params derived from its config.
    from conftest import tiny_model
    from extractive_core.datasets import dataset_texts
    from extractive_core.tokenizer import word_tokenizer, words_of

    tokenizer = word_tokenizer(words_of(dataset_texts()))
    folder = tmp_path / "models" / "nobody--tiny-llama"
    tiny_model("llama", len(tokenizer), n_layers=4).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    env.update(EXTRACTIVE_MODEL_DIR=str(tmp_path / "models"), HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    python("import papermill\n"
           f"papermill.execute_notebook({str(notebook)!r}, {str(work / 'hub.ipynb')!r}, cwd={str(work)!r},\n"
           "    parameters={'model': 'nobody/tiny-llama', 'seeds': [0], 'epochs': 1, 'toy_model': None},\n"
           "    progress_bar=False)")
    hub = json.loads((work / "results" / "nobody--tiny-llama" / "two_hop_ocr.json").read_text())
    assert hub["model"] == "nobody--tiny-llama" and hub["seeds"] == [0] and hub["epochs"] == 1
