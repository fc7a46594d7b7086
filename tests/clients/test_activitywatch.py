"""ActivityWatch's own client, `aw-client`, against the real daemon (SPEC §11).

The client is pointed at the daemon's `/api/0` listener through its
constructor (`host`, `port`), as a user's `aw-client.toml` would; its queue
file and config live in this test's temporary directories. Merged events
are checked against aw-client's own merge (`aw_transform.heartbeat_reduce`),
the reference the watchers themselves use.
"""

from __future__ import annotations

import copy
import json
import socket
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import requests

pytest.importorskip("aw_client")

from aw_client import ActivityWatchClient  # noqa: E402
from aw_core.models import Event  # noqa: E402
from aw_transform.heartbeats import heartbeat_reduce  # noqa: E402


@pytest.fixture
def aw_env(tmp_path, monkeypatch):
    """aw-client's config, data (its queue) and cache in this test's directory."""
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / var.lower()
        path.mkdir()
        monkeypatch.setenv(var, str(path))


def client_for(d, name="aw-test") -> ActivityWatchClient:
    c = ActivityWatchClient(name, host="127.0.0.1", port=str(d.aw_port))
    c.wait_for_start()
    return c


def shape(events):
    """(start, duration in s, data) of events, oldest first, to the microsecond."""
    out = [(e.timestamp.astimezone(timezone.utc), round(e.duration.total_seconds(), 6), e.data) for e in events]
    return sorted(out, key=lambda x: x[0])


def raw(d, method, path, body=None, headers=None):
    """A request to the `/api/0` listener; returns (status, headers, text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{d.aw_port}/api/0{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_aw_client_buckets_heartbeats_and_events(make_daemon, aw_env):
    d = make_daemon(activitywatch=True)
    c = client_for(d)
    assert c.get_info()["hostname"] == socket.gethostname()

    bucket = f"aw-watcher-window_{c.client_hostname}"
    c.create_bucket(bucket, "currentwindow")
    status, _, _ = raw(d, "POST", f"/buckets/{bucket}", {"client": "x", "type": "currentwindow", "hostname": "h"})
    assert status == 304, "a bucket that exists answers 304"
    assert c.get_buckets()[bucket]["type"] == "currentwindow"

    # Direct heartbeats: runs of equal data, gaps under and over the
    # pulsetime, a change of window and back.
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
    code = {"app": "Code", "title": "main.rs"}
    term = {"app": "Terminal", "title": "cargo"}
    offsets = [(0, code), (1, code), (2.5, code), (3, code), (9, code), (10, term), (11, term), (11.5, code), (12, code)]
    sent = []
    for s, data in offsets:
        hb = Event(timestamp=t0 + timedelta(seconds=s), duration=0, data=dict(data))
        sent.append(copy.deepcopy(hb))
        c.heartbeat(bucket, hb, pulsetime=2.0)
    expected = shape(heartbeat_reduce(copy.deepcopy(sent), pulsetime=2.0))
    got = c.get_events(bucket, limit=-1)
    assert shape(got) == expected
    assert [e.timestamp for e in got] == sorted((e.timestamp for e in got), reverse=True), "newest first"
    assert len(got) == 4
    assert c.get_eventcount(bucket) == 4
    assert len(c.get_events(bucket, limit=2)) == 2
    window = c.get_events(bucket, start=t0 + timedelta(seconds=8.5), end=t0 + timedelta(seconds=10.5))
    assert [e.data for e in window] == [term, code], "events overlapping [start, end]"

    # Queued heartbeats: aw-client pre-merges and sends through its queue.
    qbucket = "aw-watcher-queued_test"
    c.create_bucket(qbucket, "currentwindow")
    c.connect()
    try:
        t1 = t0 + timedelta(minutes=5)
        qsent = []
        for i in range(40):
            data = code if i < 25 else term
            hb = Event(timestamp=t1 + timedelta(seconds=i), duration=0, data=dict(data))
            qsent.append(copy.deepcopy(hb))
            c.heartbeat(qbucket, hb, pulsetime=2.0, queued=True, commit_interval=5)
        # The last pre-merged run stays in the client until data changes.
        c.heartbeat(qbucket, Event(timestamp=t1 + timedelta(seconds=41), data={"app": "flush"}), pulsetime=2.0, queued=True)
        expected_q = shape(heartbeat_reduce(copy.deepcopy(qsent), pulsetime=2.0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got_q = shape(c.get_events(qbucket))
            if len(got_q) >= 2 and got_q[-1][1] == expected_q[-1][1]:
                break
            time.sleep(0.2)
        assert got_q == expected_q
    finally:
        c.disconnect()

    # Whole events.
    ibucket = "aw-test-inserted"
    c.create_bucket(ibucket, "test")
    c.insert_events(
        ibucket,
        [Event(timestamp=t0 + timedelta(seconds=i * 10), duration=5, data={"n": i}) for i in range(5)],
    )
    assert c.get_eventcount(ibucket) == 5
    assert c.get_eventcount(ibucket, start=t0 + timedelta(seconds=26)) == 2
    newest = c.get_events(ibucket, limit=1)[0]
    assert newest.data == {"n": 4}
    assert c.get_event(ibucket, newest.id).data == {"n": 4}
    c.delete_event(ibucket, newest.id)
    assert c.get_eventcount(ibucket) == 4
    with pytest.raises(requests.HTTPError) as missing:
        c.get_event(ibucket, newest.id)
    assert missing.value.response.status_code == 404
    assert "message" in missing.value.response.json()
    with pytest.raises(requests.HTTPError) as again:
        c.delete_event(ibucket, newest.id)
    assert again.value.response.status_code == 404

    # Export, delete, import: the bucket comes back with its events.
    exported = c.export_bucket(ibucket)["buckets"][ibucket]
    c.delete_bucket(ibucket)
    assert ibucket not in c.get_buckets()
    with pytest.raises(requests.HTTPError) as gone:
        c.get_eventcount(ibucket)
    assert gone.value.response.status_code == 404
    c.import_bucket(exported)
    assert shape(c.get_events(ibucket)) == shape([Event(**e) for e in exported["events"]])
    with pytest.raises(requests.HTTPError) as twice:
        c.import_bucket(exported)
    assert twice.value.response.status_code == 409
    assert set(c.export_all()["buckets"]) == {bucket, qbucket, ibucket}

    # The rest of the surface.
    status, _, body = raw(d, "POST", "/query/", {"query": ["RETURN = 1;"], "timeperiods": []})
    assert status == 501 and "not supported" in json.loads(body)["message"]
    assert c.get_setting() == {}
    status, _, body = raw(d, "GET", f"/buckets/{bucket}/events?start=yesterday")
    assert status == 400 and "start" in json.loads(body)["message"]
    status, _, body = raw(d, "POST", "/buckets/nope/heartbeat?pulsetime=1", {"timestamp": t0.isoformat(), "data": {}})
    assert status == 404 and "nope" in json.loads(body)["message"]

    # The browser extension's origin gets CORS; no other origin does.
    ext = "chrome-extension://nglaklhklhcoonedhgnpgddginnjdadi"
    status, headers, _ = raw(
        d, "OPTIONS", f"/buckets/{bucket}/heartbeat", headers={"Origin": ext, "Access-Control-Request-Method": "POST"}
    )
    assert status == 204 and headers["Access-Control-Allow-Origin"] == ext
    status, headers, _ = raw(d, "GET", "/info", headers={"Origin": "https://evil.example"})
    assert status == 403 and headers.get("Access-Control-Allow-Origin") is None

    # The window heartbeats became daybook events, far fewer than heartbeats.
    total = d.get("/v1/status")["events_total"]
    assert 1 <= total <= len(offsets) + 40


def test_paused_heartbeats_are_answered_and_not_stored(make_daemon, aw_env):
    d = make_daemon(activitywatch=True)
    c = client_for(d)
    c.create_bucket("w", "currentwindow")
    d.post("/v1/pause", {})
    now = datetime.now(timezone.utc)
    c.heartbeat("w", Event(timestamp=now, data={"app": "Code"}), pulsetime=1)
    assert c.get_eventcount("w") == 0
    assert d.get("/v1/status")["events_total"] == 0
    d.post("/v1/resume", {})
    c.heartbeat("w", Event(timestamp=now + timedelta(seconds=1), data={"app": "Code"}), pulsetime=1)
    assert c.get_eventcount("w") == 1
    assert d.get("/v1/status")["events_total"] == 1


def test_an_ignored_window_is_not_stored_raw_either(make_daemon, aw_env):
    d = make_daemon('ignore_apps = ["KeePassXC"]', activitywatch=True)
    c = client_for(d)
    c.create_bucket("w", "currentwindow")
    now = datetime.now(timezone.utc)
    c.heartbeat("w", Event(timestamp=now, data={"app": "KeePassXC", "title": "bank"}), pulsetime=1)
    assert c.get_eventcount("w") == 0
    c.heartbeat("w", Event(timestamp=now + timedelta(seconds=1), data={"app": "Code", "title": "x"}), pulsetime=1)
    assert [e.data["app"] for e in c.get_events("w")] == ["Code"]


# A scripted day. Times are minutes after 09:00 local, yesterday.
ACTIVE = [(0, 60), (90, 150), (165, 210)]
AWAY = [(60, 90), (150, 165)]
GAP_MIN = 5


def scripted_day(start: datetime, host: str):
    """(arrival, bucket, event, pulsetime) of a day of watchers, in arrival
    order: window heartbeats every 10 s all day (they keep coming while the
    user is away), browser-tab heartbeats while the browser is focused, and
    the AFK watcher's reports as aw-watcher-afk sends them (an `afk` period
    reported three minutes after its last input, then extended every 5 s)."""
    win = f"aw-watcher-window_{host}"
    web = f"aw-watcher-web-firefox_{host}"
    afk = f"aw-watcher-afk_{host}"
    at = lambda m: start + timedelta(minutes=m)  # noqa: E731
    out = []
    end = ACTIVE[-1][1]
    step = 10
    for s in range(0, end * 60, step):
        t = start + timedelta(seconds=s)
        minute = s // 60
        active = any(a <= minute < b for a, b in ACTIVE)
        # Switch apps every minute while active; while away the last window stays.
        app = ("Code" if minute % 2 == 0 else "Firefox") if active else "Firefox"
        title = f"file{minute % 7}.rs" if app == "Code" else f"tab {minute % 5}"
        out.append((t, win, Event(timestamp=t, data={"app": app, "title": title}), step + 1))
        if app == "Firefox" and active:
            out.append((t, web, Event(timestamp=t, data={"url": f"https://example.org/{minute % 5}", "title": title, "audible": False, "incognito": False}), step + 1))
    for a, b in ACTIVE:
        for s in range(a * 60, b * 60, 5):
            t = start + timedelta(seconds=s)
            out.append((t, afk, Event(timestamp=t, data={"status": "not-afk"}), 185))
    for a, b in AWAY:
        last_input = at(a)
        report = last_input + timedelta(minutes=3)
        out.append((report, afk, Event(timestamp=last_input, data={"status": "not-afk"}), 185))
        t = report
        while t < at(b):
            out.append((t, afk, Event(timestamp=last_input + timedelta(milliseconds=1), duration=(t - last_input).total_seconds(), data={"status": "afk"}), 185))
            t += timedelta(seconds=5)
        out.append((at(b), afk, Event(timestamp=at(b), data={"status": "afk"}), 185))
        out.append((at(b), afk, Event(timestamp=at(b) + timedelta(milliseconds=1), data={"status": "not-afk"}), 185))
    out.sort(key=lambda x: (x[0], x[1] != afk))
    return out


def test_a_scripted_day_of_window_web_and_afk_heartbeats(make_daemon, aw_env):
    # The day is replayed in seconds: a tick would see real time, hours
    # after the replayed heartbeats, and cut the open session (it is idle
    # by the clock); so no tick runs during the replay, and a clean stop
    # ends the last session at its last event.
    d = make_daemon('tick_seconds = "1h"', activitywatch=True)
    c = client_for(d)
    host = c.client_hostname
    local = datetime.now().astimezone().tzinfo
    day = (datetime.now().astimezone() - timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=local)
    c.create_bucket(f"aw-watcher-window_{host}", "currentwindow")
    c.create_bucket(f"aw-watcher-web-firefox_{host}", "web.tab.current")
    c.create_bucket(f"aw-watcher-afk_{host}", "afkstatus")
    script = scripted_day(start, host)
    session = requests.Session()
    base = f"http://127.0.0.1:{d.aw_port}/api/0"
    for _, bucket, event, pulsetime in script:
        r = session.post(f"{base}/buckets/{bucket}/heartbeat", params={"pulsetime": pulsetime}, json=event.to_json_dict())
        assert r.status_code == 200, r.text

    # Heartbeats were thinned: far fewer daybook events than heartbeats.
    status = d.get("/v1/status")
    assert status["events_total"] < len(script) / 4, (status["events_total"], len(script))

    assert d.stop() == 0
    d.start()
    sessions = d.get(f"/v1/sessions?day={day.isoformat()}")
    spans = [(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"])) for s in sessions]
    at = lambda m: start + timedelta(minutes=m)  # noqa: E731
    tolerance = timedelta(minutes=4)
    # No session across an afk period longer than the gap.
    for a, b in AWAY:
        assert b - a > GAP_MIN
        for s, e in spans:
            assert e <= at(a) + tolerance or s >= at(b), f"session {s}..{e} runs into the afk period {at(a)}..{at(b)}"
    # One session per active stretch, its bounds within 4 min of the afk
    # period's start (and of the return).
    assert len(spans) == len(ACTIVE), [(s["start"][11:19], s["end"][11:19], s["end_reason"]) for s in sessions]
    for (s, e), (a, b) in zip(spans, ACTIVE):
        assert abs(s - at(a)) <= tolerance, (s, at(a))
        assert abs(e - at(b)) <= tolerance, (e, at(b))
