#!/usr/bin/env bash
# Installs everything Airlock needs on a fresh Debian/Ubuntu machine, then builds it.
#   bash scripts/setup.sh            # as root, or as a user with sudo
# System packages: bubblewrap (the sandbox), gcc + libc6-dev (the static in-sandbox
# supervisor), python3/make/g++ (native npm modules), and the tools the test suite and
# benchmarks drive inside sandboxes (curl, git, procps, socat, ripgrep, util-linux), and
# Chromium for the approval page tests (driven by playwright-core, never downloaded), and
# runsc (gVisor) where the distribution packages it.
set -euo pipefail
cd "$(dirname "$0")/.."

need_pkgs=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_pkgs+=("$1"); }
for p in bubblewrap gcc libc6-dev make g++ python3 curl git procps socat ripgrep util-linux ca-certificates chromium; do want "$p"; done
# gVisor (runsc) backs `--backend gvisor` and its conformance tests. Debian ships it; where the
# distribution does not (Ubuntu), those tests skip and say why.
if ! dpkg -s runsc >/dev/null 2>&1; then
  if apt-cache show runsc >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-cache show runsc >/dev/null 2>&1; }; then
    need_pkgs+=(runsc)
  fi
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${need_pkgs[*]}" >&2; exit 2; }
    SUDO="sudo"
  fi
  echo "setup: installing ${need_pkgs[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: E_USAGE: Node.js 20 or later is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "hint: install Node 20+ from your distribution or nodejs.org, then run this script again." >&2
  exit 2
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
echo "setup: done. Try: node dist/cli/main.js doctor" >&2
