#!/usr/bin/env bash
# Idempotent set-up for swift-lcm, run by `make run` and `make test`:
#   1. Debian build packages (installed only when missing),
#   2. torch==2.11.0 from PyPI in a per-user cache outside the repo (reused when present), or the
#      torch 2.11.x that $LIBTORCH points at, plus the pinned test-only Python packages,
#   3. the `.libtorch` link and `.arrow` folder (Apache Arrow's C++ library from pyarrow's wheel, for
#      `--dataset_name`) that Package.swift reads, and a release build of `lcm`.
# Environment: SWIFT_LCM_CACHE (default ~/.cache/swift-lcm), LIBTORCH, ARROW_HOME, SWIFT_LCM_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
PYARROW_VERSION=26.0.1
CUDA_CRT_VERSION=13.0.88
CUDA_CCCL_VERSION=13.0.85
CACHE="${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}"
VENV="$CACHE/py"
say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

# 1. Debian packages ------------------------------------------------------------------------------
# libgloo-dev: gloo's headers only, which c10d's ProcessGroupGloo.hpp includes (the gloo that runs is libtorch's)
packages=(g++ libstdc++-12-dev pkg-config libturbojpeg0-dev libpng-dev libwebp-dev curl libgloo-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# 2. Python environment with torch and the test-only packages --------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating Python environment in $VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
have_torch=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)
if [ -z "${LIBTORCH:-}" ] && [[ "$have_torch" != "$TORCH_VERSION"* ]]; then
  say "installing torch==$TORCH_VERSION into $VENV (about 4.6 GB, once per machine)"
  "$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
fi
# the CUDA runtime's crt/ headers (NVIDIA's header-only wheel), which the NCCL process-group
# library (libLCMNCCL.so) compiles against beside torch's own nvidia wheels; nothing runs from it
nv_include="$("$VENV/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(os.path.dirname(torch.__file__)), "nvidia", "cu13", "include"))' 2>/dev/null || true)"
if [ -z "${LIBTORCH:-}" ] && [ -f "$nv_include/cuda_runtime_api.h" ] && { [ ! -f "$nv_include/crt/host_config.h" ] || [ ! -f "$nv_include/nv/target" ]; }; then
  say "installing nvidia-cuda-crt==$CUDA_CRT_VERSION and nvidia-cuda-cccl==$CUDA_CCCL_VERSION (CUDA headers for the NCCL library)"
  "$VENV/bin/python" -m pip install -q --no-deps "nvidia-cuda-crt==$CUDA_CRT_VERSION" "nvidia-cuda-cccl==$CUDA_CCCL_VERSION"
fi
have_arrow=$("$VENV/bin/python" -c 'import pyarrow; print(pyarrow.__version__)' 2>/dev/null || true)
if [ -z "${ARROW_HOME:-}" ] && [ "$have_arrow" != "$PYARROW_VERSION" ]; then
  say "installing pyarrow==$PYARROW_VERSION into $VENV (Arrow's C++ library for --dataset_name)"
  "$VENV/bin/python" -m pip install -q "pyarrow==$PYARROW_VERSION"
  have_arrow=$PYARROW_VERSION
fi
stamp="$VENV/.swift-lcm-test-requirements"
if ! cmp -s scripts/requirements-test.txt "$stamp" 2>/dev/null; then
  say "installing test-only Python packages (scripts/requirements-test.txt)"
  if [[ "$have_torch" == "$TORCH_VERSION"* ]] || [ -z "${LIBTORCH:-}" ]; then
    "$VENV/bin/python" -m pip install -q -r scripts/requirements-test.txt "torch==$TORCH_VERSION"
  else
    "$VENV/bin/python" -m pip install -q -r scripts/requirements-test.txt
  fi
  cp scripts/requirements-test.txt "$stamp"
else
  say "test-only Python packages present"
fi

# 3. libtorch ---------------------------------------------------------------------------------------
if [ -n "${LIBTORCH:-}" ]; then
  torch_dir="$LIBTORCH"
  say "using LIBTORCH=$torch_dir"
else
  torch_dir=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
fi
[ -f "$torch_dir/lib/libtorch_cpu.so" ] || die "$torch_dir/lib/libtorch_cpu.so not found (LIBTORCH must hold include/ and lib/)"
[ -d "$torch_dir/include/ATen" ] || die "$torch_dir/include/ATen not found (LIBTORCH must hold include/ and lib/)"
version=""
if [ -f "$torch_dir/version.py" ]; then
  version=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$torch_dir/version.py")
elif [ -f "$torch_dir/build-version" ]; then
  version=$(cat "$torch_dir/build-version")
fi
[[ "$version" == 2.11.* ]] || die "libtorch at $torch_dir is version '${version:-unknown}', swift-lcm needs 2.11.x"
say "libtorch $version at $torch_dir"
if [ -z "${LIBTORCH:-}" ] && [ "$(readlink .libtorch 2>/dev/null)" != "$torch_dir" ]; then
  ln -sfn "$torch_dir" .libtorch
fi

# Arrow: include/ and lib/ with the unversioned names the linker wants and the SONAMEs beside them.
if [ -n "${ARROW_HOME:-}" ]; then
  say "using ARROW_HOME=$ARROW_HOME"
else
  arrow_dir=$("$VENV/bin/python" -c 'import os, pyarrow; print(os.path.dirname(pyarrow.__file__))')
  [ -f "$arrow_dir/include/arrow/api.h" ] || die "$arrow_dir/include/arrow/api.h not found (pyarrow's wheel ships Arrow's headers)"
  mkdir -p .arrow/lib
  ln -sfn "$arrow_dir/include" .arrow/include
  for lib in arrow parquet; do
    so=$(cd "$arrow_dir" && ls lib$lib.so.[0-9]* 2>/dev/null | grep -E "^lib$lib\.so\.[0-9]+$" | head -1)
    [ -n "$so" ] || die "lib$lib.so.N not found in $arrow_dir"
    ln -sfn "$arrow_dir/$so" ".arrow/lib/$so"
    ln -sfn "$arrow_dir/$so" ".arrow/lib/lib$lib.so"
  done
  say "Arrow $have_arrow at $arrow_dir"
fi

# 4. Build ------------------------------------------------------------------------------------------
if [ "${SWIFT_LCM_SKIP_BUILD:-0}" != 1 ]; then
  say "building lcm (release)"
  # lcm-core links libtorch; lcm is the launcher beside it (--help and --version without libtorch);
  # libLCMArrow.so beside them is opened by lcm-core for --dataset_name; libLCMNCCL.so for CUDA
  # ranks, where the torch wheel brings NCCL (Package.swift checks the same headers)
  products=(LCMArrow lcm-core lcm)
  nv="${NVIDIA_HOME:-.libtorch/../nvidia}"
  if [ -f "$nv/nccl/include/nccl.h" ] && [ -f "$nv/cu13/include/crt/host_config.h" ] && [ -f "$nv/cu13/include/nv/target" ]; then
    products=(LCMNCCL "${products[@]}")
  fi
  for product in "${products[@]}"; do
    swift build -c release --product "$product" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true
  done
  [ -x .build/release/lcm ] && [ -x .build/release/lcm-core ] && [ -f .build/release/libLCMArrow.so ] || die "release build failed"
  say "built .build/release/lcm and .build/release/lcm-core"
fi
