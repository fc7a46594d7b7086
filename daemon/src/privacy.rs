//! The privacy rules: which events are never stored (ignored apps, titles
//! and URLs) and which parts of the rest are replaced by `[redacted]`
//! before anything is stored (card numbers, secrets, user patterns).
//!
//! Every ingest path runs its events through [`Privacy::screen`] on the
//! engine thread before the engine sees them (`POST /v1/events` and
//! `daybook ingest`, which posts there); `daybook import` redacts the
//! imported lines with [`Privacy::redact_text`]. An ignored event is
//! counted and dropped; nothing of it reaches the database, the day log or
//! the API.
//!
//! Privacy is on by default: with no config file, and with a config file
//! that does not say `privacy_defaults = false`, the [`DEFAULT_APPS`],
//! [`DEFAULT_TITLE_PATTERNS`] and [`DEFAULT_REDACTIONS`] apply, and the
//! user's `ignore_apps`, `ignore_title_patterns`, `ignore_url_patterns` and
//! `redact_patterns` are added on top. `privacy_defaults = false` clears the
//! defaults; the user's own lists still apply.
//!
//! App names are compared after removing Unicode format characters (soft
//! hyphen U+00AD, U+200B to U+200F, U+2060 to U+2064, U+FEFF and the bidi
//! controls U+202A to U+202E and U+2066 to U+2069, all invisible),
//! trimming surrounding whitespace, dropping a trailing `.exe` or `.app`,
//! taking the last part of a reverse-DNS name (`org.keepassxc.KeePassXC`
//! is `KeePassXC`) and a trailing version number (`1Password 8`,
//! `KeePass 2.57` are `1Password`, `KeePass`), then Unicode case folding
//! (`unicase`'s full folding, so `"ß"` matches `"SS"`, which
//! `to_lowercase` does not). So `"1Password "`, `"1Pass\u{ad}word"` and
//! `"1Password.exe"` are all `1Password`. The same folding applies to the
//! names in `ignore_apps`, so `"Office 365"` there ignores `"Office"` too:
//! ignoring a little more is the safe side.
//!
//! Redaction looks at one event at a time, and a capture client sends
//! text as it is typed: `sk-proj-abc`, then `sk-proj-abcdef…0123`. The
//! day keeps earlier drafts that the finished text no longer extends, so
//! a rule that waits for a whole secret would let every draft before it
//! through. So the start of a secret is redacted too when it ends the
//! text, where a draft is cut off: an API-key, GitHub, AWS or Slack
//! prefix with 3 or more characters after it, `Bearer` and 3 or more
//! characters, 6 or more digits shaped like the start of a card (2 to 6
//! first, four digits before any separator, groups of 4 to 6 after it but
//! the last, so a date `2026-01-10` is not one), and everything from
//! `-----BEGIN … PRIVATE KEY` on. The price: a number of that shape that
//! ends the text, finished or not, is redacted without a Luhn check, and a
//! key or token shorter than that leaks its first characters. Drafts are
//! not compared with each other: redaction stays a function of one event,
//! as the engine needs it (replayable, no state), so the lines of a key
//! body sent one event each, with no header in any of them, are not
//! recognized.
//!
//! A credential in a URL is redacted, not the URL: `https://user:pw@host`
//! becomes `https://[redacted]@host`, and the value of a query or form
//! field named `password`, `passwd`, `pwd`, `token`, `secret`, `api_key`,
//! `apikey` or `access_token` becomes `[redacted]`, its name kept.

use std::borrow::Cow;

use daybook_core::Event;
use regex::Regex;
use serde::Serialize;
use unicase::UniCase;

/// What replaces a redacted match.
pub const REDACTED: &str = "[redacted]";

/// Password managers and keychains ignored by default.
pub const DEFAULT_APPS: &[&str] = &[
    "1Password",
    "1Password 7",
    "Bitwarden",
    "KeePassXC",
    "KeePass",
    "LastPass",
    "Dashlane",
    "Keychain Access",
    "Passwords",
    "Passwords and Keys",
    "Seahorse",
    "GNOME Keyring",
    "KWalletManager",
];

/// Private and incognito browser windows, ignored by default (their titles
/// as Firefox, Chrome, Edge and others show them).
pub const DEFAULT_TITLE_PATTERNS: &[&str] = &[
    r"(?i)(?-u:\b)private browsing(?-u:\b)",
    r"(?i)(?-u:\b)incognito(?-u:\b)",
    r"(?i)(?-u:\b)inprivate(?-u:\b)",
];

/// Secret shapes redacted by default: `(name, pattern)`. The card pattern
/// finds runs of 13 or more digits, with spaces, dashes, dots, no-break
/// or thin spaces between them; a run is redacted only where its digits
/// pass the Luhn check, so an order number or a timestamp of the same
/// length stays. When the whole run fails, every stretch of 13 to 19 of
/// its digits is tried, so a card next to other digits (`pay
/// 4111111111111111 123`, `qty 2 4111 1111 1111 1111`, an expiry after
/// it) is still found; the price is that a long number may lose a
/// stretch of itself that happens to pass, which is the safe side.
pub const DEFAULT_REDACTIONS: &[(&str, &str)] = &[
    (
        CARD,
        r"(?-u:\b)[0-9](?:[ .\-\x{A0}\x{2009}\x{202F}]?[0-9]){12,}(?-u:\b)",
    ),
    (
        "private key block",
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?(?:-----.*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|.*\z)",
    ),
    ("bearer token", r"(?i)(?-u:\b)bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    (
        "API key (sk-, pk_, rk_)",
        r"(?-u:\b)(?:sk-|[spr]k_(?:live|test)_)[A-Za-z0-9_-]{16,}",
    ),
    (
        "GitHub token",
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    ("AWS access key", r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)"),
    ("Slack token", r"(?-u:\b)xox[abpors]-[A-Za-z0-9-]{10,}"),
    (
        "start of a secret ending the text",
        r"(?-u:\b)(?:sk-|[spr]k_|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abpors]-)[A-Za-z0-9_-]{3,}\z",
    ),
    (
        "start of a bearer token ending the text",
        r"(?i)(?-u:\b)bearer\s+[A-Za-z0-9._~+/=-]{3,}\z",
    ),
    (
        "start of a card number ending the text",
        r"(?-u:\b)[2-6][0-9]{3}(?:(?:[ .\-\x{A0}\x{2009}\x{202F}]?[0-9]{4,6})+(?:[ .\-\x{A0}\x{2009}\x{202F}]?[0-9]{1,6})?|[ .\-\x{A0}\x{2009}\x{202F}]?[0-9]{2,6})\z",
    ),
    (
        URL_USERINFO,
        r"(?i)((?-u:\b)[a-z][a-z0-9+.-]*://)[^/?#\s@]+:[^/?#\s@]*@",
    ),
    (
        URL_SECRET_FIELD,
        r"(?i)((?-u:\b)(?:password|passwd|pwd|token|secret|api_key|apikey|access_token)=)[^&#\s]+",
    ),
];

/// What a default rule's match becomes: [`REDACTED`], but a URL keeps its
/// scheme and the `@` before its host, and a secret field keeps its name.
fn default_replacement(name: &str) -> String {
    match name {
        URL_USERINFO => format!("${{1}}{REDACTED}@"),
        URL_SECRET_FIELD => format!("${{1}}{REDACTED}"),
        _ => REDACTED.to_owned(),
    }
}
const URL_USERINFO: &str = "password in a URL";
const URL_SECRET_FIELD: &str = "secret query or form field";

const CARD: &str = "card number";

/// Whether `c` is an invisible format character removed from app names
/// before matching (see the module docs).
fn is_format_char(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Where a rule comes from, for `daybook config --show`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Built in, on unless `privacy_defaults = false`.
    Default,
    /// From the config file.
    User,
}

/// One redaction rule.
#[derive(Clone, Debug)]
struct Redaction {
    name: String,
    regex: Regex,
    luhn: bool,
    /// What a match becomes: [`REDACTED`], or for some default rules
    /// their first group and [`REDACTED`] (see `default_replacement`).
    replacement: String,
    origin: Origin,
}

impl Redaction {
    /// `text` with this rule applied on its own.
    fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.luhn {
            self.regex
                .replace_all(text, |c: &regex::Captures<'_>| redact_cards(&c[0]))
        } else {
            self.regex.replace_all(text, self.replacement.as_str())
        }
    }
}

/// The rules in force.
#[derive(Clone, Debug)]
pub struct Privacy {
    /// `(as written, origin)`.
    apps: Vec<(String, Origin)>,
    titles: Vec<(Regex, Origin)>,
    urls: Vec<(Regex, Origin)>,
    redactions: Vec<Redaction>,
    /// The same rules folded for matching: app names as compared, and each
    /// pattern list as one alternation, so a field that matches nothing
    /// (nearly all) costs one scan instead of one per pattern.
    app_keys: Vec<String>,
    any_title: Option<Regex>,
    any_url: Option<Regex>,
    any_redaction: Option<Regex>,
}

/// One regex matching wherever any of `patterns` matches (`None` for none).
fn any_of<'a>(patterns: impl Iterator<Item = &'a Regex>) -> Result<Option<Regex>, String> {
    let parts: Vec<String> = patterns.map(|r| format!("(?:{})", r.as_str())).collect();
    if parts.is_empty() {
        return Ok(None);
    }
    Regex::new(&parts.join("|"))
        .map(Some)
        .map_err(|e| format!("privacy patterns together: {e}"))
}

/// What the user's config says; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct UserRules {
    /// `privacy_defaults` (default true).
    pub defaults: Option<bool>,
    /// `ignore_apps`.
    pub ignore_apps: Vec<String>,
    /// `ignore_title_patterns`.
    pub ignore_title_patterns: Vec<String>,
    /// `ignore_url_patterns`.
    pub ignore_url_patterns: Vec<String>,
    /// `redact_patterns`.
    pub redact_patterns: Vec<String>,
}

fn regex(key: &str, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| format!("`{key}`: {pattern:?} is not a regex: {e}"))
}

/// An app name as it is compared (before case folding): format
/// characters removed, surrounding whitespace trimmed, a trailing `.exe`
/// or `.app` dropped, the last part of a reverse-DNS name taken, and a
/// trailing version number dropped (see the module docs).
pub fn app_key(app: &str) -> Cow<'_, str> {
    if app.contains(is_format_char) {
        let cleaned: String = app.chars().filter(|c| !is_format_char(*c)).collect();
        Cow::Owned(app_key_of(&cleaned).to_owned())
    } else {
        Cow::Borrowed(app_key_of(app))
    }
}

/// [`app_key`] on a name without format characters.
fn app_key_of(app: &str) -> &str {
    let mut key = app.trim();
    for suffix in [".exe", ".app"] {
        if key.len() > suffix.len()
            && let Some(tail) = key.get(key.len() - suffix.len()..)
            && tail.eq_ignore_ascii_case(suffix)
        {
            key = key[..key.len() - suffix.len()].trim_end();
        }
    }
    // `org.keepassxc.KeePassXC`: three or more dot-separated parts, no
    // space, a lowercase ASCII first part (a top-level domain).
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() >= 3
        && !key.contains(char::is_whitespace)
        && parts.iter().all(|p| !p.is_empty())
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
    {
        key = parts[parts.len() - 1];
    }
    // `1Password 8`, `KeePass 2.57`, `Foo v3`: a space, then an optional
    // `v` and digits and dots; the name before it must remain.
    if let Some((name, version)) = key.rsplit_once(char::is_whitespace) {
        let number = version.strip_prefix(['v', 'V']).unwrap_or(version);
        if !name.trim().is_empty()
            && number.starts_with(|c: char| c.is_ascii_digit())
            && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            key = name.trim_end();
        }
    }
    key
}

/// `run` (a match of the card pattern) with its card numbers redacted:
/// the whole run if its digits are 13 to 19 and pass the Luhn check,
/// else, from the left, the longest stretch of 13 to 19 of its digits
/// that passes, then on after it. A stretch begins and ends where a group
/// of digits (between separators) does, so a 16-digit order number is
/// judged whole and not cut into passing pieces; only inside a group of
/// more than 19 digits, which is no card, may it begin or end anywhere. A
/// stretch beginning with 0 is never a card.
fn redact_cards(run: &str) -> String {
    let digits: Vec<(usize, u32)> = run
        .char_indices()
        .filter_map(|(i, c)| c.to_digit(10).map(|d| (i, d)))
        .collect();
    let values: Vec<u32> = digits.iter().map(|(_, d)| *d).collect();
    // No card number begins with 0 (and a run of zeros passes Luhn).
    let card = |stretch: &[u32]| stretch[0] != 0 && luhn_digits(stretch);
    if (13..=19).contains(&values.len()) && card(&values) {
        return REDACTED.to_owned();
    }
    // Where a stretch may begin (`starts[k]`) and end (`ends[k]`), in
    // digit indices: at group edges, and everywhere inside a long group.
    let (mut starts, mut ends) = (vec![false; values.len() + 1], vec![false; values.len() + 1]);
    let mut group = 0;
    while group < values.len() {
        let mut end = group + 1;
        while end < values.len() && digits[end].0 == digits[end - 1].0 + 1 {
            end += 1;
        }
        let long = end - group > 19;
        for k in group..=end {
            starts[k] |= k == group || (long && k < end);
            ends[k] |= k == end || (long && k > group);
        }
        group = end;
    }
    let mut out = String::new();
    let mut kept_from = 0; // byte offset in `run` not yet copied
    let mut i = 0;
    'start: while i + 13 <= values.len() {
        if starts[i] {
            for len in (13..=19.min(values.len() - i)).rev() {
                if ends[i + len] && card(&values[i..i + len]) {
                    let (from, to) = (digits[i].0, digits[i + len - 1].0 + 1);
                    out.push_str(&run[kept_from..from]);
                    out.push_str(REDACTED);
                    kept_from = to;
                    i += len;
                    continue 'start;
                }
            }
        }
        i += 1;
    }
    out.push_str(&run[kept_from..]);
    out
}

/// The Luhn check over the digits of `s` (other characters skipped).
#[cfg(test)]
fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    luhn_digits(&digits)
}

/// The Luhn check over `digits`.
fn luhn_digits(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                (d * 2) % 9 + u32::from(d == 9) * 9
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl Default for Privacy {
    /// A fresh install's rules: the defaults alone.
    fn default() -> Self {
        Self::new(&UserRules::default()).expect("the default rules compile")
    }
}

impl Privacy {
    /// The rules for `user`: the defaults (unless turned off) and the
    /// user's own. An invalid pattern is an error naming its key.
    pub fn new(user: &UserRules) -> Result<Self, String> {
        let mut p = Self {
            apps: Vec::new(),
            titles: Vec::new(),
            urls: Vec::new(),
            redactions: Vec::new(),
            app_keys: Vec::new(),
            any_title: None,
            any_url: None,
            any_redaction: None,
        };
        if user.defaults.unwrap_or(true) {
            p.apps
                .extend(DEFAULT_APPS.iter().map(|a| ((*a).to_owned(), Origin::Default)));
            for pattern in DEFAULT_TITLE_PATTERNS {
                p.titles
                    .push((regex("ignore_title_patterns", pattern)?, Origin::Default));
            }
            for (name, pattern) in DEFAULT_REDACTIONS {
                p.redactions.push(Redaction {
                    name: (*name).to_owned(),
                    regex: regex("redact_patterns", pattern)?,
                    luhn: *name == CARD,
                    replacement: default_replacement(name),
                    origin: Origin::Default,
                });
            }
        }
        p.apps
            .extend(user.ignore_apps.iter().map(|a| (a.clone(), Origin::User)));
        for pattern in &user.ignore_title_patterns {
            p.titles.push((regex("ignore_title_patterns", pattern)?, Origin::User));
        }
        for pattern in &user.ignore_url_patterns {
            p.urls.push((regex("ignore_url_patterns", pattern)?, Origin::User));
        }
        for pattern in &user.redact_patterns {
            p.redactions.push(Redaction {
                name: pattern.clone(),
                regex: regex("redact_patterns", pattern)?,
                luhn: false,
                replacement: REDACTED.to_owned(),
                origin: Origin::User,
            });
        }
        p.app_keys = p.apps.iter().map(|(a, _)| app_key(a).into_owned()).collect();
        p.any_title = any_of(p.titles.iter().map(|(r, _)| r))?;
        p.any_url = any_of(p.urls.iter().map(|(r, _)| r))?;
        p.any_redaction = any_of(p.redactions.iter().map(|r| &r.regex))?;
        Ok(p)
    }

    /// Whether `event` is never stored: its app is ignored, or its title or
    /// URL matches an ignore pattern.
    pub fn ignores(&self, event: &Event) -> bool {
        let app = app_key(&event.app);
        let app = UniCase::unicode(app.as_ref());
        let any = |re: &Option<Regex>, field: &Option<String>| {
            re.as_ref().zip(field.as_deref()).is_some_and(|(re, f)| re.is_match(f))
        };
        self.app_keys.iter().any(|a| UniCase::unicode(a.as_str()) == app)
            || any(&self.any_title, &event.title)
            || any(&self.any_url, &event.url)
    }

    /// `text` with every redaction applied.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        if !self.any_redaction.as_ref().is_some_and(|re| re.is_match(text)) {
            return out;
        }
        for r in &self.redactions {
            if !r.regex.is_match(&out) {
                continue;
            }
            out = Cow::Owned(r.apply(&out).into_owned());
        }
        out
    }

    /// Redacts title, URL and text of `event` in place.
    pub fn redact(&self, event: &mut Event) {
        for field in [&mut event.title, &mut event.url, &mut event.text] {
            if let Some(value) = field
                && let Cow::Owned(redacted) = self.redact_text(value)
            {
                *value = redacted;
            }
        }
    }

    /// The event as it may be stored, or `None` if it is ignored.
    pub fn screen(&self, mut event: Event) -> Option<Event> {
        if self.ignores(&event) {
            return None;
        }
        self.redact(&mut event);
        Some(event)
    }

    /// The rules in force, for `daybook config --show --json`.
    pub fn describe(&self) -> serde_json::Value {
        let list = |items: &mut dyn Iterator<Item = (String, Origin)>| -> Vec<serde_json::Value> {
            items
                .map(|(rule, origin)| serde_json::json!({"rule": rule, "origin": origin}))
                .collect()
        };
        serde_json::json!({
            "ignore_apps": list(&mut self.apps.iter().cloned()),
            "ignore_title_patterns": list(&mut self.titles.iter().map(|(r, o)| (r.as_str().to_owned(), *o))),
            "ignore_url_patterns": list(&mut self.urls.iter().map(|(r, o)| (r.as_str().to_owned(), *o))),
            "redact_patterns": self.redactions.iter().map(|r| serde_json::json!({
                "name": r.name, "rule": r.regex.as_str(), "origin": r.origin, "luhn_check": r.luhn,
            })).collect::<Vec<_>>(),
        })
    }

    /// The rules in force as text, for `daybook config --show`.
    pub fn describe_text(&self) -> String {
        use std::fmt::Write;
        let origin = |o: Origin| match o {
            Origin::Default => "default",
            Origin::User => "config",
        };
        let mut s = String::new();
        let _ = writeln!(s, "Events never stored (ignored):");
        let _ = writeln!(s, "  apps (case-insensitive, exact name):");
        for (a, o) in &self.apps {
            let _ = writeln!(s, "    {a:?}  [{}]", origin(*o));
        }
        for (what, list) in [("titles matching", &self.titles), ("URLs matching", &self.urls)] {
            let _ = writeln!(s, "  {what}:");
            if list.is_empty() {
                let _ = writeln!(s, "    (none)");
            }
            for (re, o) in list {
                let _ = writeln!(s, "    /{}/  [{}]", re.as_str(), origin(*o));
            }
        }
        let _ = writeln!(s, "Replaced by {REDACTED} in title, URL and text before storing:");
        if self.redactions.is_empty() {
            let _ = writeln!(s, "  (none)");
        }
        for r in &self.redactions {
            let check = if r.luhn { ", Luhn-checked" } else { "" };
            let _ = writeln!(s, "  {}: /{}/  [{}{check}]", r.name, r.regex.as_str(), origin(r.origin));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use daybook_core::Timestamp;

    use super::*;

    fn event(app: &str) -> Event {
        Event::new(Timestamp(0), app)
    }

    fn titled(title: &str) -> Event {
        Event {
            title: Some(title.to_owned()),
            ..event("Firefox")
        }
    }

    #[test]
    fn app_names_match_after_trimming_zero_width_and_case_folding() {
        let p = Privacy::new(&UserRules {
            defaults: Some(false),
            ignore_apps: vec!["1Password".into(), "Straße".into()],
            ..UserRules::default()
        })
        .unwrap();
        for app in [
            "1Password",
            "1password",
            "1Password ",
            " 1PASSWORD\t",
            "1Password\u{200b}",
            "\u{feff}1Pass\u{2060}word",
            "STRASSE",
        ] {
            assert!(p.ignores(&event(app)), "{app:?}");
        }
        for app in ["1Password Helper", "Password", "Code"] {
            assert!(!p.ignores(&event(app)), "{app:?}");
        }
    }

    #[test]
    fn default_apps_match_their_exe_app_versioned_reverse_dns_and_invisible_variants() {
        let p = Privacy::default();
        for app in [
            "1Password.exe",
            "1Password.app",
            "1Password 8",
            "1Password v8.10.2",
            "org.keepassxc.KeePassXC",
            "com.bitwarden.Bitwarden",
            "KeePassXC.EXE",
            "1Pass\u{ad}word",
            "\u{202e}1Password\u{202c}",
            "1Pass\u{200e}word\u{2064}",
            "\u{2066}Bitwarden\u{2069}",
            "KeePass 2.57",
        ] {
            assert!(p.ignores(&event(app)), "{app:?}");
        }
        for app in [
            "Node.js",
            "8",
            "Code 2 Go",
            "com.example.Editor",
            "1Password Helper.exe",
        ] {
            assert!(!p.ignores(&event(app)), "{app:?}");
        }
    }

    #[test]
    fn credentials_in_urls_are_redacted_and_the_url_kept_readable() {
        let p = Privacy::default();
        assert_eq!(
            p.redact_text("https://user:p4ssw0rd@bank.example/login?password=hunter9"),
            "https://[redacted]@bank.example/login?password=[redacted]"
        );
        assert_eq!(
            p.redact_text("curl 'https://x.example/api?user=me&api_key=abc123&access_token=t0k#top'"),
            "curl 'https://x.example/api?user=me&api_key=[redacted]&access_token=[redacted]#top'"
        );
        assert_eq!(
            p.redact_text("user=me&pwd=s3cret&next=/"),
            "user=me&pwd=[redacted]&next=/"
        );
        assert_eq!(
            p.redact_text("https://git@github.com/x and https://bank.example:8443/login"),
            "https://git@github.com/x and https://bank.example:8443/login"
        );
    }

    #[test]
    fn defaults_ignore_password_managers_and_private_windows() {
        let p = Privacy::default();
        for app in [
            "1Password",
            "bitwarden",
            "KeePassXC",
            "LastPass",
            "Dashlane",
            "Keychain Access",
            "Seahorse",
            "Passwords",
        ] {
            assert!(p.ignores(&event(app)), "{app}");
        }
        assert!(p.ignores(&titled("GitHub — Mozilla Firefox Private Browsing")));
        assert!(p.ignores(&titled("New Tab - Google Chrome (Incognito)")));
        assert!(p.ignores(&titled("Bing - [InPrivate] - Microsoft Edge")));
        assert!(!p.ignores(&titled("Private methods in Rust")));
        assert!(!p.ignores(&event("Code")));
    }

    #[test]
    fn clearing_the_defaults_keeps_the_users_rules() {
        let p = Privacy::new(&UserRules {
            defaults: Some(false),
            ignore_url_patterns: vec![r"^https://bank\.example/".into()],
            ..UserRules::default()
        })
        .unwrap();
        assert!(!p.ignores(&event("1Password")));
        let bank = Event {
            url: Some("https://bank.example/login".into()),
            ..event("Firefox")
        };
        assert!(p.ignores(&bank));
        assert_eq!(p.redact_text("4111 1111 1111 1111"), "4111 1111 1111 1111");
    }

    #[test]
    fn cards_are_redacted_only_when_luhn_valid() {
        let p = Privacy::default();
        assert_eq!(p.redact_text("card 4111 1111 1111 1111 ok"), "card [redacted] ok");
        assert_eq!(p.redact_text("4111-1111-1111-1111"), "[redacted]");
        assert_eq!(p.redact_text("378282246310005"), "[redacted]");
        // Same length, wrong check digit: an order number, kept (where it
        // does not end the text: see the next test).
        assert_eq!(p.redact_text("order 4111111111111112 ok"), "order 4111111111111112 ok");
        assert_eq!(p.redact_text("call 555 1234"), "call 555 1234");
    }

    #[test]
    fn a_draft_ending_in_the_start_of_a_secret_is_redacted() {
        let p = Privacy::default();
        let cases = [
            (
                "export OPENAI_API_KEY=sk-proj-abcdefghi",
                "export OPENAI_API_KEY=[redacted]",
            ),
            ("token ghp_abc", "token [redacted]"),
            ("github_pat_11AB", "[redacted]"),
            ("AKIAIOS", "[redacted]"),
            ("xoxb-123", "[redacted]"),
            ("pk_live_ab", "[redacted]"),
            ("Authorization: Bearer eyJ", "Authorization: [redacted]"),
            ("card 4111 11", "card [redacted]"),
            ("card 4111 1111 1111 111", "card [redacted]"),
            ("amex 3782 822463 1", "amex [redacted]"),
            ("card 411111", "card [redacted]"),
            ("order 4111111111111112", "order [redacted]"),
            ("-----BEGIN RSA PRIVATE KEY", "[redacted]"),
            ("x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn", "x [redacted]"),
        ];
        for (text, want) in cases {
            assert_eq!(p.redact_text(text), want, "{text:?}");
        }
        // Not the end of the text, too short, or not shaped like a card.
        for text in [
            "sk-abc then more",
            "sk-ab",
            "ghp_",
            "call 555 1234",
            "on 2026-01-10",
            "call 12345678",
            "order 4111 and 12",
            "a task-force",
            "-----BEGIN PUBLIC KEY-----\nMIIB",
        ] {
            assert_eq!(p.redact_text(text), text, "{text:?}");
        }
    }

    #[test]
    fn a_card_among_other_digits_or_with_other_separators_is_redacted() {
        let p = Privacy::default();
        let cases = [
            ("pay 4111111111111111 123", "pay [redacted] 123"),
            ("qty 2 4111 1111 1111 1111", "qty 2 [redacted]"),
            ("4111 1111 1111 1111 05 27", "[redacted] 05 27"),
            ("4111.1111.1111.1111", "[redacted]"),
            ("4111\u{a0}1111\u{a0}1111\u{a0}1111", "[redacted]"),
            ("4111\u{2009}1111\u{2009}1111\u{2009}1111", "[redacted]"),
            ("4111\u{202f}1111\u{202f}1111\u{202f}1111 ok", "[redacted] ok"),
            ("4111111111111111 and 378282246310005", "[redacted] and [redacted]"),
        ];
        for (text, want) in cases {
            assert_eq!(p.redact_text(text), want, "{text:?}");
        }
        // The longest passing stretch from the left may take a neighbour
        // with the card; the card is gone either way.
        assert_eq!(p.redact_text("12 34 4111 1111 1111 1111"), "12 [redacted]");
        // No stretch of 13 to 19 digits passes: all kept.
        assert_eq!(p.redact_text("id 1000000000000000000001"), "id 1000000000000000000001");
        // A card inside a group of more than 19 digits.
        assert_eq!(p.redact_text("x 41111111111111110527"), "x [redacted]7");
        // Pieces of one group are not tried: an order number is kept whole.
        assert_eq!(
            p.redact_text("order 4111111111111112 12 ok"),
            "order 4111111111111112 12 ok"
        );
    }

    #[test]
    fn luhn_digits_agrees_with_known_numbers() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111112"));
    }

    #[test]
    fn secret_shapes_are_redacted() {
        let p = Privacy::default();
        let cases = [
            ("key sk-proj-abcdefghijklmnop1234 end", "key [redacted] end"),
            ("ghp_0123456789abcdefghijABCDEFGHIJ012345", "[redacted]"),
            ("AKIAIOSFODNN7EXAMPLE", "[redacted]"),
            ("xoxb-1234567890-abcdef", "[redacted]"),
            ("Authorization: Bearer abc.def.ghi123", "Authorization: [redacted]"),
            (
                "x -----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY----- y",
                "x [redacted] y",
            ),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE cut short", "[redacted]"),
            (
                "a -----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK----- b",
                "a [redacted] b",
            ),
            ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF", "[redacted]"),
        ];
        for (text, want) in cases {
            assert_eq!(p.redact_text(text), want, "{text:?}");
        }
        assert_eq!(p.redact_text("plain words"), "plain words");
    }

    #[test]
    fn user_redactions_apply_to_title_url_and_text_and_screen_drops_ignored() {
        let p = Privacy::new(&UserRules {
            redact_patterns: vec![r"hunter\d".into()],
            ..UserRules::default()
        })
        .unwrap();
        let e = Event {
            title: Some("pw hunter2".into()),
            url: Some("https://x/?p=hunter2".into()),
            text: Some("typed: hunter2".into()),
            ..event("Terminal")
        };
        let e = p.screen(e).unwrap();
        assert_eq!(e.title.as_deref(), Some("pw [redacted]"));
        assert_eq!(e.url.as_deref(), Some("https://x/?p=[redacted]"));
        assert_eq!(e.text.as_deref(), Some("typed: [redacted]"));
        assert!(p.screen(event("1Password ")).is_none());
        let bad = Privacy::new(&UserRules {
            redact_patterns: vec!["(".into()],
            ..UserRules::default()
        })
        .unwrap_err();
        assert!(bad.contains("redact_patterns"), "{bad}");
    }

    /// The slow reference of [`Privacy::redact_text`] and the ignore
    /// checks: every pattern on its own, no combined prefilter.
    fn redact_naive(p: &Privacy, text: &str) -> String {
        let mut out = text.to_owned();
        for r in &p.redactions {
            out = r.apply(&out).into_owned();
        }
        out
    }

    #[test]
    fn the_combined_prefilter_agrees_with_each_pattern_alone() {
        let p = Privacy::new(&UserRules {
            ignore_url_patterns: vec![r"^https://bank\.".into(), "(?i)LOGIN".into()],
            redact_patterns: vec!["(?i)hunter[0-9]".into(), "(?s)a.b".into()],
            ..UserRules::default()
        })
        .unwrap();
        let pieces = [
            "",
            "plain",
            "4111 1111 1111 1111",
            "4111111111111112",
            "sk-abcdefghijklmnop1234",
            "Bearer abc.def.ghi",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-1234567890-abc",
            "-----BEGIN RSA PRIVATE KEY-----\nx",
            "HUNTER2",
            "a\nb",
            "Private Browsing",
            "incognito",
            "https://bank.x/login",
            "é 4111-1111-1111-1111 ü",
            "2 4111.1111\u{a0}1111\u{2009}1111 05",
            "https://u:pw@h.example/?token=abc&x=1",
            "password=",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nx",
            "sk-proj-abc",
            "card 4111 11",
            "Bearer eyJ",
            "-----BEGIN RSA PRIVATE KEY",
        ];
        for a in pieces {
            for b in pieces {
                let text = format!("{a} {b}");
                assert_eq!(p.redact_text(&text), redact_naive(&p, &text), "{text:?}");
                let e = Event {
                    title: Some(text.clone()),
                    url: Some(text.clone()),
                    ..event("Code")
                };
                let naive = p.titles.iter().any(|(re, _)| re.is_match(&text))
                    || p.urls.iter().any(|(re, _)| re.is_match(&text));
                assert_eq!(p.ignores(&e), naive, "{text:?}");
            }
        }
    }

    #[test]
    fn describe_names_every_rule_and_its_origin() {
        let p = Privacy::new(&UserRules {
            ignore_apps: vec!["Signal".into()],
            ..UserRules::default()
        })
        .unwrap();
        let text = p.describe_text();
        assert!(text.contains("\"1Password\"  [default]"), "{text}");
        assert!(text.contains("\"Signal\"  [config]"), "{text}");
        assert!(text.contains("card number"), "{text}");
        let json = p.describe();
        assert_eq!(json["ignore_apps"].as_array().unwrap().len(), DEFAULT_APPS.len() + 1);
        assert_eq!(
            json["redact_patterns"].as_array().unwrap().len(),
            DEFAULT_REDACTIONS.len()
        );
    }
}
