"""The main job's runner: which notebooks take a model, and its time table."""

import importlib.util
from pathlib import Path

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
                                                 "pretrain_trained": 11})])
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["01_two_hop_ocr", "23", "6/0"]
    assert lines[2].split()[:4] == ["07_toyworld", "500", "0/24", "2/1/11"]
    assert lines[3].startswith("total") and "523" in lines[3] and "8.7 min" in lines[3]


def test_pretraining_step_ships_or_regenerates(monkeypatch):
    monkeypatch.delenv("EXTRACTIVE_PRETRAIN", raising=False)
    assert runner.pretrain_step()[1] == ["-m", "extractive_core.pretraining_order"]
    monkeypatch.setenv("EXTRACTIVE_PRETRAIN", "1")
    assert runner.pretrain_step()[1][-1] == "--regenerate"
