//! Event time: RFC 3339 parsing and formatting in Unix milliseconds.
//!
//! Detection runs on the event's own clock, never the wall clock, so replay
//! equals live. Every event carries an RFC 3339 `time`; parsing it is on the
//! hot path, so this is a small hand-written parser over bytes (no
//! allocation, no locale, no time-zone database) instead of a general
//! date-time library. Offsets (`+07:00`) and fractional seconds are honoured;
//! leap seconds (`:60`) are folded into the next second as most systems do.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
/// Howard Hinnant's `days_from_civil`, exact for every year in range.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses an RFC 3339 date-time (`2026-03-02T08:15:27Z`,
/// `2026-03-02T15:15:27.250+07:00`) into Unix milliseconds.
/// Accepts `t`/space for `T` and `z` for `Z`, as RFC 3339 section 5.6 allows.
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)? as i64;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let min = digits(b, 14, 2)?;
    let sec = digits(b, 17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            // Keep milliseconds, ignore finer digits.
            if i - start < 3 {
                millis = millis * 10 + (b[i] - b'0') as u32;
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..3 {
            millis *= 10;
        }
    }
    let offset_min: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)? as i64;
            let om = digits(b, i + 4, 2)? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if *sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64 - offset_min * 60;
    Some(secs * 1000 + millis as i64)
}

/// Formats Unix milliseconds as RFC 3339 UTC, with milliseconds only when
/// they are not zero (`2026-03-09T19:02:44Z`, `2026-03-09T19:02:44.031Z`).
pub fn format_rfc3339(ms: Millis, out: &mut String) {
    use std::fmt::Write;
    let days = ms.div_euclid(DAY);
    let rem = ms.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / HOUR,
        (rem / MINUTE) % 60,
        (rem / SECOND) % 60,
        rem % 1000,
    );
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if milli != 0 {
        let _ = write!(out, ".{milli:03}");
    }
    out.push('Z');
}

/// [`format_rfc3339`] into a new string (for cold paths).
pub fn rfc3339(ms: Millis) -> String {
    let mut s = String::with_capacity(24);
    format_rfc3339(ms, &mut s);
    s
}

/// The wall clock, for `detected_at` only: detection logic never calls it.
pub fn wall_clock_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Day number (days since 1970-01-01) of a time.
#[inline]
pub fn day_of(ms: Millis) -> i64 {
    ms.div_euclid(DAY)
}

/// Hour of day (0..24) and whether the day is a weekend (Saturday, Sunday),
/// at a fixed UTC offset in minutes.
#[inline]
pub fn hour_and_weekend(ms: Millis, offset_min: i32) -> (u32, bool) {
    let local = ms + offset_min as i64 * MINUTE;
    let days = local.div_euclid(DAY);
    let hour = (local.rem_euclid(DAY) / HOUR) as u32;
    // 1970-01-01 was a Thursday: weekday index 0 = Monday gives (days + 3) % 7.
    let wd = (days + 3).rem_euclid(7);
    (hour, wd >= 5)
}

/// Parses durations written as `90s`, `15m`, `48h`, `7d` (config values).
pub fn parse_duration(s: &str) -> Option<Millis> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let v: f64 = num.parse().ok()?;
    let unit_ms = match unit.trim() {
        "ms" => 1.0,
        "s" => SECOND as f64,
        "m" | "min" => MINUTE as f64,
        "h" => HOUR as f64,
        "d" => DAY as f64,
        _ => return None,
    };
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some((v * unit_ms).round() as Millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_utc_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-03-02T08:15:27Z"),
            parse_rfc3339("2026-03-02T15:15:27+07:00")
        );
        assert_eq!(
            parse_rfc3339("2026-03-02T08:15:27.25Z").unwrap() % 1000,
            250
        );
        assert_eq!(
            parse_rfc3339("2026-03-02T08:15:27.123456789Z").unwrap() % 1000,
            123
        );
        assert_eq!(
            parse_rfc3339("2026-03-02t08:15:27z"),
            parse_rfc3339("2026-03-02T08:15:27Z")
        );
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "2026-03-02",
            "2026-03-02T08:15:27",
            "2026-02-30T08:15:27Z",
            "2026-13-01T08:15:27Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T08:15:27+7:00",
            "2026-03-02T08:15:27.Z",
            "2026-03-02T08:15:27Zjunk",
            "yesterday at noon, roughly",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_some());
        assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn weekday_and_hour() {
        // 2026-03-07 is a Saturday.
        let sat = parse_rfc3339("2026-03-07T10:00:00Z").unwrap();
        assert_eq!(hour_and_weekend(sat, 0), (10, true));
        // 23:00 UTC Friday is 06:00 Saturday in Jakarta (UTC+7).
        let fri = parse_rfc3339("2026-03-06T23:00:00Z").unwrap();
        assert_eq!(hour_and_weekend(fri, 0), (23, false));
        assert_eq!(hour_and_weekend(fri, 7 * 60), (6, true));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(15 * MINUTE));
        assert_eq!(parse_duration("48h"), Some(48 * HOUR));
        assert_eq!(parse_duration("1.5d"), Some(36 * HOUR));
        assert_eq!(parse_duration("15 parsecs"), None);
        assert_eq!(parse_duration("m"), None);
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in -2_000_000_000_000i64..8_000_000_000_000i64) {
            let s = rfc3339(ms);
            prop_assert_eq!(parse_rfc3339(&s), Some(ms));
        }

        #[test]
        fn civil_round_trips(days in -1_000_000i64..1_000_000i64) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
