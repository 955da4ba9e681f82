"""kawal's alerts through a real Prometheus Alertmanager (Debian's
prometheus-alertmanager, started here on loopback) to a local webhook
receiver: they arrive grouped by Alertmanager with kawal's labels
(alertname, account, incident, severity) and annotations, and
Alertmanager's own API lists them as active with endsAt ahead.

Usage: python3 tests/e2e/alertmanager_e2e.py target/release/kawal [alertmanager]
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS = os.path.join(ROOT, "tests", "golden", "events.ndjson")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Sink(BaseHTTPRequestHandler):
    """Alertmanager's webhook receiver: records each notification."""

    got = []
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with Sink.lock:
            Sink.got.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def wait_for(what, cond, limit=30):
    start = time.time()
    while time.time() - start < limit:
        if cond():
            return
        time.sleep(0.2)
    raise SystemExit(f"FAILED: timed out waiting for {what}")


def main():
    kawal = sys.argv[1]
    am = sys.argv[2] if len(sys.argv) > 2 else shutil.which("prometheus-alertmanager") or "alertmanager"
    work = tempfile.mkdtemp(prefix="kawal-am-")
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    am_port, cluster_port = free_port(), free_port()
    with open(os.path.join(work, "am.yml"), "w") as f:
        f.write(
            f"""
route:
  receiver: none
  group_by: [account, incident]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - receiver: soc
      matchers: ['alertname="KawalAccountTakeover"', 'severity=~"high|critical"']
receivers:
  - name: none
  - name: soc
    webhook_configs:
      - url: http://127.0.0.1:{receiver.server_port}/
        send_resolved: true
"""
        )
    proc = subprocess.Popen(
        [
            am,
            f"--config.file={work}/am.yml",
            f"--storage.path={work}/data",
            f"--web.listen-address=127.0.0.1:{am_port}",
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "am.log"), "w"),
    )
    try:
        base = f"http://127.0.0.1:{am_port}"

        def ready():
            try:
                return urllib.request.urlopen(f"{base}/-/ready", timeout=1).status == 200
            except OSError:
                return False

        wait_for("Alertmanager to start", ready)
        config = os.path.join(work, "kawal.toml")
        with open(config, "w") as f:
            f.write(
                f"""
[metrics]
listen = ""
[delivery]
outbox_dir = "{work}/outbox"
[[webhooks]]
name = "alertmanager"
url = "{base}"
format = "alertmanager"
"""
            )
        out = os.path.join(work, "alerts.ndjson")
        p = subprocess.run([kawal, "replay", EVENTS, "--config", config, "--out", out], capture_output=True, text=True, timeout=120)
        print(p.stderr, file=sys.stderr)
        check(p.returncode == 0, "kawal replay delivered to Alertmanager")
        raised = [json.loads(l) for l in open(out) if l.strip()]
        paging = {(a["account"], a["incident"]) for a in raised if a["severity"] in ("high", "critical")}

        def routed():
            with Sink.lock:
                seen = {
                    (a["labels"]["account"], a["labels"]["incident"])
                    for n in Sink.got
                    for a in n["alerts"]
                    if a["status"] == "firing"
                }
            return paging <= seen

        wait_for("Alertmanager to notify the receiver", routed)
        with Sink.lock:
            notes = list(Sink.got)
        alerts = [a for n in notes for a in n["alerts"]]
        check(all(a["labels"]["alertname"] == "KawalAccountTakeover" for a in alerts), "alertname label")
        check(
            all(set(a["labels"]) == {"alertname", "account", "incident", "severity"} for a in alerts),
            "labels are only alertname, account, incident, severity",
        )
        check(all(a["annotations"].get("summary") and a["annotations"].get("score") for a in alerts), "summary and score as annotations")
        firing = [a for a in alerts if a["status"] == "firing"]
        check({a["labels"]["severity"] for a in firing} <= {"high", "critical"}, "Alertmanager routed on kawal's severity label")
        check(all(n["groupLabels"].keys() == {"account", "incident"} for n in notes), "grouped by account and incident")
        active = json.load(urllib.request.urlopen(f"{base}/api/v2/alerts?active=true"))
        last = {}
        for a in raised:
            last[a["incident"]] = a["severity"]
        now = {a["labels"]["incident"]: a["labels"]["severity"] for a in active}
        check(
            all(last.get(i) == s for i, s in now.items()) and len(active) == len(now),
            f"active: one alert per open incident, at its latest severity (an escalation ends the old label set): {len(active)}",
        )
        # The incidents the detector closed in event time during the
        # replay were sent with endsAt now: no longer active.
        closed = int(re.search(r"incidents closed: (\d+)", p.stderr).group(1))
        check(closed > 0 and len(last) - len(now) == closed, f"closed: the {closed} incidents the replay closed are resolved, the {len(last) - closed} others active")
        check(all(a["endsAt"] > a["updatedAt"] for a in active), "endsAt is ahead while open")
        print("alertmanager end to end: all checks passed")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        receiver.shutdown()


if __name__ == "__main__":
    main()
