"""Every notebook opens in Colab from its badge and installs the project's pinned release there
first; the repository's address comes from _config.yml alone. No committed notebook carries a
papermill ``injected-parameters`` cell (it would override what a Colab user types into the
parameters cell). The workflows publish the committed book and run the test command."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
WORKFLOWS = REPO / ".github" / "workflows"


def test_notebooks_are_stamped_from_the_one_url():
    check = subprocess.run([sys.executable, str(REPO / "tools" / "colab.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr + check.stdout
    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]

    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        badge, setup = "".join(cells[0]["source"]), "".join(cells[1]["source"])
        assert f"colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/" in badge
        assert f"notebooks/{path.name})" in badge
        assert "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]" in badge
        release = "v" + tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
        assert f"git clone -q --depth 1 --branch {release} {url} " in setup  # the pinned release first
        assert f"|| (echo 'release {release} not found: using the main branch' && " in setup
        assert f"git clone -q --depth 1 --branch main {url} " in setup and 'if "google.colab" in sys.modules:' in setup
        assert '!pip install -q -e "/content/extractive-structures[default-model]"' in setup
        tags = [c.get("metadata", {}).get("tags", []) for c in cells]
        assert tags[1] == ["colab-setup", "remove-cell"]
        assert sum("parameters" in t for t in tags) == 1  # papermill still finds its one parameters cell


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_committed_notebook_has_injected_parameters(path):
    cells = json.loads(path.read_text())["cells"]
    injected = [i for i, c in enumerate(cells) if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert injected == [], (f"{path.name}: papermill's injected-parameters cell at {injected}; delete it "
                            "(it overrides the parameters cell)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_tags_for_papermill(path):
    """papermill looks for its parameters cells through every cell's ``metadata.tags``; a cell
    without them (added by hand) fails the test command's parameter injection."""
    untagged = [i for i, c in enumerate(json.loads(path.read_text())["cells"]) if "tags" not in c.get("metadata", {})]
    assert untagged == [], f"{path.name}: cells {untagged} have no metadata.tags (add \"tags\": [])"


def test_the_book_shows_its_own_badge_offline():
    """The book's pages load book/colab-badge.svg for Colab's badge image (tools/colab.py as a
    Sphinx extension), so the offline book and its browser check have no broken image."""
    from docutils import nodes

    sys.path.insert(0, str(REPO / "tools"))
    try:
        import colab
    finally:
        sys.path.remove(str(REPO / "tools"))
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    assert config["sphinx"]["local_extensions"] == {"colab": "tools"}
    assert (REPO / colab.BOOK_BADGE.lstrip("/")).is_file()
    doctree = nodes.section()
    doctree += nodes.reference("", "", nodes.image(uri=colab.BADGE_URL), refuri="https://colab.research.google.com/x")
    doctree += nodes.image(uri="figure.png")
    colab._book_badge(None, doctree)
    assert [i["uri"] for i in doctree.findall(nodes.image)] == [colab.BOOK_BADGE, "figure.png"]


def _triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def _runs(workflow: dict) -> list[str]:
    return [s["run"] for job in workflow["jobs"].values() for s in job.get("steps", []) if "run" in s]


def test_pages_workflow_publishes_the_committed_book():
    workflow = yaml.safe_load((WORKFLOWS / "book.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    runs = _runs(workflow)
    assert any(r.startswith("make book") for r in runs)
    assert not any("make all" in r or "make notebooks" in r or "papermill" in r for r in runs)  # nothing executed
    assert any("download.pytorch.org/whl/cpu" in r and "torch==2.13.0" in r for r in runs)  # CPU torch, the pin
    assert not any(s.get("uses", "").startswith("actions/cache") for s in steps)
    assert any(s.get("with", {}).get("path") == "_build/html" for s in steps)
    assert yaml.safe_load((REPO / "_config.yml").read_text())["execute"]["execute_notebooks"] == "off"


def test_test_workflow_runs_the_test_command_on_push_and_pull_request():
    workflow = yaml.safe_load((WORKFLOWS / "test.yml").read_text())
    assert {"push", "pull_request"} <= set(_triggers(workflow))
    assert "make test" in _runs(workflow)
    assert not any(s.get("uses", "").startswith("actions/cache")
                   for job in workflow["jobs"].values() for s in job.get("steps", []))


def test_torch_pin_agrees():
    makefile = (REPO / "Makefile").read_text()
    assert "TORCH ?= torch==2.13.0\n" in makefile
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "torch==2.13.0" in pip
    for name in ("book.yml", "test.yml"):
        assert '"torch==2.13.0"' in (WORKFLOWS / name).read_text()


def _git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("tagged", [True, False], ids=["release published", "no release yet"])
def test_the_colab_clone_takes_the_release_else_the_branch(tmp_path, tagged):
    """The setup cell's clone line, run by a shell as Colab runs a ``!`` line, against a local
    repository: the release tag's commit where the tag exists, else the branch, with a warning."""
    from IPython.core.inputtransformer2 import TransformerManager

    sys.path.insert(0, str(REPO / "tools"))
    try:
        import colab
    finally:
        sys.path.remove(str(REPO / "tools"))
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    for message in ("release", "later"):
        _git(origin, "commit", "-q", "--allow-empty", "-m", message)
        if tagged and message == "release":
            _git(origin, "tag", colab.release())
    url, _ = colab.repository()
    line = next(ln.strip().removeprefix("!") for ln in colab.setup_source().splitlines() if "git clone" in ln)
    command = line.replace(url, origin.as_uri()).replace("/content/extractive-structures", str(tmp_path / "clone"))
    # IPython hands a ! line to the shell after expanding {...} and $name: the line has neither
    python = TransformerManager().transform_cell("!" + command)
    assert python.strip() == f"get_ipython().system({command!r})"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert _git(tmp_path / "clone", "log", "-1", "--format=%s") == ("release" if tagged else "later")
    assert ("not found: using the main branch" in done.stdout) is not tagged
