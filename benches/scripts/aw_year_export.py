#!/usr/bin/env python3
"""Writes a year of ActivityWatch history as aw-server's export
(`GET /api/0/export`): `aw_year_export.py OUT [DAYS]` (default 365).

One host, three watchers, shaped as aw-server writes them (a bucket's
metadata before its events, Python `isoformat` instants): a window
watcher whose focused window changes every 2 to 8 seconds through a
ten-hour day, with a coffee break of 7 minutes every 600 windows; a
browser tab for every other window; an AFK watcher with the lunch hour
away. About 8,200 events a day, 3.0 million a year. Deterministic, no
randomness, streamed (never more than one event in memory).
"""

import json
import sys
from datetime import datetime, timedelta, timezone

APPS = ["Code", "Firefox", "Slack", "Terminal", "Mail", "Figma"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def bucket_head(out, bid, kind, client, first):
    if not first:
        out.write(",\n")
    meta = {"id": bid, "created": "2025-01-01T00:00:00.000000+00:00", "name": None, "type": kind,
            "client": client, "hostname": "host", "data": {}}
    out.write(json.dumps(bid) + ": {" + json.dumps(meta)[1:-1] + ', "events": [')


def events(out, gen):
    first = True
    for e in gen:
        if not first:
            out.write(",")
        out.write(json.dumps(e))
        first = False
    out.write('], "last_updated": "2026-01-01T00:00:00.000000+00:00"}')


def windows(days, web):
    t0 = datetime(2025, 1, 1, 8, tzinfo=timezone.utc)
    n = 0
    for d in range(days):
        at = t0 + timedelta(days=d)
        end = at + timedelta(hours=10)
        k = 0
        while at < end:
            k += 1
            secs = 2 + (k * 3) % 7
            app = APPS[(k // 4) % len(APPS)]
            lunch = timedelta(hours=4) <= at - (t0 + timedelta(days=d)) < timedelta(hours=5)
            n += 1
            if web:
                if k % 2 == 0:
                    yield {"id": n, "timestamp": iso(at), "duration": secs - 0.5,
                           "data": {"url": f"https://example.org/{d}/{k % 97}", "title": f"Page {k % 97}",
                                    "audible": False, "incognito": False, "tabCount": 4}}
            elif not lunch or k % 50 == 0:
                yield {"id": n, "timestamp": iso(at), "duration": float(secs),
                       "data": {"app": app, "title": f"{app} — file {d}.{k % 211}"}}
            at += timedelta(seconds=secs + 1)
            if k % 600 == 0:
                at += timedelta(minutes=7)


def afk(days):
    t0 = datetime(2025, 1, 1, 8, tzinfo=timezone.utc)
    for d in range(days):
        day = t0 + timedelta(days=d)
        yield {"id": 3 * d + 1, "timestamp": iso(day), "duration": 4 * 3600.0, "data": {"status": "not-afk"}}
        yield {"id": 3 * d + 2, "timestamp": iso(day + timedelta(hours=4)), "duration": 3600.0, "data": {"status": "afk"}}
        yield {"id": 3 * d + 3, "timestamp": iso(day + timedelta(hours=5)), "duration": 5 * 3600.0, "data": {"status": "not-afk"}}


def main():
    out_path = sys.argv[1]
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 365
    with open(out_path, "w") as out:
        out.write('{"buckets": {')
        bucket_head(out, "aw-watcher-window_host", "currentwindow", "aw-watcher-window", True)
        events(out, windows(days, web=False))
        bucket_head(out, "aw-watcher-web-firefox_host", "web.tab.current", "aw-client-web", False)
        events(out, windows(days, web=True))
        bucket_head(out, "aw-watcher-afk_host", "afkstatus", "aw-watcher-afk", False)
        events(out, afk(days))
        out.write("}}\n")


if __name__ == "__main__":
    main()
