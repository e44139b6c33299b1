# Two commands for a new user: `make demo` and `make test`. Both create .venv on first use and
# install the tested versions pinned in constraints.txt (pyproject.toml keeps open ranges for pip
# users), so a new release upstream cannot break them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
PYTEST_ARGS ?=
DEMO_ARGS ?=
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test lint install constraints clean

demo: $(STAMP)
	$(BIN)/dlc-workbench demo $(DEMO_ARGS)

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/lint-imports
	$(BIN)/npe2 validate napari-dlc-workbench

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# After testing an upgrade in .venv: pin what is installed now.
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(PIP) freeze --exclude-editable | grep -v '^napari-dlc-workbench'; } > constraints.tmp
	mv constraints.tmp constraints.txt

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
