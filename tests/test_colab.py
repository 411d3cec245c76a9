"""Every notebook opens in Colab from its badge and installs the project there first; the
repository's address comes from _config.yml alone."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_notebooks_are_stamped_from_the_one_url():
    check = subprocess.run([sys.executable, str(REPO / "tools" / "colab.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    for path in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        badge, setup = "".join(cells[0]["source"]), "".join(cells[1]["source"])
        assert f"colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/" in badge
        assert f"notebooks/{path.name})" in badge and "../book/colab-badge.svg" in badge
        assert f"git clone -q --depth 1 --branch main {url} " in setup and 'if "google.colab" in sys.modules:' in setup
        tags = [c.get("metadata", {}).get("tags", []) for c in cells]
        assert tags[1] == ["colab-setup", "remove-cell"]
        assert sum("parameters" in t for t in tags) == 1  # papermill still finds its one parameters cell


def test_workflow_builds_with_the_main_command():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make all" for s in steps)
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
