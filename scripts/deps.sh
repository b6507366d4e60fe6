#!/usr/bin/env bash
# Installs every Debian package the build, tests and benchmarks need (substrate.md §11.1).
# Idempotent: when every package is already installed it does nothing (no apt-get update).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkgconf ccache
  openssl libssl-dev
  librust-blake3-dev b3sum
  libasio-dev
  libraft-dev libuv1-dev
  prometheus-cpp-dev libcpp-httplib-dev
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libexpected-dev
  libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
  clang-14 libclang-rt-14-dev
  iproute2 procps
  prometheus
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${#missing[@]} missing package(s): ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The prometheus package (for promtool) ships a daemon on :9090: only promtool is needed,
# so stop and disable it (harmless where systemd is absent; policy-rc.d may have kept it down).
$SUDO systemctl disable --now prometheus 2>/dev/null || true
$SUDO service prometheus stop >/dev/null 2>&1 || true
$SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
