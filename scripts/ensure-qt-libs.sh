#!/bin/sh
# Make sure the system libraries that Qt (PySide6) loads are present on Debian/Ubuntu.
# Installs the missing ones with apt-get (as root, or through sudo); elsewhere it only
# names what is missing. Usage: scripts/ensure-qt-libs.sh [--all]  (--all: install
# the whole list without checking, as CI does on a fresh machine).
set -eu

# soname:package pairs, from `ldd` over PySide6's Qt libraries and platform plugins.
PAIRS="libEGL.so.1:libegl1 libGL.so.1:libgl1 libglib-2.0.so.0:libglib2.0-0
libfontconfig.so.1:libfontconfig1 libfreetype.so.6:libfreetype6 libdbus-1.so.3:libdbus-1-3
libX11-xcb.so.1:libx11-xcb1 libxcb-cursor.so.0:libxcb-cursor0 libxcb-glx.so.0:libxcb-glx0
libxcb-icccm.so.4:libxcb-icccm4 libxcb-image.so.0:libxcb-image0 libxcb-keysyms.so.1:libxcb-keysyms1
libxcb-randr.so.0:libxcb-randr0 libxcb-render-util.so.0:libxcb-render-util0 libxcb-shape.so.0:libxcb-shape0
libxcb-shm.so.0:libxcb-shm0 libxcb-sync.so.1:libxcb-sync1 libxcb-xfixes.so.0:libxcb-xfixes0
libxcb-xkb.so.1:libxcb-xkb1 libxkbcommon-x11.so.0:libxkbcommon-x11-0 libxkbcommon.so.0:libxkbcommon0"
FONT_PACKAGE=fonts-dejavu-core

[ "$(uname -s)" = Linux ] || exit 0

missing=""
if [ "${1:-}" = "--all" ]; then
    for pair in $PAIRS; do missing="$missing ${pair#*:}"; done
    missing="$missing $FONT_PACKAGE"
else
    libraries=$(/sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null || true)
    for pair in $PAIRS; do
        echo "$libraries" | grep -q "${pair%%:*}" || missing="$missing ${pair#*:}"
    done
    command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list 2>/dev/null | head -n 1)" ] || missing="$missing $FONT_PACKAGE"
fi
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "Qt needs these system libraries, which are missing:$missing" >&2
    echo "Install them with your package manager, then run this command again." >&2
    exit 1
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
    echo "Installing the system libraries Qt needs (sudo may ask for your password):$missing"
else
    echo "Qt needs these system libraries; as root, run: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086  # word splitting of the package list is intended
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
