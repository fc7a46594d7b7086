"""The timeline page in real headless Chromium (Debian's chromium and
chromedriver, driven by Selenium), on a day seeded through the API with
explicit times and a session recovered after a `kill -9`.

Checked against other real paths: the session bars against
`GET /v1/sessions`, the per-app totals against `daybook summary --json`
(the same aggregation, read by the command line), and the browser's
console for errors. A screenshot of the seeded day goes to
`target/page-screenshot.png`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shutil
import urllib.parse

import pytest

from conftest import ROOT

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

# Every time below is UTC; the daemon and the command line run in UTC too,
# so local days are UTC days and the offset named on the page is +00:00.
os.environ["TZ"] = "UTC"

SCRIPT_TITLE = "<script>window.__pwned = 1</script> evil"
HEADING_TITLE = "# Heading one\n## Heading two"

# (minute of the day, app, title, url)
SEED = [
    # Session 1: 09:00-09:40, ended by the 20-minute gap after it.
    (9 * 60 + 0, "Code", "main.rs — daybook", None),
    (9 * 60 + 5, "Firefox", "tokio - Rust", "https://docs.rs/tokio/latest/tokio/"),
    (9 * 60 + 7, "Code", "main.rs — daybook", None),
    (9 * 60 + 20, "Code", "engine.rs — daybook", None),
    (9 * 60 + 30, "Firefox", SCRIPT_TITLE, "https://example.com/a"),
    (9 * 60 + 32, "Code", HEADING_TITLE, None),
    (9 * 60 + 40, "Terminal", "cargo test", None),
    # Session 2: 10:00-10:30.
    (10 * 60 + 0, "Slack", "general", None),
    (10 * 60 + 10, "Zoom", "standup", None),
    (10 * 60 + 25, "Code", "lib.rs — daybook", None),
    (10 * 60 + 30, "Code", "lib.rs — daybook", None),
    # Session 3: left open, then the daemon is killed: recovered.
    (11 * 60 + 0, "Firefox", "GitHub", "https://github.com/daybook/daybook"),
    (11 * 60 + 15, "Firefox", "GitHub pulls", "https://github.com/daybook/daybook/pulls"),
    (11 * 60 + 20, "Code", "test.rs — daybook", None),
]


# Sessions end at gaps over 15 minutes (no soft cuts), and ticks are an
# hour apart, so the third session stays open until the kill.
CONFIG = 'gap_minutes = 15\nsoft_cut_minutes = 600\ntick_seconds = "3600s"\n'


def at(day: dt.date, minute: int) -> str:
    return f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00+00:00"


def seeded_app_seconds(sessions: list[dict]) -> dict[str, float]:
    """Seconds per app as the seed implies them: inside each session, an
    event's app holds from its time to the next event's."""
    totals: dict[str, float] = {}
    for s in sessions:
        start = dt.datetime.fromisoformat(s["start"])
        end = dt.datetime.fromisoformat(s["end"])
        inside = [
            (dt.datetime.fromisoformat(at(dt.date.fromisoformat(s["start"][:10]), m)), app)
            for (m, app, _, _) in SEED
        ]
        inside = sorted((t, app) for (t, app) in inside if start <= t <= end)
        for (t, app), (t_next, _) in zip(inside, inside[1:] + [(end, None)]):
            totals[app] = totals.get(app, 0) + (t_next - t).total_seconds()
    return {app: secs for app, secs in totals.items() if secs > 0}


@pytest.fixture
def seeded(make_daemon):
    """A daemon whose yesterday holds two ended sessions and one recovered."""
    d = make_daemon(config=CONFIG)
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    events = [
        {"at": at(day, m), "app": app, "title": title, **({"url": url} if url else {})}
        for (m, app, title, url) in SEED
    ]
    assert d.post("/v1/events", events)["accepted"] == len(events)
    assert d.get("/v1/status")["open_session"] is not None, "the last session must still be open"
    d.kill()
    d.start()
    return d, day


@pytest.fixture
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def console_errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_the_seeded_day_in_chromium(seeded, browser):
    d, day = seeded
    name = day.isoformat()
    sessions = d.get(f"/v1/sessions?day={name}")
    assert len(sessions) == 3, sessions
    assert [s["end_reason"] for s in sessions] == ["idle_gap", "idle_gap", "recovered"]

    browser.get(f"{d.url}/day/{name}")
    assert browser.title.startswith(day.strftime("%a"))

    # One bar per session, as the API lists them, each linking to its view
    # and carrying its text alternative (start, end, how it ended).
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.timeline a.session")
    assert len(bars) == len(sessions)

    def bar_session(b) -> str:
        path = b.get_dom_attribute("href")
        assert path.startswith(f"/day/{name}/session/"), path
        return urllib.parse.unquote(path.rsplit("/", 1)[-1])

    assert [bar_session(b) for b in bars] == [s["id"] for s in sessions]
    labels = [b.find_element(By.TAG_NAME, "title").get_attribute("textContent") for b in bars]
    assert labels[0].startswith("Code 09:00–09:40") and "idle gap" in labels[0], labels

    # The recovered session is marked, on its bar and in the table.
    recovered = [s["id"] for s in sessions if s["end_reason"] == "recovered"]
    marked = [bar_session(b) for b in bars if "recovered" in b.get_attribute("class")]
    assert marked == recovered
    assert "recovered after a crash" in labels[2], labels
    rows = browser.find_elements(By.CSS_SELECTOR, "table.sessions tr.recovered")
    assert len(rows) == 1 and "recovered after a crash" in rows[0].text

    # Idle gaps between the sessions are drawn: one hatched path of two
    # rectangles, its title counting them.
    gaps = browser.find_element(By.CSS_SELECTOR, "svg.timeline g.gaps")
    assert gaps.find_element(By.TAG_NAME, "path").get_dom_attribute("d").count("M") == 2
    assert ": 2 gaps between sessions" in gaps.find_element(By.TAG_NAME, "title").get_attribute("textContent")

    # Per-app totals: those the seed implies (worked out here, each
    # event's app holding until the next event of its session), and those
    # `daybook summary --json` reports, within a second.
    shown = {
        r.get_attribute("data-name"): int(r.get_attribute("data-ms")) / 1000
        for r in browser.find_elements(By.CSS_SELECTOR, "table.totals.apps tbody tr")
    }
    implied = seeded_app_seconds(sessions)
    assert shown == implied, (shown, implied)

    # Captured markup and Markdown are text: no script ran, no heading made.
    page = browser.page_source
    assert browser.execute_script("return window.__pwned === undefined")
    scripts = browser.find_elements(By.TAG_NAME, "script")
    assert [s.get_attribute("src") for s in scripts] == [f"{d.url}/assets/page.js"]
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "<script>window.__pwned = 1</script> evil" in body
    assert "# Heading one ## Heading two" in body
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h1, h2, h3, h4, h5, h6")]
    assert not any("Heading one" in h or "Heading two" in h for h in headings), headings
    assert "&lt;script&gt;" in page

    # The day's log entries are on the page; its log's own page holds the
    # same entries, each linking to its session.
    on_day = [a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, "article.entry")]
    assert len(on_day) >= 3, on_day

    shot = ROOT / "target" / "page-screenshot.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # Clicking a session shows its blocks and entries.
    bars[0].click()
    WebDriverWait(browser, 10).until(lambda b: "/session/" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith("Session 09:00")
    assert len(browser.find_elements(By.CSS_SELECTOR, "table.blocks tbody tr")) >= 5
    assert browser.find_elements(By.CSS_SELECTOR, "article.entry")
    assert SCRIPT_TITLE in browser.find_element(By.CSS_SELECTOR, "table.spans").text

    browser.get(f"{d.url}/day/{name}/log")
    assert [a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, "article.entry")] == on_day
    assert f"Entries 1–{len(on_day)} of {len(on_day)}" in browser.find_element(By.TAG_NAME, "main").text
    browser.get(f"{d.url}/day/{name}/log?page=2")
    assert not browser.find_elements(By.CSS_SELECTOR, "article.entry")
    assert "no page 2" in browser.find_element(By.TAG_NAME, "main").text

    # Navigation: links (prev/next), then keys (← → j k) through the script.
    browser.get(f"{d.url}/day/{name}")
    before = (day - dt.timedelta(days=1)).isoformat()
    after = (day + dt.timedelta(days=1)).isoformat()
    browser.find_element(By.CSS_SELECTOR, "a[rel=prev]").click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/day/{before}"))
    body_el = browser.find_element(By.TAG_NAME, "body")
    body_el.send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/day/{name}"))
    browser.find_element(By.TAG_NAME, "body").send_keys("j")
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/day/{after}"))
    browser.find_element(By.TAG_NAME, "body").send_keys("k")
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/day/{name}"))
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/day/{before}"))

    # The week holding the day: seven timelines, the same three sessions.
    iso = day.isocalendar()
    browser.get(f"{d.url}/week/{iso.year}-W{iso.week:02d}")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.timeline.week")) == 7
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.timeline.week a.session")) >= 3

    # Search as you type (the script, through /v1/search): results link to
    # their day and session.
    browser.get(f"{d.url}/day/{name}")
    box = browser.find_element(By.ID, "q")
    box.send_keys("standup")
    WebDriverWait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#search-results li.result")
    )
    first = browser.find_element(By.CSS_SELECTOR, "#search-results li.result a")
    href = urllib.parse.urlparse(first.get_attribute("href")).path
    assert href == f"/day/{name}/session/{sessions[1]['id']}", href
    first.click()
    WebDriverWait(browser, 10).until(lambda b: "/session/" in b.current_url)
    assert "standup" in browser.find_element(By.TAG_NAME, "main").text

    # The same search without the script: the form's GET /search page.
    browser.get(f"{d.url}/search?q=standup")
    links = browser.find_elements(By.CSS_SELECTOR, "ol.results li.result a")
    assert any(urllib.parse.urlparse(a.get_attribute("href")).path == f"/day/{name}" for a in links)

    errors = console_errors(browser)
    assert errors == [], errors

    # Last, as it needs the command: the totals `daybook summary` reports.
    summary = d.cli("summary", "--day", name, "--json", check=False)
    if summary.returncode == 2 and "unrecognized subcommand" in summary.stderr:
        pytest.fail("`daybook summary` is missing: the totals were checked against the seed only")
    expected = {a["name"]: a["seconds"] for a in json.loads(summary.stdout)["apps"]}
    assert set(shown) == set(expected), (shown, expected)
    for app, seconds in expected.items():
        assert abs(shown[app] - seconds) <= 1, (app, shown[app], seconds)


def test_the_page_sends_its_security_headers_and_refuses_foreign_hosts(make_daemon):
    d = make_daemon()
    import urllib.request

    with urllib.request.urlopen(d.url + "/", timeout=30) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    req = urllib.request.Request(d.url + "/", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=30)
    assert refused.value.code == 403


def test_with_a_token_a_one_time_link_lets_a_browser_read_and_nothing_more(make_daemon, browser):
    import urllib.error
    import urllib.request

    d = make_daemon(start=False)
    d.data_dir.mkdir(parents=True, exist_ok=True)
    d.token = d.cli("token", "--new").stdout.strip()
    d.start()
    d.post("/v1/events", {"app": "Code", "title": "secret plans"})

    # Without the token or a cookie, the page is refused, in a browser too.
    browser.get(d.url + "/")
    assert "daybook open" in browser.page_source and "Timeline" not in browser.page_source

    link = d.cli("open").stdout.strip()
    assert link.startswith(d.url + "/login?code="), link
    browser.get(link)
    WebDriverWait(browser, 10).until(lambda b: urllib.parse.urlparse(b.current_url).path == "/")
    # Today's open session is drawn live, up to now.
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.timeline a.session.open")) == 1
    assert browser.find_elements(By.CSS_SELECTOR, "svg.timeline line.now")
    # The cookie is HttpOnly: no script can read it.
    assert browser.execute_script("return document.cookie") == ""
    # The search box's fetch to /v1/search passes on the cookie.
    browser.find_element(By.ID, "q").send_keys("secret")
    WebDriverWait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#search-results li.result")
    )

    # The link is spent: a second browser (or an attacker) gets 403.
    req = urllib.request.Request(link)
    with pytest.raises(urllib.error.HTTPError) as spent:
        urllib.request.urlopen(req, timeout=30)
    assert spent.value.code == 403

    # The cookie opens reads only: a write with it is refused.
    cookie = next(c for c in browser.get_cookies() if c["name"] == f"daybook-{d.port}")
    assert cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
    pause = urllib.request.Request(
        d.url + "/v1/pause", data=b"{}", method="POST",
        headers={"Content-Type": "application/json", "Cookie": f"{cookie['name']}={cookie['value']}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(pause, timeout=30)
    assert refused.value.code == 401
    assert d.get("/v1/status")["paused"] is False
    assert console_errors(browser) == [] or all("401" in e["message"] for e in console_errors(browser))
