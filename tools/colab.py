"""Give every notebook an "Open in Colab" badge and a first code cell that, in Colab only,
fetches the project and installs it. The repository's address is read from _config.yml
(``repository.url``), the one place it is set.

    python tools/colab.py          # write the badges and cells (idempotent)
    python tools/colab.py --check  # exit 1 if a notebook is not up to date
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TAG = "colab-setup"
BADGE_MARK = "colab-badge.svg"  # book/colab-badge.svg: drawn here, so the offline book loads it


def repository() -> tuple[str, str]:
    """(url, branch) from _config.yml."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config.get("repository") or {}
    if not repo.get("url"):
        raise SystemExit("_config.yml has no repository.url: set it to the project's GitHub address")
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def badge(notebook: Path) -> str:
    url, branch = repository()
    path = url.removeprefix("https://github.com/")
    return (f"[![Open In Colab](../book/{BADGE_MARK})]"
            f"(https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook.name})")


def setup_source() -> str:
    url, branch = repository()
    return "\n".join([
        "# In Colab only: fetch the project and install it (elsewhere this cell does nothing).",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f"    !git clone -q --depth 1 --branch {branch} {url} /content/extractive-structures",
        "    !pip install -q -e /content/extractive-structures",
        '    sys.path.insert(0, "/content/extractive-structures")',
        "    %cd /content/extractive-structures/notebooks",
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        nb = json.loads(notebook.read_text())
        new = stamped(nb, notebook)
        if new != nb:
            stale.append(notebook.name)
            if not args.check:
                notebook.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n")
    if args.check and stale:
        sys.exit(f"not stamped for Colab: {', '.join(stale)}; run python tools/colab.py")
    print(("stale: " if args.check else "stamped: ") + (", ".join(stale) or "none"))


if __name__ == "__main__":
    main()
