#!/usr/bin/env bash
# The contract, checked by a validator nobody here wrote (PyPI's
# jsonschema): the simulator's events, the events the adapters make of the
# public samples (their golden files, which tests/adapters.rs keeps equal
# to the adapters' output), and the replay's alerts, against
# docs/events.schema.json and docs/alerts.schema.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import jsonschema" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check jsonschema
cargo build --release --locked
bin=target/release/kawal
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
$bin simulate --accounts 150 --days 30 --seed 7 --out "$dir/sim" 2>/dev/null
$bin replay "$dir/sim/events.ndjson" --out "$dir/alerts.ndjson" 2>/dev/null
python3 - "$dir" <<'PY'
import glob, json, sys
from jsonschema import Draft202012Validator
d = sys.argv[1]
def check(schema_path, files):
    v = Draft202012Validator(json.load(open(schema_path)))
    n = 0
    for f in files:
        for i, line in enumerate(open(f), 1):
            if not line.strip() or line.startswith("#"):
                continue  # the golden files' count line
            errs = sorted(v.iter_errors(json.loads(line)), key=str)
            if errs:
                sys.exit(f"{f}:{i}: {errs[0].message} at {list(errs[0].path)}")
            n += 1
    return n
adapted = sorted(glob.glob("tests/data/adapters/*/*.expected"))
ev = check("docs/events.schema.json", [f"{d}/sim/events.ndjson"] + adapted)
al = check("docs/alerts.schema.json", [f"{d}/alerts.ndjson"])
if ev == 0 or al == 0:
    sys.exit(f"nothing checked: {ev} events, {al} alerts")
print(f"contract: {ev} events ({len(adapted)} adapter files) and {al} alerts valid against docs/*.schema.json")
PY
