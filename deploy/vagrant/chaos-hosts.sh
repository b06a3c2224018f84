#!/usr/bin/env bash
# Write ssh_config (from `vagrant ssh-config`) and hosts.txt for the chaos kit's ssh target:
#   ./chaos-hosts.sh && npm run chaos -- --target ssh --hosts-file deploy/vagrant/hosts.txt \
#       --ssh-config deploy/vagrant/ssh_config --sudo --rounds 20 --seed 1
# hosts.txt lines: NAME SSH-DESTINATION UNDERLAY-IP (the names are the VMs' ssh-config aliases).
set -euo pipefail
cd "$(dirname "$0")"
n="${OVNET_VMS:-3}"
subnet="${OVNET_SUBNET:-192.168.56}"
vagrant ssh-config > ssh_config
for i in $(seq 1 "$n"); do
  echo "ovnet-$i ovnet-$i $subnet.$((10 + i))"
done > hosts.txt
echo "wrote $(pwd)/ssh_config and $(pwd)/hosts.txt ($n hosts)"
