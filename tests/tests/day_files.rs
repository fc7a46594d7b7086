//! Day files changed behind daybook's back: a start finds them by their
//! `stat` against what daybook recorded when it made them durable (see
//! `daemon/src/projection.rs`), and rewrites them from the database.

mod common;

use common::{Daemon, Fixture, assert_clean, event, now_rfc3339};
use serde_json::Value;

#[test]
fn an_edited_or_deleted_day_file_is_rewritten_at_start() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    let at = now_rfc3339();
    let acked: Vec<String> = (0..4).map(|i| format!("first-{i}")).collect();
    let batch: Vec<Value> = acked.iter().map(|t| event("Code", &at, t)).collect();
    daemon.post_ok(&Value::Array(batch));
    daemon.stop();
    let files = fx.day_files();
    assert_eq!(files.len(), 1, "the stop wrote one day file: {files:?}");
    let (day, written) = files.into_iter().next().expect("a day file");
    let path = fx.days().join(format!("event-{day}.md"));

    // Edited: same length, one byte changed; a start puts it back.
    let mut edited = written.clone().into_bytes();
    let i = edited.len() - 2;
    edited[i] = if edited[i] == b'#' { b'%' } else { b'#' };
    std::fs::write(&path, &edited).expect("edit");
    let mut daemon = Daemon::start(&fx);
    daemon.stop();
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        written,
        "the edit survived a start"
    );

    // Deleted: a start writes it again.
    std::fs::remove_file(&path).expect("delete");
    let mut daemon = Daemon::start(&fx);
    daemon.stop();
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        written,
        "the file was not written again"
    );
    assert_clean(&fx, &acked, &[]);
}

/// A SIGTERM sent the moment the address file appears (as a service
/// manager or a script waiting for it may) stops daybook cleanly: its stop
/// signals are handled before the file is written. The start is held just
/// after writing the file (`address-written=sleep`), so the signal lands
/// there every time; when the signals were taken over only afterwards, it
/// met the default action and killed the daemon mid-start.
#[test]
fn a_sigterm_as_soon_as_the_address_is_written_stops_cleanly() {
    let fx = Fixture::new("");
    let mut daemon = Daemon::start(&fx);
    daemon.post_ok(&event("Code", &now_rfc3339(), "typed"));
    daemon.stop();
    let written = fx.day_files();
    let mut daemon = Daemon::start_with(&fx, Some("address-written=sleep(500)"));
    daemon.stop();
    assert_eq!(fx.day_files(), written, "the day file is as the first stop left it");
    assert_clean(&fx, &["typed".to_owned()], &[]);
}
