#!/usr/bin/env bash
# Mesa's software Vulkan driver (lavapipe), to test the GPU benchmark where there is no GPU.
# Debian 12's Mesa 22.3 lacks what Dawn asks of a Vulkan device (dynamic indexing of image arrays), so
# Mesa 25's lavapipe comes from bookworm-backports, unpacked under build/lavapipe: the system's Mesa is
# left as it is. Prints the environment that selects it:  eval "$(bash scripts/lavapipe.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/build/lavapipe
lib=$dir/root/usr/lib/x86_64-linux-gnu
if [ ! -f "$dir/icd.json" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # What the driver links against (LLVM 15, X and Wayland client libraries) and the Vulkan loader: bookworm's.
  if ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  apt=$dir/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > "$apt/sources/backports.sources"
  A=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$apt/sources" -o "Dir::State::Lists=$apt/lists"
     -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${A[@]}" update -qq
  (cd "$dir" && apt-get "${A[@]}" download -qq mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports)
  for d in "$dir"/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/libvulkan_lvp.so","api_version":"1.4.305"}}\n' "$lib" > "$dir/icd.json"
fi
echo "export VK_ICD_FILENAMES=$dir/icd.json VK_DRIVER_FILES=$dir/icd.json LD_LIBRARY_PATH=$lib"
