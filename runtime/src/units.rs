//! Sizes and durations written for people — `"16 MiB"`, `"250ms"` — as a
//! manifest's `[limits]` and the Tauri plugin's configuration write them.

use std::time::Duration;

/// What a size or duration string gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitError {
    /// Not a number followed by a known unit.
    Malformed,
    /// The number does not fit (in bytes or in a `Duration`).
    TooLarge,
}

/// The units [`parse_size`] knows, for error messages.
pub const SIZE_HELP: &str = "write bytes or a number with B, KB, MB, GB, KiB, MiB or GiB";

/// The units [`parse_duration`] knows, for error messages.
pub const DURATION_HELP: &str = "write milliseconds or a number with us, ms, s or m";

/// Splits `"16 MiB"` into `16` and `"MiB"`.
fn number_and_unit(text: &str) -> Result<(u64, &str), UnitError> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(UnitError::Malformed);
    }
    let n = digits.parse::<u64>().map_err(|_| UnitError::TooLarge)?;
    Ok((n, unit.trim_start()))
}

/// A size in bytes: a whole number, optionally followed (with or without a
/// space) by `B`, `KB`/`kB`, `MB`, `GB` (powers of 1,000) or `KiB`, `MiB`,
/// `GiB` (powers of 1,024).
///
/// ```
/// use wasp_runtime::units::{parse_size, UnitError};
/// assert_eq!(parse_size("16 MiB"), Ok(16 << 20));
/// assert_eq!(parse_size("2kB"), Ok(2000));
/// assert_eq!(parse_size("lots"), Err(UnitError::Malformed));
/// ```
///
/// # Errors
///
/// [`UnitError::Malformed`] for anything else, [`UnitError::TooLarge`] when
/// the bytes do not fit in a `u64`.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let (n, unit) = number_and_unit(text)?;
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(UnitError::Malformed),
    };
    n.checked_mul(scale).ok_or(UnitError::TooLarge)
}

/// A duration: a whole number followed by `us` (or `µs`), `ms`, `s` or `m`.
///
/// ```
/// use std::time::Duration;
/// use wasp_runtime::units::parse_duration;
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("2 m"), Ok(Duration::from_secs(120)));
/// ```
///
/// # Errors
///
/// [`UnitError::Malformed`] without a known unit, [`UnitError::TooLarge`]
/// when the number does not fit.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let (n, unit) = number_and_unit(text)?;
    match unit {
        "us" | "µs" => Ok(Duration::from_micros(n)),
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or(UnitError::TooLarge),
        _ => Err(UnitError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_refuse_what_they_cannot_read() {
        for text in ["", "MiB", "12 parsecs", "-1", "1.5 MiB", "0x10"] {
            assert_eq!(parse_size(text), Err(UnitError::Malformed), "{text:?}");
        }
        assert_eq!(parse_size("99999999999999999999"), Err(UnitError::TooLarge));
        assert_eq!(parse_size("18446744073709551615 GiB"), Err(UnitError::TooLarge));
        assert_eq!(parse_duration("5 h"), Err(UnitError::Malformed));
        assert_eq!(parse_duration("10"), Err(UnitError::Malformed), "a bare number has no unit here");
        assert_eq!(parse_duration("18446744073709551615 m"), Err(UnitError::TooLarge));
        assert_eq!(parse_duration(" 7 s "), Ok(Duration::from_secs(7)));
    }
}
