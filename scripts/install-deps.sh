#!/bin/sh
# Installs Debian packages only when pkg-config cannot find what they provide,
# so repeated runs stay quiet and fast.
#   install-deps.sh "PKGCONFIG_NAMES" "APT_PACKAGES"
set -eu
names=$1
packages=$2

if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists $names; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "install-deps: need root or sudo to install: $packages" >&2
  exit 1
fi

echo "install-deps: installing $packages" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq $packages pkg-config >/dev/null
pkg-config --exists $names || {
  echo "install-deps: pkg-config still cannot find: $names" >&2
  exit 1
}
