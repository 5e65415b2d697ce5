#!/usr/bin/env bash
# Installs what a fresh machine lacks, and only that: uv (from PyPI) and the Debian packages
# the bot and its tests use. Safe to run again; does nothing when everything is present.
set -euo pipefail

if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv with pip"
  python3 -m pip install --quiet uv
fi

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
fc-list 2>/dev/null | grep -qi "Tibetan Machine" || missing+=(fonts-tibetan-machine)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "bootstrap: please install: ${missing[*]}" >&2
    exit 1
  fi
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bootstrap: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

uv sync --frozen --quiet

# The console's chart library (ECharts) comes from npm at build time and is served locally.
if [ ! -f node_modules/echarts/dist/echarts.min.js ]; then
  command -v npm >/dev/null 2>&1 || { echo "bootstrap: npm (Node.js) is needed for the console's charts" >&2; exit 1; }
  npm ci --no-audit --no-fund --silent
fi
