# Two commands for a fresh clone (see README.md):
#   make demo   sets up .venv and runs catsel on sample_data/ (results in runs/sample/)
#   make test   sets up .venv and runs the whole test suite
# and, for developers:
#   make quick  the tests without the slow ones (notebooks, browsers, other backends, Dask): about two minutes
#   make docs   the API reference and the executed notebooks as HTML in build/docs/ (warnings are errors)
PYTHON ?= python3
VENV ?= .venv
# Keras backend extra: cpu (tensorflow-cpu, default), tensorflow (GPU-capable), jax or torch
BACKEND ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(BACKEND)

.PHONY: setup demo test quick docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(BACKEND),notebooks,scale,brain,hub-vision,test,docs]"
	# keras-hub for hub: presets, without the tensorflow-text (and second TensorFlow) it asks for its text models
	$(BIN)/python -m pip install --quiet --no-deps "keras-hub>=0.21"
	touch $@

# PyTorch for the tests of its Keras backend and of torchvision and timm networks. torch 2.14.1 with
# torchvision 0.29.1 is a pair that imports together (on this project's machines both lie on disk for
# Python 3.11; the CPU build of torch 2.13.0 there has no torchvision that imports beside it).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
TORCH_STAMP := $(VENV)/.installed-torch

$(TORCH_STAMP): $(STAMP)
	$(BIN)/python -c "import torchvision" 2>/dev/null || $(BIN)/python -m pip install --quiet $(TORCH_PINS)
	$(BIN)/python -m pip install --quiet "timm>=0.9"
	touch $@

demo: $(STAMP)
	$(BIN)/catsel run sample_data --out runs/sample

test: $(STAMP) $(TORCH_STAMP)
	$(BIN)/python -m pytest

quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs build/docs

clean:
	rm -rf $(VENV) runs build .pytest_cache docs/notebooks docs/api/catsel.md
