# make demo: set everything up and train the spec'd model on the digits data.
# make test: set everything up and run mypy (strict), ruff and pytest.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export KERAS_BACKEND ?= jax
export JAX_PLATFORMS ?= cpu

.PHONY: all install demo notation-demo test typecheck lint pytest bench clean

all: test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python examples/train_torch.py

typecheck: install
	$(BIN)/mypy

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

pytest: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test: typecheck lint pytest

notation-demo: install
	$(BIN)/python examples/demo.py

bench: install
	$(BIN)/python benchmarks/bench_ops.py
	$(BIN)/python benchmarks/bench_torch_layers.py
	$(BIN)/python benchmarks/bench_first_call.py
	$(BIN)/python benchmarks/bench_jax_layers.py
	$(BIN)/python benchmarks/bench_flax_layers.py
	$(BIN)/python benchmarks/bench_haiku_layers.py --clock cpu
	$(BIN)/python benchmarks/bench_equinox_layers.py --clock cpu
	$(BIN)/python benchmarks/bench_keras_layers.py --clock cpu

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
