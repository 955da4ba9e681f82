#!/usr/bin/env python3
"""End to end against a real Kafka-protocol broker (tansu).

Starts tansu on loopback, creates the topics, produces the first half
of the simulated events with Python's confluent-kafka (a client nobody
here wrote), runs `kawal run` on them, waits until the group has
committed every offset, stops kawal with SIGTERM (it must exit 0), starts
it again (it must restore every partition's state from the state topic,
which kawal creates itself), produces the second half, waits and stops
it again, then reads the alerts topic and checks that it holds exactly
the alert ids that `kawal replay --partitions N` gives for the whole
file: the baselines of the first half survived the restart.

Usage: kafka_e2e.py KAWAL_BINARY TANSU_BINARY
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
EVENTS, ALERTS, DEAD, STATE = "e2e-events", "e2e-alerts", "e2e-dead", "e2e-state"
GROUP = "kawal-e2e"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(what, limit, cond):
    started = time.time()
    while not cond():
        if time.time() - started > limit:
            sys.exit(f"e2e: timed out waiting for {what}")
        time.sleep(0.2)


def start_broker(tansu, work, topics):
    """Starts tansu (in memory) on a free loopback port and creates
    `topics` ({name: partitions}); returns the process and its address."""
    brokers = f"127.0.0.1:{free_port()}"
    broker_log = open(os.path.join(work, "tansu.log"), "w")
    broker = subprocess.Popen(
        [tansu, "broker", "--listener-url", f"tcp://{brokers}",
         "--advertised-listener-url", f"tcp://{brokers}",
         "--storage-engine", "memory://tansu/"],
        stdout=broker_log, stderr=subprocess.STDOUT)
    admin = AdminClient({"bootstrap.servers": brokers})

    def up():
        if broker.poll() is not None:
            sys.exit(f"e2e: tansu exited ({broker.returncode}); see {work}/tansu.log")
        try:
            admin.list_topics(timeout=1)
            return True
        except Exception:
            return False

    wait("the broker", 30, up)
    futures = admin.create_topics([NewTopic(t, n, 1) for t, n in topics.items()])
    for f in futures.values():
        f.result(timeout=30)
    return broker, brokers


def stop_broker(broker):
    broker.terminate()
    try:
        broker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        broker.kill()


def main():
    kawal, tansu = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="kawal-e2e-")
    broker, brokers = start_broker(tansu, work, {EVENTS: PARTITIONS, ALERTS: PARTITIONS, DEAD: 1})
    kawal_proc = None
    try:

        # Simulated activity with injected takeovers, and a bad line.
        subprocess.run([kawal, "simulate", "--accounts", "120", "--days", "25",
                        "--seed", "11", "--out", work], check=True)
        events = os.path.join(work, "events.ndjson")
        lines = [l for l in open(events, encoding="utf-8") if l.strip()]
        producer = Producer({"bootstrap.servers": brokers, "linger.ms": 20})
        # The end of each partition, from delivery reports (tansu's high
        # watermarks lag behind what it has stored, so they are no use).
        ends = [0] * PARTITIONS

        def delivered(err, msg):
            if err is None:
                ends[msg.partition()] = max(ends[msg.partition()], msg.offset() + 1)

        def produce(batch, bad=False):
            for line in batch:
                account = json.loads(line)["account"]
                while True:
                    try:
                        producer.produce(EVENTS, value=line.rstrip("\n").encode(),
                                         key=account.encode(), on_delivery=delivered)
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            if bad:
                producer.produce(EVENTS, value=b"{not json", key=b"x:broken",
                                 on_delivery=delivered)
            left = producer.flush(60)
            if left:
                sys.exit(f"e2e: {left} events not delivered to the broker")

        config = os.path.join(work, "kawal.toml")
        with open(config, "w") as f:
            f.write(f'''[kafka]
brokers = "{brokers}"
group_id = "{GROUP}"
topics = ["{EVENTS}"]
alerts_topic = "{ALERTS}"
alerts_format = "cloudevents"
dead_letter_topic = "{DEAD}"
commit_interval = "500ms"
[state]
topic = "{STATE}"
''')
        probe = Consumer({"bootstrap.servers": brokers, "group.id": GROUP})
        tps = [TopicPartition(EVENTS, p) for p in range(PARTITIONS)]

        def life(n, batch, bad=False):
            """Runs kawal over `batch` until every offset is committed,
            then stops it with SIGTERM; returns its log."""
            nonlocal kawal_proc
            log_path = os.path.join(work, f"kawal-{n}.log")
            kawal_proc = subprocess.Popen([kawal, "run", "--config", config],
                                          stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
            produce(batch, bad)
            print(f"e2e: life {n}: produced {len(batch) + bad} events with confluent-kafka")

            # Done when the group's committed offsets reach the end of
            # every partition.
            def caught_up():
                if kawal_proc.poll() is not None:
                    sys.exit(f"e2e: kawal run exited early ({kawal_proc.returncode}); see {log_path}")
                done = probe.committed(tps, timeout=5)
                return all(tp.offset >= ends[tp.partition] for tp in done)

            wait("kawal to commit every offset", 180, caught_up)
            kawal_proc.send_signal(signal.SIGTERM)
            code = kawal_proc.wait(timeout=60)
            if code != 0:
                sys.exit(f"e2e: kawal run exited {code} on SIGTERM; see {log_path}")
            return open(log_path, encoding="utf-8").read()

        half = len(lines) // 2
        life(1, lines[:half])
        second = life(2, lines[half:], bad=True)
        produced = len(lines) + 1
        assert sum(ends) == produced, (ends, produced)
        restored = second.count("state restored")
        if restored != PARTITIONS:
            sys.exit(f"e2e: the restart restored {restored} of {PARTITIONS} partitions; see {work}/kawal-2.log")
        print(f"e2e: the restart restored all {PARTITIONS} partitions from the state topic")
        probe.close()

        # What replay says, and what the topic holds.
        replay = subprocess.run([kawal, "replay", events, "--partitions", str(PARTITIONS)],
                                check=True, capture_output=True, text=True)
        expected = {json.loads(l)["id"] for l in replay.stdout.splitlines() if l.strip()}

        def read(topic, want):
            c = Consumer({"bootstrap.servers": brokers, "group.id": f"e2e-reader-{topic}",
                          "auto.offset.reset": "earliest", "enable.auto.commit": False})
            c.subscribe([topic])
            got, quiet = [], time.time()
            started = time.time()
            while time.time() - started < 60:
                m = c.poll(0.5)
                if m is None:
                    if len(got) >= want and time.time() - quiet > 2:
                        break
                    continue
                if m.error():
                    continue
                got.append(m)
                quiet = time.time()
            c.close()
            return got

        msgs = read(ALERTS, len(expected))
        alerts = [json.loads(m.value()) for m in msgs]
        ids = [a["id"] for a in alerts]
        # alerts_format = "cloudevents": the CloudEvents SDK's Kafka binding
        # reads each message as an event (binary mode, ce_ headers).
        from cloudevents.v1.kafka import KafkaMessage, from_binary

        for m, a in zip(msgs, alerts):
            ev = from_binary(KafkaMessage(dict(m.headers() or []), m.key(), m.value()))
            if ev["id"] != a["id"] or ev["type"] != "kawal.alert" or ev["subject"] != a["account"]:
                print(f"e2e: alert {a['id']} is not the CloudEvent its headers say: {ev}")
                ok_ce = False
                break
        else:
            ok_ce = True
            print(f"e2e: {len(msgs)} alert messages parse as CloudEvents (binary mode)")
        dead = read(DEAD, 1)
        print(f"e2e: replay {len(expected)} alerts; topic {len(ids)} alerts "
              f"({len(set(ids))} distinct); {len(dead)} dead letters")
        missing, extra = expected - set(ids), set(ids) - expected
        ok = not missing and not extra and len(expected) > 0 and ok_ce
        if len(dead) != 1 or dead[0].value() != b"{not json":
            print("e2e: the bad line did not reach the dead-letter topic as sent")
            ok = False
        else:
            headers = dict(dead[0].headers() or [])
            if headers.get("kawal.error.kind") != b"bad_json":
                print(f"e2e: dead letter headers: {headers}")
                ok = False
        if not ok:
            sys.exit(f"e2e: FAILED (missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}); see {work}")
        print("e2e: OK: the alerts topic holds exactly the replay's alert ids")
    finally:
        if kawal_proc and kawal_proc.poll() is None:
            kawal_proc.kill()
        stop_broker(broker)


if __name__ == "__main__":
    main()
