# The two commands a user needs: `make demo` and `make test`. Both set themselves up.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test test-fast lint deps tools bench clean

BLINKA := $(VENV)/blinka
BLINKA_STAMP := $(BLINKA)/.installed

deps: $(STAMP) $(NODE_STAMP) $(BLINKA_STAMP) tools

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

# adafruit-blinka goes into its own folder, not the venv: it installs top-level board/microcontroller modules
# that would make every desktop process look like a board. tests/test_sim_blinka.py puts it on PYTHONPATH.
$(BLINKA_STAMP): $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check --target $(BLINKA) adafruit-blinka
	touch $@

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# System tools some tests use (socat makes pty pairs the way a user would); installed when missing.
tools:
	@command -v socat >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq socat >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq socat >/dev/null)) ; } || \
	  echo "note: socat not installed; tests that need it will say so"

lint: $(STAMP)
	$(PY) -m ruff check ether_medium ether_lite tests bench examples firmware
	$(PY) -m mypy

test: deps lint
	$(PY) -m pytest

# The unit tier only (no processes, ptys or sockets): seconds. tests/conftest.py says which modules it holds.
test-fast: $(STAMP)
	$(PY) -m pytest -m unit -q

demo: deps
	$(PY) -m examples.demo

# Speed and size, printed as ratios against baselines measured in the same run (never asserted in tests).
bench: deps
	for b in lite fabric bridge recorder arrays; do $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache
