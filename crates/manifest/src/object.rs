//! Deserialise structs from JSON objects only.
//!
//! A derived `Deserialize` also accepts a JSON array, read positionally
//! (`["application/json","sha256:…",2]` as a descriptor). No manifest format allows that,
//! and other implementations refuse it, so orca does too: the fields that hold descriptors
//! and platforms go through these functions. They also read `null` as empty where Go
//! programs write it.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A `T` read from a JSON object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(Object)
    }
}

/// A required object field.
pub(crate) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Object::deserialize(deserializer).map(|o| o.0)
}

/// An optional object field (`null` or absent is `None`; use with `#[serde(default)]`).
pub(crate) fn optional_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Object<T>>::deserialize(deserializer).map(|o| o.map(|o| o.0))
}

/// An array of objects; `null` reads as empty (Go marshals a nil slice as `null`, and the
/// OCI Go types have no `omitempty` on `layers` and `manifests`).
pub(crate) fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    Option::<Vec<Object<T>>>::deserialize(deserializer)
        .map(|v| v.unwrap_or_default().into_iter().map(|o| o.0).collect())
}

/// A value whose `null` reads as its default (annotations written as `null`).
pub(crate) fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use crate::{Descriptor, ImageManifest};

    const ARRAY: &str = r#"["application/vnd.oci.empty.v1+json","sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",2]"#;

    #[test]
    fn derived_structs_take_arrays_but_manifest_fields_do_not() {
        // The reason this module exists: serde's derive reads an array positionally.
        assert!(serde_json::from_str::<Descriptor>(ARRAY).is_ok());
        let body = format!(r#"{{"schemaVersion":2,"config":{ARRAY},"layers":[]}}"#);
        let err = serde_json::from_str::<ImageManifest>(&body).unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let empty = serde_json::to_string(&Descriptor::empty()).unwrap();
        let body = format!(r#"{{"schemaVersion":2,"config":{empty},"layers":[],"subject":null}}"#);
        let parsed: ImageManifest = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed.config, Descriptor::empty());
        assert_eq!(parsed.subject, None);
    }
}
