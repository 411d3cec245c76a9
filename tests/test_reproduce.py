"""The reproduction check: numbers within the measured tolerance, verdicts exactly (one step at
the margin on another CPU)."""

import json

from pathlib import Path

from extractive_core.reproduce import MarginNote, Rule, compare, compare_dirs, main


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


# --- the rules for another environment and for a sample of the seeds ------------------------

OTHER_CPU = Rule(0.1, statistical=True)


def ordering(finals: list[float], verdict: str = "OCR", seeds: list[int] | None = None) -> dict:
    """A results tree shaped like data_ordering.json: per-seed records and a summary."""
    seeds = list(range(len(finals))) if seeds is None else seeds
    return {"seeds": seeds, "chance": 9.5,
            "orders": {"joint": {"per_seed": [{"seed": s, "test_implications": [9.0, f]} for s, f in zip(seeds, finals)],
                                 "final": {"values": finals, "mean": sum(finals) / len(finals), "min": min(finals),
                                           "max": max(finals)}}},
            "verdicts": {"ocr/joint": verdict}}


FINALS = [5.0, 6.2, 4.4, 5.8, 6.9, 5.1, 4.0, 6.0, 5.5, 4.9]


def test_another_cpu_may_move_each_seed_like_a_small_change_of_seed():
    """Measured on an AVX-512 machine against AVX2-made results: per-seed ranks moved by up to
    0.55 while the seeds' mean moved little. Such a run reproduces."""
    moved = [f + d for f, d in zip(FINALS, [0.55, -0.45, 0.3, -0.5, 0.2, 0.4, -0.35, 0.1, -0.2, 0.45])]
    assert compare(ordering(FINALS), ordering(moved), 0.1)[0]  # one by one, as before: fails
    problems, worst = compare(ordering(FINALS), ordering(moved), OTHER_CPU)
    assert problems == [] and 0 < worst < 0.1


def test_another_cpu_still_fails_a_real_change():
    """Every seed 2 ranks worse (over 5 standard errors of the difference here): a real change."""
    shifted = [f + 2.0 for f in FINALS]
    problems, _ = compare(ordering(FINALS), ordering(shifted), OTHER_CPU)
    assert any("/orders/joint/per_seed" in p and "mean over 10 seeds" in p for p in problems)
    assert any("/orders/joint/final/values" in p for p in problems)


def test_the_tolerance_grows_with_the_seeds_spread_and_never_below_the_floor():
    flat = [5.0] * 10
    assert compare(ordering(flat), ordering([5.05] * 10), OTHER_CPU)[0] == []  # within the 0.1 floor
    assert compare(ordering(flat), ordering([5.2] * 10), OTHER_CPU)[0]  # no spread: the floor decides
    wide = [2.0, 8.0] * 5
    assert compare(ordering(wide), ordering([w + 1.0 for w in wide]), OTHER_CPU)[0] == []  # 1 < 4 SE of 3.2-rank seeds


def test_another_cpu_must_give_every_verdict_and_the_same_seeds():
    problems, _ = compare(ordering(FINALS), ordering(FINALS, verdict="no OCR"), OTHER_CPU)
    assert problems == ["/verdicts/ocr/joint: verdict differs: committed 'OCR', fresh 'no OCR'"]
    problems, _ = compare(ordering(FINALS), ordering(FINALS, seeds=list(range(1, 11))), OTHER_CPU)
    assert any("not a sample" in p for p in problems)


def test_claims_are_compared_by_their_verdicts():
    """A claim's inputs and sentence copy per-seed numbers that move on another CPU (compared
    where they sit); its verdict must not move."""
    def with_claim(finals, verdict):
        return {**ordering(finals), "claims": {"ordering": {"verdict": verdict, "measurement": f"joint {finals[0]}",
                                                            "inputs": {"joint": finals}}}}
    moved = [f + 0.3 for f in FINALS]
    assert compare(with_claim(FINALS, "agrees"), with_claim(moved, "agrees"), OTHER_CPU)[0] == []
    same_env = Rule(0.0, statistical=False)
    problems, _ = compare(with_claim(FINALS, "agrees"), with_claim(FINALS, "partly"), same_env)
    assert problems == ["/claims/ordering: value differs: committed 'agrees', fresh 'partly'"]
    for far in ("does not", "not tested"):  # two steps, or a precondition: a difference on any CPU
        problems, _ = compare(with_claim(FINALS, "agrees"), with_claim(FINALS, far), OTHER_CPU)
        assert len(problems) == 1 and not isinstance(problems[0], MarginNote) and "differs" in problems[0]


# The toy world's data-ordering finals per seed on two CPUs: each seed's final rank moved by at
# most 0.9 between them, within the rule, yet the claim's verdict moved one step.
AMD_ORDERING = {  # the toy world's data-ordering finals made on an AMD EPYC (AVX-512) at 8ea7364
    "joint": [4.9, 6.05, 6.05, 6.45, 6.6, 6.45, 5.15, 3.0, 7.35, 5.4],
    "facts_first": [7.0, 8.4, 7.65, 9.0, 7.7, 6.1, 5.4, 7.25, 7.6, 7.1],
    "impl_first": [7.95, 7.1, 6.2, 6.1, 6.35, 6.2, 7.2, 5.4, 9.05, 6.8]}
INTEL_ORDERING = {  # the same, made on an Intel Xeon (AVX-512, AMX) at 7ecb733
    "joint": [4.9, 6.3, 6.0, 6.4, 6.6, 6.6, 5.15, 3.0, 7.35, 5.4],
    "facts_first": [7.0, 8.25, 7.6, 8.9, 7.7, 7.0, 5.4, 7.3, 7.75, 7.1],
    "impl_first": [8.0, 7.1, 6.05, 6.15, 6.35, 6.15, 7.55, 5.4, 9.1, 5.85]}


def test_a_verdict_at_the_margin_may_move_one_step_on_another_cpu_only():
    """The toy data-ordering claim made on an AMD EPYC reads "partly" because joint -
    implications-first has an interval just below 0; the Intel run's numbers, within the rule,
    put it just above ("does not"). That one-step move on another CPU is a note, not a
    difference; the same move in the same environment is one."""
    from extractive_core import claim_rules

    path = Path(__file__).resolve().parents[1] / "results" / "toyworld" / "data_ordering.json"
    preconditions = json.loads(path.read_text())["claims"]["ordering"]["preconditions"]
    assert all(preconditions.values())
    claim = claim_rules.ordering(AMD_ORDERING, preconditions)
    assert claim["verdict"] == "partly"
    intel = claim_rules.ordering(INTEL_ORDERING, preconditions)
    assert intel["verdict"] == "does not"
    committed, fresh = {"claims": {"ordering": claim}}, {"claims": {"ordering": intel}}
    problems, _ = compare(committed, fresh, OTHER_CPU)
    assert len(problems) == 1 and isinstance(problems[0], MarginNote) and "'partly', fresh 'does not'" in problems[0]
    assert compare(committed, fresh, Rule(0.0, statistical=False))[0] == [
        "/claims/ordering: value differs: committed 'partly', fresh 'does not'"]


def test_a_margin_note_is_printed_and_does_not_fail(tmp_path, capsys):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    amd = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "threads": 1, "packages": {"torch": "2.13.0"}}
    claim = {"verdict": "partly", "measurement": "m", "inputs": {"joint": FINALS}}
    write(committed, "m", "data_ordering", {**ordering(FINALS), "claims": {"ordering": claim}, "provenance": amd})
    write(fresh, "m", "data_ordering", {**ordering(FINALS), "claims": {"ordering": {**claim, "verdict": "does not"}},
                                        "provenance": {**amd, "cpu_model": "Intel(R) Xeon(R) Processor"}})
    assert main([str(committed), str(fresh)]) == 0
    out = capsys.readouterr().out
    assert "verdict at the margin: committed 'partly', fresh 'does not'" in out and "1 at the margin" in out
    assert "cpu_model: AMD EPYC -> Intel(R) Xeon(R) Processor" in out  # what made the bits differ
    write(fresh, "m", "data_ordering", {**ordering(FINALS), "claims": {"ordering": {**claim, "verdict": "does not"}},
                                        "provenance": amd})  # same machine: the move is a difference
    assert main([str(committed), str(fresh)]) == 1
    write(fresh, "m", "data_ordering", {**ordering(FINALS), "claims": {"ordering": {**claim, "verdict": "does not"}},
                                        "provenance": {**amd, "threads": 2}})  # same CPU, other threads: too
    assert main([str(committed), str(fresh)]) == 1
    out = capsys.readouterr().out
    assert "/claims/ordering: verdict differs on the same CPU: committed 'partly', fresh 'does not'" in out
    assert "another CPU" not in out  # the note's own wording is not carried into the problem


AMD_ENV = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "threads": 1, "packages": {"torch": "2.13.0"}}
INTEL_ENV = {**AMD_ENV, "cpu_model": "Intel(R) Xeon(R) Processor"}


def moved(tmp_path, name: str, committed: dict, fresh: dict, fresh_env: dict = INTEL_ENV) -> int:
    """``reproduce``'s exit code for one results file made on the AMD machine, then remade."""
    write(tmp_path / "committed", "m", name, {**committed, "provenance": AMD_ENV})
    write(tmp_path / "fresh", "m", name, {**fresh, "provenance": fresh_env})
    return main([str(tmp_path / "committed"), str(tmp_path / "fresh")])


def test_a_claim_and_its_verdicts_copy_count_once_and_must_move_together(tmp_path, capsys):
    """Chapters keep a claim's verdict twice (``verdicts`` and ``claims``): a one-step move of
    both on another CPU is one claim at the margin; a move of the copy alone is a difference."""

    def freezing(verdict, claim_verdict):
        return {"verdicts": {"second_hop": verdict}, "claims": {"second_hop": {"verdict": claim_verdict}}}

    assert moved(tmp_path, "layer_freezing", freezing("partly", "partly"), freezing("does not", "does not")) == 0
    assert "1 claim(s) at the margin" in capsys.readouterr().out
    assert moved(tmp_path, "layer_freezing", freezing("partly", "partly"), freezing("does not", "partly")) == 1
    assert "moved without its claim" in capsys.readouterr().out


def test_a_comparisons_direction_moves_only_beside_its_files_claim(tmp_path, capsys):
    """The chapters print their rule's comparisons at the rule's level, so on another CPU the
    comparison a claim at the margin rests on moves with it (measured: the toy data ordering
    under AVX2 kernels, joint - impl_first 'no separation' -> 'lower', its claim does not ->
    partly); a direction that moves with no claim of its file at the margin is a difference."""

    def ordering_file(direction, claim_verdict):
        return {"verdicts": {"compare/joint - impl_first": direction},
                "claims": {"ordering": {"verdict": claim_verdict}}}

    before = ordering_file("no separation", "does not")
    assert moved(tmp_path, "data_ordering", before, ordering_file("lower", "partly")) == 0
    assert "1 claim(s) at the margin" in capsys.readouterr().out
    assert moved(tmp_path, "data_ordering", before, ordering_file("lower", "does not")) == 1
    assert "moved without a claim of its file" in capsys.readouterr().out
    assert moved(tmp_path, "data_ordering", before, ordering_file("higher", "partly")) == 0  # one step too
    # the same CPU: every verdict must match
    assert moved(tmp_path, "data_ordering", before, ordering_file("lower", "partly"), fresh_env=AMD_ENV) == 1


def test_a_sample_of_the_seeds_is_compared_seed_by_seed():
    """The test command runs the default model on seed 0: its entries must match the committed
    seed 0; the means and verdicts over all seeds are not compared (tests/test_shown_claims.py
    recomputes them from the committed numbers)."""
    committed = ordering(FINALS[:3])
    same_seed0 = ordering([FINALS[0] + 0.05], verdict="no OCR", seeds=[0])  # a one-seed verdict may differ
    assert compare(committed, same_seed0, Rule(0.1, statistical=True))[0] == []
    assert compare(committed, same_seed0, Rule(0.0, statistical=False))[0]  # same machine: bits
    moved = ordering([FINALS[0] + 0.3], seeds=[0])
    assert compare(committed, moved, Rule(0.1, statistical=False))[0]  # one by one at 0.1: fails
    # another environment: within 4 SE of the committed seeds' spread (sd 0.92 over 3 seeds: 5.2)
    assert compare(committed, moved, Rule(0.1, statistical=True))[0] == []
    problems, _ = compare(committed, ordering([FINALS[0] + 5.5], seeds=[0]), Rule(0.1, statistical=True))
    assert any("sampled seed [0]" in p and "test_implications[1]" in p for p in problems)
    unmoved_first = ordering([FINALS[0]], seeds=[0])  # the first rank is 9.0 for every seed: no spread
    unmoved_first["orders"]["joint"]["per_seed"][0]["test_implications"][0] = 9.3
    problems, _ = compare(committed, unmoved_first, Rule(0.1, statistical=True))
    assert len(problems) == 1 and "test_implications[0]" in problems[0] and "tolerance 0.1" in problems[0]
    assert compare(committed, ordering([FINALS[3]], seeds=[3]), OTHER_CPU)[0]  # a seed never committed
    # one seed has no interval, three have one: the summary's fields differ, its seed-0 value does not
    committed["orders"]["joint"]["final"]["ci95"] = [4.4, 6.2]
    same_seed0["orders"]["joint"]["final"]["range"] = [5.05, 5.05]
    assert compare(committed, same_seed0, Rule(0.1, statistical=True))[0] == []
    del same_seed0["orders"]["joint"]["per_seed"]  # but per-seed records missing is a difference
    assert any("per_seed: only in the committed" in p for p in compare(committed, same_seed0, OTHER_CPU)[0])


def test_committed_toy_results_under_chaos_and_under_a_real_change(tmp_path):
    """The real toy-world data-ordering file: every per-seed rank jittered by up to 0.5
    reproduces on another CPU; every test person's final implication rank 2 ranks worse does not."""
    import random

    path = Path(__file__).resolve().parents[1] / "results" / "toyworld" / "data_ordering.json"
    committed = json.loads(path.read_text())
    rng = random.Random(0)

    def jitter(x, shift=0.0):
        if isinstance(x, dict):
            return {k: (jitter(v, shift) if k in ("per_seed", "test_implications") or isinstance(v, (dict, list)) else v)
                    for k, v in x.items()}
        if isinstance(x, list):
            return [jitter(v, shift) for v in x]
        return x + rng.uniform(-0.5, 0.5) + shift if isinstance(x, float) else x

    fresh = {**committed, "orders": {o: {**d, "per_seed": [{**r, "test_implications": jitter(r["test_implications"])}
                                                          for r in d["per_seed"]]}
                                     for o, d in committed["orders"].items()}}
    assert compare(committed, fresh, OTHER_CPU)[0] == []
    assert compare(committed, fresh, 0.1)[0]  # the rule before: per seed, 0.1
    worse = {**committed, "orders": {o: {**d, "per_seed": [{**r, "test_implications": r["test_implications"][:-1]
                                                            + [r["test_implications"][-1] + 2.0]} for r in d["per_seed"]]}
                                     for o, d in committed["orders"].items()}}
    problems, _ = compare(committed, worse, OTHER_CPU)
    assert any("test_implications[8]" in p for p in problems)


def test_the_measured_tolerance_is_twice_the_largest_probe_difference_with_a_floor():
    from extractive_core.reproduce import measured_tolerance

    assert measured_tolerance([]) == 0.1 and measured_tolerance([0.0, 0.02]) == 0.1
    assert measured_tolerance([0.3, 1.125]) == 2.25


def test_a_file_without_its_own_probe_gets_the_floor_not_another_files_tolerance():
    from extractive_core.reproduce import TOLERANCE_FLOOR, tolerance_for

    table = {"toyworld/pretraining_order": 8.1, "gemma3_270m/two_hop_ocr": 0.1}
    assert tolerance_for(table, Path("toyworld/pretraining_order.json")) == 8.1
    assert tolerance_for(table, Path("toyworld/data_ordering.json")) == TOLERANCE_FLOOR == 0.1


def sweep(lrs, shift=0.0):
    """A sweep-shaped results tree: cells per hop, lr and epochs, and one record per lr."""
    return {"lrs": lrs, "seeds": [0],
            "hops": {"second_hop": {f"{lr:g}": {"8": {"implication": {"values": [5.0 + lr * 1e4 + shift]}}}
                                    for lr in lrs}},
            "runs": [{"hop": "second_hop", "lr": lr, "seed": 0, "test_rank": [9.5, 5.0 + lr * 1e4 + shift]}
                     for lr in lrs]}


def test_a_sample_of_the_sweeps_learning_rates_is_compared_cell_by_cell():
    """The test command runs one lr of the sweep: its cells and records must match the
    committed ones of that lr; the other lrs are left out; an lr the grid lacks, or a moved
    cell, is a difference."""
    committed = sweep([1e-5, 3e-5, 1e-4])
    same = sweep([3e-5])
    assert compare(committed, same, Rule(0.0, statistical=False))[0] == []
    assert compare(committed, same, OTHER_CPU)[0] == []
    moved = sweep([3e-5], shift=0.5)
    problems, worst = compare(committed, moved, Rule(0.0, statistical=False))
    assert worst == 0.5 and any("3e-05" in p for p in problems) and any("/runs" in p for p in problems)
    assert any("not in the committed grid" in p for p in compare(committed, sweep([2e-5]), OTHER_CPU)[0])
    missing_record = {**same, "runs": []}
    assert compare(committed, missing_record, Rule(0.0, statistical=False))[0]


def test_a_difference_names_what_differs_in_the_environment(tmp_path):
    committed, fresh = tmp_path / "committed", tmp_path / "fresh"
    here = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "threads": 1, "packages": {"torch": "2.13.0"}}
    write(committed, "m", "two_hop_ocr", {**RESULT, "provenance": here})
    far = {**RESULT, "first_hop": {"test_rank": [9.25, 4.0]}}
    write(fresh, "m", "two_hop_ocr", {**far, "provenance": {**here, "threads": 2, "packages": {"torch": "2.14.0"}}})
    problems = compare_dirs(committed, fresh)[1]
    assert any("threads: 1 -> 2" in p and "packages[torch]: 2.13.0 -> 2.14.0" in p and "EXTRACTIVE_THREADS" in p
               for p in problems)
    write(fresh, "m", "two_hop_ocr", {**far, "provenance": here})  # same environment: no such line
    assert not any("another environment" in p for p in compare_dirs(committed, fresh)[1])


def test_two_prompts_moving_one_rank_each_is_within_the_floor():
    """Ranks are stored as float32 means: 10.05 against 9.95 is 0.10000038 apart, which is the
    floor's two prompts of 20, not more; a third prompt is."""
    import numpy as np

    a, b, c = (float(np.float32(x)) for x in (10.05, 9.95, 9.9))
    assert compare({"r": a}, {"r": b}, 0.1)[0] == []
    assert compare({"r": a}, {"r": c}, 0.1)[0]
    assert compare(ordering([a] * 3), ordering([b] * 3), OTHER_CPU)[0] == []


def test_a_sampled_seed_at_chance_fails_however_wide_the_committed_spread():
    """The sampled-seed rule on the committed gemma3_270m two-hop results: a degenerate model
    (every rank of seed 0 at chance, 9.5) does not pass as another CPU's noise on either hop,
    while the committed seed 0 itself does."""
    import copy

    committed = json.loads((Path(__file__).resolve().parents[1] / "results/gemma3_270m/two_hop_ocr.json").read_text())
    fresh = copy.deepcopy(committed)
    fresh["seeds"] = [0]
    for hop in ("first_hop", "second_hop"):
        record = fresh[hop]["per_seed"]["0"]
        fresh[hop]["per_seed"] = {"0": {**record, **{k: [9.5] * len(v) for k, v in record.items() if isinstance(v, list)}}}
    problems, _ = compare(committed, fresh, Rule(0.1, statistical=True))
    assert any("/first_hop/per_seed" in p and "train_rank" in p for p in problems)
    assert any("/first_hop/per_seed" in p and "test_rank" in p for p in problems)
    assert any("/second_hop/per_seed" in p and "train_rank" in p for p in problems)
    assert compare(committed, {**copy.deepcopy(committed), "seeds": [0], "first_hop": {
        **committed["first_hop"], "per_seed": {"0": committed["first_hop"]["per_seed"]["0"]}},
        "second_hop": {**committed["second_hop"], "per_seed": {"0": committed["second_hop"]["per_seed"]["0"]}}},
        Rule(0.1, statistical=True))[0] == []  # the committed seed 0 itself passes
