"""The ActivityWatch export fixture that daybook's export reader is tested
on (daemon/tests/fixtures/aw-export.json) has exactly the shape aw-client's
own models give an export: every event round-trips through
``aw_core.models.Event`` unchanged, and every bucket has the keys an
aw-server export writes, no others."""

import json
import pathlib

from aw_core.models import Event

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "daemon" / "tests" / "fixtures" / "aw-export.json"

# The keys of a bucket in aw-server's and aw-server-rust's exports.
BUCKET_KEYS = {"id", "created", "name", "type", "client", "hostname", "data", "events", "last_updated", "metadata"}


def test_every_event_is_what_aw_core_serializes():
    export = json.loads(FIXTURE.read_text())
    assert set(export) == {"buckets"}
    seen = 0
    for bucket_id, bucket in export["buckets"].items():
        assert bucket["id"] == bucket_id
        assert set(bucket) <= BUCKET_KEYS, set(bucket) - BUCKET_KEYS
        assert {"type", "client", "hostname", "created", "events"} <= set(bucket)
        for event in bucket["events"]:
            assert Event(**event).to_json_dict() == event
            seen += 1
    assert seen == 3
