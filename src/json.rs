//! JSON read by hand into typed values. Every typed `Deserialize` (derived or not) brings
//! its own visitor and serde_json's `invalid type` error paths into the wasm (together
//! about 10 KB gzip for this worker); a parse into [`Json`] is one instance. The typed reads
//! of [`Members`] reject what the derived impls rejected: a member missing, of another
//! type, or sent twice; unknown members are ignored, as they were.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A JSON value whose objects keep every member in order, duplicates included.
pub enum Json {
    Object(Vec<(String, Json)>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JsonVisitor;
        impl<'de> Visitor<'de> for JsonVisitor {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Other(Value::Null))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Other(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Other(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(Json::Other(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::Other(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::Other(Value::String(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Value>()? {
                    items.push(item);
                }
                Ok(Json::Other(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Json>()? {
                    members.push(entry);
                }
                Ok(Json::Object(members))
            }
        }
        d.deserialize_any(JsonVisitor)
    }
}

/// Why a typed read failed: the JSON text, or the member (`""`: the value itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("invalid JSON")
        } else {
            write!(f, "member `{}` missing, of another type or sent twice", self.0)
        }
    }
}

impl Json {
    /// Parses JSON text (through `serde_json::from_str`, as every parse in the crate).
    pub fn parse(text: &str) -> Result<Json, Invalid> {
        serde_json::from_str(text).map_err(|_| Invalid(""))
    }

    /// Parses JSON bytes (UTF-8 checked first).
    pub fn parse_bytes(bytes: &[u8]) -> Option<Json> {
        Json::parse(std::str::from_utf8(bytes).ok()?).ok()
    }

    /// The members of an object.
    pub fn members(&self) -> Option<Members<'_>> {
        match self {
            Json::Object(m) => Some(Members(m)),
            Json::Other(_) => None,
        }
    }

    /// The plain value (`None` for an object).
    pub fn value(&self) -> Option<&Value> {
        match self {
            Json::Other(v) => Some(v),
            Json::Object(_) => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.value().and_then(Value::as_str)
    }

    pub fn is_null(&self) -> bool {
        self.value().is_some_and(Value::is_null)
    }

    /// An array of strings (every element a string).
    pub fn strings(&self) -> Option<Vec<String>> {
        self.value()?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
    }

    /// An array of `u32` numbers.
    pub fn u32s(&self) -> Option<Vec<u32>> {
        self.value()?.as_array()?.iter().map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok())).collect()
    }
}

/// JSON text that must be an array of strings (a typed `Vec<String>` read).
pub fn strings(text: &str) -> Option<Vec<String>> {
    Json::parse(text).ok()?.strings()
}

/// The members of an object, read by name.
#[derive(Clone, Copy)]
pub struct Members<'a>(&'a [(String, Json)]);

impl<'a> Members<'a> {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first member, if any.
    pub fn first(&self) -> Option<(&'a str, &'a Json)> {
        self.0.first().map(|(k, v)| (k.as_str(), v))
    }

    /// Member `name`, if sent (null included); sent twice is an error.
    pub fn get(&self, name: &'static str) -> Result<Option<&'a Json>, Invalid> {
        let mut found = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        match (found.next(), found.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) | (None, Some(_)) => Err(Invalid(name)),
        }
    }

    /// Member `name` unless absent or null (an `Option` field).
    pub fn opt(&self, name: &'static str) -> Result<Option<&'a Json>, Invalid> {
        Ok(self.get(name)?.filter(|v| !v.is_null()))
    }

    fn need<T>(&self, name: &'static str, read: impl FnOnce(&'a Json) -> Option<T>) -> Result<T, Invalid> {
        self.get(name)?.and_then(read).ok_or(Invalid(name))
    }

    fn maybe<T>(&self, name: &'static str, read: impl FnOnce(&'a Json) -> Option<T>) -> Result<Option<T>, Invalid> {
        self.opt(name)?.map(|v| read(v).ok_or(Invalid(name))).transpose()
    }

    pub fn string(&self, name: &'static str) -> Result<String, Invalid> {
        self.need(name, |v| v.as_str().map(str::to_owned))
    }

    pub fn int(&self, name: &'static str) -> Result<i64, Invalid> {
        self.need(name, |v| v.value()?.as_i64())
    }

    pub fn opt_int(&self, name: &'static str) -> Result<Option<i64>, Invalid> {
        self.maybe(name, |v| v.value()?.as_i64())
    }

    pub fn u32(&self, name: &'static str) -> Result<u32, Invalid> {
        self.need(name, |v| u32::try_from(v.value()?.as_u64()?).ok())
    }

    pub fn opt_u32(&self, name: &'static str) -> Result<Option<u32>, Invalid> {
        self.maybe(name, |v| u32::try_from(v.value()?.as_u64()?).ok())
    }

    /// A `bool` member that defaults to `false` when absent (`null` is of another type).
    pub fn flag(&self, name: &'static str) -> Result<bool, Invalid> {
        self.get(name)?.map_or(Ok(false), |v| v.value().and_then(Value::as_bool).ok_or(Invalid(name)))
    }

    pub fn strings(&self, name: &'static str) -> Result<Vec<String>, Invalid> {
        self.need(name, Json::strings)
    }

    pub fn u32s(&self, name: &'static str) -> Result<Vec<u32>, Invalid> {
        self.need(name, Json::u32s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_reject_what_derived_impls_rejected() {
        let j = Json::parse(r#"{"a":"x","n":-3,"u":7,"f":1.0,"z":null,"b":true,"l":["p","q"],"c":[1,2],"d":1,"d":2}"#)
            .unwrap();
        let m = j.members().unwrap();
        assert_eq!(m.string("a"), Ok("x".to_owned()));
        assert_eq!(m.string("n"), Err(Invalid("n")));
        assert_eq!(m.string("z"), Err(Invalid("z")), "null is not a string");
        assert_eq!(m.string("missing"), Err(Invalid("missing")));
        assert_eq!(m.int("n"), Ok(-3));
        assert_eq!(m.int("f"), Err(Invalid("f")), "a float is not an integer");
        assert_eq!(m.u32("n"), Err(Invalid("n")));
        assert_eq!(m.u32("u"), Ok(7));
        assert_eq!(m.opt_int("z"), Ok(None));
        assert_eq!(m.opt_int("missing"), Ok(None));
        assert_eq!(m.opt_int("a"), Err(Invalid("a")));
        assert_eq!(m.opt_u32("u"), Ok(Some(7)));
        assert_eq!(m.flag("b"), Ok(true));
        assert_eq!(m.flag("missing"), Ok(false));
        assert_eq!(m.flag("z"), Err(Invalid("z")));
        assert_eq!(m.strings("l"), Ok(vec!["p".to_owned(), "q".to_owned()]));
        assert_eq!(m.strings("c"), Err(Invalid("c")));
        assert_eq!(m.u32s("c"), Ok(vec![1, 2]));
        assert_eq!(m.int("d"), Err(Invalid("d")), "sent twice");
        assert!(Json::parse("{").is_err());
        assert_eq!(strings(r#"["a"]"#), Some(vec!["a".to_owned()]));
        assert_eq!(strings(r#"["a",1]"#), None);
        assert_eq!(strings(r#"{}"#), None);
        assert_eq!(u32::MAX, Json::parse("4294967295").unwrap().value().unwrap().as_u64().unwrap() as u32);
    }
}
