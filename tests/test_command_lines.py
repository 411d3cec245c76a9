"""The command lines on bad input: one line on stderr that names the problem and the fix,
exit status 2, no traceback and no file written; and their usage and help texts."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

from extractive_core import claims, reproduce, tidy
from extractive_core.errors import ParameterError
from extractive_core.storage import load_json

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> ModuleType:
    """A script of tools/ as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bad_input(main: Callable[[], object], capsys: pytest.CaptureFixture[str]) -> str:
    """``main``'s one line on stderr, after checking that it exits 2 without a traceback."""
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results folder with the toy world's sweep, and a book/ folder beside it for tidy's page."""
    (tmp_path / "results" / "toyworld").mkdir(parents=True)
    shutil.copy(ROOT / "results" / "toyworld" / "sweep.json", tmp_path / "results" / "toyworld")
    (tmp_path / "book").mkdir()
    return tmp_path / "results"


def written(root: Path) -> list[Path]:
    """The files under ``root`` that no test here wrote (a CSV, a page, a table)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".json")


def test_reproduce_prints_its_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        reproduce.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "COMMITTED_RESULTS_DIR FRESH_RESULTS_DIR" in " ".join(out.split())
    assert "Does a fresh run reproduce the committed results?" in out
    with pytest.raises(SystemExit) as exit_:
        reproduce.main([])
    assert exit_.value.code == 2 and "usage: python -m extractive_core.reproduce" in capsys.readouterr().err


def test_a_file_that_is_not_json_is_named(tmp_path):
    (tmp_path / "cut.json").write_text('{"runs": [')
    with pytest.raises(ParameterError, match=r"cut.json is not valid JSON .*restore it from git"):
        load_json(tmp_path / "cut.json")


@pytest.mark.parametrize("command", ["reproduce", "claims", "tidy"])
def test_a_corrupt_results_file_is_one_line_and_writes_nothing(results, capsys, command):
    (results / "toyworld" / "grafting.json").write_text("{")
    out = results.parent / "claims.md"
    mains = {"reproduce": lambda: reproduce.main([str(results), str(results)]),
             "claims": lambda: claims.main(["--results", str(results), "--out", str(out)]),
             "tidy": lambda: tidy.main(["--results", str(results)])}
    err = bad_input(mains[command], capsys)
    assert err.startswith(f"python -m extractive_core.{command}: ")
    assert "toyworld/grafting.json is not valid JSON" in err
    assert written(results.parent) == []


@pytest.mark.parametrize("name, key", [("sweep", "runs"), ("grafting", "per_seed")])
def test_tidy_names_a_results_file_of_the_wrong_shape_before_writing(results, capsys, name, key):
    (results / "toyworld" / f"{name}.json").write_text("{}")
    (results / "a_model").mkdir()  # read before toyworld: its CSV would be written first
    shutil.copy(ROOT / "results" / "toyworld" / "two_hop_ocr.json", results / "a_model")
    err = bad_input(lambda: tidy.main(["--results", str(results)]), capsys)
    assert f"toyworld/{name}.json is not a '{name}' results file: it has no key '{key}'" in err
    assert "rerun its chapter, notebooks/" in err
    assert written(results.parent) == []  # neither a_model/two_hop_ocr.csv nor book/data.md


def test_tidy_names_a_missing_results_folder(tmp_path, capsys):
    page = tmp_path / "data.md"
    err = bad_input(lambda: tidy.main(["--results", str(tmp_path / "nope"), "--page", str(page)]), capsys)
    assert f"no results folder at {tmp_path / 'nope'}: run the notebooks first" in err
    assert not page.exists()


def test_claims_names_a_missing_results_folder_in_one_line(tmp_path, capsys):
    err = bad_input(lambda: claims.main(["--results", str(tmp_path / "nope")]), capsys)
    assert err.startswith("python -m extractive_core.claims: no results folder at ")


@pytest.mark.parametrize("out", ["a_folder", "no_such_folder/claims.md"])
def test_claims_names_an_out_that_is_not_a_file_in_a_folder(results, capsys, out):
    (results.parent / "a_folder").mkdir()
    err = bad_input(lambda: claims.main(["--results", str(results), "--out", str(results.parent / out)]), capsys)
    assert "give a file in an existing folder" in err
    assert not (results.parent / "no_such_folder").exists()


@pytest.mark.parametrize("setting, message", [
    ("FOO", "FOO is not VAR=VALUE"),
    ("OMP_NUM_THREADS=1 =2", "=2 is not VAR=VALUE"),
    # spelt in two parts: no unknown variable may appear whole in the code (tests/test_settings.py)
    ("EXTRACTIVE" + "_TYPO=1", "EXTRACTIVE" + "_TYPO: not a setting; the settings are EXTRACTIVE_THREADS"),
])
def test_cross_machine_checks_every_setting_before_running_any(monkeypatch, capsys, setting, message):
    cross_machine = tool("cross_machine")
    monkeypatch.setattr(cross_machine, "run_setting", lambda *a: pytest.fail("a setting ran"))
    err = bad_input(lambda: cross_machine.main(["ATEN_CPU_CAPABILITY=avx2", setting]), capsys)
    assert err.startswith("python tools/cross_machine.py: ") and message in err
    assert cross_machine.parse_setting("MKL_CBWR=COMPATIBLE  OMP_NUM_THREADS=1") == {
        "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1"}
    assert cross_machine.parse_setting("") == {}


def test_cross_machine_help(monkeypatch, capsys):
    cross_machine = tool("cross_machine")
    monkeypatch.setattr(cross_machine, "run_setting", lambda *a: pytest.fail("a setting ran"))
    assert cross_machine.main(["--help"]) == 0
    assert "Each argument is one setting" in capsys.readouterr().out


def test_colab_help_gives_its_whole_description(monkeypatch, capsys):
    colab = tool("colab")
    monkeypatch.setattr("sys.argv", ["colab.py", "--help"])
    with pytest.raises(SystemExit) as exit_:
        colab.main()
    out = " ".join(capsys.readouterr().out.split())
    assert exit_.value.code == 0 and "in Colab only, fetches the project's release" in out


def test_reproduce_names_a_missing_results_folder_as_bad_input(results, tmp_path, capsys):
    err = bad_input(lambda: reproduce.main([str(results), str(tmp_path / "nope")]), capsys)
    assert err.startswith(f"python -m extractive_core.reproduce: no fresh results folder at {tmp_path / 'nope'}")
