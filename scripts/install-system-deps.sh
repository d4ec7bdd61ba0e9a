#!/usr/bin/env bash
# Debian/Ubuntu packages napari needs to open a window (or an Xvfb virtual screen), and
# python3-venv. Installs only what is missing; uses sudo when not root.
set -euo pipefail
packages=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libgl1 libegl1
          libgl1-mesa-dri libdbus-1-3 fontconfig libxcb-image0 libxcb-randr0 libxcb-render-util0
          libxcb-shape0 libxcb-xinerama0 libxcb-xfixes0 libfontconfig1)
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    v=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    packages+=("python3-venv" "python${v}-venv")
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
    echo "Please install the equivalents of: ${missing[*]}" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
# python3.X-venv may not exist under that name everywhere: retry without it
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null || \
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
        $(printf '%s\n' "${missing[@]}" | grep -v '^python3\.[0-9]*-venv$') >/dev/null
