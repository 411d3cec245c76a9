"""Settings and storage, the two ground floors: every EXTRACTIVE_* variable is read in
settings.py through one parser per kind, a bad value names the variable and what it accepts,
the README's table is the registry, and every file is written whole through storage.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extractive_core import settings
from extractive_core.errors import ParameterError
from extractive_core.storage import atomic_path, write_atomic

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "extractive_core").rglob("*.py")), *sorted((ROOT / "tools").glob("*.py")),
        *sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "benchmarks").glob("*.py")),
        *sorted((ROOT / "notebooks").glob("*.ipynb")), ROOT / "Makefile", ROOT / "README.md"]


@pytest.mark.parametrize("name, value, read, accepts", [
    ("EXTRACTIVE_PROGRESS", "maybe", settings.show_progress, "one of 1, true, yes, on"),
    ("EXTRACTIVE_PRETRAIN", "2", settings.pretrain_requested, "one of 1, true, yes, on"),
    ("EXTRACTIVE_PROBE_SETTINGS", "skip", settings.probe_settings, "(off)"),
    ("EXTRACTIVE_THREADS", "abc", settings.default_threads, "a whole number >= 1"),
    ("EXTRACTIVE_THREADS", "0", settings.default_threads, "a whole number >= 1"),
])
def test_a_bad_value_names_the_variable_the_value_and_what_it_accepts(monkeypatch, name, value, read, accepts):
    monkeypatch.setenv(name, value)
    with pytest.raises(ParameterError) as err:
        read()
    assert str(err.value).startswith(f"{name} must be ") and accepts in str(err.value)
    assert str(err.value).endswith(f"got {value!r}")


@pytest.mark.parametrize("name, read", [
    ("EXTRACTIVE_CACHE", settings.cache_dir),
    ("EXTRACTIVE_RUN_CACHE", settings.run_cache_dir),
    ("EXTRACTIVE_OUTPUT", settings.output_root),
])
def test_a_folder_that_cannot_be_created_is_named(tmp_path, monkeypatch, name, read):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv(name, str(tmp_path / "a_file" / "cache"))
    with pytest.raises(ParameterError, match=f"{name} must name a folder that can be created here, got "
                                             f".*a_file/cache: Not a directory; set {name} to a writable folder"):
        read()


def test_an_uncreatable_default_names_the_variable_that_moves_it(tmp_path, monkeypatch):
    (tmp_path / "home").write_text("")  # a home that is a file
    monkeypatch.delenv("EXTRACTIVE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ParameterError, match="EXTRACTIVE_CACHE must name a folder .* got unset \\(its default is "):
        settings.cache_dir()


def test_switches_share_one_set_of_words_and_are_read_at_call_time(monkeypatch):
    for word in ("1", "true", "Yes", " on "):
        monkeypatch.setenv("EXTRACTIVE_PRETRAIN", word)
        assert settings.pretrain_requested()
    for word in ("0", "FALSE", "no", "off"):
        monkeypatch.setenv("EXTRACTIVE_PRETRAIN", word)
        assert not settings.pretrain_requested()
    monkeypatch.setenv("EXTRACTIVE_PRETRAIN", "")  # empty counts as unset
    assert not settings.pretrain_requested() and settings.probe_settings()


def test_folders_and_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", "on")
    assert settings.run_cache_dir() == tmp_path / "cache" / "runs" and (tmp_path / "cache" / "runs").is_dir()
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", "Off")
    assert settings.run_cache_dir() is None
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", str(tmp_path / "runs"))
    assert settings.run_cache_dir() == tmp_path / "runs" and (tmp_path / "runs").is_dir()
    monkeypatch.setenv("EXTRACTIVE_PARAMS", f"{tmp_path / 'a'}:{tmp_path / 'b'}:")
    assert settings.params_folders() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setenv("EXTRACTIVE_THREADS", "3")
    assert settings.default_threads() == 3
    monkeypatch.delenv("EXTRACTIVE_MODEL_DIR", raising=False)
    assert settings.model_dir() is None


def test_subprocess_environments_and_numeric_variables(monkeypatch):
    for name in settings.NUMERIC_VARIABLES:  # the tests may run under any of them (an AVX2 emulation)
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert settings.numeric_variables() == {"MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1"}
    env = settings.environ_with({"ATEN_CPU_CAPABILITY": "avx2"}, EXTRACTIVE_PROGRESS="0")
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["EXTRACTIVE_PROGRESS"] == "0" and env["MKL_CBWR"] == "COMPATIBLE"
    with pytest.raises(KeyError, match="EXTRACTIVE_PROGRES: not a setting"):
        settings.environ_with(EXTRACTIVE_PROGRES="0")


def readme_table() -> list[tuple[str, str, str]]:
    """The rows of the README's settings table: (variable, meaning, default)."""
    text = (ROOT / "README.md").read_text()
    start = text.index("Settings (environment variables):")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if rows and not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if line.startswith("| `EXTRACTIVE_"):
            rows.append((cells[0].strip("`"), cells[1], cells[2]))
    return rows


def test_the_readme_table_is_the_registry():
    """Every setting a user may set, in the registry's order and words; internal ones (set by
    the project's own tools) are left out."""
    expected = [(s.name, s.meaning, s.default) for s in settings.SETTINGS.values() if not s.internal]
    assert readme_table() == expected


def test_every_variable_named_anywhere_is_a_setting():
    """No variable outside the registry, and none in it that nothing outside settings.py names."""
    named = {m for path in CODE if path.name not in ("settings.py", Path(__file__).name)
             for m in re.findall(r"EXTRACTIVE_[A-Z][A-Z_]*[A-Z]", path.read_text())}
    assert named == set(settings.SETTINGS)


def test_the_environment_is_read_in_settings_only():
    readers = [p.name for p in (ROOT / "extractive_core").rglob("*.py")
               if re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text())]
    assert readers == ["settings.py"]


def test_one_atomic_write_in_the_package():
    """Only storage.py renames files into place or makes temporary files to write through."""
    pattern = r"os\.replace|os\.rename|shutil\.move|mkstemp|mkdtemp|NamedTemporaryFile"
    writers = [p.name for p in (ROOT / "extractive_core").rglob("*.py") if re.search(pattern, p.read_text())]
    assert writers == ["storage.py"]


def test_atomic_writes_are_whole_or_absent(tmp_path):
    target = tmp_path / "deep" / "table.md"
    write_atomic(target, "one")
    assert target.read_text() == "one"
    with pytest.raises(RuntimeError, match="half"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("half written")
    assert target.read_text() == "one" and [p.name for p in target.parent.iterdir()] == ["table.md"]


def test_the_thread_count_probed_is_never_the_run_itself(monkeypatch):
    """The main job's lanes run on one thread: the reproduction notes then probe two threads;
    a run on two probes one; a thread count is never probed against itself."""
    from extractive_core.determinism import SETTINGS, applicable

    threads = {k: SETTINGS[k] for k in ("as run", "1 thread", "2 threads")}
    monkeypatch.setenv("EXTRACTIVE_THREADS", "1")
    assert list(applicable(threads)) == ["as run", "2 threads"]
    monkeypatch.setenv("EXTRACTIVE_THREADS", "2")
    assert list(applicable(threads)) == ["as run", "1 thread"]
    assert "1 thread" not in applicable(threads, probe="pretrain")  # toy pretraining is always one thread
