//! Activity events as capture clients send them, and the checks every event
//! passes before the engine looks at it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::session::SessionId;
use crate::time::{Timestamp, UtcOffset};

/// Longest accepted app name, in bytes.
pub const MAX_APP_BYTES: usize = 256;
/// Longest accepted window title, in bytes.
pub const MAX_TITLE_BYTES: usize = 4 * 1024;
/// Longest accepted URL, in bytes.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Longest accepted typed text, in bytes. Block lines keep at most
/// [`crate::block::MAX_LINE_TEXT_BYTES`] of it; the event keeps all of it.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest accepted source tag, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256;
/// The earliest instant an event may claim: 1970-01-01T00:00:00Z.
pub const EPOCH: Timestamp = Timestamp(0);

/// One capture: what the user was doing at `at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When the capture was taken, as the client says.
    pub at: Timestamp,
    /// The client's local offset at `at`.
    pub offset: UtcOffset,
    /// The focused application; required and non-empty.
    pub app: String,
    /// The focused window's title.
    pub title: Option<String>,
    /// The page's URL, for browsers.
    pub url: Option<String>,
    /// Text the user typed.
    pub text: Option<String>,
    /// Which capture client sent it.
    pub source: Option<String>,
}

/// An event as the store keeps it: the session that owns it and the time it
/// was attributed at (never earlier than anything attributed before it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Position in the store's append order, assigned on commit.
    pub seq: u64,
    /// The owning session.
    pub session_id: SessionId,
    /// The engine's time for this event (SPEC §2): its own `at`, or the
    /// watermark when it arrived no more than `reorder_tolerance` behind it.
    pub attributed: Timestamp,
    /// Which block of its session's window holds it: 0 for events that
    /// arrived before their window's block was written; a late event into
    /// a window whose block already exists gets the next revision, so no
    /// block an entry already covers ever changes (see [`crate::Block::rev`]).
    #[serde(default)]
    pub rev: u32,
    /// The event as received.
    pub event: Event,
}

impl Event {
    /// A bare event of `app` at `at` in UTC; handy for tests and tools.
    pub fn new(at: Timestamp, app: impl Into<String>) -> Self {
        Self {
            at,
            offset: UtcOffset::UTC,
            app: app.into(),
            title: None,
            url: None,
            text: None,
            source: None,
        }
    }

    /// Rejects what daybook will not store: a blank app, over-long fields,
    /// an offset beyond ±18 h, an instant before 1970 or more than
    /// `future_tolerance` after `now` (SPEC §2: one event from the future
    /// would pin every later event to its instant).
    pub fn validate(&self, now: Timestamp, future_tolerance: Duration) -> Result<(), Error> {
        self.validate_fields()?;
        self.validate_future(now, future_tolerance)
    }

    /// The one check of [`Self::validate`] that depends on `now`: `at` is
    /// no more than `future_tolerance` after it. For a caller that has
    /// checked the fields already and needs only the bound at its own
    /// `now`.
    pub fn validate_future(&self, now: Timestamp, future_tolerance: Duration) -> Result<(), Error> {
        if self.at > now + future_tolerance {
            return Err(Error::InvalidEvent {
                field: "at",
                reason: "is further in the future than `future_tolerance_seconds` allows",
            });
        }
        Ok(())
    }

    /// Refuses an event older than `now - max_lateness` (SPEC §2,
    /// `max_lateness_days`).
    pub fn validate_lateness(&self, now: Timestamp, max_lateness: Duration) -> Result<(), Error> {
        if now.exceeds(self.at, max_lateness) {
            return Err(Error::InvalidEvent {
                field: "at",
                reason: "is older than `max_lateness_days` allows",
            });
        }
        Ok(())
    }

    /// [`Self::validate`] without the bound on the future, which needs the
    /// configured tolerance: for a parser that hands events on to the
    /// engine, which checks that bound at its own `now`.
    pub fn validate_fields(&self) -> Result<(), Error> {
        let invalid = |field, reason| Err(Error::InvalidEvent { field, reason });
        if self.app.trim().is_empty() {
            return invalid("app", "must not be empty");
        }
        let limits = [
            ("app", Some(&self.app), MAX_APP_BYTES),
            ("title", self.title.as_ref(), MAX_TITLE_BYTES),
            ("url", self.url.as_ref(), MAX_URL_BYTES),
            ("text", self.text.as_ref(), MAX_TEXT_BYTES),
            ("source", self.source.as_ref(), MAX_SOURCE_BYTES),
        ];
        for (field, value, max) in limits {
            if value.is_some_and(|v| v.len() > max) {
                return invalid(field, "is too long");
            }
        }
        if !self.offset.is_valid() {
            return invalid("offset", "must lie within ±18 hours");
        }
        if self.at < EPOCH {
            return invalid("at", "is before 1970-01-01");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);
    const TOLERANCE: Duration = Duration::from_secs(60);

    #[test]
    fn a_plain_event_is_valid() {
        Event::new(NOW, "Code").validate(NOW, TOLERANCE).unwrap();
        Event::new(NOW + TOLERANCE, "Code").validate(NOW, TOLERANCE).unwrap();
        Event::new(EPOCH, "Code").validate(NOW, TOLERANCE).unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(Event, &str)> = vec![
            (Event::new(NOW, "  "), "app"),
            (
                Event {
                    title: Some("t".repeat(MAX_TITLE_BYTES + 1)),
                    ..Event::new(NOW, "A")
                },
                "title",
            ),
            (
                Event {
                    url: Some("u".repeat(MAX_URL_BYTES + 1)),
                    ..Event::new(NOW, "A")
                },
                "url",
            ),
            (
                Event {
                    text: Some("x".repeat(MAX_TEXT_BYTES + 1)),
                    ..Event::new(NOW, "A")
                },
                "text",
            ),
            (
                Event {
                    offset: UtcOffset(19 * 3600),
                    ..Event::new(NOW, "A")
                },
                "offset",
            ),
            (Event::new(NOW + TOLERANCE + Duration::from_millis(1), "A"), "at"),
            (Event::new(Timestamp(-1), "A"), "at"),
        ];
        for (event, field) in cases {
            match event.validate(NOW, TOLERANCE) {
                Err(Error::InvalidEvent { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected rejection, got {other:?}"),
            }
        }
    }
}
