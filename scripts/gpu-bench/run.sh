#!/usr/bin/env bash
# The GPU benchmark from its packed folder (built by scripts/gpu-bench-pack.mjs):
#   bash build/gpu-bench/run.sh [OUT_DIR] [bench options: --bundle, --chunks, --variants, --weights, --device]
# Needs: a GPU driver with Vulkan, and Python with torch (and numpy) for the native side.
# Node (node.xz), Dawn and ONNX Runtime (app.tar.xz) come with it. The work tree (bundles, model/, weights) is
# the folder two above this one, or WORLD_CANVAS_REPO. Writes OUT_DIR/gpu-report.{json,md} (default: bench/).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=${WORLD_CANVAS_REPO:-$(cd "$here/../.." && pwd)}
out=$repo/bench
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then out=$1; shift; fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$repo/.venv/bin/python" ]; then PYTHON=$repo/.venv/bin/python; else PYTHON=python3; fi
fi

# 1. Unpack once, with Python (xz-utils need not be there).
rt=$here/unpacked
if [ ! -f "$rt/.stamp" ] || [ "$here/node.xz" -nt "$rt/.stamp" ] || [ "$here/app.tar.xz" -nt "$rt/.stamp" ]; then
  rm -rf "$rt" && mkdir -p "$rt/bin"
  "$PYTHON" - "$here" "$rt" <<'PY'
import lzma, os, shutil, sys, tarfile
here, rt = sys.argv[1:]
with lzma.open(f"{here}/node.xz") as src, open(f"{rt}/bin/node", "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(f"{rt}/bin/node", 0o755)
with tarfile.open(f"{here}/app.tar.xz") as t:
    t.extractall(rt, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
PY
  touch "$rt/.stamp"
fi

# 2. Vulkan: the machine's loader if it has one, else the packed one. A driver-only container may have the
#    NVIDIA driver's Vulkan library without its ICD file: then point the loader at it.
if ! /sbin/ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  export LD_LIBRARY_PATH=$rt/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] \
  && ! ls /etc/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json >/dev/null 2>&1 \
  && /sbin/ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia\.so\.0 '; then
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\n' > "$rt/nvidia_icd.json"
  export VK_ICD_FILENAMES=$rt/nvidia_icd.json VK_DRIVER_FILES=$rt/nvidia_icd.json
fi
# Mesa's drivers complain without one; nothing is written there.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then export XDG_RUNTIME_DIR=$rt; fi

# 3. The benchmark.
exec "$rt/bin/node" "$rt/app/gpu-bench.mjs" --repo "$repo" --out "$out" --python "$PYTHON" "$@"
