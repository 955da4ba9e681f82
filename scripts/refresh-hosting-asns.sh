#!/usr/bin/env bash
# Rebuilds config/hosting-asns.txt (kawal's built-in hosting ASN list) from
# a clone of X4BNet/lists_vpn (MIT licence):
#
#   git clone https://github.com/X4BNet/lists_vpn /tmp/lists_vpn
#   scripts/refresh-hosting-asns.sh /tmp/lists_vpn
#
# then review the diff, update the count in the list's header test
# (src/detect/signals.rs, builtin_hosting_list_is_read_whole) and in
# config/default.toml, and commit.
set -euo pipefail
src=${1:?usage: $0 PATH-TO-lists_vpn-CLONE}
out=$(dirname "$0")/../config/hosting-asns.txt
commit=$(git -C "$src" rev-parse --short=12 HEAD)
date=$(git -C "$src" log -1 --format=%cs HEAD)
lines=$(cat "$src/input/datacenter/ASN.txt" "$src/input/vpn/ASN.txt" | tr -d '\r' | grep -E '^AS[0-9]+' | sort -t S -k2 -n -u)
count=$(printf '%s\n' "$lines" | grep -oE '^AS[0-9]+' | sort -u | wc -l)
{
  echo "# Hosting, data-centre and VPN autonomous systems: kawal's built-in list"
  echo "# ([networks] builtin_hosting_asns in config/default.toml)."
  echo "#"
  echo "# Source: X4BNet/lists_vpn (https://github.com/X4BNet/lists_vpn), files"
  echo "# input/datacenter/ASN.txt and input/vpn/ASN.txt at commit"
  echo "# $commit ($date), merged, one ASN per line with"
  echo "# the source's comment. $count ASNs. Refresh with scripts/refresh-hosting-asns.sh."
  echo "#"
  echo "# The list is under the MIT licence:"
  echo "#"
  sed -n '/^MIT License/,/^```/p' "$src/README.md" | grep -v '^```' | sed 's/^/# /; s/ $//'
  echo
  printf '%s\n' "$lines"
} > "$out"
echo "wrote $out: $count ASNs from $commit ($date)"
