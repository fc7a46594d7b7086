//! The optional API token. Without one, daybook's API answers any local
//! client that passes the guard's Host and Origin checks (web pages are
//! kept out by those). With one, every `/v1` and `/mcp` request must carry
//! it as `Authorization: Bearer TOKEN`, which keeps other local users out
//! too, and daybook may listen beyond loopback.
//!
//! The token is in force when `api_token_file` names a file, or when the
//! data directory holds [`TOKEN_FILE`] (written by `daybook token --new`).
//! The daemon reads it once at start; the command line reads the same
//! file for its own requests. A token file named in the config must
//! exist: a missing one stops startup rather than silently serving
//! without a token.

use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::projection::write_atomically;

/// The token file `daybook token --new` writes in the data directory.
pub const TOKEN_FILE: &str = "api-token";

/// Random bytes in a new token (shown as twice as many hex digits).
const TOKEN_BYTES: usize = 32;

/// Where the token in force lives, whether or not the file exists yet.
pub fn path(settings: &Settings, data_root: &Path) -> PathBuf {
    settings
        .api_token_file
        .clone()
        .unwrap_or_else(|| data_root.join(TOKEN_FILE))
}

/// The token in force, or `None` when none is set.
pub fn load(settings: &Settings, data_root: &Path) -> Result<Option<String>> {
    let path = path(settings, data_root);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && settings.api_token_file.is_none() => {
            return Ok(None);
        }
        Err(source) => {
            return Err(Error::Io {
                what: "reading the API token",
                path,
                source,
            });
        }
    };
    if let Ok(meta) = std::fs::metadata(&path) {
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the API token file can be read by other users; make a new one with `daybook token --new`"
            );
        }
    }
    let token = text.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::BadInput {
            path,
            message: "the API token file must hold one token on one line".into(),
        });
    }
    Ok(Some(token.to_owned()))
}

/// Writes a new random token to the file in force (0600) and returns it.
pub fn create(settings: &Settings, data_root: &Path) -> Result<String> {
    let path = path(settings, data_root);
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| Error::Io {
        what: "drawing random bytes for the API token",
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (
            if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            },
            name.to_string_lossy(),
        ),
        _ => {
            return Err(Error::BadInput {
                path,
                message: "not a file path".into(),
            });
        }
    };
    write_atomically(dir, &name, &format!("{token}\n"))?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_no_token_and_a_new_one_is_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings::default();
        assert_eq!(load(&settings, dir.path()).unwrap(), None);
        let token = create(&settings, dir.path()).unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert_eq!(load(&settings, dir.path()).unwrap().as_deref(), Some(token.as_str()));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(TOKEN_FILE)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(create(&settings, dir.path()).unwrap(), token, "each token is new");
    }

    #[test]
    fn a_planted_temp_file_or_symlink_neither_receives_the_token_nor_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("attacker-owned");
        std::fs::write(&elsewhere, "before\n").unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::os::unix::fs::symlink(&elsewhere, shared.join(".token.tmp")).unwrap();
        let settings = Settings {
            api_token_file: Some(shared.join("token")),
            ..Settings::default()
        };
        let token = create(&settings, dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&elsewhere).unwrap(),
            "before\n",
            "written through the link"
        );
        assert_eq!(load(&settings, dir.path()).unwrap().as_deref(), Some(token.as_str()));
        let meta = std::fs::symlink_metadata(shared.join("token")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_configured_file_must_exist_and_hold_one_token() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            api_token_file: Some(dir.path().join("elsewhere")),
            ..Settings::default()
        };
        assert!(load(&settings, dir.path()).is_err(), "missing configured file");
        std::fs::write(dir.path().join("elsewhere"), "a b\n").unwrap();
        assert!(load(&settings, dir.path()).is_err(), "two words");
        std::fs::write(dir.path().join("elsewhere"), "\n").unwrap();
        assert!(load(&settings, dir.path()).is_err(), "empty");
        std::fs::write(dir.path().join("elsewhere"), "abc\n").unwrap();
        assert_eq!(load(&settings, dir.path()).unwrap().as_deref(), Some("abc"));
    }
}
