#!/usr/bin/env python3
"""Runs every PromQL expression of a Grafana dashboard against a live
Prometheus and fails unless each returns data.

Grafana's variables are given concrete values: $instance matches all,
$__rate_interval and $__range are fixed windows that a short scrape
history covers.

Usage: dashboard_queries.py DASHBOARD.json http://127.0.0.1:9090
"""

import json
import sys
import urllib.parse
import urllib.request

SUBST = {"$__rate_interval": "30s", "$__range": "5m", "$instance": ".*"}


def exprs(dashboard):
    for panel in dashboard["panels"]:
        for t in panel.get("targets", []):
            # SQL panels (the PostgreSQL alert history) are run by
            # tests/e2e/postgres_e2e.py against a real PostgreSQL.
            if "expr" in t:
                yield panel["title"], t["expr"]


def main():
    dashboard = json.load(open(sys.argv[1]))
    base = sys.argv[2]
    failures = 0
    count = 0
    for title, expr in exprs(dashboard):
        q = expr
        for k, v in SUBST.items():
            q = q.replace(k, v)
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        count += 1
        result = body.get("data", {}).get("result", [])
        if body.get("status") != "success" or not result:
            failures += 1
            print(f"NO DATA  [{title}] {q}: {body.get('error', 'empty result')}")
        else:
            print(f"ok ({len(result)} series)  [{title}] {q}")
    if count == 0:
        sys.exit("no expressions found")
    if failures:
        sys.exit(f"{failures} of {count} dashboard expressions returned no data")
    print(f"all {count} dashboard expressions returned data")


if __name__ == "__main__":
    main()
