//! The pure half of full-text search: what a user typed becomes a query
//! that cannot break the index's syntax, a `since`/`until` becomes an
//! instant, and a matched text becomes a short marked snippet. The daemon
//! runs the query against SQLite's FTS5 index; nothing here touches it.
//!
//! **Query syntax.** Words separated by spaces must all appear (in any
//! field of one event, or in one entry); `"a phrase"` must appear as
//! written; a word ending in `*` matches any word it starts (`tok*`
//! finds `tokio` and `token`). Nothing else is syntax: `AND`, `OR`,
//! `NOT`, `NEAR`, parentheses, colons, `^` and `-` are searched for as
//! text, so no input can make the index answer with a syntax error. A
//! word is matched as the index splits text: letters and digits, case
//! and diacritics folded, punctuation a separator (`doc.rust-lang.org`
//! is the phrase `doc rust lang org`).

use chrono::{DateTime, NaiveDate};

use crate::error::Error;
use crate::time::Timestamp;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1_000;
/// The most terms (words, phrases, prefixes) a query may hold.
pub const MAX_TERMS: usize = 32;
/// The visible characters of a snippet, marks and ellipses aside.
pub const SNIPPET_CHARS: usize = 300;
/// Where the index's snippet marks a match begins (a private-use
/// character: captured text holding it at worst misplaces a mark).
pub const MATCH_OPEN: char = '\u{e000}';
/// Where the index's snippet marks a match ends.
pub const MATCH_CLOSE: char = '\u{e001}';
/// How a snippet shown to a person or an agent marks a match.
pub const MARK: &str = "**";

/// The most bytes of a bad input an error message repeats.
const ERROR_QUOTE_BYTES: usize = 200;

/// One term of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    /// A word that must appear.
    Word(String),
    /// A word that must start a word of the text.
    Prefix(String),
    /// Words that must appear in this order, next to each other.
    Phrase(String),
}

/// A parsed query: every term must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
}

fn bad_query(input: &str, reason: &'static str) -> Error {
    Error::InvalidQuery {
        input: cut_bytes(input, ERROR_QUOTE_BYTES).to_owned(),
        reason,
    }
}

fn bad_time(input: &str, reason: &'static str) -> Error {
    Error::InvalidTime {
        input: cut_bytes(input, ERROR_QUOTE_BYTES).to_owned(),
        reason,
    }
}

/// The first `max` bytes of `s`, cut at a character boundary.
fn cut_bytes(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Whether `s` holds something the index keeps as a word.
fn has_word(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

impl Query {
    /// Parses what a user typed (see the module's docs for the syntax).
    /// An unclosed `"` closes at the end. Terms with no letter or digit
    /// (`-`, `*`, `""`) are dropped: the index would ignore them anyway.
    /// A query with no term left, longer than [`MAX_QUERY_BYTES`] or with
    /// more than [`MAX_TERMS`] terms is refused, naming it.
    pub fn parse(input: &str) -> Result<Self, Error> {
        if input.len() > MAX_QUERY_BYTES {
            return Err(bad_query(input, "is longer than 1,000 bytes"));
        }
        let mut terms = Vec::new();
        let mut rest = input;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let term = if let Some(after) = rest.strip_prefix('"') {
                let (phrase, next) = after.split_once('"').unwrap_or((after, ""));
                rest = next;
                Term::Phrase(phrase.split_whitespace().collect::<Vec<_>>().join(" "))
            } else {
                let end = rest.find(|c: char| c.is_whitespace() || c == '"').unwrap_or(rest.len());
                let word = &rest[..end];
                rest = &rest[end..];
                match word.strip_suffix('*') {
                    Some(stem) => Term::Prefix(stem.trim_end_matches('*').to_owned()),
                    None => Term::Word(word.to_owned()),
                }
            };
            let text = match &term {
                Term::Word(s) | Term::Prefix(s) | Term::Phrase(s) => s,
            };
            if has_word(text) {
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return Err(bad_query(input, "has no word to search for"));
        }
        if terms.len() > MAX_TERMS {
            return Err(bad_query(input, "has more than 32 words or phrases"));
        }
        Ok(Self { terms })
    }

    /// The terms, in the order typed.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The query as an FTS5 expression: every term a double-quoted
    /// string (quotes inside doubled), a prefix followed by `*`, joined by
    /// spaces (FTS5's implicit AND). Inside a string FTS5 reads no
    /// operator, so this never has a syntax error.
    pub fn fts5(&self) -> String {
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        self.terms
            .iter()
            .map(|t| match t {
                Term::Word(s) | Term::Phrase(s) => quoted(s),
                Term::Prefix(s) => format!("{}*", quoted(s)),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A `since` or `until` as the user wrote it, before it is resolved
/// against now and the local calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeBound {
    /// An RFC 3339 instant with its offset.
    At(Timestamp),
    /// So long before now (`90s`, `30m`, `2h`, `7d`, `2w`).
    Ago(i64),
    /// The start of a local day: `today`, `yesterday`, or `YYYY-MM-DD`.
    DayStart(DayRef),
    /// Now.
    Now,
}

/// A local day named relative to today or by its date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayRef {
    /// So many days before today (0: today).
    DaysBack(u32),
    /// A date.
    Date(NaiveDate),
}

impl TimeBound {
    /// Parses `today`, `yesterday`, `now`, a number with a unit (`s`, `m`,
    /// `h`, `d`, `w`: that long ago), a local date `YYYY-MM-DD` (its
    /// start), or an RFC 3339 instant. Anything else is refused, naming it.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        match s.to_ascii_lowercase().as_str() {
            "today" => return Ok(Self::DayStart(DayRef::DaysBack(0))),
            "yesterday" => return Ok(Self::DayStart(DayRef::DaysBack(1))),
            "now" => return Ok(Self::Now),
            _ => {}
        }
        if let Some(unit) = s.chars().last().filter(char::is_ascii_alphabetic) {
            let number = &s[..s.len() - 1];
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
                let scale: i64 = match unit.to_ascii_lowercase() {
                    's' => 1_000,
                    'm' => 60_000,
                    'h' => 3_600_000,
                    'd' => 86_400_000,
                    'w' => 7 * 86_400_000,
                    _ => return Err(bad_time(input, "has an unknown unit (use s, m, h, d or w)")),
                };
                let n: i64 = number.parse().map_err(|_| bad_time(input, "is too large"))?;
                return n
                    .checked_mul(scale)
                    .filter(|ms| *ms <= 100 * 366 * 86_400_000)
                    .map(Self::Ago)
                    .ok_or_else(|| bad_time(input, "reaches back more than 100 years"));
            }
        }
        if let Some(day) = crate::daylog::parse_asked_day(s) {
            return Ok(Self::DayStart(DayRef::Date(day)));
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            let at = Timestamp(t.timestamp_millis());
            if at.0 < 0 {
                return Err(bad_time(input, "is before 1970"));
            }
            return Ok(Self::At(at));
        }
        Err(bad_time(
            input,
            "is not a time: use today, yesterday, 2h, 7d, a date like 2026-11-28 or RFC 3339 like 2026-11-28T09:00:00+01:00",
        ))
    }

    /// The instant this bound names, given `now`, `today` (the local date
    /// at now) and `day_start`, which gives the instant a local day begins
    /// (the caller's time zone, DST included).
    pub fn resolve(self, now: Timestamp, today: NaiveDate, day_start: impl Fn(NaiveDate) -> Timestamp) -> Timestamp {
        match self {
            Self::At(t) => t,
            Self::Ago(ms) => Timestamp(now.0.saturating_sub(ms).max(0)),
            Self::Now => now,
            Self::DayStart(DayRef::Date(day)) => day_start(day),
            Self::DayStart(DayRef::DaysBack(n)) => {
                let day = today
                    .checked_sub_days(chrono::Days::new(u64::from(n)))
                    .unwrap_or(NaiveDate::MIN);
                day_start(day)
            }
        }
    }
}

/// A matched text as the index marked it ([`MATCH_OPEN`] …
/// [`MATCH_CLOSE`] around each match) made into what a reader sees: one
/// line, control and invisible format characters neutralized
/// ([`crate::text::inline`]), matches between [`MARK`]s, at most
/// [`SNIPPET_CHARS`] visible characters around the first match, an
/// ellipsis where it was cut.
pub fn snippet(marked: &str) -> String {
    // (char, inside a match) for every visible character.
    let mut chars: Vec<(char, bool)> = Vec::new();
    let mut inside = false;
    let mut plain = String::new();
    let flush = |plain: &mut String, inside: bool, chars: &mut Vec<(char, bool)>| {
        chars.extend(crate::text::inline(plain).chars().map(|c| (c, inside)));
        plain.clear();
    };
    for c in marked.chars() {
        match c {
            MATCH_OPEN => {
                flush(&mut plain, inside, &mut chars);
                inside = true;
            }
            MATCH_CLOSE => {
                flush(&mut plain, inside, &mut chars);
                inside = false;
            }
            c => plain.push(c),
        }
    }
    flush(&mut plain, inside, &mut chars);
    let first = chars.iter().position(|(_, m)| *m).unwrap_or(0);
    let (start, end) = if chars.len() <= SNIPPET_CHARS {
        (0, chars.len())
    } else {
        // A fifth of the room before the first match, the rest after,
        // starting at a word where one begins close by.
        let mut start = first.saturating_sub(SNIPPET_CHARS / 5);
        let end = (start + SNIPPET_CHARS).min(chars.len());
        start = end.saturating_sub(SNIPPET_CHARS).min(start);
        if start > 0
            && let Some(space) = chars[start..first.max(start)]
                .iter()
                .position(|(c, _)| c.is_whitespace())
            && space < 20
        {
            start += space + 1;
        }
        (start, end)
    };
    let mut out = String::with_capacity((end - start) * 2);
    if start > 0 && !chars[start].0.eq(&'…') {
        out.push('…');
    }
    let mut open = false;
    for &(c, m) in &chars[start..end] {
        if m != open {
            out.push_str(MARK);
            open = m;
        }
        out.push(c);
    }
    if open {
        out.push_str(MARK);
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fts(q: &str) -> String {
        Query::parse(q).unwrap().fts5()
    }

    #[test]
    fn words_phrases_and_prefixes() {
        assert_eq!(fts("tokio runtime"), r#""tokio" "runtime""#);
        assert_eq!(fts(r#""async runtime"  tok*"#), r#""async runtime" "tok"*"#);
        assert_eq!(fts(r#"  "  many   spaces  " "#), r#""many spaces""#);
        assert_eq!(fts(r#"unclosed "quote here"#), r#""unclosed" "quote here""#);
        assert_eq!(
            Query::parse("a tok** \"p q\"").unwrap().terms(),
            [
                Term::Word("a".into()),
                Term::Prefix("tok".into()),
                Term::Phrase("p q".into())
            ]
        );
    }

    #[test]
    fn operators_and_syntax_are_searched_as_text() {
        assert_eq!(fts("a OR b"), r#""a" "OR" "b""#);
        assert_eq!(fts("NEAR(a b)"), r#""NEAR(a" "b)""#);
        assert_eq!(fts("title:secret ^x -y"), r#""title:secret" "^x" "-y""#);
        assert_eq!(fts(r#"say"hi"#), r#""say" "hi""#);
        assert_eq!(fts(r#"it''s"#), r#""it''s""#);
    }

    #[test]
    fn a_query_without_words_is_refused_naming_it() {
        for q in ["", "   ", "*", "\"\"", "- -- ***", "\""] {
            let e = Query::parse(q).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidQuery { input, .. } if input == q),
                "{q:?}: {e}"
            );
        }
        let long = "a ".repeat(MAX_QUERY_BYTES);
        assert!(Query::parse(&long).unwrap_err().to_string().contains("longer"));
        let many = "w ".repeat(MAX_TERMS + 1);
        assert!(Query::parse(&many).unwrap_err().to_string().contains("more than 32"));
        assert!(Query::parse(&"w ".repeat(MAX_TERMS)).is_ok());
    }

    fn day_start(d: NaiveDate) -> Timestamp {
        // UTC+1 as the local zone.
        Timestamp(d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis() - 3_600_000)
    }

    #[test]
    fn relative_and_absolute_times() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let now = Timestamp(day_start(today).0 + 10 * 3_600_000);
        let at = |s: &str| TimeBound::parse(s).unwrap().resolve(now, today, day_start);
        assert_eq!(at("today"), day_start(today));
        assert_eq!(at("Yesterday"), day_start(today.pred_opt().unwrap()));
        assert_eq!(at("2h"), Timestamp(now.0 - 2 * 3_600_000));
        assert_eq!(at("7d"), Timestamp(now.0 - 7 * 86_400_000));
        assert_eq!(at("90s"), Timestamp(now.0 - 90_000));
        assert_eq!(at("2w"), Timestamp(now.0 - 14 * 86_400_000));
        assert_eq!(at("now"), now);
        assert_eq!(
            at("2026-11-01"),
            day_start(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap())
        );
        assert_eq!(
            at("2026-11-28T09:30:00+01:00"),
            Timestamp(day_start(today).0 + 9 * 3_600_000 + 30 * 60_000)
        );
        assert_eq!(at("10000d"), Timestamp(now.0 - 10_000 * 86_400_000));
    }

    #[test]
    fn bad_times_are_refused_naming_them() {
        for s in [
            "",
            "soon",
            "2x",
            "h",
            "-2h",
            "2026-13-01",
            "1969-12-31T00:00:00Z",
            "99999999999999999999d",
        ] {
            let e = TimeBound::parse(s).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidTime { input, .. } if input == s),
                "{s:?}: {e}"
            );
        }
        assert!(TimeBound::parse("40000w").is_err(), "more than a century");
    }

    fn marked(before: &str, hit: &str, after: &str) -> String {
        format!("{before}{MATCH_OPEN}{hit}{MATCH_CLOSE}{after}")
    }

    #[test]
    fn a_short_snippet_is_kept_whole_with_its_match_marked() {
        assert_eq!(snippet(&marked("reading ", "tokio", " docs")), "reading **tokio** docs");
        assert_eq!(snippet("no match at all"), "no match at all");
    }

    #[test]
    fn a_long_snippet_is_cut_around_its_first_match() {
        let before = "word ".repeat(200);
        let after = " tail".repeat(200);
        let s = snippet(&marked(&before, "needle", &after));
        let visible = s.replace(MARK, "");
        assert!(
            visible.chars().count() <= SNIPPET_CHARS + 2,
            "{}",
            visible.chars().count()
        );
        assert!(s.contains("**needle**"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        let at = visible.find("needle").unwrap();
        assert!(at > 20 && at < 100, "the match sits near the start: {at}");
        // A match at the very end keeps the room before it.
        let s = snippet(&marked(&before, "end", ""));
        assert!(s.ends_with("**end**") && s.starts_with('…'), "{s}");
        assert!(s.replace(MARK, "").chars().count() <= SNIPPET_CHARS + 1);
    }

    #[test]
    fn a_cut_inside_a_match_still_closes_its_mark() {
        let s = snippet(&marked("", &"x".repeat(500), ""));
        assert!(s.starts_with("**x") && s.ends_with("x**…"), "{s}");
    }

    #[test]
    fn captured_text_cannot_escape_its_line() {
        let s = snippet(&marked("a\n## heading\x1b[31m", "hit", "\u{202e}evil\r\n"));
        assert!(
            !s.contains('\n') && !s.contains('\x1b') && !s.contains('\u{202e}'),
            "{s:?}"
        );
        assert!(s.contains("**hit**"));
    }
}
