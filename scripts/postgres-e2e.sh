#!/usr/bin/env bash
# kawal's alert history against a real PostgreSQL (Debian's postgresql,
# installed on first use): rows once per alert, incidents as the replay
# raised them, and every SQL query of the dashboard returning rows. Then
# `kawal run` on a real broker (tansu, installed on first use) writing to
# the same server: analysts' verdicts through the /feedback endpoint and
# through a feedback topic become incidents' statuses.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
cargo build --release --locked

work="$(mktemp -d)"
chmod 755 "$work"
# PostgreSQL refuses to run as root: as root, the cluster belongs to the
# postgres user the package created.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work"
  as_pg=(runuser -u postgres --)
fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -A trust -U kawal >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w \
  -o "-p $port -k $work -c listen_addresses=''" start >/dev/null
trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true' EXIT
psql -h "$work" -p "$port" -U kawal -d postgres -X -q -c "CREATE DATABASE kawal"

echo "== alert history in PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')"
KAWAL_PG="host=$work port=$port user=kawal dbname=kawal" \
  python3 tests/e2e/postgres_e2e.py target/release/kawal dashboards/kawal.json

echo "== verdicts through Kafka (tansu) into PostgreSQL"
tansu="$(scripts/install-tansu.sh)"
python3 -c "import confluent_kafka" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check confluent-kafka
psql -h "$work" -p "$port" -U kawal -d postgres -X -q -c "CREATE DATABASE kawal_kafka"
KAWAL_PG="host=$work port=$port user=kawal dbname=kawal_kafka" \
  python3 tests/e2e/kafka_postgres_e2e.py target/release/kawal "$tansu"
