"""The built book, opened in headless Chromium: the index and every chapter render, with
every image loaded (no broken figure), as many figures as the notebook made, and no raw
error output; a screenshot of each page lands in _build/screenshots/.

Runs when the book is built (``make book``); ``make test`` sets ``EXTRACTIVE_BROWSER=1``,
which turns a missing book, browser or driver into a failure instead of a skip. Chromium and
its driver are Debian's ``chromium`` and ``chromium-driver`` (the test set-up installs them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from extractive_core import settings

REPO = Path(__file__).resolve().parents[1]
HTML = REPO / "_build" / "html"
SHOTS = REPO / "_build" / "screenshots"
REQUIRED = settings.browser_required()


def pages() -> list[str]:
    """The root page and every page of _toc.yml (parts, chapters, sections), as paths below
    _build/html."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())

    def walk(entries: list[dict]) -> list[str]:
        found = []
        for entry in entries:
            if "file" in entry:
                found.append(f"{entry['file']}.html")
            found += walk(entry.get("chapters", []) + entry.get("sections", []))
        return found
    return [f"{toc['root']}.html"] + walk(toc.get("parts", []) + toc.get("chapters", []))


def figures_made(page: str) -> int:
    """How many images the notebook behind ``page`` holds in its outputs (0 for Markdown)."""
    notebook = REPO / page.replace(".html", ".ipynb")
    if not notebook.is_file():
        return 0
    cells = json.loads(notebook.read_text())["cells"]
    return sum("image/png" in out.get("data", {}) for c in cells for out in c.get("outputs", []))


def unavailable(why: str) -> None:
    if REQUIRED:
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").is_file():
        unavailable("the book is not built: run make book first")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        unavailable("Chromium or its driver is missing: apt-get install chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,2000", "--allow-file-access-from-files"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


BROKEN_IMAGES = "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
SHOWN_IMAGES = "return [...document.querySelectorAll('main img')].filter(i => i.naturalWidth > 0).length"
ERRORS = ("return [...document.querySelectorAll('.traceback, .output.error, .output.stderr, .system-message')]"
          ".map(e => e.innerText.slice(0, 200))")


@pytest.mark.parametrize("page", pages())
def test_page_renders_with_its_figures(browser, page):
    path = HTML / page
    assert path.is_file(), f"{page} is missing from the built book"
    browser.get(path.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    text = browser.find_element("tag name", "main").text
    assert len(text) > 500, f"{page} rendered almost nothing"
    assert "Traceback (most recent call last)" not in text and "Page not found" not in text
    assert browser.execute_script(BROKEN_IMAGES) == [], f"broken images on {page}"
    assert browser.execute_script(ERRORS) == [], f"raw error output on {page}"
    assert browser.execute_script(SHOWN_IMAGES) >= figures_made(page), f"{page} shows fewer figures than it made"
    browser.save_screenshot(str(SHOTS / (page.replace("/", "_").replace(".html", ".png"))))


def test_every_figure_is_in_the_book():
    """Every PNG in figures/ is drawn by a chapter's notebook (whose output is the saved file)."""
    shown = set()
    for page in pages():
        notebook = REPO / page.replace(".html", ".ipynb")
        if notebook.is_file():
            shown |= {line.split("figure_path(")[1].split(")")[0] for c in json.loads(notebook.read_text())["cells"]
                      for line in "".join(c["source"]).splitlines() if "figure_path(" in line}
    made = sorted(p.relative_to(REPO / "figures") for p in (REPO / "figures").glob("*/*.png"))
    names = {p.stem for p in made}
    assert all(any(f'"{n}"' in s for s in shown) for n in names), (names, shown)
