//! The one error type of the `daybook` daemon and command line.

use std::path::PathBuf;

use thiserror::Error;

/// The most bytes of a bad input an error message quotes.
pub const QUOTE_MAX_BYTES: usize = 200;

/// `input` as an error message quotes it: Rust-escaped, at most
/// [`QUOTE_MAX_BYTES`] bytes of it (cut at a character boundary), and when
/// cut, how long it was. A 3 MiB bad value must not come back whole.
pub fn quote(input: &str) -> String {
    if input.len() <= QUOTE_MAX_BYTES {
        return format!("{input:?}");
    }
    let mut end = QUOTE_MAX_BYTES;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes in all)", &input[..end], input.len())
}

/// Why a daemon or command could not do what was asked.
#[derive(Debug, Error)]
pub enum Error {
    /// The engine, a store transaction or the summarizer refused.
    #[error(transparent)]
    Core(#[from] daybook_core::Error),
    /// SQLite failed outside a store transaction (opening, migrating).
    #[error("database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// SQLite's own error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database's schema is newer than this build understands.
    #[error("database {path} has schema version {found}; this daybook knows up to {known}: upgrade daybook")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The newest version this build migrates to.
        known: i64,
    },
    /// The database file is damaged in a way SQLite does not refuse by
    /// itself (cut inside a page, a bad page startup would not read).
    #[error("database {path} is damaged: {problem}; daybook left it untouched: restore a backup or move it away")]
    Damaged {
        /// The database file.
        path: PathBuf,
        /// What is wrong, as daybook or `PRAGMA quick_check` says.
        problem: String,
    },
    /// A file or directory could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done ("reading config", "writing day file").
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A row holds values no daybook writes (a status without its end, an
    /// unknown reason): the database was edited by hand or is damaged.
    #[error("corrupt {table} row {key}: {problem}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is inconsistent.
        problem: &'static str,
    },
    /// Another daemon owns the data directory.
    #[error("data directory {dir} is in use by another daybook (pid {pid}); stop it first")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's pid as it wrote it, or "unknown".
        pid: String,
    },
    /// A read-only command found no data directory or no database: it
    /// never creates one.
    #[error("no {what} at {path}: nothing has been recorded there (start `daybook run`, or pass --data-dir)")]
    Missing {
        /// "data directory" or "database".
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The config file is malformed or holds an invalid value.
    #[error("config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, as the TOML parser or the validator says.
        message: String,
    },
    /// The config names an environment variable for the summarizer's API
    /// key, and daybook's environment does not hold it.
    #[error(
        "`summarizer.api_key_env` names {var}, which is not set (or is empty or not UTF-8) in daybook's environment"
    )]
    ApiKeyUnset {
        /// The variable's name.
        var: String,
    },
    /// No daemon answers on the address this command talks to.
    #[error("no daybook daemon answers at {addr}: {reason}")]
    NotRunning {
        /// The API address.
        addr: String,
        /// The client's error.
        reason: String,
    },
    /// The daemon answered with an error status.
    #[error("daemon answered {status}: {body}")]
    Api {
        /// HTTP status code.
        status: u16,
        /// Its JSON error body.
        body: String,
    },
    /// The engine thread panicked: a bug in daybook. The daemon stops, and
    /// its next start reads the database in full.
    #[error("the engine thread panicked (a bug in daybook; see the log above)")]
    EnginePanicked,
    /// The thread that writes day files beside the engine is gone.
    #[error("the day-file thread stopped (a bug in daybook; see the log above)")]
    DayFileThreadStopped,
    /// An input file (import, ingest) is not what the command expects.
    #[error("{path}: {message}")]
    BadInput {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The MCP server could not start or its transport failed.
    #[error("MCP server: {0}")]
    Mcp(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for the daemon's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_keeps_short_input_and_cuts_long_input_at_a_char_boundary() {
        assert_eq!(quote("yesterday"), "\"yesterday\"");
        // 199 ASCII bytes then a 3-byte char across the 200-byte mark.
        let long = format!("{}€{}", "a".repeat(199), "b".repeat(3 << 20));
        let q = quote(&long);
        assert!(q.len() < QUOTE_MAX_BYTES + 40, "{} bytes", q.len());
        assert!(q.starts_with(&format!("\"{}\"", "a".repeat(199))), "{q}");
        assert!(q.ends_with(&format!("({} bytes in all)", long.len())), "{q}");
        let exact = "x".repeat(QUOTE_MAX_BYTES);
        assert_eq!(quote(&exact), format!("{exact:?}"));
    }
}
