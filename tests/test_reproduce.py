"""The reproduction check: numbers within the measured tolerance, verdicts exactly."""

import json

from extractive_core.reproduce import compare, compare_dirs, main


def write(root, model, name, data):
    (root / model).mkdir(parents=True, exist_ok=True)
    (root / model / f"{name}.json").write_text(json.dumps(data))


RESULT = {"first_hop": {"test_rank": [9.25, 2.5]}, "verdicts": {"first_hop": "clear"},
          "provenance": {"seconds": 10.0, "threads": 2}, "pretrain_seconds": 50.0}


def test_numbers_within_tolerance_pass_and_beyond_fail():
    fresh = {**RESULT, "first_hop": {"test_rank": [9.25, 2.9]}}
    problems, worst = compare(RESULT, fresh, 0.5)
    assert problems == [] and abs(worst - 0.4) < 1e-12
    problems, worst = compare(RESULT, fresh, 0.3)
    assert len(problems) == 1 and "/first_hop/test_rank[1]" in problems[0] and worst > 0.3


def test_a_changed_verdict_fails_whatever_the_tolerance():
    fresh = {**RESULT, "verdicts": {"first_hop": "weak"}}
    problems, _ = compare(RESULT, fresh, 100.0)
    assert problems == ["/verdicts/first_hop: verdict differs: committed 'clear', fresh 'weak'"]


def test_provenance_and_timings_are_never_compared():
    fresh = {**RESULT, "provenance": {"seconds": 99.0, "threads": 1, "extra": 1}, "pretrain_seconds": 1.0}
    assert compare(RESULT, fresh, 0.0) == ([], 0.0)


def test_structure_changes_fail():
    assert compare(RESULT, {**RESULT, "new": 1}, 1.0)[0] == ["/new: only in the fresh results"]
    assert "2 committed entries, 3 fresh" in compare([1, 2], [1, 2, 3], 1.0)[0][0]


def test_same_environment_demands_identical_numbers(tmp_path):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    here = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "threads": 2, "packages": {"torch": "2.13.0"}}
    write(committed, "m", "reproducibility", {"tolerance": {"m/two_hop_ocr": 0.5}})
    write(committed, "m", "two_hop_ocr", {**RESULT, "provenance": here})
    nudged = {**RESULT, "first_hop": {"test_rank": [9.25, 2.55]}}
    write(fresh, "m", "reproducibility", {})
    write(fresh, "m", "two_hop_ocr", {**nudged, "provenance": here})
    assert compare_dirs(committed, fresh)[1]  # same machine: 0.05 is a real difference
    write(fresh, "m", "two_hop_ocr", {**nudged, "provenance": {**here, "cpu_model": "Intel Xeon"}})
    assert compare_dirs(committed, fresh)[1] == []  # another CPU: within the measured 0.5


def test_directories_use_the_measured_tolerances(tmp_path, capsys):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    write(committed, "m", "two_hop_ocr", RESULT)
    write(committed, "m", "reproducibility", {"tolerance": {"m/two_hop_ocr": 0.5}, "verdicts": {"adopt": True},
                                              "settings": {"x": 1}})
    write(fresh, "m", "two_hop_ocr", {**RESULT, "first_hop": {"test_rank": [9.25, 2.9]}})
    write(fresh, "m", "reproducibility", {"tolerance": {"m/two_hop_ocr": 0.9}, "verdicts": {"adopt": True},
                                          "settings": {"x": 2}})
    report, problems = compare_dirs(committed, fresh)
    assert problems == [] and "within tolerance" in report[1]
    assert main([str(committed), str(fresh)]) == 0
    write(fresh, "m", "reproducibility", {"verdicts": {"adopt": False}})
    assert main([str(committed), str(fresh)]) == 1
    assert "verdict differs" in capsys.readouterr().out
    (fresh / "m" / "two_hop_ocr.json").unlink()
    assert any("two_hop_ocr.json: not produced by the fresh run" in p for p in compare_dirs(committed, fresh)[1])


def test_measurements_one_machine_could_not_make_are_not_compared(tmp_path):
    """float32 against bf16 runs only where bf16 is in hardware: a fresh run without it
    makes fewer measurement verdicts, and those it makes must still agree."""
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    write(committed, "m", "reproducibility", {"verdicts": {"adopt": True, "bf16/m/first_hop": False}})
    write(fresh, "m", "reproducibility", {"verdicts": {"adopt": True}})
    assert compare_dirs(committed, fresh)[1] == []
    write(fresh, "m", "reproducibility", {"verdicts": {"adopt": False}})
    assert compare_dirs(committed, fresh)[1] != []
