#!/usr/bin/env bash
# Installs the Debian 12 packages the build and the tests need. Sourced by
# scripts/test.sh and scripts/demo.sh; safe to run again (it only calls apt-get
# when something is missing, or always under CI=true).
set -euo pipefail
QSO_PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev libwebsockets-dev libcmocka-dev
  openssl curl python3-yaml
  swift swift-proxy swift-object swift-container swift-account python3-swift memcached awscli postgresql
)
qso_install_deps() {
  local missing=()
  for p in "${QSO_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ] && [ "${CI:-}" != "true" ]; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${QSO_PACKAGES[@]}"
}
