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

/// Where ActivityWatch's watchers look by default: aw-server's own
/// address (the browser extension cannot be pointed anywhere else).
pub const DEFAULT_ACTIVITYWATCH_LISTEN: &str = "127.0.0.1:5600";

/// `activitywatch_listen` as written: an address, or `"off"`.
pub fn parse_activitywatch_listen(text: &str) -> std::result::Result<Option<SocketAddr>, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("`activitywatch_listen` = {text:?} is not an address like \"127.0.0.1:5600\" or \"off\""))
}

/// Everything `daybook run` is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The engine's settings.
    pub engine: EngineConfig,
    /// Where the HTTP API listens.
    pub listen: SocketAddr,
    /// A second listener serving only ActivityWatch's `/api/0`
    /// (`activitywatch_listen`, default `127.0.0.1:5600`; `None` when
    /// `"off"`). If it cannot be bound (ActivityWatch's own server runs
    /// there) the daemon warns once and runs on without it.
    pub activitywatch_listen: Option<SocketAddr>,
    /// The privacy rules: events never stored, parts redacted.
    pub privacy: Privacy,
    /// Which summarizer writes the entries' words.
    pub summarizer: SummarizerSettings,
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
            activitywatch_listen: Some(DEFAULT_ACTIVITYWATCH_LISTEN.parse().expect("valid default address")),
            privacy: Privacy::default(),
            summarizer: SummarizerSettings::Builtin,
            api_token_file: None,
            http_read_timeout: Duration::from_secs(10),
            min_free_disk: 512 << 20,
        }
    }
}

/// The `[summarizer]` table: which summarizer, and its settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SummarizerSettings {
    /// `kind = "builtin"` (or no table): the deterministic offline one.
    Builtin,
    /// `kind = "command"` (or `command` alone): a user command.
    Command {
        /// argv.
        command: Vec<String>,
        /// Longest it may take (`timeout_seconds`, default 60).
        timeout: Duration,
    },
    /// `kind = "openai"`: an OpenAI-compatible chat-completions endpoint.
    OpenAi(OpenAiSettings),
}

/// The settings of `kind = "openai"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiSettings {
    /// The API's base, without the trailing `/chat/completions`
    /// (`http://127.0.0.1:11434/v1` for Ollama).
    pub base_url: String,
    /// The model's name as the server knows it.
    pub model: String,
    /// The name of the environment variable holding the API key, if the
    /// server wants one. The key itself never appears in the file.
    pub api_key_env: Option<String>,
    /// Longest one answer may take, response body included
    /// (`timeout_seconds`, default [`OPENAI_TIMEOUT`]).
    pub timeout: Duration,
    /// A file whose text replaces the built-in system prompt; a relative
    /// path is resolved against the config file's directory.
    pub prompt_file: Option<PathBuf>,
    /// Whether to ask for `response_format: {"type": "json_object"}`
    /// (`json_mode`, default true; LM Studio refuses it).
    pub json_mode: bool,
}

/// How long an external command may take unless `timeout_seconds` says.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an LLM endpoint may take unless `timeout_seconds` says: a
/// local model on a CPU is slow.
pub const OPENAI_TIMEOUT: Duration = Duration::from_secs(120);

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
    kind: Option<String>,
    command: Option<Vec<String>>,
    timeout_seconds: Option<RawDuration>,
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    prompt_file: Option<PathBuf>,
    json_mode: Option<bool>,
}

impl RawSummarizer {
    /// The settings this table asks for; a key of another kind, or a bad
    /// value, is an error naming the key.
    fn resolve(self) -> std::result::Result<SummarizerSettings, String> {
        let openai_keys = [
            ("base_url", self.base_url.is_some()),
            ("model", self.model.is_some()),
            ("api_key_env", self.api_key_env.is_some()),
            ("prompt_file", self.prompt_file.is_some()),
            ("json_mode", self.json_mode.is_some()),
        ];
        let kind = match self.kind.as_deref() {
            Some(kind) => kind,
            None if self.command.is_some() => "command",
            None => {
                if let Some((key, _)) = openai_keys.iter().find(|(_, set)| *set) {
                    return Err(format!(
                        "`summarizer.{key}` needs `kind = \"openai\"` in `[summarizer]`"
                    ));
                }
                "builtin"
            }
        };
        let timeout = |default: Duration| -> std::result::Result<Duration, String> {
            let Some(raw) = &self.timeout_seconds else {
                return Ok(default);
            };
            let t = raw.resolve("summarizer.timeout_seconds", SECOND)?;
            if t.is_zero() {
                return Err("`summarizer.timeout_seconds` must be positive".into());
            }
            Ok(t)
        };
        let only = |kind: &str, keys: &[(&str, bool)]| -> std::result::Result<(), String> {
            match keys.iter().find(|(_, set)| *set) {
                Some((key, _)) => Err(format!("`summarizer.{key}` does not apply to `kind = \"{kind}\"`")),
                None => Ok(()),
            }
        };
        match kind {
            "builtin" => {
                only(kind, &[("command", self.command.is_some())])?;
                only(kind, &openai_keys)?;
                timeout(COMMAND_TIMEOUT)?;
                Ok(SummarizerSettings::Builtin)
            }
            "command" => {
                only(kind, &openai_keys)?;
                let command = self.command.clone().unwrap_or_default();
                if command.is_empty() || command[0].is_empty() {
                    return Err("`summarizer.command` must name a program".into());
                }
                Ok(SummarizerSettings::Command {
                    command,
                    timeout: timeout(COMMAND_TIMEOUT)?,
                })
            }
            "openai" => {
                only(kind, &[("command", self.command.is_some())])?;
                Ok(SummarizerSettings::OpenAi(OpenAiSettings {
                    base_url: base_url(self.base_url.as_deref())?,
                    model: match self.model.as_deref().map(str::trim) {
                        Some(m) if !m.is_empty() => m.to_owned(),
                        _ => return Err("`summarizer.model` must name the model (e.g. \"llama3.2\")".into()),
                    },
                    api_key_env: match self.api_key_env.as_deref() {
                        None => None,
                        Some(name) if is_env_name(name) => Some(name.to_owned()),
                        // Not quoted: a key pasted here by mistake stays out of the log.
                        Some(_) => {
                            return Err("`summarizer.api_key_env` is not an environment variable's name \
                                        (letters, digits and `_`): put the key in a variable and name the variable here"
                                .into());
                        }
                    },
                    timeout: timeout(OPENAI_TIMEOUT)?,
                    prompt_file: self.prompt_file.clone(),
                    json_mode: self.json_mode.unwrap_or(true),
                }))
            }
            other => Err(format!(
                "`summarizer.kind` = {other:?} is not \"builtin\", \"command\" or \"openai\""
            )),
        }
    }
}

/// `base_url` checked: present, `http://HOST[:PORT][/PATH]`, without the
/// endpoint's own `/chat/completions`; returned without a trailing `/`.
fn base_url(raw: Option<&str>) -> std::result::Result<String, String> {
    let example = "like \"http://127.0.0.1:11434/v1\"";
    let Some(raw) = raw else {
        return Err(format!("`summarizer.base_url` must be set, {example}"));
    };
    let url = raw.trim().trim_end_matches('/');
    if url.starts_with("https://") {
        return Err(format!(
            "`summarizer.base_url` = {raw:?}: this daybook speaks plain http:// only (no TLS is built in); \
             use a local server or a TLS-terminating proxy"
        ));
    }
    let uri: Option<ureq::http::Uri> = url.parse().ok();
    if !url.starts_with("http://") || uri.as_ref().and_then(|u| u.host()).is_none_or(str::is_empty) {
        return Err(format!(
            "`summarizer.base_url` = {raw:?} is not an http:// URL {example}"
        ));
    }
    if url.ends_with("/chat/completions") {
        return Err(format!(
            "`summarizer.base_url` = {raw:?} names the endpoint itself; give its base {example}, \
             and daybook adds /chat/completions"
        ));
    }
    Ok(url.to_owned())
}

/// Whether `name` can name an environment variable (portable spelling).
fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    listen: Option<String>,
    activitywatch_listen: Option<String>,
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
    reorder_tolerance_seconds: Option<RawDuration>,
    max_lateness_days: Option<RawDuration>,
    summarizer_concurrency: Option<usize>,
    shutdown_grace_seconds: Option<RawDuration>,
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
const DAY: Duration = Duration::from_secs(24 * 3600);

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
        let mut settings = Self::parse(&text).map_err(|message| Error::Config {
            path: path.clone(),
            message,
        })?;
        if let SummarizerSettings::OpenAi(OpenAiSettings {
            prompt_file: Some(prompt),
            ..
        }) = &mut settings.summarizer
            && prompt.is_relative()
            && let Some(dir) = path.parent()
        {
            *prompt = dir.join(&*prompt);
        }
        Ok(settings)
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
            &mut e.reorder_tolerance,
            &raw.reorder_tolerance_seconds,
            "reorder_tolerance_seconds",
            SECOND,
        )?;
        set(&mut e.max_lateness, &raw.max_lateness_days, "max_lateness_days", DAY)?;
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
        if let Some(n) = raw.summarizer_concurrency {
            e.summarizer_concurrency = n;
        }
        set(
            &mut e.shutdown_grace,
            &raw.shutdown_grace_seconds,
            "shutdown_grace_seconds",
            SECOND,
        )?;
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
        if let Some(aw) = &raw.activitywatch_listen {
            s.activitywatch_listen = parse_activitywatch_listen(aw)?;
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
            s.summarizer = summarizer.resolve()?;
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
        assert_eq!(
            s.activitywatch_listen.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_ACTIVITYWATCH_LISTEN)
        );
    }

    #[test]
    fn the_activitywatch_listener_is_an_address_or_off() {
        let s = Settings::parse("activitywatch_listen = \"off\"").unwrap();
        assert_eq!(s.activitywatch_listen, None);
        let s = Settings::parse("activitywatch_listen = \"127.0.0.1:5666\"").unwrap();
        assert_eq!(s.activitywatch_listen.unwrap().port(), 5666);
        let err = Settings::parse("activitywatch_listen = \"5600\"").unwrap_err();
        assert!(err.contains("activitywatch_listen"), "{err}");
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

    const OLLAMA: &str =
        "[summarizer]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1/\"\nmodel = \"llama3.2\"\n";

    #[test]
    fn the_summarizer_is_builtin_a_command_or_an_llm_endpoint() {
        assert_eq!(Settings::parse("").unwrap().summarizer, SummarizerSettings::Builtin);
        assert_eq!(
            Settings::parse("[summarizer]\nkind = \"builtin\"").unwrap().summarizer,
            SummarizerSettings::Builtin
        );
        let command = SummarizerSettings::Command {
            command: vec!["llm".into(), "-q".into()],
            timeout: COMMAND_TIMEOUT,
        };
        // `command` alone still means the external command.
        assert_eq!(
            Settings::parse("[summarizer]\ncommand = [\"llm\", \"-q\"]")
                .unwrap()
                .summarizer,
            command
        );
        assert_eq!(
            Settings::parse("[summarizer]\nkind = \"command\"\ncommand = [\"llm\", \"-q\"]")
                .unwrap()
                .summarizer,
            command
        );
        let expected = OpenAiSettings {
            base_url: "http://127.0.0.1:11434/v1".into(),
            model: "llama3.2".into(),
            api_key_env: None,
            timeout: OPENAI_TIMEOUT,
            prompt_file: None,
            json_mode: true,
        };
        assert_eq!(
            Settings::parse(OLLAMA).unwrap().summarizer,
            SummarizerSettings::OpenAi(expected.clone())
        );
        let full = format!(
            "{OLLAMA}api_key_env = \"OPENAI_API_KEY\"\ntimeout_seconds = \"90s\"\nprompt_file = \"/etc/p.txt\"\njson_mode = false\n"
        );
        assert_eq!(
            Settings::parse(&full).unwrap().summarizer,
            SummarizerSettings::OpenAi(OpenAiSettings {
                api_key_env: Some("OPENAI_API_KEY".into()),
                timeout: Duration::from_secs(90),
                prompt_file: Some("/etc/p.txt".into()),
                json_mode: false,
                ..expected
            })
        );
    }

    #[test]
    fn bad_summarizer_settings_are_errors_naming_the_key() {
        let base = "[summarizer]\nkind = \"openai\"\nmodel = \"m\"\n";
        for (toml, needle) in [
            ("[summarizer]\nkind = \"gpt\"".to_owned(), "`summarizer.kind` = \"gpt\""),
            ("[summarizer]\nkind = \"command\"".to_owned(), "`summarizer.command`"),
            ("[summarizer]\ncommand = []".to_owned(), "`summarizer.command`"),
            (base.to_owned(), "`summarizer.base_url` must be set"),
            (format!("{base}base_url = \"https://api.openai.com/v1\""), "no TLS"),
            (format!("{base}base_url = \"127.0.0.1:11434/v1\""), "not an http:// URL"),
            (format!("{base}base_url = \"http://\""), "not an http:// URL"),
            (
                format!("{base}base_url = \"http://h/v1/chat/completions\""),
                "names the endpoint itself",
            ),
            (
                "[summarizer]\nkind = \"openai\"\nbase_url = \"http://h/v1\"".to_owned(),
                "`summarizer.model`",
            ),
            (
                "[summarizer]\nkind = \"openai\"\nbase_url = \"http://h/v1\"\nmodel = \" \"".to_owned(),
                "`summarizer.model`",
            ),
            (format!("{OLLAMA}timeout_seconds = 0"), "`summarizer.timeout_seconds`"),
            (format!("{OLLAMA}api_key_env = \"\""), "`summarizer.api_key_env`"),
            (
                format!("{OLLAMA}command = [\"x\"]"),
                "`summarizer.command` does not apply",
            ),
            (format!("{OLLAMA}temperature = 1"), "temperature"),
            (
                "[summarizer]\nmodel = \"m\"".to_owned(),
                "`summarizer.model` needs `kind = \"openai\"`",
            ),
            (
                "[summarizer]\ncommand = [\"x\"]\nbase_url = \"http://h\"".to_owned(),
                "`summarizer.base_url` does not apply to `kind = \"command\"`",
            ),
            (
                "[summarizer]\nkind = \"builtin\"\njson_mode = true".to_owned(),
                "`summarizer.json_mode` does not apply",
            ),
        ] {
            let err = Settings::parse(&toml).unwrap_err();
            assert!(err.contains(needle), "{toml}: {err}");
        }
        // A key pasted where its variable's name belongs is refused, and not echoed.
        let err = Settings::parse(&format!("{OLLAMA}api_key_env = \"sk-proj-abc123\"")).unwrap_err();
        assert!(err.contains("`summarizer.api_key_env`"), "{err}");
        assert!(!err.contains("abc123"), "{err}");
    }

    #[test]
    fn a_relative_prompt_file_is_read_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("{OLLAMA}prompt_file = \"prompt.txt\"\n")).unwrap();
        let s = Settings::load(Some(&config), None).unwrap();
        let SummarizerSettings::OpenAi(llm) = &s.summarizer else {
            panic!("{:?}", s.summarizer)
        };
        assert_eq!(
            llm.prompt_file.as_deref(),
            Some(dir.path().join("prompt.txt").as_path())
        );

        // Startup reads it, and a missing one stops startup naming it.
        let err = crate::server::summarizer(&s).unwrap_err();
        assert!(err.to_string().contains("prompt.txt"), "{err}");
        std::fs::write(dir.path().join("prompt.txt"), "Summarize in French.").unwrap();
        assert!(matches!(
            crate::server::summarizer(&s).unwrap(),
            crate::summarizer::DaemonSummarizer::OpenAi(_)
        ));
    }

    #[test]
    fn an_api_key_variable_that_is_not_set_stops_startup() {
        let s = Settings::parse(&format!("{OLLAMA}api_key_env = \"DAYBOOK_TEST_NEVER_SET_4F1A\"\n")).unwrap();
        let err = crate::server::summarizer(&s).unwrap_err();
        assert!(
            matches!(&err, Error::ApiKeyUnset { var } if var == "DAYBOOK_TEST_NEVER_SET_4F1A"),
            "{err}"
        );
        assert!(err.to_string().contains("DAYBOOK_TEST_NEVER_SET_4F1A"), "{err}");
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
