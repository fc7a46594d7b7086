//! The per-day Markdown log, `event-YYYY-MM-DD.md`: a pure projection of
//! the day's entries. The daemon writes it; the oracle re-renders it to
//! check that the file on disk is exactly this.

use chrono::NaiveDate;

use crate::reduction::Entry;
use crate::text;

/// A day as daybook names it everywhere: `YYYY-MM-DD` (file names, the
/// database's `day` column, the API, the command line).
pub fn day_name(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Parses [`day_name`]'s format, strictly: four-digit year, two-digit
/// month and day, nothing else (chrono's `%Y` alone also takes `-0001` or
/// `+10000`).
pub fn parse_day_name(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()).flatten()
}

/// The first day a user or client may ask for: no event is before 1970
/// (SPEC §2), so an earlier day could only ever be empty.
pub const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");

/// A day asked for by name (the API's `/v1/days/…`, `daybook show`):
/// [`parse_day_name`], and not before [`FIRST_DAY`]. Days read back from
/// the database use [`parse_day_name`] alone, so a row is never called
/// corrupt for its date.
pub fn parse_asked_day(s: &str) -> Option<NaiveDate> {
    parse_day_name(s).filter(|day| *day >= FIRST_DAY)
}

/// The file name of a day's log.
pub fn file_name(day: NaiveDate) -> String {
    format!("event-{}.md", day_name(day))
}

/// Renders one day's log from its entries, whatever order they come in:
/// entries sorted by window start, then commit order.
///
/// Each body passes [`neutral_body`] on its way in. Entries built by this
/// daybook are neutral already ([`crate::reduction::render_entry`]) and
/// pass unchanged; an entry an older daybook stored with raw captured text
/// in it renders with every such line made inert, so no database, old or
/// new, can put a second heading, a fake entry or a control character into
/// a day file, `daybook show` or the API (SPEC §12). Its text may still
/// span several lines: only a rebuild of the entry could join them.
pub fn render_day(day: NaiveDate, entries: &[&Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().copied().filter(|e| e.day() == day).collect();
    sorted.sort_by_key(|e| (e.from, e.id));
    let mut out = format!("# daybook — {}\n", day_name(day));
    for e in sorted {
        out.push('\n');
        out.push_str(&neutral_body(&e.body));
    }
    out
}

/// An entry body with only its first line able to be a heading: that
/// line keeps its text (controls removed, see [`text::inline`]); every
/// other line is blank, a list item `- ` followed by [`text::line`], or
/// [`text::line`]. Line breaks are split on `\n` only; the others are
/// inside lines and [`text::inline`] flattens them.
pub fn neutral_body(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if i == 0 {
            out.push_str(&text::inline(line));
        } else if let Some(item) = line.strip_prefix("- ") {
            out.push_str("- ");
            out.push_str(&text::line(item));
        } else {
            out.push_str(&text::line(line));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reduction::EntryKind;
    use crate::time::{Timestamp, UtcOffset};

    fn entry(id: u64, from: i64, body: &str) -> Entry {
        Entry {
            id,
            session_id: "s".into(),
            kind: EntryKind::Final,
            from: Timestamp(from),
            to: Timestamp(from + 60_000),
            offset: UtcOffset(3600),
            body: body.into(),
        }
    }

    #[test]
    fn days_asked_for_start_in_1970() {
        assert_eq!(parse_asked_day("1970-01-01"), Some(FIRST_DAY));
        assert_eq!(parse_asked_day("2026-01-10"), parse_day_name("2026-01-10"));
        for s in ["0000-01-01", "1969-12-31", "-0001-12-31", "2026-1-10"] {
            assert_eq!(parse_asked_day(s), None, "{s}");
        }
        assert!(parse_day_name("0000-01-01").is_some(), "the shape alone is a day name");
    }

    #[test]
    fn entries_sorted_by_window_and_filtered_by_local_day() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let late = entry(1, 1_800_000_000_000, "late\n"); // 09:00+01:00
        let early = entry(2, 1_799_990_000_000, "early\n");
        let next_day = entry(3, 1_800_050_000_000, "other\n"); // 2027-01-15T21:53Z = 22:53+01 same day
        let tomorrow = entry(4, 1_800_060_000_000, "tomorrow\n"); // 00:40+01 next day
        let text = render_day(day, &[&late, &tomorrow, &early, &next_day]);
        assert_eq!(text, "# daybook — 2027-01-15\n\nearly\n\nlate\n\nother\n");
        assert_eq!(file_name(day), "event-2027-01-15.md");
    }

    #[test]
    fn an_old_body_with_raw_text_renders_inert_and_a_new_one_unchanged() {
        let day = NaiveDate::from_ymd_opt(2027, 1, 15).unwrap();
        let old = entry(
            1,
            1_800_000_000_000,
            "## 08:00–08:01 · final · session s\n\nok\n# daybook — 2026-01-01\n\n- a\n## 09:00–10:00 · final · session x\u{1b}[2J\n- ## b\n",
        );
        let text = render_day(day, &[&old]);
        assert_eq!(
            text,
            "# daybook — 2027-01-15\n\n## 08:00–08:01 · final · session s\n\nok\n\\# daybook — 2026-01-01\n\n- a\n\\## 09:00–10:00 · final · session x\n- \\## b\n"
        );
        let summary = crate::reduction::Summary {
            summary: "Worked in Code.".into(),
            lines: vec!["[08:00-08:01, Code] Code — main.rs".into()],
        };
        let body = crate::reduction::render_entry(
            &"s".into(),
            crate::reduction::EntryKind::Final,
            Timestamp(1_800_000_000_000),
            Timestamp(1_800_000_060_000),
            UtcOffset(3600),
            &summary,
        );
        assert_eq!(neutral_body(&body), body);
    }
}
