//! The daemon's clock: the one place wall time enters daybook. Everything
//! downstream receives `now` as a [`Timestamp`] plus the local offset.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Local, NaiveDate, NaiveTime, TimeZone};
use daybook_core::{Timestamp, UtcOffset};

/// Now, in UTC milliseconds.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The local UTC offset at `at`.
pub fn local_offset(at: Timestamp) -> UtcOffset {
    let dt = DateTime::from_timestamp_millis(at.0).unwrap_or(DateTime::UNIX_EPOCH);
    UtcOffset(Local.from_utc_datetime(&dt.naive_utc()).offset().local_minus_utc())
}

/// Today's local date.
pub fn today() -> NaiveDate {
    let t = now();
    t.local_date(local_offset(t))
}

/// The next instant strictly after `after` at which the local wall clock
/// reads `time` (the daily safety net). Skips a time a DST gap removes.
pub fn next_local(after: Timestamp, time: NaiveTime) -> Timestamp {
    let mut day = after.local_date(local_offset(after));
    for _ in 0..4 {
        if let Some(t) = Local.from_local_datetime(&day.and_time(time)).earliest() {
            let ts = Timestamp(t.timestamp_millis());
            if ts > after {
                return ts;
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    Timestamp(after.0 + 24 * 3_600_000)
}

/// The UTC instants bounding the local day `day`: `[start, end)`.
pub fn local_day_bounds(day: NaiveDate) -> (Timestamp, Timestamp) {
    let at = |d: NaiveDate| {
        Local
            .from_local_datetime(&d.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(Timestamp(0), |t| Timestamp(t.timestamp_millis()))
    };
    (at(day), at(day.succ_opt().unwrap_or(day)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_local_is_strictly_later_and_within_a_day() {
        let t = now();
        let next = next_local(t, NaiveTime::from_hms_opt(23, 55, 0).unwrap());
        assert!(next > t);
        assert!(next.0 - t.0 <= 25 * 3_600_000);
        assert_eq!(next.hhmm(local_offset(next)), "23:55");
    }
}
