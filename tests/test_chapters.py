"""One call per model in a chapter's notebook: prefetch, load, run, save."""

import json

import pytest

from extractive_core import chapters
from extractive_core.errors import ParameterError


@pytest.fixture
def fake(monkeypatch, tmp_path):
    calls = {"prefetch": [], "load": []}
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path))
    monkeypatch.setattr(chapters, "prefetch_seeds", lambda name, seeds, jobs, device: calls["prefetch"].append(seeds) or 1)
    monkeypatch.setattr(chapters, "load_model", lambda name, device=None, threads=None: calls["load"].append(threads) or "lm")
    return calls, tmp_path


def experiment(lm, seeds, scale=1):
    return {"model": lm, "seeds": list(seeds), "value": scale * len(seeds)}


def test_runs_the_experiment_and_its_extras_and_saves_one_file(fake):
    calls, root = fake
    lm, results = chapters.run_chapter("toyworld", "freezing", (experiment, {"seeds": [0, 2], "scale": 3}),
                                       {"band_map": (experiment, {"seeds": [1]})}, threads=2)
    assert lm == "lm" and results["value"] == 6 and results["band_map"] == {"model": "lm", "seeds": [1], "value": 1}
    assert calls == {"prefetch": [[0, 1, 2]], "load": [1]}  # prefetched seeds: loaded on their one thread
    assert json.loads((root / "results" / "toyworld" / "freezing.json").read_text()) == results


def test_without_prefetch_the_model_loads_as_asked(fake):
    calls, _ = fake
    chapters.run_chapter("toyworld", "scores", (experiment, {"seeds": [0]}), threads=2, prefetch=False)
    assert calls == {"prefetch": [], "load": [2]}


@pytest.mark.parametrize("job", [(experiment, {}), (experiment,), ("run", {"seeds": [0]})])
def test_a_malformed_experiment_names_the_expected_form(fake, job):
    with pytest.raises(ParameterError, match="keyword arguments with 'seeds'"):
        chapters.run_chapter("toyworld", "x", job)


def test_a_repeated_seed_is_refused_before_any_seed_trains(monkeypatch):
    from extractive_core import chapters
    from extractive_core.errors import ParameterError

    trained = []
    monkeypatch.setattr(chapters, "prefetch_seeds", lambda *a, **k: trained.append(a))
    with pytest.raises(ParameterError, match="repeated"):
        chapters.run_chapter("toyworld", "two_hop_ocr", (lambda lm, seeds: {}, {"seeds": [0, 0]}))
    assert trained == []
