//! The daemon's settings: every SPEC §3 setting of the engine, the listen
//! address, the privacy filters and the summarizer, from an optional TOML
//! file. With no file the embedded defaults apply.
//!
//! Durations are written in the unit their name says (`gap_minutes = 5`)
//! or as a humantime string (`gap_minutes = "30s"`), so a test can shorten
//! any of them. An unknown key or an invalid value is an error that names
//! the key; nothing falls back silently.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use daybook_core::Config as EngineConfig;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::privacy::{Privacy, UserRules};

/// The default API address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5612";

/// Everything `daybook run` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// The privacy rules: events never stored, parts redacted.
    pub privacy: Privacy,
    /// An external summarizer command (argv), or `None` for the built-in.
    pub summarizer_command: Option<Vec<String>>,
    /// How long the external summarizer may take.
    pub summarizer_timeout: Duration,
    /// The API token's file, when not the data directory's `api-token`
    /// (see [`crate::token`]).
    pub api_token_file: Option<PathBuf>,
    /// How long a client may take to send a request's headers, then its
    /// body, and how long an idle keep-alive connection stays open
    /// (see [`crate::http::serve`]).
    pub http_read_timeout: Duration,
    /// Bytes that must stay free on the data directory's disk; below it
    /// ingest is refused with 507 (see `service::Refused::DiskFull`).
    pub min_free_disk: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            privacy: Privacy::default(),
            summarizer_command: None,
            summarizer_timeout: Duration::from_secs(60),
            api_token_file: None,
            http_read_timeout: Duration::from_secs(10),
            min_free_disk: 512 << 20,
        }
    }
}

/// A duration as written in the file: a number in the key's unit, or a
/// humantime string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Number(f64),
    Text(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSummarizer {
    command: Option<Vec<String>>,
    timeout_seconds: Option<RawDuration>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    listen: Option<String>,
    gap_minutes: Option<RawDuration>,
    soft_cut_minutes: Option<RawDuration>,
    switch_window_minutes: Option<RawDuration>,
    max_session_hours: Option<RawDuration>,
    tick_seconds: Option<RawDuration>,
    window_minutes: Option<RawDuration>,
    flush_minutes: Option<RawDuration>,
    retry_backoff_minutes: Option<Vec<RawDuration>>,
    max_reduce_attempts: Option<u32>,
    empty_session_minutes: Option<RawDuration>,
    daily_safety_net: Option<String>,
    future_tolerance_seconds: Option<RawDuration>,
    ignore_apps: Option<Vec<String>>,
    ignore_title_patterns: Option<Vec<String>>,
    ignore_url_patterns: Option<Vec<String>>,
    redact_patterns: Option<Vec<String>>,
    privacy_defaults: Option<bool>,
    summarizer: Option<RawSummarizer>,
    api_token_file: Option<PathBuf>,
    http_read_timeout_seconds: Option<RawDuration>,
    min_free_disk_mb: Option<u64>,
}

impl RawDuration {
    /// The duration, reading a bare number in units of `unit`.
    fn resolve(&self, key: &str, unit: Duration) -> std::result::Result<Duration, String> {
        match self {
            Self::Number(n) if n.is_finite() && *n >= 0.0 => Ok(unit.mul_f64(*n)),
            Self::Number(n) => Err(format!("`{key}` = {n} is not a non-negative number")),
            Self::Text(s) => humantime::parse_duration(s)
                .map_err(|e| format!("`{key}` = {s:?} is not a duration like \"30s\" or \"5m\": {e}")),
        }
    }
}

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Settings {
    /// Reads `path` if given (it must exist) or the default config path if
    /// that file exists; otherwise the embedded defaults.
    pub fn load(explicit: Option<&Path>, default_path: Option<&Path>) -> Result<Self> {
        let path: Option<PathBuf> = match (explicit, default_path) {
            (Some(p), _) => Some(p.to_owned()),
            (None, Some(p)) if p.exists() => Some(p.to_owned()),
            (None, _) => None,
        };
        let Some(path) = path else { return Ok(Self::default()) };
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            what: "reading config",
            path: path.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| Error::Config { path, message })
    }

    /// Parses TOML text into settings, validating every value.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let raw: RawSettings = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut s = Self::default();
        let e = &mut s.engine;
        let set =
            |slot: &mut Duration, raw: &Option<RawDuration>, key: &str, unit| -> std::result::Result<(), String> {
                if let Some(r) = raw {
                    *slot = r.resolve(key, unit)?;
                }
                Ok(())
            };
        set(&mut e.gap, &raw.gap_minutes, "gap_minutes", MINUTE)?;
        set(&mut e.soft_cut, &raw.soft_cut_minutes, "soft_cut_minutes", MINUTE)?;
        set(
            &mut e.switch_window,
            &raw.switch_window_minutes,
            "switch_window_minutes",
            MINUTE,
        )?;
        set(&mut e.max_session, &raw.max_session_hours, "max_session_hours", HOUR)?;
        set(&mut e.tick, &raw.tick_seconds, "tick_seconds", SECOND)?;
        set(&mut e.window, &raw.window_minutes, "window_minutes", MINUTE)?;
        set(&mut e.flush, &raw.flush_minutes, "flush_minutes", MINUTE)?;
        set(
            &mut e.future_tolerance,
            &raw.future_tolerance_seconds,
            "future_tolerance_seconds",
            SECOND,
        )?;
        set(
            &mut e.empty_session,
            &raw.empty_session_minutes,
            "empty_session_minutes",
            MINUTE,
        )?;
        if let Some(list) = &raw.retry_backoff_minutes {
            e.retry_backoff = list
                .iter()
                .map(|r| r.resolve("retry_backoff_minutes", MINUTE))
                .collect::<std::result::Result<_, _>>()?;
        }
        if let Some(n) = raw.max_reduce_attempts {
            e.max_reduce_attempts = n;
        }
        if let Some(t) = &raw.daily_safety_net {
            e.daily_safety_net = NaiveTime::parse_from_str(t, "%H:%M")
                .map_err(|_| format!("`daily_safety_net` = {t:?} is not a local time like \"23:55\""))?;
        }
        s.engine = s.engine.validated().map_err(|e| e.to_string())?;
        if let Some(listen) = &raw.listen {
            s.listen = listen
                .parse()
                .map_err(|_| format!("`listen` = {listen:?} is not an address like \"127.0.0.1:5612\""))?;
        }
        s.api_token_file = raw.api_token_file;
        set(
            &mut s.http_read_timeout,
            &raw.http_read_timeout_seconds,
            "http_read_timeout_seconds",
            SECOND,
        )?;
        if s.http_read_timeout.is_zero() {
            return Err("`http_read_timeout_seconds` must be positive".into());
        }
        if let Some(mb) = raw.min_free_disk_mb {
            s.min_free_disk = mb
                .checked_mul(1 << 20)
                .ok_or_else(|| format!("`min_free_disk_mb` = {mb} is more than any disk holds"))?;
        }
        s.privacy = Privacy::new(&UserRules {
            defaults: raw.privacy_defaults,
            ignore_apps: raw.ignore_apps.unwrap_or_default(),
            ignore_title_patterns: raw.ignore_title_patterns.unwrap_or_default(),
            ignore_url_patterns: raw.ignore_url_patterns.unwrap_or_default(),
            redact_patterns: raw.redact_patterns.unwrap_or_default(),
        })?;
        if let Some(summarizer) = raw.summarizer {
            if let Some(command) = summarizer.command {
                if command.is_empty() || command[0].is_empty() {
                    return Err("`summarizer.command` must name a program".into());
                }
                s.summarizer_command = Some(command);
            }
            if let Some(t) = &summarizer.timeout_seconds {
                s.summarizer_timeout = t.resolve("summarizer.timeout_seconds", SECOND)?;
                if s.summarizer_timeout.is_zero() {
                    return Err("`summarizer.timeout_seconds` must be positive".into());
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let s = Settings::parse("").unwrap();
        assert_eq!(s.engine, EngineConfig::default());
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn numbers_use_the_keys_unit_and_strings_are_humantime() {
        let s = Settings::parse("gap_minutes = 2\ntick_seconds = \"500ms\"\nmax_session_hours = \"90m\"\nretry_backoff_minutes = [1, \"2s\"]\n").unwrap();
        assert_eq!(s.engine.gap, 2 * MINUTE);
        assert_eq!(s.engine.tick, Duration::from_millis(500));
        assert_eq!(s.engine.max_session, 90 * MINUTE);
        assert_eq!(s.engine.retry_backoff, [MINUTE, 2 * SECOND]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let unknown = Settings::parse("gap_minuts = 5").unwrap_err();
        assert!(unknown.contains("gap_minuts"), "{unknown}");
        let bad = Settings::parse("gap_minutes = \"soon\"").unwrap_err();
        assert!(bad.contains("gap_minutes"), "{bad}");
        let zero = Settings::parse("gap_minutes = 0").unwrap_err();
        assert!(zero.contains("gap"), "{zero}");
        let regex = Settings::parse("ignore_title_patterns = [\"(\"]").unwrap_err();
        assert!(regex.contains("ignore_title_patterns"), "{regex}");
        let time = Settings::parse("daily_safety_net = \"25:00\"").unwrap_err();
        assert!(time.contains("daily_safety_net"), "{time}");
    }

    #[test]
    fn privacy_keys_reach_the_rules_and_the_defaults_can_be_cleared() {
        let event = |app: &str, title: &str| daybook_core::Event {
            title: Some(title.to_owned()),
            ..daybook_core::Event::new(daybook_core::Timestamp(0), app)
        };
        let s = Settings::parse("ignore_apps = [\"Signal\"]\nignore_title_patterns = [\"(?i)payroll\"]").unwrap();
        assert!(s.privacy.ignores(&event("signal", "x")));
        assert!(s.privacy.ignores(&event("Firefox", "Payroll 2027")));
        assert!(
            s.privacy.ignores(&event("1Password", "x")),
            "defaults stay on under a user list"
        );
        assert!(!s.privacy.ignores(&event("Firefox", "Docs")));
        let cleared = Settings::parse("privacy_defaults = false").unwrap();
        assert!(!cleared.privacy.ignores(&event("1Password", "x")));
        let bad = Settings::parse("ignore_url_patterns = [\"[\"]").unwrap_err();
        assert!(bad.contains("ignore_url_patterns"), "{bad}");
    }
}
