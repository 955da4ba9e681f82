#!/usr/bin/env python3
"""Verdicts through Kafka reach the alert history in PostgreSQL.

`kawal run` consumes the golden events (shifted to end two minutes ago)
from an events topic on tansu, with a feedback topic beside it, the
PostgreSQL sink on $KAWAL_PG and the feedback endpoint on. Then:
- every alert of the run is a row once: the alert ids `kawal replay
  --partitions 2` gives for the same events;
- a verdict produced to the feedback topic with confluent-kafka (a client
  nobody here wrote) becomes its incident's status and verdict_by;
- a verdict POSTed to /feedback without the token, or with a wrong one,
  is refused (401) and changes nothing; with it, taken (202), and it
  becomes the incident's status;
- kawal exits 0 on SIGTERM.

Usage: kafka_postgres_e2e.py KAWAL_BINARY TANSU_BINARY
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from confluent_kafka import Consumer, Producer, TopicPartition

from kafka_e2e import free_port, start_broker, stop_broker, wait
from postgres_e2e import PG, psql, shifted_events

PARTITIONS = 2
EVENTS, FEEDBACK, ALERTS, DEAD = "pg-events", "pg-feedback", "pg-alerts", "pg-dead"
GROUP = "kawal-pg-e2e"
TOKEN = "e2e-feedback-token"


def post(url, body, token):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def main():
    kawal, tansu = sys.argv[1], sys.argv[2]
    if not PG:
        sys.exit("kafka_postgres_e2e: set KAWAL_PG to a libpq connection string")
    work = tempfile.mkdtemp(prefix="kawal-pg-e2e-")
    broker, brokers = start_broker(tansu, work, {
        EVENTS: PARTITIONS, FEEDBACK: PARTITIONS, ALERTS: PARTITIONS, DEAD: 1})
    kawal_proc = None
    try:
        events = os.path.join(work, "events.ndjson")
        shifted_events(events, ago=dt.timedelta(minutes=2))
        lines = [l for l in open(events, encoding="utf-8") if l.strip()]
        listen = f"127.0.0.1:{free_port()}"
        config = os.path.join(work, "kawal.toml")
        with open(config, "w") as f:
            f.write(f'''[kafka]
brokers = "{brokers}"
group_id = "{GROUP}"
topics = ["{EVENTS}", "{FEEDBACK}"]
alerts_topic = "{ALERTS}"
dead_letter_topic = "{DEAD}"
commit_interval = "500ms"
[state]
topic = ""
[metrics]
listen = "{listen}"
[feedback]
token = "{TOKEN}"
topic = "{FEEDBACK}"
[postgres]
url = {json.dumps(PG)}
''')
        log_path = os.path.join(work, "kawal.log")
        kawal_proc = subprocess.Popen([kawal, "run", "--config", config],
                                      stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
        ends = {}

        def delivered(err, msg):
            if err is None:
                tp = (msg.topic(), msg.partition())
                ends[tp] = max(ends.get(tp, 0), msg.offset() + 1)

        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20})

        def produce(topic, values):
            for v in values:
                account = json.loads(v)["account"]
                producer.produce(topic, value=v.rstrip("\n").encode(), key=account.encode(),
                                 on_delivery=delivered)
                producer.poll(0)
            if producer.flush(60):
                sys.exit("kafka_postgres_e2e: events not delivered to the broker")

        probe = Consumer({"bootstrap.servers": brokers, "group.id": GROUP})

        def caught_up():
            if kawal_proc.poll() is not None:
                sys.exit(f"kafka_postgres_e2e: kawal run exited ({kawal_proc.returncode}); see {log_path}")
            tps = [TopicPartition(t, p) for (t, p) in ends]
            done = probe.committed(tps, timeout=5)
            return all(tp.offset >= ends[(tp.topic, tp.partition)] for tp in done)

        produce(EVENTS, lines)
        wait("kawal to commit every event", 180, caught_up)
        print(f"kafka_postgres_e2e: kawal run consumed {len(lines)} events from tansu")

        replay = subprocess.run([kawal, "replay", events, "--partitions", str(PARTITIONS)],
                                check=True, capture_output=True, text=True)
        expected = {json.loads(l)["id"] for l in replay.stdout.splitlines() if l.strip()}
        assert expected, "the golden events raise alerts"

        def rows():
            return {r[0] for r in psql("SELECT id FROM kawal_alerts")}

        wait("the alerts in PostgreSQL", 60, lambda: rows() == expected)
        print(f"ok: the {len(expected)} alerts of the run are rows, as replay raises them")

        # An open incident: a verdict through the feedback topic, then one
        # through the endpoint (a true positive keeps the case open, so
        # the second verdict still has an incident to apply to).
        open_rows = psql("SELECT id, account FROM kawal_incidents WHERE status = 'open' ORDER BY id")
        assert open_rows, "the golden events leave an incident open"
        incident, account = open_rows[0]

        def status():
            got = psql(f"SELECT status, verdict_by FROM kawal_incidents WHERE id = '{incident}'")
            return got[0] if got else None

        verdict = {
            "id": "fb-pg-e2e-1",
            "time": dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z"),
            "account": account, "type": "feedback", "actor": "analyst:rina",
            "change": {"action": "true_positive", "target": incident},
        }
        produce(FEEDBACK, [json.dumps(verdict)])
        wait("the topic's verdict in PostgreSQL", 60,
             lambda: status() == ["true_positive", "analyst:rina"])
        print(f"ok: a verdict produced to {FEEDBACK} on {incident} is its status in PostgreSQL")

        url = f"http://{listen}/feedback"
        body = {"account": account, "incident": incident, "verdict": "false_positive",
                "analyst": "analyst:dewi"}
        code, text = post(url, body, None)
        assert code == 401, (code, text)
        code, text = post(url, body, "not-the-token")
        assert code == 401, (code, text)
        assert status() == ["true_positive", "analyst:rina"], "a refused verdict changed the status"
        code, text = post(url, body, TOKEN)
        assert code == 202, (code, text)
        print("ok: /feedback refused no token and a wrong one (401), took the right one (202)")
        wait("the endpoint's verdict in PostgreSQL", 60,
             lambda: status() == ["false_positive", "analyst:dewi"])
        print(f"ok: the verdict POSTed on {incident} is its status in PostgreSQL")
        assert rows() == expected, "a verdict added or removed alert rows"

        kawal_proc.send_signal(signal.SIGTERM)
        code = kawal_proc.wait(timeout=60)
        assert code == 0, f"kawal run exited {code} on SIGTERM; see {log_path}"
        probe.close()
        print("ok: kawal run stopped cleanly on SIGTERM")
    finally:
        if kawal_proc and kawal_proc.poll() is None:
            kawal_proc.kill()
        stop_broker(broker)


if __name__ == "__main__":
    main()
