//! CloudWatch metrics as Embedded Metric Format log lines: printed by gate-report, extracted by CloudWatch, no API call.

use crate::flows::gate_report::RunMetrics;
use serde_json::json;

/// The metrics namespace.
pub const NAMESPACE: &str = "CodeCommitGate";

/// Parses an RFC 3339 UTC timestamp (`2026-11-22T10:00:00Z`, fractions allowed) to epoch ms.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, rest) = t.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_ms) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let i = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        let offset = (oh.parse::<i64>().ok()? * 60 + om.parse::<i64>().ok()?) * 60_000;
        (c, sign * offset)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = hms.splitn(3, ':');
    let (h, min, s): (i64, i64, i64) = (
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
        c.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        if !digits.chars().all(|ch| ch.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<3}").parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3_600 + min * 60 + s) * 1_000 + ms) - offset_ms)
}

/// One EMF line for a reported run, at `now_ms`, with the repository as dimension.
pub fn emf(repository: &str, metrics: &RunMetrics, now_ms: i64) -> String {
    let duration = metrics
        .started_at
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .map(|start| (now_ms - start).max(0));
    let mut names = vec![
        json!({"Name": "QueueTime", "Unit": "Milliseconds"}),
        json!({"Name": "ChecksRun", "Unit": "Count"}),
        json!({"Name": "ChecksSkipped", "Unit": "Count"}),
        json!({"Name": "Passed", "Unit": "Count"}),
        json!({"Name": "Flaky", "Unit": "Count"}),
    ];
    let mut line = json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [],
        },
        "Repository": repository,
        "QueueTime": metrics.queue_ms,
        "ChecksRun": metrics.checks_run,
        "ChecksSkipped": metrics.checks_skipped,
        "Passed": u64::from(metrics.passed),
        "Flaky": metrics.flaky,
    });
    if let Some(d) = duration {
        names.insert(0, json!({"Name": "RunDuration", "Unit": "Milliseconds"}));
        line["RunDuration"] = json!(d);
    }
    line["_aws"]["CloudWatchMetrics"] = json!([{
        "Namespace": NAMESPACE,
        "Dimensions": [["Repository"]],
        "Metrics": names,
    }]);
    line.to_string()
}

/// One EMF line counting an announcement the bus did not take (`AnnouncementsFailed`, with the
/// event's detail type as dimension), at `now_ms`: an alarm on it tells that teams' rules
/// missed events while the gate itself went on.
pub fn announcement_failed(detail_type: &str, now_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["DetailType"]],
                "Metrics": [{"Name": "AnnouncementsFailed", "Unit": "Count"}],
            }],
        },
        "DetailType": detail_type,
        "AnnouncementsFailed": 1,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_to_epoch_milliseconds() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T10:00:00Z"),
            Some(1_795_341_600_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T10:00:00.25Z"),
            Some(1_795_341_600_250)
        );
        assert_eq!(
            parse_rfc3339_ms("2026-11-22T11:00:00+01:00"),
            Some(1_795_341_600_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2000-02-29T00:00:00Z"),
            Some(951_782_400_000)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-22T25:00:00Z",
            "2026-11-22",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let m = RunMetrics {
            started_at: Some("2026-11-22T10:00:00Z".into()),
            queue_ms: 8_000,
            checks_run: 3,
            checks_skipped: 2,
            passed: true,
            flaky: 1,
        };
        let line: serde_json::Value =
            serde_json::from_str(&emf("my-repo", &m, 1_795_341_660_000)).expect("JSON");
        assert_eq!(line["RunDuration"], 60_000);
        assert_eq!(line["Passed"], 1);
        let declared: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        for name in &declared {
            assert!(line.get(*name).is_some(), "{name} declared but missing");
        }
        assert_eq!(declared.len(), 6);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        let no_start = RunMetrics {
            started_at: None,
            ..m
        };
        let line: serde_json::Value = serde_json::from_str(&emf("r", &no_start, 0)).expect("JSON");
        assert!(line.get("RunDuration").is_none());
    }

    #[test]
    fn a_failed_announcement_is_one_count_by_detail_type() {
        let line: serde_json::Value =
            serde_json::from_str(&announcement_failed("Gate Run State Change", 5)).expect("JSON");
        assert_eq!(line["AnnouncementsFailed"], 1);
        assert_eq!(line["DetailType"], "Gate Run State Change");
        assert_eq!(line["_aws"]["Timestamp"], 5);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "AnnouncementsFailed"
        );
    }
}
