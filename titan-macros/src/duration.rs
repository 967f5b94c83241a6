//! Durations written as strings in attribute options (`interval = "10s"`,
//! `timeout = "500ms"`), checked at compile time.
//!
//! Three pieces, one per step of a macro: [`DurationOption`] takes the string
//! out of the attribute (parse, through darling), [`parse`] reads it (validate)
//! and [`tokens`] writes the checked value into the expansion (expand).

use std::fmt;
use std::time::Duration;

use darling::FromMeta;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

/// The units a duration may be written in, with their length in nanoseconds.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 60 * 60 * 1_000_000_000),
    ("d", 24 * 60 * 60 * 1_000_000_000),
];

/// How a duration string is written, for error messages.
pub(crate) const HOW: &str = "write a number and a unit, like \"500ms\", \"10s\", \"1.5s\" or \"2m\"; \
                              the units are `ns`, `us`, `ms`, `s`, `m` (minutes), `h` and `d`";

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Nothing at all.
    Empty,
    /// No digits before the unit (`"ms"`, `"-1s"`, `".5s"`).
    NoNumber,
    /// A number with no unit (`"10"`).
    NoUnit,
    /// A unit that is not one of [`UNITS`] (`"10sec"`).
    UnknownUnit(String),
    /// A malformed number (`"1.s"`, `"1.2.3s"`).
    BadNumber,
    /// A fraction finer than a nanosecond (`"1.5ns"`).
    TooPrecise,
    /// More nanoseconds than a `u64` holds (about 584 years).
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationError::Empty => f.write_str("the duration is empty"),
            DurationError::NoNumber => f.write_str("it does not start with a number"),
            DurationError::NoUnit => f.write_str("it has no unit"),
            DurationError::UnknownUnit(unit) => write!(f, "`{unit}` is not a unit"),
            DurationError::BadNumber => f.write_str("its number is malformed"),
            DurationError::TooPrecise => f.write_str("it is not a whole number of nanoseconds"),
            DurationError::TooLong => f.write_str("it is too long (at most about 584 years)"),
        }
    }
}

/// Reads a duration: a non-negative number (`10`, `1.5`) followed directly by
/// a unit (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`), nothing else. Zero is a
/// duration; whether it makes sense is the caller's call.
pub(crate) fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(DurationError::NoNumber);
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit);
    }
    let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(DurationError::UnknownUnit(unit.to_owned()));
    };

    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    let malformed =
        whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.contains('.');
    if malformed {
        return Err(DurationError::BadNumber);
    }
    let whole: u64 = whole.parse().map_err(|_| DurationError::TooLong)?;
    let mut nanos = whole.checked_mul(scale).ok_or(DurationError::TooLong)?;

    // The fraction, exactly: `digits / 10^len` of a unit.
    let fraction = fraction.trim_end_matches('0');
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().map_err(|_| DurationError::TooPrecise)?;
        let denominator = u32::try_from(fraction.len())
            .ok()
            .and_then(|len| 10_u128.checked_pow(len))
            .ok_or(DurationError::TooPrecise)?;
        // Overflows only for a fraction of more digits than any unit has nanoseconds.
        let scaled = digits
            .checked_mul(u128::from(scale))
            .ok_or(DurationError::TooPrecise)?;
        if scaled % denominator != 0 {
            return Err(DurationError::TooPrecise);
        }
        let part = u64::try_from(scaled / denominator).map_err(|_| DurationError::TooLong)?;
        nanos = nanos.checked_add(part).ok_or(DurationError::TooLong)?;
    }
    Ok(Duration::from_nanos(nanos))
}

/// The message for a string that is not a duration.
pub(crate) fn message(text: &str, error: &DurationError) -> String {
    format!("\"{text}\" is not a duration: {error}; {HOW}")
}

/// `::core::time::Duration::from_nanos(N)`: const, and free of the prelude.
pub(crate) fn tokens(duration: Duration) -> TokenStream {
    // `parse` never yields more nanoseconds than a `u64` holds.
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    quote!(::core::time::Duration::from_nanos(#nanos))
}

/// A duration option as written (`interval = "10s"`): the string and where it
/// is. Taken by darling; [`parse`] checks it.
#[derive(Debug, Clone)]
pub(crate) struct DurationOption {
    pub(crate) text: String,
    pub(crate) span: Span,
}

impl FromMeta for DurationOption {
    fn from_value(value: &syn::Lit) -> darling::Result<Self> {
        match value {
            syn::Lit::Str(text) => Ok(DurationOption {
                text: text.value(),
                span: text.span(),
            }),
            syn::Lit::Int(_) | syn::Lit::Float(_) => Err(darling::Error::custom(format!(
                "write the duration as a string with its unit: {HOW}"
            ))
            .with_span(value)),
            other => Err(
                darling::Error::custom(format!("a duration is a string: {HOW}")).with_span(other),
            ),
        }
    }

    fn from_expr(expr: &syn::Expr) -> darling::Result<Self> {
        match expr {
            syn::Expr::Lit(lit) => Self::from_value(&lit.lit),
            syn::Expr::Group(group) => Self::from_expr(&group.expr),
            other => Err(
                darling::Error::custom(format!("a duration is a string literal: {HOW}"))
                    .with_span(&other.span()),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse(text).unwrap_or_else(|error| panic!("{text:?}: {error}"))
    }

    #[test]
    fn every_unit_reads() {
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.25ms"), Duration::from_micros(250));
        assert_eq!(ok("1.50s"), Duration::from_millis(1500));
        assert_eq!(ok("2.0h"), Duration::from_secs(7200));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("1.5m"), Duration::from_secs(90));
    }

    #[test]
    fn malformed_strings_say_why() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("ms"), Err(DurationError::NoNumber));
        assert_eq!(parse("-1s"), Err(DurationError::NoNumber));
        assert_eq!(parse(" 1s"), Err(DurationError::NoNumber));
        assert_eq!(parse(".5s"), Err(DurationError::BadNumber));
        assert_eq!(parse("1.s"), Err(DurationError::BadNumber));
        assert_eq!(parse("1.2.3s"), Err(DurationError::BadNumber));
        assert_eq!(parse("10"), Err(DurationError::NoUnit));
        assert_eq!(
            parse("10sec"),
            Err(DurationError::UnknownUnit("sec".into()))
        );
        assert_eq!(parse("10 s"), Err(DurationError::UnknownUnit(" s".into())));
        assert_eq!(
            parse("1m30s"),
            Err(DurationError::UnknownUnit("m30s".into()))
        );
        assert_eq!(parse("10S"), Err(DurationError::UnknownUnit("S".into())));
        assert_eq!(parse("1.5ns"), Err(DurationError::TooPrecise));
        assert_eq!(parse("0.0000000001s"), Err(DurationError::TooPrecise));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(parse("1000000d"), Err(DurationError::TooLong));
        assert_eq!(
            parse("99999999999999999999999s"),
            Err(DurationError::TooLong)
        );
        assert_eq!(ok("18446744073709551615ns"), Duration::from_nanos(u64::MAX));
        assert_eq!(parse("18446744073709551616ns"), Err(DurationError::TooLong));
    }

    #[test]
    fn messages_list_the_units() {
        let error = parse("10sec").expect_err("not a unit");
        let text = message("10sec", &error);
        assert!(text.starts_with("\"10sec\" is not a duration: `sec` is not a unit;"));
        for unit in ["`ns`", "`us`", "`ms`", "`s`", "`m`", "`h`", "`d`"] {
            assert!(text.contains(unit), "{text}");
        }
    }

    #[test]
    fn tokens_are_const_nanoseconds() {
        let tokens = tokens(Duration::from_millis(1500)).to_string();
        assert_eq!(
            tokens,
            ":: core :: time :: Duration :: from_nanos (1500000000u64)"
        );
    }
}
