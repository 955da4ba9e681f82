#!/usr/bin/env python3
"""kawal's alert history in a real PostgreSQL, and the dashboard's SQL.

The golden events, shifted so that their last event was an hour ago, are
replayed twice into the database named by $KAWAL_PG (a libpq connection
string): the rows must match the alerts exactly, once each (the second
replay adds nothing). Then every SQL query of dashboards/kawal.json (the
panels and the `account` variable) is run with Grafana's macros and
variables filled in, and each must return rows.

Usage: postgres_e2e.py KAWAL_BINARY DASHBOARD.json
"""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile

KAWAL = DASHBOARD = None  # from the command line, in main()
PG = os.environ.get("KAWAL_PG", "")
GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "events.ndjson")


def psql(sql):
    out = subprocess.run(
        ["psql", PG, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def parse(t):
    return dt.datetime.fromisoformat(t.replace("Z", "+00:00"))


def shifted_events(path, ago=dt.timedelta(hours=1)):
    """The golden events, shifted so that the last is `ago` before now."""
    events = [json.loads(line) for line in open(GOLDEN) if line.strip()]
    last = max(parse(e["time"]) for e in events)
    shift = dt.datetime.now(dt.timezone.utc) - ago - last
    with open(path, "w") as f:
        for e in events:
            e["time"] = (parse(e["time"]) + shift).isoformat().replace("+00:00", "Z")
            f.write(json.dumps(e) + "\n")


def replay(events, config, out):
    r = subprocess.run([KAWAL, "replay", events, "--config", config, "--out", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"kawal replay failed:\n{r.stderr}")
    return r.stderr


def main():
    global KAWAL, DASHBOARD
    KAWAL, DASHBOARD = sys.argv[1], sys.argv[2]
    if not PG:
        sys.exit("postgres_e2e: set KAWAL_PG to a libpq connection string")
    work = tempfile.mkdtemp()
    events, config = f"{work}/events.ndjson", f"{work}/kawal.toml"
    shifted_events(events)
    with open(config, "w") as f:
        f.write(f"[postgres]\nurl = {json.dumps(PG)}\n")
    summary = replay(events, config, f"{work}/a.ndjson")
    print(summary.strip().splitlines()[-1])
    alerts = [json.loads(line) for line in open(f"{work}/a.ndjson")]
    assert alerts, "the golden events raise alerts"
    rows = dict(psql("SELECT id, severity FROM kawal_alerts"))
    assert rows == {a["id"]: a["severity"] for a in alerts}, (rows, alerts)
    incidents = psql("SELECT id, severity, alerts FROM kawal_incidents")
    want = {}
    for a in alerts:
        w = want.setdefault(a["incident"], [a["severity"], 0])
        order = ["low", "medium", "high", "critical"]
        if order.index(a["severity"]) > order.index(w[0]):
            w[0] = a["severity"]
        w[1] += 1
    assert {i: [s, int(n)] for i, s, n in incidents} == want, (incidents, want)
    print(f"ok: {len(rows)} alerts and {len(incidents)} incidents, as the replay raised them")
    # The incidents the detector closed in event time are resolved.
    closed = int(re.search(r"incidents closed: (\d+)", summary).group(1))
    resolved = psql("SELECT count(*) FROM kawal_incidents WHERE status = 'resolved'")
    assert closed > 0 and resolved == [[str(closed)]], (closed, resolved)
    print(f"ok: the {closed} incidents the replay closed are resolved")

    # At-least-once: the same alerts again insert nothing.
    print(replay(events, config, f"{work}/b.ndjson").strip().splitlines()[-1])
    assert psql("SELECT count(*) FROM kawal_alerts") == [[str(len(alerts))]]
    again = psql("SELECT id, severity, alerts FROM kawal_incidents")
    assert sorted(again) == sorted(incidents), "a second delivery changed the incidents"
    print("ok: a second delivery of the same alerts changed no row")

    dashboard = json.load(open(DASHBOARD))
    account = max(alerts, key=lambda a: a["time"])["account"]
    subst = {
        "${account}": account.replace("'", "''"),
        "$__timeFilter(time)": "time BETWEEN now() - interval '7 days' AND now()",
    }
    queries = []
    for v in dashboard["templating"]["list"]:
        if v.get("datasource", {}).get("type") == "grafana-postgresql-datasource":
            queries.append((f"variable {v['name']}", v["query"]))
    for p in dashboard["panels"]:
        for t in p.get("targets", []):
            if "rawSql" in t:
                queries.append((p["title"], t["rawSql"]))
    assert len(queries) >= 3, queries
    for title, sql in queries:
        for k, v in subst.items():
            sql = sql.replace(k, v)
        got = psql(sql)
        assert got, f"[{title}] returned no row: {sql}"
        print(f"ok ({len(got)} rows)  [{title}]")
    print(f"all {len(queries)} SQL queries of the dashboard returned rows")

    # An analyst's verdict, replayed with the events, becomes the
    # incident's status, and the incident leaves the open list.
    open_sql = next(sql for title, sql in queries if title == "Open incidents")
    incident = psql(open_sql)[0][5]
    account = psql(f"SELECT account FROM kawal_incidents WHERE id = '{incident}'")[0][0]
    last = max(parse(json.loads(line)["time"]) for line in open(events))
    verdict = {
        "id": "fb-e2e-1", "time": (last + dt.timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "account": account, "type": "feedback", "actor": "analyst:dewi",
        "change": {"action": "false_positive", "target": incident},
    }
    with open(events, "a") as f:
        f.write(json.dumps(verdict) + "\n")
    summary = replay(events, config, f"{work}/c.ndjson")
    assert "1 false positive" in summary, summary
    got = psql(f"SELECT status, verdict_by FROM kawal_incidents WHERE id = '{incident}'")
    assert got == [["false_positive", "analyst:dewi"]], got
    assert incident not in [r[5] for r in psql(open_sql)], "still listed as open"
    assert psql("SELECT count(*) FROM kawal_alerts") == [[str(len(alerts))]]
    print(f"ok: a false_positive verdict on {incident} is its status, and it left the open list")


if __name__ == "__main__":
    main()
