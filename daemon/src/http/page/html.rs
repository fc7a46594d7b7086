//! Escaping for everything the page writes. Captured text (app, title,
//! URL, typed text, entry bodies, session ids) is data, never markup
//! (SPEC §12): each piece passes [`text`] or [`attr`] on its way into the
//! HTML, which first makes it inert as a line (`daybook_core::text::inline`:
//! no control characters, no bidi overrides or other invisible format
//! characters) and then escapes the five characters HTML gives meaning
//! to. Nothing else writes captured text into a page.

use std::fmt::{self, Display, Write as _};

use daybook_core::text;

/// `s` as HTML text or a quoted attribute value: `& < > " '` become
/// entities, control and invisible format characters become what
/// `text::inline` makes of them (a space or U+FFFD).
pub(crate) fn esc(s: &str) -> Esc<'_> {
    Esc(s)
}

/// See [`esc`]: escapes as it is written, without an extra allocation when
/// there is nothing to replace.
pub(crate) struct Esc<'a>(&'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clean = text::inline(self.0);
        write_escaped(f, &clean)
    }
}

/// Multi-line text (an entry's Markdown body) for a `<pre>`: each line
/// made inert and escaped, the line breaks kept.
pub(crate) fn esc_lines(s: &str) -> EscLines<'_> {
    EscLines(s)
}

/// See [`esc_lines`].
pub(crate) struct EscLines<'a>(&'a str);

impl Display for EscLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.0.lines().enumerate() {
            if i > 0 {
                f.write_char('\n')?;
            }
            write_escaped(f, &text::inline(line))?;
        }
        Ok(())
    }
}

fn write_escaped(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        f.write_str(&rest[..i])?;
        f.write_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        })?;
        rest = &rest[i + 1..];
    }
    f.write_str(rest)
}

/// A path segment for a link (`/day/D/session/ID`): everything but
/// unreserved characters percent-encoded, so an id can never end the
/// path, start a query or leave the attribute. The result is also safe
/// inside a quoted attribute.
pub(crate) fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_controls_made_inert() {
        let s = esc("<script>alert('x')</script> & \"q\"").to_string();
        assert_eq!(s, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
        assert_eq!(esc("a\nb\u{1b}[31mc\u{202e}d").to_string(), "a bc\u{fffd}d");
        assert_eq!(esc("plain").to_string(), "plain");
    }

    #[test]
    fn lines_keep_their_breaks_and_nothing_else() {
        let s = esc_lines("# a\n<b>\u{7}").to_string();
        assert_eq!(s, "# a\n&lt;b&gt;\u{fffd}");
    }

    #[test]
    fn url_segments_cannot_leave_the_path() {
        assert_eq!(url_segment("s1-2"), "s1-2");
        assert_eq!(url_segment("a/b?c#d\"e<"), "a%2Fb%3Fc%23d%22e%3C");
        assert_eq!(url_segment("é"), "%C3%A9");
    }
}
