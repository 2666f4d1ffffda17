//! Back-off with jitter and `Retry-After` in both of its forms (RFC 9110 §10.2.3).

use crate::config::RetryConfig;
use reqwest::header::HeaderValue;
use std::time::{Duration, SystemTime};

/// The longest `Retry-After` passed on to the hub (and from it to the host). A larger value, or
/// a date years ahead, is an upstream bug rather than advice worth waiting for; an hour keeps
/// the hint useful without telling a host to give up for good.
pub const MAX_REPORTED_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as a wait from `now`: delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete forms `httpdate` reads). A date in the
/// past means "now" (zero). Anything else is `None`. Capped at [`MAX_REPORTED_RETRY_AFTER`].
pub fn parse_retry_after(value: Option<&HeaderValue>, now: SystemTime) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    let wait = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: delta-seconds. Too many digits for u64 is simply "very long".
        Duration::from_secs(text.parse().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(text).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_REPORTED_RETRY_AFTER))
}

/// A wait as whole seconds, rounded up (0.2 s is "1", not "0", so a host waits long enough).
pub fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs();
    if wait.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

/// Exponential back-off before retry number `retry` (1-based) with "equal jitter": half
/// fixed, half random, so simultaneous clients spread out but never retry at once.
pub fn backoff(retry: &RetryConfig, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    let base = retry
        .initial_backoff
        .saturating_mul(factor)
        .min(retry.max_backoff);
    let half = base / 2;
    half + half.mul_f64(rand::random_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after(Some(&header("7")), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(Some(&header(" 0 ")), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(Some(&header("99999999999999999999999")), now),
            Some(MAX_REPORTED_RETRY_AFTER)
        );
        for bad in ["-1", "1.5", "soon", "", "7s"] {
            assert_eq!(parse_retry_after(Some(&header(bad)), now), None, "{bad}");
        }
        assert_eq!(parse_retry_after(None, now), None);
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        // 2015-10-21 07:28:00 UTC, read at 07:26:00.
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:26:00 GMT").unwrap();
        for form in [
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "Wednesday, 21-Oct-15 07:28:00 GMT",
            "Wed Oct 21 07:28:00 2015",
        ] {
            assert_eq!(
                parse_retry_after(Some(&header(form)), now),
                Some(Duration::from_secs(120)),
                "{form}"
            );
        }
        // In the past: retry now.
        assert_eq!(
            parse_retry_after(Some(&header("Wed, 21 Oct 2015 07:00:00 GMT")), now),
            Some(Duration::ZERO)
        );
        // Absurdly far ahead: capped.
        assert_eq!(
            parse_retry_after(Some(&header("Fri, 01 Jan 9999 00:00:00 GMT")), now),
            Some(MAX_REPORTED_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after(Some(&header("Wed, 32 Oct 2015 07:28:00 GMT")), now),
            None
        );
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(200)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(120)), 120);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let config = RetryConfig::default();
        for attempt in 1..40 {
            let d = backoff(&config, attempt);
            assert!(d <= config.max_backoff, "{d:?}");
            assert!(d >= config.initial_backoff / 2, "{d:?}");
        }
        assert!(backoff(&config, 8) >= config.max_backoff / 2);
        assert!(backoff(&config, 1) <= config.initial_backoff);
    }
}
