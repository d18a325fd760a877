#!/usr/bin/env bash
# Mesa's software Vulkan driver (lavapipe), to test the GPU benchmark where there is no GPU.
# Debian 12's Mesa 22.3 lacks what Dawn asks of a Vulkan device (dynamic indexing of image arrays), so
# Mesa 25's lavapipe comes from bookworm-backports, unpacked under build/lavapipe: the system's Mesa is
# left as it is. Prints the environment that selects it:  eval "$(bash scripts/lavapipe.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/build/lavapipe
lib=$dir/root/usr/lib/x86_64-linux-gnu
# What the driver links against (LLVM 15, X and Wayland client libraries) and the Vulkan loader: bookworm's,
# from the one list of the Debian packages the tests use (installed there when missing; nothing on stdout).
bash scripts/system-packages.sh install gpu-bench >&2
if [ ! -f "$dir/icd.json" ]; then
  apt=$dir/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$apt/sources/backports.sources"
  A=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt/sources" -o "Dir::State::Lists=$apt/lists"
     -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${A[@]}" update -qq
  (cd "$dir" && apt-get "${A[@]}" download -qq mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports)
  for d in "$dir"/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
  # Backports may move to libraries the list above lacks: say which, rather than fail later inside Dawn.
  unresolved=$(LD_LIBRARY_PATH=$lib ldd "$lib/libvulkan_lvp.so" | awk '/not found/ {print $1}')
  if [ -n "$unresolved" ]; then
    echo "lavapipe needs libraries this machine lacks: $(echo $unresolved) (add their Debian packages to scripts/system-packages.sh)" >&2
    rm -rf "$dir/root"
    exit 1
  fi
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/libvulkan_lvp.so","api_version":"1.4.305"}}\n' "$lib" > "$dir/icd.json"
fi
echo "export VK_ICD_FILENAMES=$dir/icd.json VK_DRIVER_FILES=$dir/icd.json LD_LIBRARY_PATH=$lib"
