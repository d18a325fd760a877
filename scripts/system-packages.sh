#!/usr/bin/env bash
# The Debian packages the tests use, in one list: each with the part that needs it and how to tell it is
# there. The test command installs what is missing before its long steps, then checks again; a re-run finds
# everything there and installs nothing. The demo (npm install && npm run dev) needs none of them.
#
#   bash scripts/system-packages.sh install [PART...]   install what is missing (as root, or with sudo), then check
#   bash scripts/system-packages.sh check [PART...]     name each missing package and the command that installs it
#   bash scripts/system-packages.sh list                the list: package, part, why (README's table matches it)
#
# PART is python, gpu-bench or browser (default: all). Mesa 25's lavapipe itself is not installed: it is
# unpacked under build/ by scripts/lavapipe.sh (Debian 12's Mesa lacks what Dawn asks of a Vulkan device).
set -euo pipefail

# package | part | present when (cmd:NAME on PATH, lib:SONAME known to the loader, file:PATH, venv:PYTHON) | why
PACKAGES=(
  "python3-venv|python|venv:${PYTHON:-python3}|3. the tests' Python environment (.venv, made with venv and pip)"
  "xz-utils|gpu-bench|cmd:xz|8. the packed benchmark: xz compresses Node and the app"
  "libvulkan1|gpu-bench|lib:libvulkan.so.1|8. the Vulkan loader: Dawn loads it, and the pack carries a copy for machines without one"
  "debian-archive-keyring|gpu-bench|file:/usr/share/keyrings/debian-archive-keyring.gpg|8. scripts/lavapipe.sh checks bookworm-backports' signature with it"
  "libllvm15|gpu-bench|lib:libLLVM-15.so.1|8. lavapipe (Mesa 25 from bookworm-backports) is built against Debian 12's LLVM 15"
  "libwayland-client0|gpu-bench|lib:libwayland-client.so.0|8. lavapipe links against it (window-system support it never uses headless)"
  "libx11-xcb1|gpu-bench|lib:libX11-xcb.so.1|8. lavapipe links against it (as above)"
  "libxcb-dri3-0|gpu-bench|lib:libxcb-dri3.so.0|8. lavapipe links against it (as above)"
  "libxcb-present0|gpu-bench|lib:libxcb-present.so.0|8. lavapipe links against it (as above)"
  "libxcb-randr0|gpu-bench|lib:libxcb-randr.so.0|8. lavapipe links against it (as above)"
  "libxcb-shm0|gpu-bench|lib:libxcb-shm.so.0|8. lavapipe links against it (as above)"
  "libxcb-sync1|gpu-bench|lib:libxcb-sync.so.1|8. lavapipe links against it (as above)"
  "libxcb-xfixes0|gpu-bench|lib:libxcb-xfixes.so.0|8. lavapipe links against it (as above)"
  "libxshmfence1|gpu-bench|lib:libxshmfence.so.1|8. lavapipe links against it (as above)"
  "chromium|browser|file:${CHROMIUM_PATH:-/usr/bin/chromium}|9. the browser tests (Playwright drives Debian's Chromium; also npm run bench and npm run screenshot)"
  "procps|browser|cmd:ps|9. the soak test reads Chromium's memory with ps"
)

LOADER_CACHE=$(/sbin/ldconfig -p 2>/dev/null || true) # the libraries the dynamic loader finds

present() {
  local kind=${1%%:*} what=${1#*:}
  case $kind in
    cmd) command -v "$what" >/dev/null 2>&1 ;;
    lib) grep -q "^[[:space:]]*${what//./\\.} (libc6,x86-64)" <<<"$LOADER_CACHE" ;;
    file) [ -e "$what" ] ;;
    venv) "$what" -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
    *) echo "system-packages.sh: unknown check '$1'" >&2; return 2 ;;
  esac
}

# The rows of the parts asked for (all without any).
rows() {
  local row part
  for row in "${PACKAGES[@]}"; do
    IFS='|' read -r _ part _ _ <<<"$row"
    if [ $# -eq 0 ] || [[ " $* " == *" $part "* ]]; then printf '%s\n' "$row"; fi
  done
}

# Missing packages' names, one a line.
missing() {
  local pkg part probe why
  while IFS='|' read -r pkg part probe why; do
    present "$probe" || echo "$pkg"
  done < <(rows "$@")
}

check() {
  local gone pkg part probe why
  gone=$(missing "$@")
  [ -z "$gone" ] && return 0
  {
    echo "Missing Debian packages the tests need:"
    while IFS='|' read -r pkg part probe why; do
      if grep -qx "$pkg" <<<"$gone"; then printf '  %-24s %s  (looked for %s)\n' "$pkg" "$why" "${probe#*:}"; fi
    done < <(rows "$@")
    echo "Install them with:  apt-get install -y $(echo $gone)   (as root; or: bash scripts/system-packages.sh install)"
  } >&2
  return 1
}

install() {
  local gone sudo=()
  gone=$(missing "$@")
  if [ -n "$gone" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      if ! command -v sudo >/dev/null 2>&1; then check "$@"; return 1; fi
      sudo=(sudo)
    fi
    echo "installing Debian packages: $(echo $gone)" >&2
    # shellcheck disable=SC2086  # one package a word
    if ! { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $gone >/dev/null; }; then
      echo "apt-get could not install them (above: why)" >&2
    fi
    LOADER_CACHE=$(/sbin/ldconfig -p 2>/dev/null || true)
  fi
  check "$@"
}

case ${1:-} in
  install | check) cmd=$1; shift; "$cmd" "$@" ;;
  list) rows | while IFS='|' read -r pkg part _ why; do printf '%s\t%s\t%s\n' "$pkg" "$part" "$why"; done ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
