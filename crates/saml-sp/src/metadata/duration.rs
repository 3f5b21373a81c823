//! `xs:duration` (ISO 8601) as used by `cacheDuration`: `PnYnMnDTnHnMnS`.
//!
//! Years count 365 days and months 30: a cache duration only needs to be roughly right,
//! and it is always capped by configuration. Negative durations and fractions other than
//! in seconds are refused.

use std::time::Duration;

/// Parses an `xs:duration`; `None` when it is not one we accept.
#[must_use]
pub fn parse(s: &str) -> Option<Duration> {
    let rest = s.trim().strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut secs: f64 = 0.0;
    secs += fields(
        date,
        &[
            ('Y', 365.0 * 86_400.0),
            ('M', 30.0 * 86_400.0),
            ('W', 7.0 * 86_400.0),
            ('D', 86_400.0),
        ],
        false,
    )?;
    if let Some(t) = time {
        secs += fields(t, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)], true)?;
    }
    if !secs.is_finite() || secs > 1.0e12 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Sums `number unit` pairs in the given unit order; only the last unit of the time
/// part ('S') may carry a fraction.
fn fields(s: &str, units: &[(char, f64)], fraction_in_last: bool) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = s;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(end);
        let unit = tail.chars().next()?;
        let position = units.iter().skip(next_unit).position(|(u, _)| *u == unit)? + next_unit;
        let is_last = position + 1 == units.len();
        if number.is_empty() || (number.contains('.') && !(fraction_in_last && is_last)) {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        total += value * units.get(position)?.1;
        next_unit = position + 1;
        rest = tail.get(unit.len_utf8()..)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_cache_durations_parse() {
        assert_eq!(parse("PT1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("PT6H30M"), Some(Duration::from_secs(6 * 3600 + 1800)));
        assert_eq!(parse("P1D"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse("P1DT0.5S"), Some(Duration::from_millis(86_400_500)));
    }

    #[test]
    fn malformed_durations_are_refused() {
        for bad in [
            "", "P", "PT", "1H", "-PT1H", "PT1.5H", "PTH", "P1H", "PT1M1H", "PT1S1S", "P1YT",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,30}") {
            let _ = parse(&s);
        }

        #[test]
        fn generated_durations_round_trip(h in 0u64..1000, m in 0u64..60, sec in 0u64..60) {
            prop_assert_eq!(parse(&format!("PT{h}H{m}M{sec}S")), Some(Duration::from_secs(h * 3600 + m * 60 + sec)));
        }
    }
}
