# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3

.PHONY: install demo test benchmark

install:
	bash scripts/install.sh

demo: install
	bash scripts/demo.sh

test: install
	$(PYTHON) -m pytest

benchmark: install
	$(PYTHON) -m benchmarks.run
