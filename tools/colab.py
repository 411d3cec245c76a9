"""Give every notebook an "Open in Colab" badge and a first code cell that, in Colab only,
fetches the project's release ``v<version>`` (the version in pyproject.toml; the git tag
that ``git tag v<version>`` makes, the badge's branch where it is not published) and installs
it with the default model's extra. The repository's address is read from _config.yml
(``repository.url``), the one place it is set.

    python tools/colab.py          # write the badges and cells (idempotent)
    python tools/colab.py --check  # exit 1 if a notebook is not up to date

The badge's image is Colab's own (an absolute URL, which GitHub and Colab can show). The book
is built and viewed offline, so this module is also a Sphinx extension (``_config.yml``:
``local_extensions``) that points the book's copies of the badge at book/colab-badge.svg.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"
BADGE_MARK = "colab-badge.svg"  # in both badges' file names: how an old badge line is recognised
BADGE_URL = "https://colab.research.google.com/assets/colab-badge.svg"
BOOK_BADGE = "/book/colab-badge.svg"  # the book's copy (relative to the book's root), drawn here


def repository() -> tuple[str, str]:
    """(url, branch) from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository") or {}
    if not repo.get("url"):
        raise SystemExit("_config.yml has no repository.url: set it to the project's GitHub address")
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def release() -> str:
    """The release tag Colab installs: ``v`` and the version in pyproject.toml."""
    return "v" + tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def badge(notebook: Path) -> str:
    url, branch = repository()
    path = url.removeprefix("https://github.com/")
    return (f"[![Open In Colab]({BADGE_URL})]"
            f"(https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook.name})")


def setup_source() -> str:
    """The Colab cell: clone the release ``release()`` (a tag), or the badge's branch with a
    printed warning where that tag is not published, then install it with the default model."""
    url, branch = repository()
    tag, folder = release(), "/content/extractive-structures"
    return "\n".join([
        f"# In Colab only: fetch the project's release {tag} (the branch {branch} if that tag is not",
        "# published) and install it with the default model (elsewhere this cell does nothing).",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f"    !git clone -q --depth 1 --branch {tag} {url} {folder} 2>/dev/null || "
        f"(echo 'release {tag} not found: using the {branch} branch' && "
        f"git clone -q --depth 1 --branch {branch} {url} {folder})",  # no braces: IPython expands {...} in ! lines
        f'    !pip install -q -e "{folder}[default-model]"',
        f'    sys.path.insert(0, "{folder}")',
        f"    %cd {folder}/notebooks",
    ])


def stamped(nb: dict, notebook: Path) -> dict:
    """``nb`` with the badge as the first line of its first cell and the setup cell after it."""
    old_setup = [c for c in nb["cells"] if TAG in c.get("metadata", {}).get("tags", [])]
    cells = [copy.deepcopy(c) for c in nb["cells"] if TAG not in c.get("metadata", {}).get("tags", [])]
    first = "".join(cells[0]["source"]).split("\n")
    if BADGE_MARK in first[0]:
        first = first[2:] if len(first) > 1 and first[1] == "" else first[1:]
    cells[0]["source"] = _lines("\n".join([badge(notebook), ""] + first))
    # An executed setup cell keeps its execution record (papermill's metadata, no outputs).
    setup = copy.deepcopy(old_setup[0]) if old_setup else {
        "cell_type": "code", "execution_count": None, "id": "colab-setup", "metadata": {}, "outputs": []}
    setup["metadata"]["tags"] = [TAG, "remove-cell"]
    setup["source"] = _lines(setup_source())
    return {**nb, "cells": [cells[0], setup] + cells[1:]}


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])  # the first paragraph, whole
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook is not up to date; write nothing")
    args = parser.parse_args()
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        text = notebook.read_text()
        nb = json.loads(text)
        new = stamped(nb, notebook)
        if new != nb:
            stale.append(notebook.name)
            if not args.check:  # nbformat's layout; the file's own last newline (papermill writes none)
                end = "\n" if text.endswith("\n") else ""
                notebook.write_text(json.dumps(new, indent=1, ensure_ascii=False) + end)
    if args.check and stale:
        sys.exit(f"not stamped for Colab: {', '.join(stale)}; run python tools/colab.py")
    print(("stale: " if args.check else "stamped: ") + (", ".join(stale) or "none"))


def _book_badge(app: Any, doctree: Any) -> None:
    """Sphinx ``doctree-read``, before Sphinx collects the images: Colab's badge image becomes
    the book's own copy, so the book shows it offline (the link still opens Colab)."""
    from docutils import nodes

    for image in doctree.findall(nodes.image):
        if image.get("uri") == BADGE_URL:
            image["uri"] = BOOK_BADGE


def setup(app: Any) -> dict:
    """Sphinx extension entry point (the book's ``_config.yml``: ``local_extensions``)."""
    app.connect("doctree-read", _book_badge, priority=100)  # the image collector runs at 500
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    main()
