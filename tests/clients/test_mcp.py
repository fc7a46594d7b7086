"""daybook's MCP server driven by the official MCP Python SDK (`mcp`).

A daemon is fed a seeded morning of activity, then stopped so its
sessions are reduced into the day log. `daybook mcp` (stdio) and `/mcp`
(streamable HTTP on the daemon's listener) are each asked every tool's
question, and each answer is checked against what the command line
reports for the same question.
"""

from __future__ import annotations

import datetime as dt
import json

import urllib.error

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from conftest import BIN

TOOLS = {"search", "activity_summary", "day_log", "sessions", "current_context"}


def seed_day() -> dt.date:
    """Yesterday, local: within the lateness window and wholly past."""
    return dt.date.today() - dt.timedelta(days=1)


def events(day: dt.date) -> list[dict]:
    """A morning: an editor, a browser reading about tokio, a terminal,
    and a second session after an idle gap."""
    tz = dt.datetime.now().astimezone().tzinfo
    start = dt.datetime.combine(day, dt.time(9, 0), tzinfo=tz)
    out = []
    plan = [
        ("Code", "main.rs — daybook", None, "fn main() { tokio::spawn(worker()); }"),
        ("Firefox", "Tokio tutorial", "https://tokio.rs/tokio/tutorial", None),
        ("Firefox", "Spawning - Tokio", "https://tokio.rs/tokio/tutorial/spawning", None),
        ("Terminal", "cargo test", None, "cargo test -p daybook"),
        ("Code", "store.rs — daybook", None, "an fts5 index over events"),
        ("Secretly", "vault", None, "tokio secret password"),
        ("Hidden", "hidden thing", None, "hidden words"),
    ]
    for i in range(48):
        app, title, url, text = plan[i % len(plan)]
        at = start + dt.timedelta(seconds=40 * i)
        if i >= 30:  # an idle gap longer than five minutes, then more work
            at += dt.timedelta(minutes=20)
        e = {"at": at.isoformat(), "app": app, "title": title}
        if url:
            e["url"] = url
        if text:
            e["text"] = f"{text} #{i}"
        out.append(e)
    return out


def cli_json(d, *args):
    return json.loads(d.cli(*args, "--json").stdout)


def content(result) -> list[str]:
    assert not result.is_error, result.content
    return [c.text for c in result.content]


async def ask_everything(session: ClientSession, d, day: dt.date) -> None:
    init = session.initialize_result if hasattr(session, "initialize_result") else None
    tools = await session.list_tools()
    names = {t.name for t in tools.tools}
    assert TOOLS <= names, names
    for t in tools.tools:
        assert t.description and len(t.description) > 40, t.name
        assert t.input_schema["type"] == "object", t.name
    search_schema = next(t for t in tools.tools if t.name == "search").input_schema
    assert {"q", "since", "until", "app", "limit", "offset"} <= set(search_schema["properties"])
    del init

    # search: the same JSON as `daybook search --json`.
    for args, cli in [
        ({"q": "tokio"}, ["search", "tokio"]),
        ({"q": "tok*", "app": "firefox", "limit": 3}, ["search", "tok*", "--app", "firefox", "--limit", "3"]),
        ({"q": '"fts5 index"', "since": str(day)}, ["search", '"fts5 index"', "--since", str(day)]),
    ]:
        got = content(await session.call_tool("search", args))
        mine = json.loads(got[0])
        assert mine == cli_json(d, *cli), args
        assert mine["results"], args
        for hit in mine["results"]:
            assert "**" in hit["snippet"], hit
            assert len(hit["snippet"].replace("**", "")) <= 302
    paged = json.loads(content(await session.call_tool("search", {"q": "tokio", "limit": 2}))[0])
    assert paged["next_offset"] == 2 and len(paged["results"]) == 2
    # An app ignored by a rule added after capture: none of its events is
    # returned (entries reduced before the rule keep their words).
    secret = json.loads(content(await session.call_tool("search", {"q": "secret"}))[0])
    assert secret == cli_json(d, "search", "secret")
    assert [h for h in secret["results"] if h["kind"] == "event"] == []
    # An app ignored at capture is in no answer at all.
    assert json.loads(content(await session.call_tool("search", {"q": "hidden"}))[0])["results"] == []
    # Input that is FTS5 syntax is searched as text, never an error.
    weird = await session.call_tool("search", {"q": 'NEAR( "tokio OR'})
    assert not weird.is_error
    bad = await session.call_tool("search", {"q": "***"})
    assert bad.is_error and "***" in bad.content[0].text
    bad = await session.call_tool("search", {"q": "tokio", "since": "soon"})
    assert bad.is_error and "soon" in bad.content[0].text

    # activity_summary: the same as `daybook summary --json`.
    summary = json.loads(content(await session.call_tool("activity_summary", {"day": str(day)}))[0])
    assert summary == cli_json(d, "summary", "--day", str(day))
    apps = {a["name"] for a in summary["apps"]}
    assert {"Code", "Firefox", "Terminal"} <= apps and "Secretly" not in apps, apps
    assert summary["active_seconds"] > 0 and summary["idle_seconds"] >= 20 * 60
    assert "tokio.rs" in {x["name"] for x in summary["domains"]}

    # day_log: the same Markdown as `daybook show`.
    log = content(await session.call_tool("day_log", {"day": str(day)}))
    assert log[0] == d.cli("show", str(day)).stdout
    assert "tokio" in log[0].lower() or "Firefox" in log[0]

    # sessions: the same sessions as `daybook sessions --json`.
    listed = json.loads(content(await session.call_tool("sessions", {"day": str(day)}))[0])
    cli_sessions = cli_json(d, "sessions", "--day", str(day))
    assert [(s["id"], s["start"], s["end"], s["status"]) for s in listed["sessions"]] == [
        (s["id"], s["start"], s["end"], s["status"]) for s in cli_sessions
    ]
    assert len(listed["sessions"]) == 2
    assert all(s["top_apps"] for s in listed["sessions"])

    # current_context: the latest events newest first, the latest entry.
    ctx = json.loads(content(await session.call_tool("current_context", {}))[0])
    last = ctx["last_events"][0]
    assert (last["app"], last["title"]) == ("Code", "store.rs — daybook"), last
    assert all(e["app"] != "Secretly" for e in ctx["last_events"])
    assert ctx["last_entry"]["day"] == str(day)
    # The entry's body is its heading, its summary and its sub-task lines;
    # the day log shows the summary under the session's section.
    summary = [l for l in ctx["last_entry"]["body"].splitlines() if l.strip() and not l.startswith("#")][0]
    assert summary.strip()[:40] in log[0], (summary, log[0])

    for result in [await session.call_tool(t, {}) for t in sorted(TOOLS - {"search"})]:
        assert sum(len(c.text) for c in result.content) <= 20_000


def with_token(request, token: str):
    """`request` with the API token added to every call."""

    def call(method, path, body=None, headers=None):
        return request(method, path, body, {**(headers or {}), "Authorization": f"Bearer {token}"})

    return call


@pytest.fixture
def seeded(make_daemon):
    """A daemon whose data holds a reduced morning, restarted with a rule
    that ignores one of the apps it had captured."""
    d = make_daemon(config='ignore_apps = ["Hidden"]\n')
    day = seed_day()
    reply = d.post("/v1/events", events(day))
    assert (reply["accepted"], reply["ignored"]) == (42, 6)
    assert d.stop() == 0
    d.config_path.write_text('ignore_apps = ["Hidden", "Secretly"]\n')
    d.start()
    return d, day


def test_mcp_over_stdio_answers_as_the_command_line_does(seeded):
    d, day = seeded

    async def run():
        params = StdioServerParameters(command=str(BIN), args=d.base_args()[1:] + ["mcp"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "daybook"
                assert "activity_summary" in (init.instructions or "")
                await ask_everything(session, d, day)

    anyio.run(run)


def test_mcp_over_streamable_http_answers_as_the_command_line_does(seeded):
    d, day = seeded

    async def run():
        async with streamable_http_client(d.url + "/mcp") as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "daybook"
                await ask_everything(session, d, day)

    anyio.run(run)


def test_mcp_over_http_needs_the_token_and_a_local_origin(make_daemon):
    d = make_daemon(start=False)
    d.cli("token", "--new")
    token = (d.data_dir / "api-token").read_text().strip()
    # The fixture's readiness probe has no token: it sees 401 and waits.
    d.request = with_token(d.request, token)
    d.start()
    del d.request
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    accept = {"Accept": "application/json, text/event-stream"}

    for headers in [accept, {**accept, "Authorization": "Bearer wrong"}]:
        with pytest.raises(urllib.error.HTTPError) as e:
            d.request("POST", "/mcp", body, headers)
        assert e.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as e:
        d.request("POST", "/mcp", body, {**accept, "Authorization": f"Bearer {token}", "Origin": "https://evil.example"})
    assert e.value.code == 403

    async def run():
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        async with client:
            async with streamable_http_client(d.url + "/mcp", http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = await session.list_tools()
                    assert TOOLS <= {t.name for t in tools.tools}

    anyio.run(run)
