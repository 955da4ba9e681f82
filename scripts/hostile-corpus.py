#!/usr/bin/env python3
"""Writes tests/data/hostile.ndjson: hostile but valid events (by the
event contract) aimed at the accounts of tests/golden/, for the test that
replays them into that history and checks its takeovers are still found
(tests/hostile.rs), and as seeds for the fuzz target.

Every string field carries multi-byte text, empty strings and very long
strings; numbers sit at their extremes; ids repeat; one account gets a
flood; times run from 1970 to 2262 in no order. Deterministic (seeded).
Run: python3 scripts/hostile-corpus.py > tests/data/hostile.ndjson
"""
import json
import random

rng = random.Random(9)
ACCOUNTS = ["x:kemenpar0", "yt:kemenhub5", "fb:lapan4", "x:kominfo1", "yt:bpom3", "yt:kemendikbud2"]
TEXTS = [
    "", "รัฐบาล.ไทย", "ñoño", "日本語", "🇮🇩🔥", "e\u0301", "\u200b", "Ωmega",
    "\"quoted\\\"", "line\nbreak", "\u0000nul", "go.id", "a.go.id",
]
TYPES = ["login", "post", "logout", "profile_change", "password_change", "password_reset",
         "mfa_change", "recovery_change", "role_change", "app_authorization", "💥"]
TIMES = ["1970-01-01T00:00:00Z", "2262-04-11T23:47:16Z", "2099-01-01T00:00:00Z",
         "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2026-01-10T08:00:00+14:00",
         "2026-01-10T08:00:00-12:00", "2026-01-09T23:59:60Z"]


def text():
    # Long strings now and then (the very long ones have events of their own).
    if rng.random() < 0.01:
        return rng.choice(["a", "ไ", "🔥"]) * rng.randrange(300, 3000)
    return rng.choice(TEXTS)


def when(i):
    if rng.random() < 0.5:
        return rng.choice(TIMES)
    return "2026-01-10T%02d:%02d:%02dZ" % (8 + i % 8, rng.randrange(60), rng.randrange(60))


def event(i):
    e = {"id": rng.choice(["dup-1", "dup-2", f"h{i}", text() or "x"]),
         "time": when(i), "account": rng.choice(ACCOUNTS), "type": rng.choice(TYPES)}
    if rng.random() < 0.8:
        e["actor"] = text()
    e["outcome"] = rng.choice(["success", "failure"])
    e["source"] = {
        "ip": rng.choice(["1.2.3.4", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", text()]),
        "asn": rng.choice([0, 1, 4294967295, 18446744073709551615]),
        "as_org": text(), "country": rng.choice(["ID", "ZZ", "AA"]), "city": text(),
        "lat": rng.choice([90, -90, 0, 5e-324]), "lon": rng.choice([180, -180, 0]),
        "accuracy_km": rng.choice([0, 1e308, 20]), "hosting": rng.choice([True, False]),
    }
    e["device"] = {"id": text(), "user_agent": text(), "client": text()}
    e["post"] = {"client": text(), "text_len": rng.choice([0, 18446744073709551615]),
                 "links": [rng.choice(["https://", "http://u@", ""]) + text() + rng.choice(["", ":99999", "/p?q#f"])
                           for _ in range(rng.randrange(12))]}
    e["change"] = {"action": rng.choice(["grant", "revoke", "disable", "remove_method", text()]),
                   "field": text(), "target": text(), "role": rng.choice(["admin", text()]), "app": text()}
    return e


lines = [event(i) for i in range(120)]
# The very long strings: a 400 KB user agent, a 300 KB change target.
big_agent = event(120)
big_agent.update(time="2026-01-10T10:00:00Z", type="login", account="yt:bpom3")
big_agent["device"]["user_agent"] = "Mozilla/5.0 " + "x" * 400_000
big_target = event(121)
big_target.update(time="2026-01-10T10:01:00Z", type="role_change", account="yt:bpom3")
big_target["change"].update(action="grant", role="admin", target="ไ" * 100_000)
lines += [big_agent, big_target]
# A flood on one account: one event repeated, same id, within a minute.
flood = {"id": "flood", "time": "2026-01-10T09:00:00Z", "account": "fb:lapan4", "type": "post",
         "post": {"client": "web", "links": ["https://รัฐบาล.ไทย/"]}}
lines += [flood] * 2000
for e in lines:
    print(json.dumps(e, ensure_ascii=False))
