#!/usr/bin/env bash
# End to end against a real Kafka-protocol broker: tansu, with events
# produced by Python's confluent-kafka (see tests/e2e/kafka_e2e.py).
set -euo pipefail
cd "$(dirname "$0")/.."
tansu="$(scripts/install-tansu.sh)"
python3 -c "import confluent_kafka, cloudevents.v1.kafka" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check confluent-kafka cloudevents
cargo build --release --locked
python3 tests/e2e/kafka_e2e.py target/release/kawal "$tansu"
