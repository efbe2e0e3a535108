#!/bin/bash
# Builds CircuitPython 10.2.1's own mpy-cross (what `ether deploy` compiles ether_lite with) and its unix port
# (`circuitpython`, the interpreter of the tests' circuitpython device), 32-bit like a board when `gcc -m32`
# works (apt-get install gcc-multilib):
#
#   tests/circuitpython/build.sh OUT_DIR [MANIFEST]    # -> OUT_DIR/bin/mpy-cross, OUT_DIR/bin/circuitpython
#
# With MANIFEST (a FROZEN_MANIFEST file, see firmware/README.md), it builds OUT_DIR/bin/circuitpython-frozen
# instead: the unix port with those modules frozen into the firmware, as a custom board build would.
#
# The source, first found of:
#   1. $ETHER_CIRCUITPY_SRC: a CircuitPython source tree (a git checkout of tag 10.2.1 with its submodules),
#      a source tarball (.tar.xz/.tar.gz), or a folder holding circuitpython-10.2.1-src.tar.xz;
#   2. ../shared/circuitpython/circuitpython-10.2.1-src.tar.xz beside the repository (CI has it);
#   3. the source an earlier build unpacked or cloned into OUT_DIR/src;
#   4. the upstream release tag: git clone --depth 1 --branch 10.2.1 https://github.com/adafruit/circuitpython
#      and `python3 tools/ci_fetch_deps.py tests` (needs the internet and git; about 300 MB).
# Needs gcc, make, python3 (the `huffman` package goes into OUT_DIR/pylib). About 30 s on 2 cores.
set -euo pipefail
VERSION=10.2.1
UPSTREAM=https://github.com/adafruit/circuitpython.git
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUT_DIR [MANIFEST]}
manifest=${2:-}
[[ -z $manifest ]] || manifest=$(cd "$(dirname "$manifest")" && pwd)/$(basename "$manifest")
mkdir -p "$out/bin" && out=$(cd "$out" && pwd)
py=${PYTHON:-python3}
[[ $py != */* ]] || py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")  # make -C runs elsewhere

unpack() {  # tarball -> $out/src
  rm -rf "$out/src.tmp" && mkdir -p "$out/src.tmp"
  tar -C "$out/src.tmp" -xf "$1"
  local top="$out/src.tmp"
  [[ -f $top/py/mpconfig.h ]] || top=$(dirname "$(find "$out/src.tmp" -maxdepth 3 -path '*/py/mpconfig.h' | head -1)")/..
  rm -rf "$out/src" && mv "$top" "$out/src" && rm -rf "$out/src.tmp"
}

src=""
shared=$(realpath -m "$repo/../shared/circuitpython/circuitpython-$VERSION-src.tar.xz")  # one spelling from any worktree
given=${ETHER_CIRCUITPY_SRC:-}
if [[ -d $given && ! -f $given/py/mpconfig.h && -f $given/circuitpython-$VERSION-src.tar.xz ]]; then
  given=$(cd "$given" && pwd)/circuitpython-$VERSION-src.tar.xz  # a folder like ../shared/circuitpython
fi
if [[ -n $given ]]; then
  if [[ -d $given ]]; then
    src=$(cd "$given" && pwd)
    [[ -f $src/py/mpconfig.h ]] || { echo "ETHER_CIRCUITPY_SRC=$src is not a CircuitPython source tree (no py/mpconfig.h)" >&2; exit 1; }
  elif [[ -f $given ]]; then
    [[ -f $out/src/py/mpconfig.h && $out/.source -nt $given && $(cat "$out/.source") == "$given" ]] \
      || { unpack "$given"; echo "$given" >"$out/.source"; }
    src=$out/src
  else
    echo "ETHER_CIRCUITPY_SRC=$ETHER_CIRCUITPY_SRC does not exist: give a CircuitPython $VERSION source tree or tarball" >&2
    exit 1
  fi
elif [[ -f $shared ]]; then
  [[ -f $out/src/py/mpconfig.h && $(cat "$out/.source" 2>/dev/null) == "$shared" ]] \
    || { unpack "$shared"; echo "$shared" >"$out/.source"; }
  src=$out/src
elif [[ -f $out/src/py/mpconfig.h ]]; then
  src=$out/src  # unpacked or cloned by an earlier build
else
  command -v git >/dev/null || { echo "no CircuitPython source: set ETHER_CIRCUITPY_SRC, or install git to clone $UPSTREAM" >&2; exit 1; }
  rm -rf "$out/src.clone"
  echo "cloning CircuitPython $VERSION from $UPSTREAM (once)"
  git clone -q --depth 1 --branch "$VERSION" "$UPSTREAM" "$out/src.clone"
  (cd "$out/src.clone" && "$py" tools/ci_fetch_deps.py tests >"$out/fetch.log" 2>&1) || { tail -20 "$out/fetch.log" >&2; exit 1; }
  mv "$out/src.clone" "$out/src" && echo "$UPSTREAM" >"$out/.source"
  src=$out/src
fi

# makeqstrdata.py compresses the messages with the `huffman` package
if ! PYTHONPATH="$out/pylib" "$py" -c "import huffman" 2>/dev/null; then
  "$py" -m pip install -q --disable-pip-version-check --target "$out/pylib" huffman
fi
export PYTHONPATH="$out/pylib" CP_VERSION=$VERSION
jobs=$(nproc 2>/dev/null || echo 2)

# mpy-cross first, also for a frozen build: the unix port's make would otherwise build it as a dependency with
# the port's BUILD directory, and link a firmware without the frozen modules' qstr pool
make -s -C "$src/mpy-cross" -j"$jobs" PYTHON="$py" >"$out/mpy-cross.log" 2>&1 || { tail -20 "$out/mpy-cross.log" >&2; exit 1; }
[[ -n $manifest ]] || cp "$src/mpy-cross/build/mpy-cross" "$out/bin/mpy-cross"
bits=""
if echo 'int main(void){return 0;}' | gcc -m32 -x c - -o "$out/.m32" 2>/dev/null; then bits="MICROPY_FORCE_32BIT=1"; fi
rm -f "$out/.m32"
mkdir -p "$out/mpylib" && touch "$out/mpylib/README.md"
if [[ -n $manifest ]]; then
  build=build-ether-frozen prog=circuitpython-frozen
else
  build=build-ether prog=circuitpython manifest="$out/empty_manifest.py"
  echo "# nothing frozen" >"$manifest"
fi
# no networking, TLS, FFI, readline or Bluetooth: what a board has of the language, not of the desktop
make -s -C "$src/ports/unix" -j"$jobs" VARIANT=standard BUILD="$build" PROG="$prog" $bits PYTHON="$py" \
  MPY_LIB_DIR="$out/mpylib" FROZEN_MANIFEST="$manifest" \
  MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0 MICROPY_SSL_MBEDTLS=0 MICROPY_PY_FFI=0 \
  MICROPY_USE_READLINE=0 MICROPY_PY_BLUETOOTH=0 \
  CFLAGS_EXTRA="-DMICROPY_PY_MICROPYTHON_RINGIO=0 -Wno-error" >"$out/$prog.log" 2>&1 || { tail -20 "$out/$prog.log" >&2; exit 1; }
cp "$src/ports/unix/$build/$prog" "$out/bin/$prog"
[[ -n ${2:-} ]] || "$out/bin/mpy-cross" --version
"$out/bin/$prog" -c "import sys; print(sys.implementation.name, sys.implementation.version, '32-bit' if '$bits' else '64-bit')"
