"""Figures are redrawn from saved results alone, as PNG and PDF, and repeat bit for bit."""

import re
import shutil
from pathlib import Path

import pytest

from extractive_core.errors import ParameterError
from extractive_core.figures import FIGURES, drawable, main, redraw

REPO = Path(__file__).resolve().parents[1]


def test_redraw_from_results_alone(tmp_path, monkeypatch):
    (tmp_path / "results" / "gemma3_270m").mkdir(parents=True)
    shutil.copy(REPO / "results" / "gemma3_270m" / "two_hop_ocr.json", tmp_path / "results" / "gemma3_270m")
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path))
    assert drawable("gemma3_270m", "two_hop_ocr") and not drawable("gemma3_270m", "grafting")
    png = redraw("gemma3_270m", "two_hop_ocr")
    pdf = png.with_suffix(".pdf")
    assert png == tmp_path / "figures" / "gemma3_270m" / "two_hop_ocr.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
    first = pdf.read_bytes()
    redraw("gemma3_270m", "two_hop_ocr")
    assert pdf.read_bytes() == first  # no creation date: a redraw changes nothing
    with pytest.raises(ParameterError, match="unknown figure 'nope'"):
        redraw("gemma3_270m", "nope")


def test_the_command_line_names_bad_input(tmp_path, monkeypatch, capsys):
    """An unknown model or format, or no results folder: exit 2 with one line, no traceback
    and no silent success."""
    (tmp_path / "results" / "gemma3_270m").mkdir(parents=True)
    shutil.copy(REPO / "results" / "gemma3_270m" / "two_hop_ocr.json", tmp_path / "results" / "gemma3_270m")
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path))
    for argv, message in ((["--models", "nosuch"], r"no results for \['nosuch'\].*gemma3_270m"),
                          (["--formats", "bogus"], r"unknown figure format\(s\) \['bogus'\].*'svg'"),
                          (["--formats"], "formats must be a non-empty list")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert re.search(message, capsys.readouterr().err)
    main(["--models", "gemma3_270m", "--formats", "svg"])
    assert capsys.readouterr().out.split() == [str(tmp_path / "figures" / "gemma3_270m" / "two_hop_ocr.svg")]
    assert (tmp_path / "figures" / "gemma3_270m" / "two_hop_ocr.svg").is_file()
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path / "empty"))
    with pytest.raises(SystemExit):
        main([])
    assert "no results folder" in capsys.readouterr().err


def test_every_committed_figure_has_a_recipe():
    """Each PNG in figures/ is one of FIGURES, so it can be redrawn from its results."""
    names = {p.stem for p in (REPO / "figures").glob("*/*.png")}
    assert names <= set(FIGURES), names - set(FIGURES)
