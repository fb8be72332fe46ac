//! Typed reads of GGUF metadata whose errors name the key at fault.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

/// A conversion step's result: the error is a message that the caller ties to the GGUF path.
pub(crate) type Msg<T> = std::result::Result<T, String>;

/// A read-only view of a GGUF file's key/value metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metadata<'a> {
    map: &'a HashMap<String, Value>,
}

impl<'a> Metadata<'a> {
    /// Wraps the metadata map of a GGUF file.
    pub(crate) fn new(map: &'a HashMap<String, Value>) -> Self {
        Self { map }
    }

    /// The value of `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// The value of `key`, or an error naming the missing key.
    fn require(&self, key: &str) -> Msg<&'a Value> {
        self.get(key)
            .ok_or_else(|| format!("missing metadata key `{key}`"))
    }

    /// The non-negative integer at `key`, if present (any GGUF integer type).
    pub(crate) fn opt_usize(&self, key: &str) -> Msg<Option<usize>> {
        self.get(key).map(|v| to_usize(key, v)).transpose()
    }

    /// The non-negative integer at `key`.
    pub(crate) fn usize(&self, key: &str) -> Msg<usize> {
        to_usize(key, self.require(key)?)
    }

    /// The token id at `key`, if present.
    pub(crate) fn opt_u32(&self, key: &str) -> Msg<Option<u32>> {
        self.opt_usize(key)?
            .map(|n| u32::try_from(n).map_err(|_| format!("metadata key `{key}`: {n} exceeds u32")))
            .transpose()
    }

    /// The floating-point number at `key`, if present (F32, F64 or an integer).
    pub(crate) fn opt_f64(&self, key: &str) -> Msg<Option<f64>> {
        self.get(key).map(|v| to_f64(key, v)).transpose()
    }

    /// The floating-point number at `key`.
    pub(crate) fn f64(&self, key: &str) -> Msg<f64> {
        to_f64(key, self.require(key)?)
    }

    /// The boolean at `key`, if present.
    pub(crate) fn opt_bool(&self, key: &str) -> Msg<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(key, "a boolean", other)),
        }
    }

    /// The string at `key`, if present.
    pub(crate) fn opt_str(&self, key: &str) -> Msg<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong_type(key, "a string", other)),
        }
    }

    /// The string at `key`.
    pub(crate) fn str(&self, key: &str) -> Msg<&'a str> {
        self.opt_str(key)?
            .ok_or_else(|| format!("missing metadata key `{key}`"))
    }

    /// The array at `key`.
    fn array(&self, key: &str) -> Msg<&'a [Value]> {
        match self.require(key)? {
            Value::Array(items) => Ok(items),
            other => Err(wrong_type(key, "an array", other)),
        }
    }

    /// The number of elements of the array at `key`, if present.
    pub(crate) fn opt_array_len(&self, key: &str) -> Msg<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => Ok(Some(self.array(key)?.len())),
        }
    }

    /// The array of strings at `key`.
    pub(crate) fn strings(&self, key: &str) -> Msg<Vec<&'a str>> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(wrong_type(&format!("{key}[{i}]"), "a string", other)),
            })
            .collect()
    }

    /// The array of integers at `key` (any GGUF integer type, each fitting an `i32`).
    pub(crate) fn i32s(&self, key: &str) -> Msg<Vec<i32>> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let item = format!("{key}[{i}]");
                let n = to_i128(v).ok_or_else(|| wrong_type(&item, "an integer", v))?;
                i32::try_from(n).map_err(|_| format!("metadata key `{item}`: {n} exceeds i32"))
            })
            .collect()
    }
}

/// Any GGUF integer, widened.
fn to_i128(v: &Value) -> Option<i128> {
    Some(match v {
        Value::U8(n) => i128::from(*n),
        Value::I8(n) => i128::from(*n),
        Value::U16(n) => i128::from(*n),
        Value::I16(n) => i128::from(*n),
        Value::U32(n) => i128::from(*n),
        Value::I32(n) => i128::from(*n),
        Value::U64(n) => i128::from(*n),
        Value::I64(n) => i128::from(*n),
        _ => return None,
    })
}

/// A GGUF integer as a `usize`, refusing negative values.
fn to_usize(key: &str, v: &Value) -> Msg<usize> {
    let n = to_i128(v).ok_or_else(|| wrong_type(key, "an integer", v))?;
    usize::try_from(n).map_err(|_| format!("metadata key `{key}`: {n} is not a valid count or id"))
}

/// A GGUF number as an `f64`. An `F32` goes through its shortest decimal form, so that
/// `1e-5` stored as F32 becomes `1e-5` rather than `9.999999747378752e-6`.
fn to_f64(key: &str, v: &Value) -> Msg<f64> {
    match v {
        Value::F32(x) => x
            .to_string()
            .parse::<f64>()
            .map_err(|e| format!("metadata key `{key}`: {e}")),
        Value::F64(x) => Ok(*x),
        other => to_i128(other)
            .map(|n| n as f64)
            .ok_or_else(|| wrong_type(key, "a number", other)),
    }
}

/// The message for a value of the wrong type.
fn wrong_type(key: &str, expected: &str, found: &Value) -> String {
    format!(
        "metadata key `{key}` should be {expected}, found {:?}",
        found.value_type()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Value)>) -> HashMap<String, Value> {
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    #[test]
    fn integers_of_any_width_read_as_usize() {
        let m = map(vec![
            ("a", Value::U32(7)),
            ("b", Value::I64(9)),
            ("c", Value::I32(-1)),
        ]);
        let md = Metadata::new(&m);
        assert_eq!(md.usize("a"), Ok(7));
        assert_eq!(md.usize("b"), Ok(9));
        assert!(md.usize("c").is_err_and(|e| e.contains("`c`")));
        assert!(md
            .usize("missing")
            .is_err_and(|e| e.contains("missing metadata key `missing`")));
        assert_eq!(md.opt_usize("missing"), Ok(None));
    }

    #[test]
    fn f32_keeps_its_decimal_value() {
        let m = map(vec![
            ("eps", Value::F32(1e-5)),
            ("s", Value::String("x".into())),
        ]);
        let md = Metadata::new(&m);
        assert_eq!(md.f64("eps"), Ok(1e-5));
        assert!(md
            .f64("s")
            .is_err_and(|e| e.contains("`s` should be a number")));
    }

    #[test]
    fn arrays_are_typed() {
        let m = map(vec![
            (
                "t",
                Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            ),
            ("n", Value::Array(vec![Value::I32(1), Value::U8(3)])),
            ("bad", Value::Array(vec![Value::I32(1)])),
        ]);
        let md = Metadata::new(&m);
        assert_eq!(md.strings("t"), Ok(vec!["a", "b"]));
        assert_eq!(md.i32s("n"), Ok(vec![1, 3]));
        assert_eq!(md.opt_array_len("t"), Ok(Some(2)));
        assert!(md.strings("bad").is_err_and(|e| e.contains("`bad[0]`")));
    }
}
