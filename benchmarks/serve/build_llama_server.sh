#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` (continuous batching, `-np N` parallel slots), CPU only,
# from the llama.cpp sources inside the llama-cpp-python sdist on PyPI (the same version and the
# same CMake flags bench.sh builds llama-cpp-python with), into $R2L_HOME/llama-server/bin.
# Needs bench.sh's venv (it installs the cmake and ninja wheels there). About 10 min on 2 cores.
#
#   bash benchmarks/serve/build_llama_server.sh     # then: ENGINES=llamaserver bash bench.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
R2L_HOME=${R2L_HOME:-$HOME/.cache/r2l}
VENV=$R2L_HOME/venv-llamacpp
WORK=$R2L_HOME/llama-server
VERSION=$(sed -n 's/^LLAMA_CPP_PYTHON_VERSION=//p' "$HERE/bench.sh")
CMAKE_FLAGS=$(sed -n '/^LLAMA_CMAKE_ARGS="/,/"$/p' "$HERE/bench.sh" | tr -d '"\\' | sed 's/^LLAMA_CMAKE_ARGS=//' | tr '\n' ' ')

die() { echo "build_llama_server.sh: $*" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || die "no venv at $VENV: run bench.sh once (ENGINES=llamacpp) to build it"
if [ -x "$WORK/bin/llama-server" ]; then echo "$WORK/bin/llama-server"; exit 0; fi
mkdir -p "$WORK/sdist"
"$VENV/bin/pip" install -q cmake ninja || die "pip install cmake ninja failed"
tarball=$WORK/sdist/llama_cpp_python-$VERSION.tar.gz
if [ ! -f "$tarball" ]; then
  # The simple index gives the sdist's address and sha256 (pip download would build cmake
  # from source to read the sdist's metadata).
  link=$(curl -sf "https://pypi.org/simple/llama-cpp-python/" \
    | grep -o "https://[^\"]*llama_cpp_python-$VERSION.tar.gz#sha256=[0-9a-f]*" | head -1)
  [ -n "$link" ] || die "llama-cpp-python $VERSION sdist not found on the PyPI simple index"
  curl -sfL -o "$tarball.part" "${link%%#*}" || die "download of $link failed"
  echo "${link##*#sha256=}  $tarball.part" | sha256sum -c --quiet - || die "sha256 mismatch for $tarball"
  mv "$tarball.part" "$tarball"
fi
tar -xzf "$tarball" -C "$WORK"
src=$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp
[ -f "$src/CMakeLists.txt" ] || die "no llama.cpp sources in $tarball"
export PATH=$VENV/bin:$PATH
# shellcheck disable=SC2086  # CMAKE_FLAGS is a list of flags
cmake -S "$src" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release $CMAKE_FLAGS \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  -DBUILD_SHARED_LIBS=OFF >"$WORK/cmake.log" 2>&1 || die "cmake configure failed: $WORK/cmake.log"
nice -n 10 cmake --build "$WORK/build" --target llama-server -j "$(nproc)" >"$WORK/build.log" 2>&1 \
  || die "build failed: $WORK/build.log"
mkdir -p "$WORK/bin"
cp "$WORK/build/bin/llama-server" "$WORK/bin/llama-server"
echo "$WORK/bin/llama-server"
