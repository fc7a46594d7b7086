//! The page's HTML, written by hand into one `String` per response: a
//! shell (head, navigation, search form), the day, session and week
//! views, and search results. Every captured string goes through
//! [`super::html::esc`]; numbers, dates and colours are ours.
//!
//! The markup needs no script: links carry `rel="prev"`/`rel="next"` and
//! `accesskey`s (`p`, `n`, `t`, `w`, `s`), forms submit, tables carry the
//! facts the bars draw. `/assets/page.js` only adds keys (←/→, j/k, t,
//! /), a live refresh of today (every 30 s) and search as you type.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use daybook_core::aggregate::{GapKind, Total, Totals};
use daybook_core::{EndReason, Entry, Timestamp, UtcOffset};

use super::html::{esc, esc_lines, url_segment};
use super::model::{DayModel, SessionModel, WeekModel, colour, colour_index};
use super::timeline;

/// An instant as `HH:MM` in the local time of that instant.
pub(crate) fn hhmm(t: Timestamp, offset_at: &dyn Fn(Timestamp) -> UtcOffset) -> String {
    t.hhmm(offset_at(t))
}

/// A duration as people write it (`1 h 28 min`, `45 s`): the aggregation's
/// own wording, so the page and the day log agree.
pub(crate) fn duration(millis: i64) -> String {
    daybook_core::aggregate::human_duration(millis)
}

/// An offset as `UTC+01:00`.
pub(crate) fn offset_name(o: UtcOffset) -> String {
    let sign = if o.0 < 0 { '-' } else { '+' };
    let s = o.0.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// Why a session ended, in words.
pub(crate) fn reason_text(reason: Option<EndReason>) -> String {
    match reason {
        None => "open".to_owned(),
        Some(EndReason::IdleGap) => "ended: idle gap".to_owned(),
        Some(EndReason::SoftCut) => "ended: one app held after switching (soft cut)".to_owned(),
        Some(EndReason::Timeout) => "ended: maximum session length".to_owned(),
        Some(EndReason::Shutdown) => "ended: daemon stopped".to_owned(),
        Some(EndReason::DailySafetyNet) => "ended: daily safety net".to_owned(),
        Some(EndReason::Paused) => "ended: capture paused".to_owned(),
        Some(EndReason::Recovered) => "recovered after a crash".to_owned(),
        Some(EndReason::Imported) => "ended in another tool (imported)".to_owned(),
        Some(EndReason::Late) => "replayed late, placed where it happened".to_owned(),
    }
}

/// Where the page's parts link to.
pub(crate) struct Nav {
    /// The previous day or week, `(href, text)`.
    pub prev: (String, String),
    /// The next one.
    pub next: (String, String),
    /// Today's date.
    pub today: NaiveDate,
    /// The week holding what is shown, `(href, text)`.
    pub week: (String, String),
}

/// The document around a view: CSP-friendly head (one stylesheet, one
/// script, both from `/assets`), navigation, search form.
pub(crate) fn shell(title: &str, live: bool, nav: Option<&Nav>, query: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        concat!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
            "<title>{title} · daybook</title>",
            "<link rel=\"stylesheet\" href=\"/assets/page.css\">",
            "<link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\">",
            "<script src=\"/assets/page.js\" defer></script></head>",
            "<body data-live=\"{live}\"><a class=\"skip\" href=\"#main\">Skip to content</a><header><nav aria-label=\"Days\">",
        ),
        title = esc(title),
        live = u8::from(live),
    );
    out.push_str("<a class=\"brand\" href=\"/\">daybook</a>");
    if let Some(n) = nav {
        let _ = write!(
            out,
            concat!(
                "<a rel=\"prev\" accesskey=\"p\" href=\"{}\">← {}</a>",
                "<a href=\"/\" accesskey=\"t\">Today ({})</a>",
                "<a rel=\"next\" accesskey=\"n\" href=\"{}\">{} →</a>",
                "<a accesskey=\"w\" href=\"{}\">{}</a>"
            ),
            n.prev.0,
            n.prev.1,
            n.today.format("%Y-%m-%d"),
            n.next.0,
            n.next.1,
            n.week.0,
            n.week.1
        );
    }
    let _ = write!(
        out,
        concat!(
            "</nav><form role=\"search\" action=\"/search\" method=\"get\" id=\"search\">",
            "<label for=\"q\">Search</label> <input type=\"search\" id=\"q\" name=\"q\" accesskey=\"s\" ",
            "value=\"{}\" autocomplete=\"off\" placeholder=\"words, &quot;a phrase&quot;, pref*\">",
            " <button type=\"submit\">Search</button></form>",
            "<div id=\"search-results\" aria-live=\"polite\"></div></header>",
            "<main id=\"main\">"
        ),
        esc(query)
    );
    out.push_str(timeline::defs());
    out.push_str(body);
    out.push_str(concat!(
        "</main><footer><p>Keys: ← or k previous, → or j next, t today, / search ",
        "(without script: the links' access keys p, n, t, w, s).</p></footer></body></html>"
    ));
    out
}

/// The day view's navigation.
pub(crate) fn day_nav(day: NaiveDate, today: NaiveDate) -> Nav {
    let prev = day.pred_opt().unwrap_or(day);
    let next = day.succ_opt().unwrap_or(day);
    let iso = day.iso_week();
    Nav {
        prev: (
            format!("/day/{}", prev.format("%Y-%m-%d")),
            prev.format("%a %d %b").to_string(),
        ),
        next: (
            format!("/day/{}", next.format("%Y-%m-%d")),
            next.format("%a %d %b").to_string(),
        ),
        today,
        week: (
            format!("/week/{}-W{:02}", iso.year(), iso.week()),
            format!("Week {}", iso.week()),
        ),
    }
}

/// The offsets a day was shown in: `UTC+01:00`, or on a DST day
/// `UTC+02:00 → UTC+01:00, a 25-hour day`.
fn offsets_line(m: &DayModel) -> String {
    let names: Vec<String> = m.offsets.iter().map(|o| offset_name(*o)).collect();
    let hours = (m.to.0 - m.from.0) as f64 / 3_600_000.0;
    if names.len() > 1 {
        format!("Local time, {} (a {hours}-hour day)", names.join(" → "))
    } else {
        format!("Local time, {}", names.join(""))
    }
}

/// Bars for a list of totals: a table (name, bar, time) with the exact
/// milliseconds in `data-ms`, longest first, at most `limit` rows.
fn totals_table(out: &mut String, caption: &str, class: &str, totals: &[Total], coloured: bool, limit: usize) {
    let _ = write!(out, "<table class=\"totals {class}\"><caption>{caption}</caption>");
    if totals.is_empty() {
        out.push_str("<tr><td>nothing recorded</td></tr></table>");
        return;
    }
    out.push_str("<thead><tr><th scope=\"col\">name</th><th scope=\"col\"><span class=\"sr\">share</span></th><th scope=\"col\">time</th></tr></thead><tbody>");
    let max = totals.iter().map(|t| t.millis).max().unwrap_or(1).max(1);
    for t in totals.iter().take(limit) {
        let w = t.millis as f64 / max as f64 * 100.0;
        let fill = if coloured { colour(&t.name) } else { "#455a64" };
        let _ = write!(
            out,
            concat!(
                "<tr data-name=\"{n}\" data-ms=\"{ms}\"><th scope=\"row\">{n}</th>",
                "<td class=\"bar\"><svg viewBox=\"0 0 100 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\" focusable=\"false\">",
                "<rect width=\"{w:.2}\" height=\"10\" fill=\"{fill}\"/></svg></td><td class=\"num\">{d}</td></tr>"
            ),
            n = esc(&t.name),
            ms = t.millis,
            d = duration(t.millis),
            w = w,
            fill = fill,
        );
    }
    out.push_str("</tbody></table>");
    if totals.len() > limit {
        let _ = write!(out, "<p class=\"more\">and {} more</p>", totals.len() - limit);
    }
}

fn titles_table(out: &mut String, totals: &Totals, limit: usize) {
    out.push_str("<table class=\"titles\"><caption>Top window titles</caption>");
    if totals.titles.is_empty() {
        out.push_str("<tr><td>no titles recorded</td></tr></table>");
        return;
    }
    out.push_str("<thead><tr><th scope=\"col\">title</th><th scope=\"col\">app</th><th scope=\"col\">time</th></tr></thead><tbody>");
    for t in totals.titles.iter().take(limit) {
        let _ = write!(
            out,
            "<tr data-ms=\"{}\"><td class=\"title\">{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            t.millis,
            esc(&t.title),
            esc(&t.app),
            duration(t.millis)
        );
    }
    out.push_str("</tbody></table>");
}

fn entry(out: &mut String, e: &Entry, day: &str, offset_at: &dyn Fn(Timestamp) -> UtcOffset, link: bool) {
    let _ = write!(
        out,
        "<article class=\"entry\" id=\"entry-{id}\"><h3>{from}–{to} · {kind}",
        id = e.id,
        from = hhmm(e.from, offset_at),
        to = hhmm(e.to, offset_at),
        kind = e.kind.as_str(),
    );
    if link {
        let _ = write!(
            out,
            " · <a href=\"/day/{day}/session/{}\">session</a>",
            url_segment(&e.session_id.0)
        );
    }
    let _ = write!(out, "</h3><pre>{}</pre></article>", esc_lines(&e.body));
}

/// The day view's body.
pub(crate) fn day(m: &DayModel, offset_at: &dyn Fn(Timestamp) -> UtcOffset) -> String {
    let mut out = String::with_capacity(16 * 1024 + m.bars.len() * 700);
    let name = m.day_name();
    let agg = &m.aggregate;
    let _ = write!(
        out,
        "<h1>{}</h1><p class=\"meta\">{} · active {} · idle or away {}{}</p>",
        m.day.format("%A %-d %B %Y"),
        offsets_line(m),
        duration(agg.active_millis),
        duration(agg.idle_millis),
        if agg.paused_millis > 0 {
            format!(" · paused {}", duration(agg.paused_millis))
        } else {
            String::new()
        }
    );
    out.push_str("<section id=\"live\" aria-label=\"Timeline\">");
    timeline::day(&mut out, m, offset_at);
    legend(&mut out, m);
    out.push_str("</section>");
    // The table alternative to the timeline, and the way in to each
    // session. One row per session, so its rows are written lean: HTML's
    // optional `</td>` and `</tr>` left out, the active column aligned by
    // the stylesheet rather than a class on each cell.
    let _ = write!(
        out,
        "<section aria-labelledby=\"h-sessions\"><h2 id=\"h-sessions\">Sessions ({})</h2>",
        m.bars.len()
    );
    if m.bars.is_empty() {
        out.push_str("<p>No sessions on this day.</p>");
    } else {
        out.push_str(concat!(
            "<table class=\"sessions\"><thead><tr><th scope=\"col\">start</th><th scope=\"col\">end</th>",
            "<th scope=\"col\">active</th><th scope=\"col\">main app</th><th scope=\"col\">how it ended</th></tr></thead><tbody>"
        ));
        for b in &m.bars {
            let class = if b.recovered() {
                " class=\"recovered\""
            } else if b.open {
                " class=\"open\""
            } else {
                ""
            };
            let _ = write!(
                out,
                concat!(
                    "<tr{class} id=\"session-{sid}\"><td><a href=\"/day/{day}/session/{id}\">{start}</a><td>{end}",
                    "<td>{active}<td><i class=\"sw c{c}\"></i>{app}<td>{reason}"
                ),
                class = class,
                sid = esc(&b.id),
                day = name,
                id = url_segment(&b.id),
                start = hhmm(b.start, offset_at),
                end = if b.open {
                    "now (open)".to_owned()
                } else {
                    hhmm(b.end, offset_at)
                },
                active = duration(b.active_millis),
                c = b.colour,
                app = esc(&b.main_app),
                reason = if b.recovered() {
                    "<strong class=\"warn\">⚠ recovered after a crash</strong> (end estimated)".to_owned()
                } else {
                    reason_text(b.reason)
                },
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str(
        "</section><section aria-labelledby=\"h-time\" class=\"cols\"><h2 id=\"h-time\">Where the time went</h2>",
    );
    totals_table(&mut out, "Time per app", "apps", &agg.totals.apps, true, 15);
    totals_table(
        &mut out,
        "Time per web domain",
        "domains",
        &agg.totals.domains,
        false,
        15,
    );
    titles_table(&mut out, &agg.totals, 10);
    out.push_str("</section>");
    day_log(&mut out, &m.entries, &name, offset_at);
    out
}

/// The day view's log section: the count of the day's entries, the
/// latest [`DAY_LOG`] of them in order, and when there are more, links
/// to the pages of the whole log.
fn day_log(out: &mut String, entries: &[Entry], name: &str, offset_at: &dyn Fn(Timestamp) -> UtcOffset) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"h-log\"><h2 id=\"h-log\">Log ({} entr{})</h2>",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    );
    if entries.is_empty() {
        out.push_str("<p>No log entries for this day yet (a session is written to the log as it ends, and every five minutes while it runs).</p>");
    }
    let shown = &entries[entries.len().saturating_sub(DAY_LOG)..];
    if shown.len() < entries.len() {
        let _ = write!(
            out,
            "<p class=\"meta\">The latest {} below, from {}; all {} in order on the day's log, {LOG_PAGE} a page: ",
            shown.len(),
            shown.first().map_or_else(String::new, |e| hhmm(e.from, offset_at)),
            entries.len(),
        );
        log_pages(out, name, entries.len(), None);
        out.push_str("</p>");
    }
    for e in shown {
        entry(out, e, name, offset_at, true);
    }
    out.push_str("</section>");
}

/// How many log entries the day view shows: its latest (what today's
/// live view is for). A busy day's whole log is on its own pages
/// ([`log`]), so the day view stays small however many sessions a day
/// holds (issue 16: 150 KB with its assets for 300 sessions), and every
/// session's own entries are one click away on its view.
pub(crate) const DAY_LOG: usize = 25;

/// Log entries a page of `/day/D/log` shows.
pub(crate) const LOG_PAGE: usize = 100;

/// Links to each page of a day's log of `n` entries (`current` marked).
fn log_pages(out: &mut String, day: &str, n: usize, current: Option<usize>) {
    let pages = n.div_ceil(LOG_PAGE).max(1);
    for p in 1..=pages {
        if Some(p) == current {
            let _ = write!(
                out,
                "<a aria-current=\"page\" href=\"/day/{day}/log?page={p}\">page {p}</a> "
            );
        } else {
            let _ = write!(out, "<a href=\"/day/{day}/log?page={p}\">page {p}</a> ");
        }
    }
}

/// One page (1-based) of a day's log, `entries` sorted by window start:
/// entries `LOG_PAGE * (page - 1)` on, with links to every page. A page
/// past the end says so and links to the pages there are.
pub(crate) fn log(
    day: NaiveDate,
    entries: &[Entry],
    page: usize,
    offset_at: &dyn Fn(Timestamp) -> UtcOffset,
) -> String {
    let name = day.format("%Y-%m-%d").to_string();
    let mut out = String::with_capacity(LOG_PAGE * 1024);
    let first = LOG_PAGE * page.saturating_sub(1);
    let on_page = entries
        .get(first..)
        .map_or(&[][..], |rest| &rest[..rest.len().min(LOG_PAGE)]);
    let _ = write!(
        out,
        "<p><a href=\"/day/{name}\">← back to {name}</a></p><h1>Log of {}</h1><p class=\"meta\">",
        day.format("%A %-d %B %Y"),
    );
    if on_page.is_empty() {
        let _ = write!(
            out,
            "{} entr{} this day; no page {page}. ",
            entries.len(),
            if entries.len() == 1 { "y" } else { "ies" }
        );
    } else {
        let _ = write!(
            out,
            "Entries {}–{} of {}, in order. ",
            first + 1,
            first + on_page.len(),
            entries.len()
        );
    }
    out.push_str("</p><nav aria-label=\"Log pages\" class=\"pages\">");
    log_pages(&mut out, &name, entries.len(), Some(page));
    out.push_str("</nav>");
    for e in on_page {
        entry(&mut out, e, &name, offset_at, true);
    }
    out
}

/// The colours in use and what hatching means.
fn legend(out: &mut String, m: &DayModel) {
    let mut apps: Vec<&str> = m.bars.iter().map(|b| b.main_app.as_str()).collect();
    apps.sort_unstable();
    apps.dedup();
    out.push_str("<ul class=\"legend\">");
    for app in apps {
        let _ = write!(out, "<li><i class=\"sw c{}\"></i>{}</li>", colour_index(app), esc(app));
    }
    out.push_str(concat!(
        "<li><svg viewBox=\"0 0 10 10\" aria-hidden=\"true\" focusable=\"false\"><rect width=\"10\" height=\"10\" fill=\"url(#idle)\"/></svg>idle or away</li>",
        "<li><svg viewBox=\"0 0 10 10\" aria-hidden=\"true\" focusable=\"false\"><rect width=\"10\" height=\"10\" fill=\"#888\"/><rect width=\"10\" height=\"10\" fill=\"url(#recovered)\" stroke=\"#b00020\" stroke-width=\"2\"/></svg>recovered after a crash</li>",
        "<li><svg viewBox=\"0 0 10 10\" aria-hidden=\"true\" focusable=\"false\"><rect width=\"10\" height=\"10\" fill=\"#888\"/><rect width=\"10\" height=\"10\" fill=\"url(#live)\"/></svg>open, drawn live</li>",
        "</ul>"
    ));
    if m.gaps.iter().any(|g| g.kind == GapKind::Paused) {
        out.push_str("<p class=\"meta\">Hatched gaps after a pause are paused time.</p>");
    }
}

/// A session's own view: what it was, its spans, blocks and entries.
pub(crate) fn session(m: &SessionModel, day: NaiveDate, offset_at: &dyn Fn(Timestamp) -> UtcOffset) -> String {
    let s = &m.session;
    let name = day.format("%Y-%m-%d").to_string();
    let mut out = String::with_capacity(8 * 1024);
    let end = s.phase.end();
    let _ = write!(
        out,
        "<p><a href=\"/day/{name}#session-{sid}\">← back to {name}</a></p><h1>Session {start}–{end}</h1>",
        sid = esc(&s.id.0),
        start = hhmm(s.start, offset_at),
        end = end.map_or_else(|| "now".to_owned(), |e| hhmm(e, offset_at)),
    );
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>id</dt><dd><code>{}</code></dd><dt>status</dt><dd>{}</dd><dt>how it ended</dt><dd>{}</dd><dt>offset</dt><dd>{}</dd>",
        esc(&s.id.0),
        s.phase.status(),
        if m.open {
            "still open".to_owned()
        } else if s.phase.reason() == Some(EndReason::Recovered) {
            "<strong class=\"warn\">⚠ recovered after a crash</strong>: the daemon was killed while it was open; its end is the last evidence found".to_owned()
        } else {
            reason_text(s.phase.reason())
        },
        offset_name(s.offset),
    );
    if let Some(a) = &m.aggregate {
        let _ = write!(
            out,
            "<dt>active</dt><dd>{}</dd><dt>events</dt><dd>{}</dd><dt>app switches</dt><dd>{}</dd>",
            duration(a.active_millis),
            a.events,
            a.switches
        );
    }
    out.push_str("</dl>");
    if let Some(a) = &m.aggregate {
        out.push_str("<section class=\"cols\" aria-label=\"Time in this session\">");
        totals_table(&mut out, "Time per app", "apps", &a.totals.apps, true, 15);
        totals_table(&mut out, "Time per web domain", "domains", &a.totals.domains, false, 15);
        out.push_str("</section><h2>What happened, merged</h2><table class=\"spans\"><thead><tr><th scope=\"col\">from</th><th scope=\"col\">to</th><th scope=\"col\">time</th><th scope=\"col\">app</th><th scope=\"col\">title</th><th scope=\"col\">url</th></tr></thead><tbody>");
        for sp in &a.spans {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"title\">{}</td><td class=\"url\">{}</td></tr>",
                hhmm(sp.from, offset_at),
                hhmm(sp.to, offset_at),
                duration(sp.millis()),
                esc(&sp.context.app),
                esc(sp.context.title.as_deref().unwrap_or("")),
                esc(sp.context.url.as_deref().unwrap_or("")),
            );
        }
        out.push_str("</tbody></table>");
    }
    let _ = write!(out, "<h2>Blocks ({})</h2>", m.blocks.len());
    if !m.blocks.is_empty() {
        out.push_str("<table class=\"blocks\"><thead><tr><th scope=\"col\">minute</th><th scope=\"col\">captures</th><th scope=\"col\">apps</th><th scope=\"col\">what was seen</th><th scope=\"col\">in the log</th></tr></thead><tbody>");
        for b in &m.blocks {
            let _ = write!(
                out,
                "<tr><td>{}–{}</td><td class=\"num\">{}</td><td>{}</td><td><ul class=\"lines\">",
                hhmm(b.start, offset_at),
                hhmm(b.end, offset_at),
                b.capture_count,
                esc(&b.apps.join(", "))
            );
            for l in &b.lines {
                let _ = write!(out, "<li>{}</li>", esc(l));
            }
            let _ = write!(
                out,
                "</ul></td><td>{}</td></tr>",
                b.covered_by.map_or_else(
                    || "not yet".to_owned(),
                    |id| format!("<a href=\"#entry-{id}\">entry {id}</a>")
                )
            );
        }
        out.push_str("</tbody></table>");
    }
    let _ = write!(out, "<h2>Log entries ({})</h2>", m.entries.len());
    for e in &m.entries {
        entry(&mut out, e, &name, offset_at, false);
    }
    out
}

/// The week view's body: seven timelines and the week's totals.
pub(crate) fn week(m: &WeekModel, offset_at: &dyn Fn(Timestamp) -> UtcOffset) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<h1>Week {} of {}</h1><p class=\"meta\">Local time · active {}</p><section aria-label=\"Seven timelines\"><table class=\"week\"><tbody>",
        m.week,
        m.year,
        duration(m.active_millis)
    );
    // One hour is as wide on every row: a 25-hour day draws longer.
    let hour_width = timeline::WIDTH / 25.0;
    for d in &m.days {
        let name = d.day_name();
        let _ = write!(
            out,
            "<tr><th scope=\"row\"><a href=\"/day/{name}\">{}</a><br><span class=\"meta\">{} · {} session{}</span></th><td>",
            d.day.format("%a %-d %b"),
            duration(d.aggregate.active_millis),
            d.bars.len(),
            if d.bars.len() == 1 { "" } else { "s" },
        );
        timeline::week_row(&mut out, d, hour_width, offset_at);
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></section><section class=\"cols\" aria-label=\"The week's time\">");
    totals_table(&mut out, "Time per app", "apps", &m.totals.apps, true, 20);
    totals_table(&mut out, "Time per web domain", "domains", &m.totals.domains, false, 15);
    titles_table(&mut out, &m.totals, 10);
    out.push_str("</section>");
    out
}

/// The week view's navigation.
pub(crate) fn week_nav(monday: NaiveDate, today: NaiveDate) -> Nav {
    let name = |d: NaiveDate| {
        let w = d.iso_week();
        (
            format!("/week/{}-W{:02}", w.year(), w.week()),
            format!("week {}", w.week()),
        )
    };
    let prev = monday - chrono::Days::new(7);
    let next = monday + chrono::Days::new(7);
    Nav {
        prev: name(prev),
        next: name(next),
        today,
        week: (format!("/day/{}", monday.format("%Y-%m-%d")), "Monday".to_owned()),
    }
}

/// Search results: each links to its session's view and to its day.
pub(crate) fn search(query: &str, answer: Option<&crate::recall::SearchAnswer>) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(out, "<h1>Search</h1>");
    let Some(a) = answer else {
        out.push_str("<p>Type words, \"a phrase\" or a prefix like tok* in the box above.</p>");
        return out;
    };
    let _ = write!(
        out,
        "<p class=\"meta\">{} result{} for “{}” (times in UTC{})</p><ol class=\"results\">",
        a.results.len(),
        if a.results.len() == 1 { "" } else { "s" },
        esc(query),
        esc(&a.utc_offset)
    );
    for hit in &a.results {
        let day = hit.time.get(..10).unwrap_or("");
        let day_ok = daybook_core::daylog::parse_day_name(day).is_some();
        out.push_str("<li class=\"result\">");
        let what = format!(
            "{} · {}{}",
            hit.time,
            hit.app.as_deref().unwrap_or(&hit.kind),
            hit.title.as_deref().map(|t| format!(" — {t}")).unwrap_or_default()
        );
        if day_ok {
            let _ = write!(
                out,
                "<a href=\"/day/{day}/session/{}\">{}</a> <a href=\"/day/{day}\">(day)</a>",
                url_segment(&hit.session_id),
                esc(&what)
            );
        } else {
            let _ = write!(out, "{}", esc(&what));
        }
        out.push_str("<span class=\"snippet\">");
        // The API marks matches between `**`; here they become <mark>,
        // the text between them escaped like any captured text.
        for (i, part) in hit.snippet.split("**").enumerate() {
            if i % 2 == 1 {
                let _ = write!(out, "<mark>{}</mark>", esc(part));
            } else {
                let _ = write!(out, "{}", esc(part));
            }
        }
        out.push_str("</span></li>");
    }
    out.push_str("</ol>");
    out
}

/// An error page: what was wrong, in words, with a way back.
pub(crate) fn problem(message: &str) -> String {
    format!("<h1>Not here</h1><p>{}</p><p><a href=\"/\">Today</a></p>", esc(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: u64) -> Vec<Entry> {
        (1..=n)
            .map(|i| Entry {
                id: i,
                session_id: daybook_core::SessionId(format!("s{i}")),
                kind: daybook_core::EntryKind::Final,
                from: Timestamp(i as i64 * 60_000),
                to: Timestamp(i as i64 * 60_000 + 30_000),
                offset: UtcOffset(0),
                body: format!("## entry {i}\n<b>typed {i}</b>"),
            })
            .collect()
    }

    fn utc(_: Timestamp) -> UtcOffset {
        UtcOffset(0)
    }

    fn article_ids(html: &str) -> Vec<u64> {
        html.split("<article class=\"entry\" id=\"entry-")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect()
    }

    #[test]
    fn a_day_shows_its_whole_log_up_to_the_cap_then_the_latest_and_links_to_every_page() {
        let mut out = String::new();
        day_log(&mut out, &entries(DAY_LOG as u64), "2026-11-29", &utc);
        assert_eq!(article_ids(&out), (1..=DAY_LOG as u64).collect::<Vec<_>>());
        assert!(!out.contains("/log?page="), "no pages when all is shown");

        let n = 2 * LOG_PAGE as u64 + 1;
        let mut out = String::new();
        day_log(&mut out, &entries(n), "2026-11-29", &utc);
        let latest: Vec<u64> = (n + 1 - DAY_LOG as u64..=n).collect();
        assert_eq!(article_ids(&out), latest);
        assert!(out.contains(&format!("Log ({n} entries)")));
        for p in 1..=3 {
            assert!(
                out.contains(&format!("href=\"/day/2026-11-29/log?page={p}\"")),
                "page {p}"
            );
        }
        assert!(!out.contains("log?page=4"));
        assert!(
            out.contains("&lt;b&gt;typed") && !out.contains("<b>"),
            "bodies are text"
        );
    }

    #[test]
    fn the_log_pages_hold_every_entry_once_in_order() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let all = entries(2 * LOG_PAGE as u64 + 7);
        let mut seen = Vec::new();
        for page in 1..=3 {
            let html = log(day, &all, page, &utc);
            assert!(html.contains(&format!(
                "aria-current=\"page\" href=\"/day/2026-11-29/log?page={page}\""
            )));
            seen.extend(article_ids(&html));
        }
        assert_eq!(seen, (1..=all.len() as u64).collect::<Vec<_>>());
        let past = log(day, &all, 4, &utc);
        assert!(article_ids(&past).is_empty() && past.contains("no page 4"), "{past}");
        let none = log(day, &[], 1, &utc);
        assert!(none.contains("0 entries this day"), "{none}");
    }

    #[test]
    fn offsets_are_named_with_sign_hours_and_minutes() {
        assert_eq!(offset_name(UtcOffset(3600)), "UTC+01:00");
        assert_eq!(offset_name(UtcOffset(-9000)), "UTC-02:30");
        assert_eq!(offset_name(UtcOffset(19800)), "UTC+05:30");
        assert_eq!(offset_name(UtcOffset(0)), "UTC+00:00");
    }
}
