//! The inline SVG timelines: a day's sessions as bars on a 24-hour axis
//! (23 or 25 hours on a DST day: the axis runs over the day's real
//! instants, from local midnight to the next, and its hour marks are
//! labelled with the local hour at each instant, so `02` shows twice
//! when the clocks go back and `02` is missing when they go forward).
//!
//! Colours are classes of the stylesheet (`c0`..`c11`, one per palette
//! colour), hatching and positions SVG presentation attributes, never
//! `style` attributes, so the page's CSP needs no `'unsafe-inline'`.
//! Every bar carries its text alternative (a `<title>`: app, start, end,
//! length, how it ended), and the page prints the same facts in a table
//! beside it.
//!
//! The markup is kept lean, as a day can hold hundreds of sessions
//! (issue 16: the 300-session day with its assets in 150 KB): whole-unit
//! coordinates (a unit is 90 s on a 24-hour day, finer than a pixel of
//! the drawn width needs), the bars and gaps in a `<g>` moved down to the
//! track so each needs no `y`, a bar's session id only in its link, and
//! the idle gaps one path with one `<title>` (their count and total; each
//! gap's own bounds are the ends and starts of the sessions around it, in
//! the table).

use std::fmt::Write as _;

use daybook_core::{Timestamp, UtcOffset};

use super::html::{esc, url_segment};
use super::model::{Bar, DayModel, PALETTE};
use super::render::{duration, hhmm, reason_text};

/// The width of a timeline's coordinate system, in SVG user units.
pub(crate) const WIDTH: f64 = 960.0;

const HOUR: i64 = 3_600_000;

/// A time axis: `[from, to)` mapped onto `[0, width)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    from: Timestamp,
    to: Timestamp,
    width: f64,
}

impl Axis {
    /// `[from, to)` over `width` units.
    pub(crate) fn new(from: Timestamp, to: Timestamp, width: f64) -> Self {
        Self { from, to, width }
    }

    /// The x of instant `t`, clamped to the axis.
    pub(crate) fn x(&self, t: Timestamp) -> f64 {
        let span = (self.to.0 - self.from.0).max(1) as f64;
        (t.0.clamp(self.from.0, self.to.0) - self.from.0) as f64 / span * self.width
    }
}

/// The hour marks of `[from, to)`: one per elapsed hour from `from`, each
/// labelled with the local hour it reads then (`offset_at` gives the
/// local offset of an instant).
pub(crate) fn hour_marks(
    from: Timestamp,
    to: Timestamp,
    offset_at: &dyn Fn(Timestamp) -> UtcOffset,
) -> Vec<(Timestamp, String)> {
    let mut marks = Vec::new();
    let mut t = from;
    while t < to {
        marks.push((t, t.local(offset_at(t)).format("%H").to_string()));
        t = Timestamp(t.0 + HOUR);
    }
    marks
}

/// The defs every timeline refers to (hatching for idle gaps, recovered
/// sessions and the open session's live tail), once per page.
pub(crate) fn defs() -> &'static str {
    concat!(
        r##"<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>"##,
        r##"<pattern id="idle" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f1f1"/><rect width="2" height="6" fill="#b0b0b0"/></pattern>"##,
        r##"<pattern id="recovered" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><rect width="3" height="8" fill="#ffffff" fill-opacity="0.55"/></pattern>"##,
        r##"<pattern id="live" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="3" height="6" fill="#ffffff" fill-opacity="0.5"/></pattern>"##,
        "</defs></svg>"
    )
}

/// Writes one session bar (a link to the session's view), `h` high, at
/// the top of the group it is written into.
fn bar(out: &mut String, axis: &Axis, b: &Bar, day: &str, h: u32, offset_at: &dyn Fn(Timestamp) -> UtcOffset) {
    let x0 = axis.x(b.start).round();
    // A session of a few seconds still gets a bar one can see and click.
    let w = (axis.x(b.end).round() - x0).max(2.0);
    let class = match (b.open, b.recovered()) {
        (true, _) => "session open",
        (false, true) => "session recovered",
        (false, false) => "session",
    };
    let _ = write!(
        out,
        r#"<a href="/day/{day}/session/{id}" class="{class}"><title>{app} {from}–{to} ({len}), {why}{rec}</title><rect class="c{c}" x="{x0}" width="{w}" height="{h}"/>"#,
        id = url_segment(&b.id),
        app = esc(&b.main_app),
        from = hhmm(b.start, offset_at),
        to = hhmm(b.end, offset_at),
        len = duration(b.end.0 - b.start.0),
        why = if b.open {
            "open, still running".to_owned()
        } else {
            reason_text(b.reason)
        },
        rec = if b.recovered() {
            " — recovered after a crash: its end is an estimate"
        } else {
            ""
        },
        c = b.colour,
    );
    if b.recovered() {
        let _ = write!(
            out,
            r##"<rect x="{x0}" width="{w}" height="{h}" fill="url(#recovered)" stroke="#b00020" stroke-width="2" stroke-dasharray="4 2"/><path class="mark" d="M{mx} -1l5 -8l5 8z" fill="#b00020"/>"##,
            mx = x0 + (w / 2.0).round() - 5.0,
        );
    }
    if b.open {
        let _ = write!(
            out,
            r#"<rect x="{x0}" width="{w}" height="{h}" fill="url(#live)" stroke="{c}" stroke-width="2"/>"#,
            c = PALETTE[b.colour]
        );
    }
    out.push_str("</a>");
}

/// The day's timeline: idle gaps, session bars, the open session drawn
/// up to now, a "now" line on today, and the hour axis.
pub(crate) fn day(out: &mut String, m: &DayModel, offset_at: &dyn Fn(Timestamp) -> UtcOffset) {
    let axis = Axis::new(m.from, m.to, WIDTH);
    let day = m.day_name();
    let hours = (m.to.0 - m.from.0) / HOUR;
    let _ = write!(
        out,
        r#"<svg class="timeline" viewBox="0 0 {WIDTH} 70" role="group" aria-label="Timeline of {day}, {hours} hours: {n} session{s}">"#,
        n = m.bars.len(),
        s = if m.bars.len() == 1 { "" } else { "s" },
    );
    let _ = write!(
        out,
        r#"<rect class="track" x="0" y="12" width="{WIDTH}" height="32"/><g transform="translate(0 12)">"#
    );
    if !m.gaps.is_empty() {
        let total: i64 = m.gaps.iter().map(|g| g.to.0 - g.from.0).sum();
        let _ = write!(
            out,
            r#"<g class="gaps" fill="url(#idle)"><title>no activity (idle or away): {n} gap{s} between sessions, {d} in all</title>"#,
            n = m.gaps.len(),
            s = if m.gaps.len() == 1 { "" } else { "s" },
            d = duration(total),
        );
        out.push_str(r#"<path d=""#);
        for g in &m.gaps {
            let x0 = axis.x(g.from).round();
            let w = axis.x(g.to).round() - x0;
            if w > 0.0 {
                let _ = write!(out, "M{x0} 0h{w}v32h-{w}z");
            }
        }
        out.push_str(r#""/></g>"#);
    }
    for b in &m.bars {
        bar(out, &axis, b, &day, 32, offset_at);
    }
    out.push_str("</g>");
    if (m.from..m.to).contains(&m.now) {
        let x = axis.x(m.now);
        let _ = write!(
            out,
            r#"<line class="now" x1="{x:.0}" x2="{x:.0}" y1="4" y2="48"><title>now, {}</title></line>"#,
            hhmm(m.now, offset_at)
        );
    }
    for (t, label) in hour_marks(m.from, m.to, offset_at) {
        let x = axis.x(t);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{x:.0}" x2="{x:.0}" y1="44" y2="50"/><text x="{tx:.0}" y="62">{label}</text>"#,
            tx = x + 2.0
        );
    }
    out.push_str("</svg>");
}

/// One day's row of the week view: bars only, scaled so that an hour has
/// the same width on every row (a 25-hour day is a longer row).
pub(crate) fn week_row(out: &mut String, m: &DayModel, hour_width: f64, offset_at: &dyn Fn(Timestamp) -> UtcOffset) {
    let width = (m.to.0 - m.from.0) as f64 / HOUR as f64 * hour_width;
    let axis = Axis::new(m.from, m.to, width);
    let day = m.day_name();
    let full = 25.0 * hour_width;
    let _ = write!(
        out,
        r#"<svg class="timeline week" viewBox="0 0 {full:.0} 34" role="group" aria-label="Timeline of {day}: {n} session{s}"><rect class="track" x="0" y="8" width="{width:.0}" height="18"/><g transform="translate(0 8)">"#,
        n = m.bars.len(),
        s = if m.bars.len() == 1 { "" } else { "s" },
    );
    for b in &m.bars {
        bar(out, &axis, b, &day, 18, offset_at);
    }
    out.push_str("</g>");
    for (t, _) in hour_marks(m.from, m.to, offset_at).iter().step_by(6) {
        let x = axis.x(*t);
        let _ = write!(out, r#"<line class="tick" x1="{x:.0}" x2="{x:.0}" y1="26" y2="30"/>"#);
    }
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Europe/Berlin around the 2026 changes: CEST (+2) from
    /// 2026-03-29T01:00Z, back to CET (+1) at 2026-10-25T01:00Z.
    fn berlin(t: Timestamp) -> UtcOffset {
        let spring = 1_774_746_000_000; // 2026-03-29T01:00Z
        let autumn = 1_792_890_000_000; // 2026-10-25T01:00Z
        if (spring..autumn).contains(&t.0) {
            UtcOffset(7200)
        } else {
            UtcOffset(3600)
        }
    }

    #[test]
    fn a_dst_day_has_23_or_25_hour_marks_labelled_in_local_time() {
        // 2026-03-29 local midnight is 2026-03-28T23:00Z; the next is
        // 2026-03-29T22:00Z: 23 hours, and 02 never happens.
        let spring = hour_marks(Timestamp(1_774_738_800_000), Timestamp(1_774_821_600_000), &berlin);
        assert_eq!(spring.len(), 23);
        let labels: Vec<&str> = spring.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(&labels[..4], ["00", "01", "03", "04"]);
        // 2026-10-25: 2026-10-24T22:00Z to 2026-10-25T23:00Z, 25 hours, 02 twice.
        let autumn = hour_marks(Timestamp(1_792_879_200_000), Timestamp(1_792_969_200_000), &berlin);
        assert_eq!(autumn.len(), 25);
        let labels: Vec<&str> = autumn.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(&labels[..5], ["00", "01", "02", "02", "03"]);
        assert_eq!(labels[24], "23");
    }

    #[test]
    fn the_axis_maps_instants_linearly_and_clamps() {
        let a = Axis::new(Timestamp(1000), Timestamp(2000), 100.0);
        assert!((a.x(Timestamp(1500)) - 50.0).abs() < 1e-9);
        assert!(a.x(Timestamp(0)).abs() < 1e-9);
        assert!((a.x(Timestamp(9000)) - 100.0).abs() < 1e-9);
    }
}
