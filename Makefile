# Convenience targets; each is one documented command (see README.md).
PY ?= .venv/bin/python
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: setup test main bench bench-quick bench-tables docs

setup:            ## install everything into .venv
	bash scripts/setup.sh dev
test:             ## README command 2: install and run the tests
	bash scripts/test.sh
main:             ## README command 1: train on TextCls-v0, compare with baselines, plot
	bash scripts/main.sh
bench:            ## full benchmark: throughput + learning grid in 2 workers (resumable; hours on 2 cores: see benchmarks/grid.yml)
	$(PY) benchmarks/bench.py --jobs 2
bench-quick:      ## CI smoke slice of the benchmark (a few minutes)
	$(PY) benchmarks/bench.py --quick
bench-tables:     ## re-render tables, plots and the README sections from the result files
	$(PY) benchmarks/bench.py tables && $(PY) benchmarks/readme_tables.py
docs:             ## regenerate docs/envs
	$(PY) -m nlp_envs.cli docs
