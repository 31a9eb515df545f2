# The two commands: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# a small LSTM learns to write Python from the standard library's source for a minute, then
# writes some (runs/demo is the demo's own run directory: each `make demo` starts it afresh)
demo: $(STAMP)
	rm -rf runs/demo
	$(BIN)/rnnkit charlm train --out runs/demo --max-time 60 --threads 1 --hidden-size 256 \
		--batch-size 32 --seq-length 64 --eval-every 100 --eval-chars 50000 --sample-every 0
	$(BIN)/rnnkit charlm sample runs/demo --prime "def " --length 600 --temperature 0.7 --seed 0

# the suite in one worker per core (-n auto; tests take one torch thread each), the long
# tests first handed to whichever worker is free (worksteal); `pytest -n 0` runs it in one
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check rnnkit tests benchmarks
	$(BIN)/ruff format --check rnnkit tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
