#!/usr/bin/env bash
# Proves the observability artefacts against real tools:
#  - promtool checks the alerting rules, and a scrape of a running kawal;
#  - a real Prometheus scrapes `kawal demo`, and every PromQL expression of
#    dashboards/kawal.json returns data through its HTTP API;
#  - the dashboard type-checks against Grafana's published types
#    (@grafana/schema with tsc).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt-get update -qq && apt-get install -y -qq prometheus >/dev/null
fi
command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
cargo build --release --locked

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== promtool check rules"
promtool check rules dashboards/kawal-alerts.rules.yml

echo "== kawal demo serving metrics"
kport="$(free_port)"
KAWAL__METRICS__LISTEN="127.0.0.1:$kport" target/release/kawal demo \
  --accounts 150 --days 20 --rate 15000 --hold 120 --out "$work/demo" >"$work/demo.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$kport/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$kport/readyz" || { cat "$work/demo.log"; exit 1; }
curl -fs "http://127.0.0.1:$kport/healthz"

echo "== promtool check metrics (a scrape of the running demo)"
curl -fs "http://127.0.0.1:$kport/metrics" >"$work/scrape.txt"
out="$(promtool check metrics <"$work/scrape.txt" 2>&1)" || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "promtool warnings:"; echo "$out"; exit 1; fi
echo "no problems"

echo "== a real Prometheus scraping the demo"
pport="$(free_port)"
cat >"$work/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
rule_files:
  - $PWD/dashboards/kawal-alerts.rules.yml
scrape_configs:
  - job_name: kawal
    static_configs:
      - targets: ["127.0.0.1:$kport"]
CFG
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$pport/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
# Enough history for rates (15 s), and the consumer-lag series, which
# exist only once librdkafka's statistics (every 5 s) have reported the
# partitions' positions: waited for, not guessed (a fixed sleep missed them
# now and then on a loaded machine).
sleep 15
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$pport/api/v1/query?query=kawal_consumer_lag_messages" | grep -q '"partition"' && break
  sleep 1
done
python3 tests/e2e/dashboard_queries.py dashboards/kawal.json "http://127.0.0.1:$pport"

echo "== dashboard against @grafana/schema"
tsdir="target/dashboard-check"
mkdir -p "$tsdir"
if [ ! -d "$tsdir/node_modules/@grafana/schema" ]; then
  (cd "$tsdir" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund @grafana/schema@13.2.3 typescript@5 >/dev/null)
fi
{
  echo "import type { Dashboard } from '@grafana/schema';"
  echo "export const dashboard: Dashboard = "
  cat dashboards/kawal.json
  echo ";"
} >"$tsdir/check.ts"
(cd "$tsdir" && npx tsc --noEmit --strict --skipLibCheck check.ts)
echo "dashboard type-checks"
