//! The UTC calendar time the records carry (RFC 3339), from the system clock, without a
//! time-zone library.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar time, from the system clock, without a time-zone library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
    /// Millisecond.
    pub millis: u32,
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

impl Utc {
    /// The calendar time of `t` (times before 1970 clamp to the epoch).
    pub fn from_system(t: SystemTime) -> Self {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs() as i64;
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: ((rem % 3600) / 60) as u32,
            second: (rem % 60) as u32,
            millis: since.subsec_millis(),
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }

    /// Now.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// RFC 3339 with milliseconds: `2026-11-22T04:15:30.123Z`.
    pub fn rfc3339_millis(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }

    /// RFC 3339 to the second, as EventBridge's `time`: `2026-11-22T04:15:30Z`.
    pub fn rfc3339(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Compact and sortable, for run ids: `20261122T041530Z`.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// As CodeCommit writes dates in events: `Fri Nov 20 09:14:02 UTC 2026`.
    pub fn codecommit(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            DAYS[self.weekday as usize % 7],
            MONTHS[(self.month as usize + 11) % 12],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }

    /// Reads `YYYY-MM-DDTHH:MM:SS[.fff]Z` (what [`Utc::rfc3339`] and [`Utc::rfc3339_millis`]
    /// write); `None` for anything else.
    pub fn parse(text: &str) -> Option<SystemTime> {
        let body = text.strip_suffix('Z')?;
        let (date, time) = body.split_once('T')?;
        let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (year, month, day) = (d.next()??, d.next()??, d.next()??);
        let (clock, millis) = time.split_once('.').unwrap_or((time, "0"));
        let mut t = clock.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
        let millis: u64 = format!("{millis:0<3}").get(..3)?.parse().ok()?;
        let valid = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && (0..24).contains(&hour)
            && (0..60).contains(&minute)
            && (0..61).contains(&second);
        if !valid || year < 1970 {
            return None;
        }
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()?;
        Some(
            UNIX_EPOCH
                + std::time::Duration::from_secs(secs)
                + std::time::Duration::from_millis(millis),
        )
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn parse_reads_what_the_writers_write() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_795_061_730_123);
        let utc = Utc::from_system(t);
        assert_eq!(Utc::parse(&utc.rfc3339_millis()), Some(t));
        let whole = UNIX_EPOCH + std::time::Duration::from_secs(1_795_061_730);
        assert_eq!(Utc::parse(&utc.rfc3339()), Some(whole));
        assert_eq!(
            Utc::parse("2024-02-29T23:59:59Z")
                .map(Utc::from_system)
                .map(|u| u.rfc3339())
                .as_deref(),
            Some("2024-02-29T23:59:59Z")
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00",
            "x",
        ] {
            assert_eq!(Utc::parse(bad), None, "{bad}");
        }
    }
}
