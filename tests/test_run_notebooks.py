"""The main job's runner: which notebooks take a model, and its time table."""

import importlib.util
import json
import re
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)


def test_model_parameter_is_read_from_the_parameters_cell():
    assert runner.takes_model(ROOT / "notebooks" / "01_two_hop_ocr.ipynb")
    assert runner.takes_model(ROOT / "notebooks" / "08_reproducibility.ipynb")
    assert not runner.takes_model(ROOT / "notebooks" / "07_toyworld.ipynb")  # takes `base`, not `model`


def test_table_counts_cache_events_and_totals():
    text = runner.table([("01_two_hop_ocr", 23.4, {"run_hit": 6}),
                         ("07_toyworld", 500.0, {"run_trained": 24, "pretrain_shipped": 2, "pretrain_hit": 1,
                                                 "pretrain_trained": 11})], wall=330.0, lanes=2)
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["01_two_hop_ocr", "23", "6/0"]
    assert lines[2].split()[:4] == ["07_toyworld", "500", "0/24", "2/1/11"]
    assert lines[3].startswith("total (wall)") and "330" in lines[3] and "5.5 min" in lines[3]
    assert "add up to 523 with 2 lane(s)" in lines[3]


def test_pretraining_step_ships_or_regenerates(monkeypatch):
    monkeypatch.delenv("EXTRACTIVE_PRETRAIN", raising=False)
    assert runner.pretrain_step()[1] == ["-m", "extractive_core.pretraining_order"]
    monkeypatch.setenv("EXTRACTIVE_PRETRAIN", "1")
    assert runner.pretrain_step()[1][-1] == "--regenerate"


def test_start_order_puts_the_longest_path_first():
    """01 and 04 start first, on the two lanes: the longest chapter (03) waits for 01, and 05
    for 04, so these two chains are the longest paths (which of them is longer depends on the
    committed durations: the machine that made them)."""
    order = [nb.stem for nb in runner.start_order(sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")))]
    assert set(order[:2]) == {"01_two_hop_ocr", "04_grafting"}
    assert order.index("03_layer_freezing") < order.index("08_reproducibility")
    for later, earlier in ((a, b) for a, deps in runner.AFTER.items() for b in deps):
        assert order.index(earlier) < order.index(later)


def fake_notebooks(tmp_path, seconds):
    paths = []
    for stem, s in seconds.items():
        path = tmp_path / f"{stem}.ipynb"
        path.write_text(json.dumps({"cells": [], "metadata": {"papermill": {"duration": s}}}))
        paths.append(path)
    return paths


def test_lanes_wait_for_the_notebooks_whose_runs_they_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no committed copies here: the fake files' own durations count
    paths = fake_notebooks(tmp_path, {"01_two_hop_ocr": 3, "02_extractive_scores": 9, "03_layer_freezing": 1,
                                      "04_grafting": 2, "05_data_ordering": 1})
    events, lock, running, most = [], threading.Lock(), [0], [0]

    def run(nb):
        with lock:
            events.append(("start", nb.stem))
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            events.append(("end", nb.stem))
            running[0] -= 1
        return 1.0, {}

    rows = runner.run_lanes(paths, 2, run)
    assert sorted(r[0] for r in rows) == sorted(p.stem for p in paths) and most[0] == 2
    for later, deps in runner.AFTER.items():
        for dep in deps:
            if ("start", later) in events:
                assert events.index(("end", dep)) < events.index(("start", later)), (dep, later)


def test_a_failing_notebook_stops_new_starts_and_raises(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = fake_notebooks(tmp_path, {"01_two_hop_ocr": 5, "02_extractive_scores": 1, "04_grafting": 4})
    started = []

    def run(nb):
        started.append(nb.stem)
        if nb.stem == "01_two_hop_ocr":
            raise SystemExit("01_two_hop_ocr failed (exit 1)")
        time.sleep(0.05)
        return 1.0, {}

    with pytest.raises(SystemExit, match="01_two_hop_ocr failed"):
        runner.run_lanes(paths, 1, run)
    assert started == ["01_two_hop_ocr"]  # nothing starts after a failure


def test_lanes_wait_passively_and_keep_the_users_choice(monkeypatch):
    """Beside another lane, a notebook's OpenMP threads wait passively (a 2-thread probe beside a
    busy lane spun for minutes); one lane alone is left as it is, and so is a value the user set."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert runner.lane_env(2, 1) == {"EXTRACTIVE_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    assert runner.lane_env(1, None) == {}
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert runner.lane_env(2, 1) == {"EXTRACTIVE_THREADS": "1"}


MACHINE_PATH = re.compile(r"(/tmp/|/home/|/root/|/work/|/usr/|site-packages|\.venv/)")
PUBLISHED = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) + [
    p for folder in ("results", "book") for p in sorted((ROOT / folder).rglob("*")) if p.suffix in {".json", ".csv", ".md"}]


def published_text(path):
    """What a reader sees of a committed file: a notebook's outputs (streams and text, not the
    base64 images, which may spell anything), or the whole of a results file or book page."""
    if path.suffix != ".ipynb":
        return path.read_text()
    outputs = [out for cell in json.loads(path.read_text())["cells"] for out in cell.get("outputs", [])]
    return "".join("".join(out.get("text", "")) + "".join("".join(v) for k, v in out.get("data", {}).items()
                                                          if k.startswith("text/")) for out in outputs)


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_published_files_name_no_machine_paths(path):
    """Executed notebooks, results files (their provenance) and book pages are read on GitHub,
    in Colab and in the book as they are: no path of the machine that made them belongs there."""
    found = MACHINE_PATH.search(published_text(path))
    assert not found, f"{path.relative_to(ROOT)} names a machine path: {found.group(0) if found else ''}"


def test_every_kind_of_published_file_is_checked():
    kinds = {p.relative_to(ROOT).parts[0] for p in PUBLISHED}
    assert kinds == {"notebooks", "results", "book"}


@pytest.mark.parametrize("model", [[], ["--model", "toyworld"]], ids=["in place", "model"])
def test_a_missing_notebook_is_named_before_anything_runs(monkeypatch, capsys, model):
    monkeypatch.setattr(runner, "run_step", lambda *a, **k: pytest.fail("a step ran"))
    monkeypatch.setattr("sys.argv", ["run_notebooks.py", str(ROOT / "notebooks" / "01_two_hop_ocr.ipynb"), "nope.ipynb", *model])
    with pytest.raises(SystemExit) as exit_:
        runner.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "no notebook at nope.ipynb: give the paths of .ipynb files" in err


def notebook_with(tmp_path, stem, code):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def test_nbval_lanes_run_each_notebook_and_fail_on_an_error(tmp_path, monkeypatch):
    """The test command's nbval runs through the same lanes: a notebook that executes passes,
    and one whose cell raises stops the step with its name."""
    monkeypatch.chdir(tmp_path)
    ok = notebook_with(tmp_path, "01_two_hop_ocr", "x = 1 + 1")
    bad = notebook_with(tmp_path, "04_grafting", "raise ValueError('boom')")
    seconds, counts = runner.run_nbval(ok)
    assert seconds > 0 and counts == {}
    with pytest.raises(SystemExit, match="04_grafting.ipynb failed"):
        runner.run_nbval(bad)


def test_nbval_refuses_a_model_and_wants_paths(tmp_path, monkeypatch, capsys):
    """--nbval never falls back to the committed notebooks (they would write into results/)."""
    nb = notebook_with(tmp_path, "01_two_hop_ocr", "x = 1")
    monkeypatch.setattr(runner, "run_step", lambda *a, **k: pytest.fail("a step ran"))
    for argv in (["--nbval", "--model", "qwen2_7b", str(nb)], ["--nbval"]):
        monkeypatch.setattr("sys.argv", ["run_notebooks.py", *argv])
        with pytest.raises(SystemExit) as exit_:
            runner.main()
        assert exit_.value.code == 2 and "--nbval runs the notebooks it is given" in capsys.readouterr().err


def test_nbval_main_runs_pytest_per_notebook_in_lanes(tmp_path, monkeypatch, capsys):
    """The test command's step: no toy pretraining step, the model loaded once, then one nbval
    process per notebook in the lanes' order (05 after 04), each on the lane's thread count."""
    monkeypatch.chdir(tmp_path)
    paths = [notebook_with(tmp_path, stem, "x = 1") for stem in ("05_data_ordering", "04_grafting")]
    calls = []

    def step(name, args, env=None):
        calls.append((name, args, env))
        return 1.0, {"run_hit": 1}

    monkeypatch.setattr(runner, "run_step", step)
    monkeypatch.setattr("sys.argv", ["run_notebooks.py", "--nbval", "--lanes", "1", "--threads", "1", *map(str, paths)])
    runner.main()
    assert [c[0] for c in calls] == [str(paths[1]), str(paths[0])]  # 04 first: 05 reads its runs
    for _, args, env in calls:
        assert args[:3] == ["-m", "pytest", "--nbval-lax"] and "papermill" not in args
        assert env["EXTRACTIVE_THREADS"] == "1"
    out = capsys.readouterr().out
    assert "total (wall)" in out and "main-job budget" not in out


def test_keep_going_runs_every_notebook_and_names_each_failure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = fake_notebooks(tmp_path, {"04_grafting": 5, "05_data_ordering": 1, "07_toyworld": 1, "01_two_hop_ocr": 2})
    started = []

    def run(nb):
        started.append(nb.stem)
        if nb.stem in ("04_grafting", "07_toyworld"):
            raise SystemExit(f"{nb.stem} failed (exit 1)")
        return 1.0, {}

    with pytest.raises(SystemExit, match="2 notebooks failed: 04_grafting, 07_toyworld"):
        runner.run_lanes(paths, 1, run, keep_going=True)
    assert sorted(started) == sorted(p.stem for p in paths)
    started.clear()
    with pytest.raises(SystemExit, match="^04_grafting failed"):
        runner.run_lanes(paths, 1, run)
    assert started == ["04_grafting"]
