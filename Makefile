# The two commands of the README: `make demo` and `make test`.
# Both first run the idempotent setup (tools/setup_env.sh: .venv + pinned stack).
PY := .venv/bin/python

.PHONY: setup demo test

setup:
	bash tools/setup_env.sh

demo: setup
	$(PY) tools/demo.py --work-dir work_dirs/demo

test: setup
	$(PY) -m pytest tests -q --durations=15
