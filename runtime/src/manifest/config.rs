//! Configuration values: what TOML can hold, to and from MessagePack.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::write::{float_toml, quote, toml_key};

/// One configuration value. `Null` only appears while decoding MessagePack.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ConfigValue {
    Null,
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Array(Vec<ConfigValue>),
    Table(BTreeMap<String, ConfigValue>),
}

impl ConfigValue {
    /// The canonical MessagePack encoding.
    pub(super) fn encode(&self) -> Vec<u8> {
        // Encoding these variants into a `Vec` cannot fail.
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    /// Whether TOML can hold the value (no nulls).
    pub(super) fn is_toml(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Array(items) => items.iter().all(Self::is_toml),
            Self::Table(entries) => entries.values().all(Self::is_toml),
            _ => true,
        }
    }

    /// The value as an inline TOML value.
    pub(super) fn to_toml(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::String(s) => quote(s),
            Self::Integer(n) => n.to_string(),
            Self::Float(f) => float_toml(*f),
            Self::Boolean(b) => b.to_string(),
            Self::Array(items) => format!("[{}]", items.iter().map(Self::to_toml).collect::<Vec<_>>().join(", ")),
            Self::Table(entries) if entries.is_empty() => "{}".to_owned(),
            Self::Table(entries) => {
                let entries: Vec<String> =
                    entries.iter().map(|(k, v)| format!("{} = {}", toml_key(k), v.to_toml())).collect();
                format!("{{ {} }}", entries.join(", "))
            }
        }
    }
}

impl Serialize for ConfigValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => s.serialize_unit(),
            Self::String(v) => s.serialize_str(v),
            Self::Integer(v) => s.serialize_i64(*v),
            Self::Float(v) => s.serialize_f64(*v),
            Self::Boolean(v) => s.serialize_bool(*v),
            Self::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Table(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ConfigValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ConfigVisitor)
    }
}

struct ConfigVisitor;

impl<'de> Visitor<'de> for ConfigVisitor {
    type Value = ConfigValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value TOML can hold")
    }

    fn visit_bool<E>(self, v: bool) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigValue, E> {
        i64::try_from(v)
            .map(ConfigValue::Integer)
            .map_err(|_| E::custom(format!("{v} is above the largest TOML integer, {}", i64::MAX)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<ConfigValue, E> {
        Ok(ConfigValue::String(v.to_owned()))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Array(v.iter().map(|&b| ConfigValue::Integer(i64::from(b))).collect()))
    }

    fn visit_unit<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Null)
    }

    fn visit_none<E>(self) -> Result<ConfigValue, E> {
        Ok(ConfigValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<ConfigValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ConfigValue, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<ConfigValue>()? {
            if item == ConfigValue::Null {
                return Err(de::Error::custom("an array cannot hold null in TOML"));
            }
            items.push(item);
        }
        Ok(ConfigValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigValue, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<ConfigValue>()? {
            let ConfigValue::String(key) = key else {
                return Err(de::Error::custom("map keys must be strings in TOML"));
            };
            match map.next_value::<ConfigValue>()? {
                // TOML has no null: a `None` field is written by leaving it out.
                ConfigValue::Null => {}
                value => {
                    entries.insert(key, value);
                }
            }
        }
        Ok(ConfigValue::Table(entries))
    }
}
