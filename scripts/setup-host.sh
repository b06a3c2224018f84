#!/usr/bin/env bash
# Checks, and installs when missing, the Debian packages ovnet needs on a host:
#   iproute2 (ip, bridge), iptables, iputils-ping (ping), util-linux (nsenter, unshare), and for
#   the deploy kit's checks systemd (systemd-analyze) and cloud-init (its schema checker), and for
#   the Docker plugin's tests docker.io (dockerd, with containerd and runc) and busybox-static, and
#   for the CNI plugin's tests podman (with conmon, runc and containers-common; its CNI backend),
#   and for encrypted networks wireguard-tools (wg) and wireguard-go (the userspace WireGuard,
#   for kernels without the module), with tcpdump (the payload capture test) and iperf3
#   (npm run bench:dataplane), and for the embedded DNS's tests bind9-dnsutils (dig).
# Idempotent: does nothing when every tool is already present. Needs root to install.
set -euo pipefail

declare -A pkg_of=(
  [ip]=iproute2
  [bridge]=iproute2
  [iptables]=iptables
  [ping]=iputils-ping
  [nsenter]=util-linux
  # CI checks of the deploy kit (test/deploy): `systemd-analyze verify` of the unit and
  # `cloud-init schema` of the user-data.
  [systemd-analyze]=systemd
  [cloud-init]=cloud-init
  # Docker remote plugin tests (test/docker-plugin): a real dockerd per lab host, and a tiny
  # image imported from a busybox-static tree. `dockerd`, not `docker`: a docker CLI alone may
  # already be on the machine without the daemon.
  [dockerd]=docker.io
  [busybox]=busybox-static
  # CNI plugin tests (test/cni): Debian's podman 4 with network_backend = "cni".
  [podman]=podman
  # Encrypted networks (agent/crypto): `wg` configures kernel and userspace WireGuard alike;
  # wireguard-go where the kernel has no WireGuard. Tests: tcpdump; bench:dataplane: iperf3.
  [wg]=wireguard-tools
  [wireguard-go]=wireguard-go
  [tcpdump]=tcpdump
  [iperf3]=iperf3
  # Embedded DNS tests (test/agent/dns-lab.test.ts): a real DNS client in the containers.
  [dig]=bind9-dnsutils
)

missing=()
for tool in "${!pkg_of[@]}"; do
  # sbin may be missing from a non-login PATH: look there too, or dockerd would reinstall each run.
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] || missing+=("${pkg_of[$tool]}")
done
# The test images are a static busybox alone: Debian's `busybox` package (pulled in by
# initramfs-tools, for one) is dynamically linked and dies at once in a container without libc.
# busybox-static replaces it.
bb=$(command -v busybox 2>/dev/null || true)
if [ -n "$bb" ] && ! LC_ALL=C ldd "$bb" 2>&1 | grep -q 'not a dynamic executable'; then
  missing+=(busybox-static)
fi
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-host: all host tools present (iproute2, iptables, iputils-ping, util-linux, systemd, cloud-init, docker.io, busybox-static, podman, wireguard-tools, wireguard-go, tcpdump, iperf3, bind9-dnsutils)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host: missing Debian packages: ${missing[*]}" >&2
  echo "setup-host: run as root (sudo bash scripts/setup-host.sh) to install them" >&2
  exit 1
fi

echo "setup-host: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# cloud-init is installed for its schema checker only: the marker file keeps it from running at
# the next boot and reconfiguring this machine. Set only when cloud-init is new here, so a host
# that already uses cloud-init is left alone.
if printf '%s\n' "${missing[@]}" | grep -qx cloud-init && [ ! -e /usr/bin/cloud-init ]; then
  mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled
fi
# Quiet: package scripts chatter on stderr (debconf, "Created symlink"); show it only on failure.
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$apt_log" 2>&1; then
  cat "$apt_log" >&2
  echo "setup-host: installing ${missing[*]} failed" >&2
  exit 1
fi
echo "setup-host: installed ${missing[*]}"
