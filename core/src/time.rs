//! Instants, UTC offsets and wall-clock windows.
//!
//! Every instant inside the engine is a [`Timestamp`]: milliseconds since the
//! Unix epoch, UTC. The local offset the user had at that moment travels
//! beside it as a [`UtcOffset`]; it is used only to decide which local day an
//! entry belongs to and to print `HH:MM`. Timestamps are ordered as integers,
//! never as text, so a DST change cannot reorder them.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

/// One instant: UTC milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// The local offset from UTC in seconds (east positive), stored beside an
/// instant for display and for choosing a day file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UtcOffset(pub i32);

/// The largest offset a real time zone uses, with margin (±18 h, as RFC 3339
/// parsers and chrono accept).
const MAX_OFFSET_SECS: i32 = 18 * 3600;

/// Milliseconds in a duration, saturating at `i64::MAX`.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Timestamp {
    /// Milliseconds from `earlier` to `self`; negative when `earlier` is later.
    pub fn millis_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whether more than `d` has passed from `earlier` to `self`.
    pub fn exceeds(self, earlier: Self, d: Duration) -> bool {
        self.millis_since(earlier) > millis(d)
    }

    /// The start of the window of width `width` that holds `self`.
    ///
    /// Windows are aligned on the UTC epoch grid. For every offset that is a
    /// multiple of the width (any whole-minute offset with the default
    /// one-minute window) that grid is the wall-clock grid (`[10:00, 10:01)`
    /// local). Aligning in UTC rather than per event's offset keeps the
    /// windows of one session disjoint even when the offset changes inside
    /// it (DST), which per-offset alignment could not promise for wider
    /// windows.
    pub fn window_start(self, width: Duration) -> Self {
        let w = millis(width).max(1);
        Self(self.0 - self.0.rem_euclid(w))
    }

    /// The local calendar date of this instant at `offset`.
    pub fn local_date(self, offset: UtcOffset) -> NaiveDate {
        self.local(offset).date_naive()
    }

    /// This instant as a chrono date-time at `offset`, for display.
    pub fn local(self, offset: UtcOffset) -> DateTime<FixedOffset> {
        let tz = offset.fixed();
        DateTime::from_timestamp_millis(self.0)
            .unwrap_or(DateTime::UNIX_EPOCH)
            .with_timezone(&tz)
    }

    /// `HH:MM` local time at `offset`.
    pub fn hhmm(self, offset: UtcOffset) -> String {
        let mut out = String::with_capacity(5);
        self.push_hhmm(offset, &mut out);
        out
    }

    /// Appends [`Self::hhmm`] to `out`. Plain arithmetic on the
    /// milliseconds, the same digits as chrono's `%H:%M` of
    /// [`Self::local`] (an instant chrono cannot represent reads as the
    /// epoch, an offset it refuses as UTC), without its formatting
    /// machinery: every entry's heading and sub-task line shows two of
    /// these, and chrono's formatter was a tenth of the built-in summary
    /// (BENCHMARKS.md, "reduce-pending, second pass").
    pub fn push_hhmm(self, offset: UtcOffset, out: &mut String) {
        let millis = if DateTime::from_timestamp_millis(self.0).is_some() {
            self.0
        } else {
            0
        };
        let seconds = millis.div_euclid(1000) + i64::from(offset.fixed().local_minus_utc());
        let minute = seconds.div_euclid(60).rem_euclid(24 * 60);
        let (h, m) = (minute / 60, minute % 60);
        for d in [h / 10, h % 10] {
            out.push(char::from(b'0' + d as u8));
        }
        out.push(':');
        for d in [m / 10, m % 10] {
            out.push(char::from(b'0' + d as u8));
        }
    }

    /// RFC 3339 with offset and milliseconds, the daemon's `--json` format.
    pub fn rfc3339(self, offset: UtcOffset) -> String {
        self.local(offset).to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Self;
    fn add(self, d: Duration) -> Self {
        Self(self.0.saturating_add(millis(d)))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Self;
    fn sub(self, d: Duration) -> Self {
        Self(self.0.saturating_sub(millis(d)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339(UtcOffset(0)))
    }
}

impl UtcOffset {
    /// UTC itself.
    pub const UTC: Self = Self(0);

    /// Whether the offset lies within ±18 h.
    pub fn is_valid(self) -> bool {
        (-MAX_OFFSET_SECS..=MAX_OFFSET_SECS).contains(&self.0)
    }

    /// The chrono offset; out-of-range values fall back to UTC (callers
    /// validate offsets at ingest, so this only guards display).
    pub fn fixed(self) -> FixedOffset {
        FixedOffset::east_opt(self.0).unwrap_or(FixedOffset::east_opt(0).expect("zero offset"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn window_start_aligns_to_the_minute() {
        // 2026-03-29T00:59:59.999Z and 01:00:00Z
        let before = Timestamp(1_774_745_999_999);
        assert_eq!(before.window_start(MIN), Timestamp(1_774_745_940_000));
        let on = Timestamp(1_774_746_000_000);
        assert_eq!(on.window_start(MIN), on);
    }

    #[test]
    fn ordering_is_numeric_across_a_dst_change() {
        // 01:30+01:00 (CET) is 00:30Z; 01:10+02:00 (CEST) is 23:10Z the day
        // before. As text "01:10+02:00" < "01:30+01:00"; as instants too, but
        // for the right reason: compare 02:10+02:00 (00:10Z) with
        // 01:30+01:00 (00:30Z): text says later, time says earlier.
        let cet = Timestamp(1_774_744_200_000); // 00:30Z
        let cest = Timestamp(1_774_743_000_000); // 00:10Z
        assert!(cest.rfc3339(UtcOffset(7200)) > cet.rfc3339(UtcOffset(3600)));
        assert!(cest < cet);
    }

    #[test]
    fn local_date_follows_the_offset() {
        let t = Timestamp(1_774_740_600_000); // 2026-03-28T23:30Z
        assert_eq!(t.local_date(UtcOffset::UTC).to_string(), "2026-03-28");
        assert_eq!(t.local_date(UtcOffset(3600)).to_string(), "2026-03-29");
        assert_eq!(t.hhmm(UtcOffset(-5 * 3600)), "18:30");
    }

    #[test]
    fn hhmm_at_the_edges_of_what_chrono_represents() {
        for at in [
            i64::MIN,
            i64::MAX,
            -1,
            0,
            59_999,
            60_000,
            -60_001,
            8_210_266_876_799_999,
        ] {
            for offset in [i32::MIN, -86_400, -86_399, -3600, 0, 1, 3600, 86_399, 86_400, i32::MAX] {
                let (t, o) = (Timestamp(at), UtcOffset(offset));
                assert_eq!(t.hhmm(o), t.local(o).format("%H:%M").to_string(), "{at} {offset}");
            }
        }
    }

    quickcheck! {
        /// `hhmm` by arithmetic equals chrono's `%H:%M` of the same
        /// instant at the same offset, refused offsets and instants
        /// chrono cannot hold included.
        fn hhmm_equals_chronos_formatting(at: i64, scale: u8, offset: i32) -> bool {
            // Instants near now as often as anywhere in the i64 range.
            let at = if scale.is_multiple_of(2) { at } else { at % 10_000_000_000_000 };
            let offset = if scale.is_multiple_of(3) { offset } else { offset % 90_000 };
            let (t, o) = (Timestamp(at), UtcOffset(offset));
            t.hhmm(o) == t.local(o).format("%H:%M").to_string()
        }

        /// A window holds its instant, is `width` wide, and starts on the
        /// wall-clock grid for every offset that is a multiple of the width.
        fn window_holds_instant_and_aligns_locally(at: i64, minutes: u8, offset_quarters: i8) -> bool {
            let at = at / 4; // keep at + offset far from overflow
            let width = Duration::from_secs(60 * (u64::from(minutes % 15) + 1));
            let w = millis(width);
            let start = Timestamp(at).window_start(width);
            let offset_ms = i64::from(offset_quarters % 72) * 15 * 60_000;
            let holds = start.0 <= at && at < start.0 + w;
            let local_aligned = offset_ms % w != 0 || (start.0 + offset_ms).rem_euclid(w) == 0;
            holds && local_aligned && Timestamp(start.0 + w - 1).window_start(width) == start
        }

        /// Two instants share a window exactly when their window starts match,
        /// and windows never overlap: the next window starts where one ends.
        fn windows_partition_time(a: i64, b: i64) -> bool {
            let (a, b) = (a / 4, b / 4);
            let sa = Timestamp(a).window_start(MIN);
            let sb = Timestamp(b).window_start(MIN);
            let same = (a - sa.0) < 60_000 && (b - sb.0) < 60_000;
            same && (sa == sb) == ((a.min(b) >= sa.0.max(sb.0)) && (a.max(b) < sa.0.max(sb.0) + 60_000))
        }

        /// The local date is the UTC date shifted by the offset, whatever the
        /// offset (ordering never goes through text).
        fn local_date_is_shifted_utc_date(at: i32, offset_quarters: i8) -> bool {
            let at = i64::from(at) * 1000;
            let offset = UtcOffset(i32::from(offset_quarters % 72) * 900);
            let shifted = Timestamp(at + i64::from(offset.0) * 1000).local_date(UtcOffset::UTC);
            Timestamp(at).local_date(offset) == shifted
        }
    }
}
