# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3

.PHONY: install demo test benchmark

install:
	bash scripts/install.sh

demo: install
	bash scripts/demo.sh

test: install
	$(PYTHON) -m pytest

# Speed and memory figures for docs/benchmarks.md (minutes; not part of the tests).
benchmark: install
	$(PYTHON) -m benchmarks.bench_vs_tools $(BENCH_ARGS)  # e.g. make benchmark BENCH_ARGS="--quick"
	$(PYTHON) benchmarks/bench_prepare.py
	$(PYTHON) benchmarks/bench_prepare.py --fixture 1080p  # issue 17: per clip within 1.5x of decoding
	$(PYTHON) -m benchmarks.bench_evaluate
	$(PYTHON) -m benchmarks.bench_g4g_step --config tiny --steps 20
