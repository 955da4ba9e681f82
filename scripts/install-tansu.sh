#!/usr/bin/env bash
# Prints the path of a tansu binary (a standalone Kafka-protocol broker),
# installing it from crates.io when none is present (about 8 minutes).
# Reuses, in order: $TANSU, `tansu` on PATH, ~/.cargo/bin/tansu,
# and the project's own install under target/tools.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in "${TANSU:-}" "$(command -v tansu || true)" "$HOME/.cargo/bin/tansu" "target/tools/bin/tansu"; do
  if [ -n "$t" ] && [ -x "$t" ]; then echo "$t"; exit 0; fi
done
echo "installing tansu (cargo install tansu --features dynostore) ..." >&2
cargo install tansu --features dynostore --root target/tools >&2
echo "target/tools/bin/tansu"
