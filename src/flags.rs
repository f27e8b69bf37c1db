//! Parsers for numeric flags: a NaN, a negative rate or a clock factor of 1e-20 is refused while
//! the command line is read (exit 2, naming the flag), long before it could panic a timer.

/// A ceiling on Management API calls per second; None is no ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling(pub Option<f64>);

/// `--rate 500`, `--rate unlimited`.
pub fn ceiling(text: &str) -> Result<Ceiling, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "unlimited" | "none" | "off" => Ok(Ceiling(None)),
        _ => rate(text)
            .map(|r| Ceiling(Some(r)))
            .map_err(|e| format!("{e}; give calls per second, or \"unlimited\"")),
    }
}

/// A fraction of calls or clients: 0 to 1.
pub fn fraction(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a fraction between 0 and 1"))
    }
}

/// How far the emulator's clock may be sped up or slowed down: beyond it, timeouts would be
/// centuries or microseconds.
pub const TIME_SCALE_RANGE: std::ops::RangeInclusive<f64> = 0.001..=100_000.0;

/// A clock factor within [`TIME_SCALE_RANGE`].
pub fn time_scale(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    let range = TIME_SCALE_RANGE;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "{value} is outside {} to {} (timeouts would be centuries or microseconds)",
            range.start(),
            range.end()
        ))
    }
}

/// Calls per second: finite and above 0.
pub fn rate(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a rate above 0"))
    }
}

fn number(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{text:?} is not a finite number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert_eq!(fraction("0.25"), Ok(0.25));
        assert!(fraction("1.5").is_err() && fraction("nan").is_err() && fraction("-0.1").is_err());
        assert_eq!(time_scale("60"), Ok(60.0));
        assert!(
            time_scale("1e-20").is_err() && time_scale("inf").is_err() && time_scale("0").is_err()
        );
        assert!(rate("0").is_err() && rate("-5").is_err() && rate("x").is_err());
        assert_eq!(rate("1000"), Ok(1000.0));
    }
}
