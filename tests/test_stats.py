"""Seed statistics: every statistic of a summary is the statistic of the values the results
file keeps, so a table, a finding and a claim that print the same quantity print it alike."""

from __future__ import annotations

import numpy as np
import pytest

from extractive_core.claim_rules import fmt
from extractive_core.freezing import freezing_table
from extractive_core.stats import interval_text, kept, paired_difference, summarise

# float32 ranks as a run returns them: 0.3, 0.45, ... are not exact in float32, and their
# float32 mean 0.41500000357 rounds to 0.42 where the kept values' mean, 0.415 - 1e-16, rounds
# to 0.41 (the chapter's table and the claims once printed these two for one quantity)
RANKS = np.array([0.3, 0.45, 0.55, 0.35, 0.5, 0.4, 0.4, 0.35, 0.55, 0.3], dtype=np.float32).tolist()


def test_a_summary_is_the_statistics_of_its_kept_values():
    s = summarise(RANKS)
    assert s["values"] == [0.3, 0.45, 0.55, 0.35, 0.5, 0.4, 0.4, 0.35, 0.55, 0.3]
    assert s["mean"] == float(np.mean(s["values"]))
    assert (s["min"], s["max"]) == (0.3, 0.55)
    assert interval_text(s, label=False) == fmt(s["values"])  # the table's text is the claim's


def test_a_paired_difference_is_that_of_the_kept_values():
    a = np.array([0.15, 0.2, 0.1], dtype=np.float32).tolist()
    b = np.array([0.1, 0.1, 0.1], dtype=np.float32).tolist()
    d = paired_difference(a, b)
    assert d["differences"] == [0.05, 0.1, 0.0]
    assert d["mean"] == float(np.mean(d["differences"]))
    with pytest.raises(ValueError, match="same non-zero number of seeds"):
        paired_difference(a, b[:2])


def test_kept_rounds_to_the_files_decimals():
    assert kept([0.123456, np.float32(0.15)]).tolist() == [0.1235, 0.15]


def test_the_freezing_table_prints_what_its_findings_print():
    cells = {col: summarise(RANKS) for col in ("fact", "implication")}
    table = freezing_table({"hops": {"second_hop": {"None": cells}}})
    assert table.loc["None", ("second-hop", "implication")] == fmt(cells["implication"]["values"])
    assert table.loc["None", ("second-hop", "implication")].startswith("0.41 [")


def test_a_freezing_table_of_under_3_seeds_names_its_min_max():
    cells = {col: summarise([0.3, 0.55]) for col in ("fact", "implication")}
    table = freezing_table({"hops": {"first_hop": {"None": cells}}})
    assert list(table.columns) == [("first-hop", "fact [min-max]"), ("first-hop", "implication [min-max]")]
    assert table.iloc[0, 0] == "0.43 [0.30, 0.55]"


def test_the_grafting_and_ordering_tables_name_a_min_max_column():
    """With 2 seeds the brackets hold the seeds' min-max, and each table's column says so;
    with 3 or more, the column is the t-interval's and keeps its plain name."""
    from extractive_core.data_ordering import TABLE_COLUMNS, ordering_table
    from extractive_core.grafting import COLUMNS, grafting_table

    for values, suffix in (([0.3, 0.55], " [min-max]"), (RANKS, ""), ([1.55], "")):
        s = summarise(values)
        graft = {"rows": {"graft": "W_F' + graft"}, "table": {"graft": {col: s for col in COLUMNS}}}
        assert list(grafting_table(graft).columns) == [col + suffix for col in COLUMNS]
        assert grafting_table(graft).loc["W_F' + graft", "Impl F'" + suffix] == interval_text(s, label=False)
        order = {key: s for key in TABLE_COLUMNS.values()}  # the per-seed column reads test_implications_final
        table = ordering_table({"orders": {"joint": order}, "verdicts": {"ocr/joint": "OCR"}})
        assert list(table.columns) == [col + suffix for col in TABLE_COLUMNS] + ["per seed, after", "verdict"]
        assert table.loc["joint", "verdict"] == "OCR"


def test_one_seed_prints_its_value_alone():
    """No bracket around a single number, no min-max label (the sweep chapter printed
    "1.55 [1.55, 1.55] (min-max (fewer than 3 seeds), 1 seed)")."""
    s = summarise([1.55])
    assert interval_text(s) == "1.55 (1 seed)" and interval_text(s, label=False) == "1.55" == fmt([1.55])
    assert interval_text(paired_difference([1.0], [1.5]), signed=True) == "-0.50 (1 seed)"
