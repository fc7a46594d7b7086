"""The fixture the client tests share starts the real daemon and stops it cleanly."""


def test_daemon_accepts_an_event_and_stops_cleanly(make_daemon):
    d = make_daemon()
    reply = d.post("/v1/events", {"app": "Code", "title": "main.rs"})
    assert reply["accepted"] == 1
    assert d.get("/v1/status")["events_total"] == 1
    assert d.stop() == 0
