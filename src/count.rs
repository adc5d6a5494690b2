//! Whole-number fields of policies and events, read strictly.
//!
//! A scaling policy that says `"max": "12"` or `"change": 12.5` is almost certainly a mistake,
//! and Lambda's API takes 32-bit signed integers, so every count is a JSON integer within an
//! explicit range. The range shows up in the error message.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Largest reserved concurrency Lambda's API can express (`i32::MAX`).
pub const MAX_COUNT: i64 = i32::MAX as i64;

/// Reads one JSON integer in `min..=max`; strings, fractions, booleans and out-of-range
/// values are refused with a message that states the accepted range.
pub fn deserialize_int_in_range<'de, D: Deserializer<'de>>(
    deserializer: D,
    min: i64,
    max: i64,
) -> Result<i64, D::Error> {
    struct IntInRange {
        min: i64,
        max: i64,
    }

    impl IntInRange {
        fn check<E: de::Error>(&self, value: i128) -> Result<i64, E> {
            if value < i128::from(self.min) || value > i128::from(self.max) {
                return Err(E::custom(format_args!(
                    "{value} is out of range: expected a whole number from {} to {}",
                    self.min, self.max
                )));
            }
            // In range of two i64 bounds, so the narrowing cannot fail.
            Ok(value as i64)
        }
    }

    impl<'de> Visitor<'de> for IntInRange {
        type Value = i64;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(
                f,
                "a JSON integer from {} to {} (not a string or a fraction)",
                self.min, self.max
            )
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            self.check(i128::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            self.check(i128::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            // serde_json reports integers beyond u64 as floats; say so rather than "fraction".
            Err(E::invalid_type(de::Unexpected::Float(v), &self))
        }
    }

    deserializer.deserialize_any(IntInRange { min, max })
}

/// A non-negative count Lambda can accept: reserved concurrency, bounds, caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(pub u32);

impl<'de> serde::Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = deserialize_int_in_range(deserializer, 0, MAX_COUNT)?;
        // 0..=i32::MAX always fits in u32.
        Ok(Count(value as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Count, String> {
        serde_json::from_str::<Count>(json).map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_integers_in_range() {
        assert_eq!(parse("0"), Ok(Count(0)));
        assert_eq!(parse("2147483647"), Ok(Count(i32::MAX as u32)));
    }

    #[test]
    fn refuses_strings_fractions_negatives_and_overflow_with_the_range() {
        for (input, expected) in [
            ("\"12\"", "invalid type: string \"12\""),
            ("12.5", "invalid type: floating point `12.5`"),
            (
                "-1",
                "-1 is out of range: expected a whole number from 0 to 2147483647",
            ),
            ("2147483648", "2147483648 is out of range"),
            ("18446744073709551616", "invalid type: floating point"),
            ("true", "invalid type: boolean `true`"),
            ("null", "invalid type: null"),
        ] {
            let err = parse(input).unwrap_err();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }
}
