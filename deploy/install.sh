#!/usr/bin/env bash
# Install ovnet on a Debian/Ubuntu host and start it as a systemd service. Used by cloud-init
# (deploy/cloud-init/user-data.yaml) and Vagrant (deploy/vagrant/Vagrantfile); runnable by hand.
# Idempotent: a second run updates the code and the configuration and restarts the agent.
#
# Settings: environment variables, or /etc/ovnet/install.env (KEY=value lines) when present:
#   OVNET_CLUSTER_KEY_HEX  64 hex digits: the cluster key, the same on every host (required unless
#                          /etc/ovnet/cluster.key already exists). Make one with
#                          `openssl rand -hex 32`.
#   OVNET_SEEDS            comma-separated ADDR:PORT of hosts to join; empty on the ONE host that
#                          founds the cluster.
#   OVNET_ADVERTISE        this host's underlay IPv4 (VTEP); empty: the agent picks one.
#   OVNET_NAME             node name; empty: the host name.
#   OVNET_SRC_DIR          a local checkout to install from (Vagrant: /vagrant); else git:
#   OVNET_REPO, OVNET_REF  repository URL and branch/tag to clone into /opt/ovnet.
#   OVNET_NODE_MAJOR       Node.js major version from NodeSource (default 20; ovnet needs >= 20.19).
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
if [ -r /etc/ovnet/install.env ]; then
  # shellcheck disable=SC1091
  . /etc/ovnet/install.env
fi
OVNET_SEEDS="${OVNET_SEEDS:-}"
OVNET_ADVERTISE="${OVNET_ADVERTISE:-}"
OVNET_NAME="${OVNET_NAME:-}"
OVNET_SRC_DIR="${OVNET_SRC_DIR:-}"
OVNET_REPO="${OVNET_REPO:-}"
OVNET_REF="${OVNET_REF:-main}"
OVNET_NODE_MAJOR="${OVNET_NODE_MAJOR:-20}"
PREFIX=/opt/ovnet
export DEBIAN_FRONTEND=noninteractive

log () { echo "install.sh: $*"; }

# ---- packages: the agent's host tools, and Node.js from NodeSource (distributions ship older) ----
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg git rsync \
  iproute2 iptables iputils-ping util-linux >/dev/null
node_ok () { command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=19)?0:1)'; }
if ! node_ok; then
  log "installing Node.js ${OVNET_NODE_MAJOR}.x from NodeSource"
  install -d -m 0755 /etc/apt/keyrings
  curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
  echo "deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_${OVNET_NODE_MAJOR}.x nodistro main" \
    > /etc/apt/sources.list.d/nodesource.list
  apt-get update -qq
  apt-get install -y -qq nodejs >/dev/null
  node_ok || { echo "install.sh: Node.js >= 20.19 is required, got $(node --version)" >&2; exit 1; }
fi

# ---- the project, in /opt/ovnet ------------------------------------------------------------------
if [ -n "$OVNET_SRC_DIR" ]; then
  log "copying $OVNET_SRC_DIR to $PREFIX"
  install -d -m 0755 "$PREFIX"
  rsync -a --delete --exclude node_modules --exclude dist --exclude .git --exclude .vagrant "$OVNET_SRC_DIR"/ "$PREFIX"/
elif [ -d "$PREFIX/.git" ]; then
  log "updating $PREFIX to $OVNET_REF"
  git -C "$PREFIX" fetch -q --depth 1 origin "$OVNET_REF"
  git -C "$PREFIX" checkout -q -f FETCH_HEAD
else
  [ -n "$OVNET_REPO" ] || { echo "install.sh: set OVNET_REPO (or OVNET_SRC_DIR)" >&2; exit 1; }
  log "cloning $OVNET_REPO ($OVNET_REF) into $PREFIX"
  git clone -q --depth 1 --branch "$OVNET_REF" "$OVNET_REPO" "$PREFIX"
fi
# The full install first: its `prepare` step builds dist/ with TypeScript (a dev dependency), which
# is then pruned; the agent and the CLI run the built JavaScript only.
(cd "$PREFIX" && npm ci --no-audit --no-fund --loglevel=error && npm prune --omit=dev --no-audit --no-fund --loglevel=error)
ln -sfn "$PREFIX/bin/ovnet.js" /usr/local/bin/ovnet

# ---- configuration: /etc/ovnet/{cluster.key,ovnet.yaml} ------------------------------------------
install -d -m 0750 /etc/ovnet
if [ -n "${OVNET_CLUSTER_KEY_HEX:-}" ]; then
  [[ "$OVNET_CLUSTER_KEY_HEX" =~ ^[0-9a-fA-F]{64}$ ]] || { echo "install.sh: OVNET_CLUSTER_KEY_HEX must be 64 hex digits" >&2; exit 1; }
  # The placeholder of user-data.yaml: a key everybody knows is no key.
  [[ "$OVNET_CLUSTER_KEY_HEX" =~ [1-9a-fA-F] ]] || { echo "install.sh: OVNET_CLUSTER_KEY_HEX is the all-zero placeholder; generate one" >&2; exit 1; }
  (umask 077 && printf '/key/swarm/psk/1.0.0/\n/base16/\n%s' "$OVNET_CLUSTER_KEY_HEX" > /etc/ovnet/cluster.key)
elif [ ! -s /etc/ovnet/cluster.key ]; then
  echo "install.sh: no cluster key: set OVNET_CLUSTER_KEY_HEX (the same on every host)" >&2
  exit 1
fi
{
  echo "# Written by $PREFIX/deploy/install.sh; every key: $PREFIX/deploy/etc/ovnet.yaml.example"
  [ -z "$OVNET_NAME" ] || echo "name: $OVNET_NAME"
  [ -z "$OVNET_ADVERTISE" ] || echo "advertise: $OVNET_ADVERTISE"
  if [ -n "$OVNET_SEEDS" ]; then
    echo "join:"
    IFS=',' read -r -a seeds <<< "$OVNET_SEEDS"
    for s in "${seeds[@]}"; do [ -z "$s" ] || echo "  - $s"; done
  fi
  echo "cluster-key: /etc/ovnet/cluster.key"
} > /etc/ovnet/ovnet.yaml.new
mv /etc/ovnet/ovnet.yaml.new /etc/ovnet/ovnet.yaml

# ---- the service ---------------------------------------------------------------------------------
install -m 0644 "$PREFIX/deploy/systemd/ovnet.service" /etc/systemd/system/ovnet.service
systemctl daemon-reload
systemctl enable -q ovnet.service
systemctl restart ovnet.service
log "ovnet agent started ($(systemctl is-active ovnet.service)); try: ovnet cluster members"
