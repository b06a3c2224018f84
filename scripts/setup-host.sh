#!/usr/bin/env bash
# Checks, and installs when missing, the Debian packages ovnet needs on a host:
#   iproute2 (ip, bridge), iptables, iputils-ping (ping), util-linux (nsenter, unshare).
# Idempotent: does nothing when every tool is already present. Needs root to install.
set -euo pipefail

declare -A pkg_of=(
  [ip]=iproute2
  [bridge]=iproute2
  [iptables]=iptables
  [ping]=iputils-ping
  [nsenter]=util-linux
)

missing=()
for tool in "${!pkg_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-host: all host tools present (iproute2, iptables, iputils-ping, util-linux)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: missing Debian packages: ${missing[*]}" >&2
  echo "setup-host: run as root (sudo bash scripts/setup-host.sh) to install them" >&2
  exit 1
fi

echo "setup-host: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
echo "setup-host: installed ${missing[*]}"
