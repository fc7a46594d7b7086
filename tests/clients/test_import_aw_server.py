"""`daybook import activitywatch` against the real ActivityWatch server.

A real `aw-server` (the Python server, from PyPI, pinned) runs on a free
loopback port with its data in this test's directory; `aw-client` fills
it as watchers would (buckets, inserted events, heartbeats it merges
itself); then daybook imports it through `--from` (the server's own
`GET /api/0/export`) and from that export saved to a file, and both must
give the same sessions: split by the AFK watcher's away time, the day
log, `doctor` clean, and "0 new" on a repeat.

The server runs on its `memory` storage: aw-server 0.12.0's peewee
storage fails on every bucket read with peewee 4 (which aw-core's pins
bring), so its SQLite file cannot be made here; daybook's reader of that
file is checked on a database of its schema (daemon/src/import/
activitywatch.rs).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BIN, free_port

pytest.importorskip("aw_server")

from aw_client import ActivityWatchClient  # noqa: E402
from aw_core.models import Event  # noqa: E402

DAY = datetime(2026, 3, 10, tzinfo=timezone.utc)


@pytest.fixture
def aw_server(tmp_path, monkeypatch):
    """A real aw-server over a data directory of this test's own."""
    env = dict(os.environ)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / var.lower()
        path.mkdir()
        env[var] = str(path)
        monkeypatch.setenv(var, str(path))
    port = free_port()
    # The venv's own script, beside the interpreter running the tests.
    exe = pathlib.Path(sys.executable).parent / "aw-server"
    if not exe.exists():
        exe = pathlib.Path(shutil.which("aw-server") or "aw-server")
    log = open(tmp_path / "aw-server.log", "ab")
    proc = subprocess.Popen(
        [str(exe), "--testing", "--host", "127.0.0.1", "--port", str(port), "--storage", "memory"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/0/info", timeout=1).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "aw-server.log").read_text())
            time.sleep(0.1)
    yield url, port
    proc.terminate()
    proc.wait(timeout=10)


def daybook(data: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    config = data.parent / f"{data.name}-config.toml"
    if not config.exists():
        config.write_text("")
    return subprocess.run(
        [str(BIN), "--data-dir", str(data), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def fill(port: int) -> None:
    """A morning as the watchers record it: window and web activity, the
    user away 09:20-10:00 while the screen keeps showing a window."""
    c = ActivityWatchClient("aw-watcher-window", host="127.0.0.1", port=str(port))
    host = c.client_hostname
    window, afk, web = f"aw-watcher-window_{host}", f"aw-watcher-afk_{host}", f"aw-watcher-web-firefox_{host}"
    c.create_bucket(window, "currentwindow", queued=False)
    c.create_bucket(afk, "afkstatus", queued=False)
    c.create_bucket(web, "web.tab.current", queued=False)
    events = []
    for k in range(10):
        app = "Code" if k % 2 == 0 else "Terminal"
        events.append(Event(timestamp=DAY + timedelta(hours=9, minutes=2 * k), duration=119,
                            data={"app": app, "title": f"{app} {k}"}))
    events.append(Event(timestamp=DAY + timedelta(hours=9, minutes=20), duration=2399,
                        data={"app": "Code", "title": "idle.rs"}))
    c.insert_events(window, events)
    c.insert_events(afk, [
        Event(timestamp=DAY + timedelta(hours=9), duration=1200, data={"status": "not-afk"}),
        Event(timestamp=DAY + timedelta(hours=9, minutes=20), duration=2399, data={"status": "afk"}),
    ])
    c.insert_event(web, Event(timestamp=DAY + timedelta(hours=9, minutes=5), duration=80,
                              data={"url": "https://docs.python.org/", "title": "Python docs",
                                    "audible": False, "incognito": False, "tabCount": 2}))
    # From 10:00, heartbeats once every 10 s, merged by the server itself.
    c.heartbeat(afk, Event(timestamp=DAY + timedelta(hours=10), data={"status": "not-afk"}), pulsetime=60)
    for s in range(0, 20 * 60, 10):
        app = "Slack" if s < 600 else "Code"
        t = DAY + timedelta(hours=10, seconds=s)
        c.heartbeat(window, Event(timestamp=t, data={"app": app, "title": f"{app} later"}), pulsetime=11)
        c.heartbeat(afk, Event(timestamp=t, data={"status": "not-afk"}), pulsetime=11)


def sessions(data: pathlib.Path) -> list[dict]:
    ran = daybook(data, "sessions", "--all", "--json")
    assert ran.returncode == 0, ran.stderr
    return sorted(json.loads(ran.stdout), key=lambda s: s["start"])


def test_a_real_aw_server_imports_through_its_export_and_its_database(aw_server, tmp_path):
    url, port = aw_server
    fill(port)
    served = json.load(urllib.request.urlopen(f"{url}/api/0/export"))
    raw = sum(len(b["events"]) for b in served["buckets"].values())
    # The server merged the heartbeats: far fewer events than were sent.
    assert 14 <= raw < 100, raw

    from_server = tmp_path / "from-server"
    ran = daybook(from_server, "import", "activitywatch", "--from", url, "--json")
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["format"] == "export"
    assert report["events"] == {"read": raw, "new": raw}
    got = sessions(from_server)
    spans = [(s["start"][11:19], s["end"][11:19], s["end_reason"]) for s in got]
    # Split by the away time: the window shown 09:20-10:00 makes nothing.
    assert spans == [
        ("09:00:00", "09:19:59", "idle_gap"),
        ("10:00:00", spans[1][1], "idle_gap"),
    ], spans
    assert spans[1][1] >= "10:19:50", spans
    assert all(s["status"] == "reduced" for s in got)
    day = daybook(from_server, "show", "2026-03-10").stdout
    for word in ("Code", "Terminal", "Slack", "Firefox"):
        assert word in day, day
    doctor = daybook(from_server, "doctor", "--json")
    assert doctor.returncode == 0 and json.loads(doctor.stdout)["ok"], doctor.stdout

    again = daybook(from_server, "import", "activitywatch", "--from", url)
    assert again.returncode == 0, again.stderr
    assert "events: 0 new" in again.stdout and "derived: 0 sessions" in again.stdout, again.stdout

    # The same export saved to a file, byte for byte as the server wrote it.
    saved = tmp_path / "export.json"
    saved.write_bytes(urllib.request.urlopen(f"{url}/api/0/export").read())
    from_file = tmp_path / "from-file"
    ran = daybook(from_file, "import", "activitywatch", str(saved), "--json")
    assert ran.returncode == 0, ran.stderr
    assert [(s["start"], s["end"], s["end_reason"]) for s in sessions(from_file)] == [
        (s["start"], s["end"], s["end_reason"]) for s in got
    ]
    assert daybook(from_file, "show", "2026-03-10").stdout == day
