# frisson: `make demo` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := demo_output
MUSICNN_DIR := data/external/musicnn

.PHONY: install demo test bench bench-music lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first: an unpinned torch would pull gigabytes of CUDA packages.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# frisson with every extra ([dev] = [codecs,fmri,formats] + test and build tools).
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The published musicnn==0.1.0 wheel as a file: tests unpack the default encoder's checkpoints
	# from it offline (`frisson fetch musicnn --from`); installed with --no-deps (its TensorFlow pins
	# never reach the venv) so the installed-wheel path is tested too.
	$(BIN)/python -m pip download --quiet --no-deps --only-binary :all: -d $(MUSICNN_DIR) musicnn==0.1.0
	$(BIN)/python -m pip install --quiet --no-deps $(MUSICNN_DIR)/musicnn-0.1.0-py3-none-any.whl
	# Real ECG/EDA/PPG recordings for the physio tests (data files only, into data/external/).
	$(BIN)/python scripts/fetch_physio_data.py
	# Debian's chromium for the browser tests of the reports (they are skipped without it).
	command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "chromium not installed: the browser tests of the reports will be skipped"
	touch $(STAMP)

demo: install
	$(BIN)/frisson demo --out $(DEMO_DIR)

# One BLAS/OpenMP thread per test worker: two workers on two cores, no oversubscription.
test: install
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

# Optional: the Debian music packages benchmarks/latent.py builds its real-music set from (root).
bench-music:
	apt-get install -y wesnoth-1.16-music fretsonfire-songs-muldjord extremetuxracer-data marsshooter-data openclonk-data freedroidrpg-data supertux-data btanks-data powermanga-data noiz2sa-data

bench: install
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

docs: install
	$(BIN)/mkdocs build --strict

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
