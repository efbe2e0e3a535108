# The two commands a user needs: `make demo` and `make test`. Both set themselves up.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: demo test test-fast lint deps tools qemu bench clean

BLINKA := $(VENV)/blinka
BLINKA_STAMP := $(BLINKA)/.installed
CIRCUITPY := $(VENV)/circuitpython
CIRCUITPY_STAMP := $(CIRCUITPY)/.installed

deps: $(STAMP) $(NODE_STAMP) $(BLINKA_STAMP) tools $(CIRCUITPY_STAMP) qemu

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

# CircuitPython 10.2.1's mpy-cross (what `ether deploy` compiles with) and its unix port (the tests' circuitpython
# device), built once (about 30 s) into .venv/circuitpython/bin from $ETHER_CIRCUITPY_SRC, ../shared/circuitpython
# or the upstream tag (tests/circuitpython/build.sh). 32-bit like a board: gcc-multilib is installed when missing.
# Without a source the tests that need it skip, saying why; in CI (CI set, ../shared present) that is an error.
$(CIRCUITPY_STAMP): tests/circuitpython/build.sh | $(STAMP)
	@echo 'int main(void){return 0;}' | gcc -m32 -x c - -o $(VENV)/.m32 >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq gcc-multilib >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq gcc-multilib >/dev/null)) ; } || \
	  echo "note: gcc-multilib not installed: CircuitPython's unix port is built 64-bit (objects 1.6x a board's)"
	@rm -f $(VENV)/.m32
	@if PYTHON=$(PY) tests/circuitpython/build.sh $(CIRCUITPY); then touch $@; \
	elif [ -n "$$CI" ] && [ -d ../shared/circuitpython ]; then echo "error: CircuitPython did not build"; exit 1; \
	else echo "note: CircuitPython not built (above: why); tests that need it will say so"; fi

# The emulated board of the HIL suite: MicroPython's QEMU port (Cortex-M3) with ether_lite frozen in, built into
# .venv/qemu/ once and again only when what is frozen changes (hil/qemu_firmware.py says from which source).
QEMU_APT := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
qemu: $(STAMP)
	@{ command -v qemu-system-arm && echo '#include <string.h>' | arm-none-eabi-gcc -E -x c - ; } >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get install -y -qq $(QEMU_APT) >/dev/null 2>&1 || \
	    (apt-get update -qq && apt-get install -y -qq $(QEMU_APT) >/dev/null)) ; } || \
	  echo "note: $(QEMU_APT) not installed; the emulated board's tests will say so"
	@$(PY) -m hil.qemu_firmware >/dev/null || echo "note: the emulated board's tests will say why they cannot run"

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
	for b in lite fabric bridge recorder observe arrays cluster; do $(PY) bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache
