# Two entry points (see README): `make all` runs the main job, `make test` the tests.
# Both set up .venv first. MODEL picks the model for the notebooks (default gemma3_270m).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?= gemma3_270m
# The CPU build of torch that this kind of machine keeps on disk; on a GPU box use e.g.
# `make all TORCH=torch` to get pip's default (CUDA) build.
TORCH ?= torch==2.13.0
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: all setup notebooks book test unit clean

all: notebooks book

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[notebooks,test]"
	touch $@

setup: $(BIN)/.installed

# Executes every notebook in place on MODEL (the committed, executed copies are these).
notebooks: setup
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb ($(MODEL))"; \
	  $(BIN)/papermill --log-level WARNING "$$nb" "$$nb" -p model "$(MODEL)" || exit 1; \
	done

book: setup
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Book: _build/html/index.html"

# Unit tests, then every notebook re-executed by nbval (outputs are not compared).
test: setup
	$(BIN)/pytest tests
	$(BIN)/pytest --nbval-lax -p no:cacheprovider $(NOTEBOOKS)

unit: setup
	$(BIN)/pytest tests

clean:
	rm -rf _build
