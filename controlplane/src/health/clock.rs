//! Wall-clock times as the status and agent values carry them, in UTC.
//!
//! containerdns's scanner writes `"last_report":"2006-01-02 15:04:05"` (its
//! local time); ferrodns writes the same layout in UTC, and RFC 3339 for the
//! time of a verdict.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DD HH:MM:SS` (UTC), as containerdns's agents report.
pub(crate) fn report_time(at: SystemTime) -> String {
    let (date, time) = civil(at);
    format!("{date} {time}")
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(at: SystemTime) -> String {
    let (date, time) = civil(at);
    format!("{date}T{time}Z")
}

/// The date and the time of day of `at`, in UTC.
fn civil(at: SystemTime) -> (String, String) {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_come_out_in_both_layouts() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_731_425);
        assert_eq!(report_time(at), "2026-12-08 12:03:45");
        assert_eq!(rfc3339(at), "2026-12-08T12:03:45Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
