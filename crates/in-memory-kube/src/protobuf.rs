//! Decoding of the protobuf request bodies kubectl's typed commands send
//! (`kubectl create namespace|configmap|secret|serviceaccount`), into the JSON the rest of
//! the server works with. Other kinds in protobuf are refused.

use serde_json::{Map, Value};

use super::meta::base64;

/// The media type of Kubernetes' protobuf encoding.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the Kubernetes magic number")]
    NoMagic,
    #[error("truncated or malformed protobuf body")]
    Malformed,
    #[error(
        "protobuf bodies are accepted only for Namespace, ConfigMap, Secret and ServiceAccount, not {0}; send application/json"
    )]
    UnsupportedKind(String),
}

#[derive(Clone, Copy)]
enum Type {
    String,
    Bool,
    Int,
    Message(&'static [Field]),
    StringMap,
    /// `map<string, bytes>`, rendered base64 as JSON does.
    BytesMap,
    RepeatedString,
    RepeatedMessage(&'static [Field]),
}

struct Field {
    number: u64,
    name: &'static str,
    ty: Type,
}

const fn f(number: u64, name: &'static str, ty: Type) -> Field {
    Field { number, name, ty }
}

const OWNER_REFERENCE: &[Field] = &[
    f(1, "kind", Type::String),
    f(3, "name", Type::String),
    f(4, "uid", Type::String),
    f(5, "apiVersion", Type::String),
    f(6, "controller", Type::Bool),
    f(7, "blockOwnerDeletion", Type::Bool),
];
const OBJECT_META: &[Field] = &[
    f(1, "name", Type::String),
    f(2, "generateName", Type::String),
    f(3, "namespace", Type::String),
    f(5, "uid", Type::String),
    f(6, "resourceVersion", Type::String),
    f(7, "generation", Type::Int),
    f(11, "labels", Type::StringMap),
    f(12, "annotations", Type::StringMap),
    f(
        13,
        "ownerReferences",
        Type::RepeatedMessage(OWNER_REFERENCE),
    ),
    f(14, "finalizers", Type::RepeatedString),
];
const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Type::String),
    f(2, "namespace", Type::String),
    f(3, "name", Type::String),
    f(4, "uid", Type::String),
    f(5, "apiVersion", Type::String),
    f(6, "resourceVersion", Type::String),
    f(7, "fieldPath", Type::String),
];
const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", Type::String)];
const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Type::Message(OBJECT_META)),
    f(2, "data", Type::StringMap),
    f(3, "binaryData", Type::BytesMap),
    f(4, "immutable", Type::Bool),
];
const SECRET: &[Field] = &[
    f(1, "metadata", Type::Message(OBJECT_META)),
    f(2, "data", Type::BytesMap),
    f(3, "type", Type::String),
    f(4, "stringData", Type::StringMap),
    f(5, "immutable", Type::Bool),
];
const NAMESPACE_SPEC: &[Field] = &[f(1, "finalizers", Type::RepeatedString)];
const NAMESPACE: &[Field] = &[
    f(1, "metadata", Type::Message(OBJECT_META)),
    f(2, "spec", Type::Message(NAMESPACE_SPEC)),
];
const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Type::Message(OBJECT_META)),
    f(2, "secrets", Type::RepeatedMessage(OBJECT_REFERENCE)),
    f(
        3,
        "imagePullSecrets",
        Type::RepeatedMessage(LOCAL_OBJECT_REFERENCE),
    ),
    f(4, "automountServiceAccountToken", Type::Bool),
];
/// `runtime.TypeMeta`, field 1 of the `runtime.Unknown` envelope after the magic number.
const TYPE_META: &[Field] = &[f(1, "apiVersion", Type::String), f(2, "kind", Type::String)];

/// One field as it appears on the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first().ok_or(ProtobufError::Malformed)?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Malformed)
    }

    fn skip(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        if self.buf.len() < n {
            return Err(ProtobufError::Malformed);
        }
        let (taken, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(taken)
    }

    fn next(&mut self) -> Option<Result<(u64, Wire<'a>), ProtobufError>> {
        if self.buf.is_empty() {
            return None;
        }
        Some(self.field())
    }

    fn field(&mut self) -> Result<(u64, Wire<'a>), ProtobufError> {
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtobufError::Malformed)?;
                Wire::Bytes(self.skip(len)?)
            }
            5 => {
                self.skip(4)?;
                Wire::Fixed
            }
            _ => return Err(ProtobufError::Malformed),
        };
        Ok((tag >> 3, wire))
    }
}

fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed)
}

/// A map entry: `key` is field 1, `value` field 2.
fn entry(bytes: &[u8]) -> Result<(String, Vec<u8>), ProtobufError> {
    let mut reader = Reader { buf: bytes };
    let (mut key, mut value) = (String::new(), Vec::new());
    while let Some(field) = reader.next() {
        match field? {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b.to_vec(),
            _ => {}
        }
    }
    Ok((key, value))
}

fn decode(bytes: &[u8], fields: &[Field]) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut reader = Reader { buf: bytes };
    while let Some(field) = reader.next() {
        let (number, wire) = field?;
        let Some(spec) = fields.iter().find(|f| f.number == number) else {
            continue;
        };
        let name = spec.name.to_owned();
        match (spec.ty, wire) {
            (Type::String, Wire::Bytes(b)) => {
                out.insert(name, Value::String(text(b)?));
            }
            (Type::Bool, Wire::Varint(v)) => {
                out.insert(name, Value::Bool(v != 0));
            }
            (Type::Int, Wire::Varint(v)) => {
                out.insert(name, Value::from(v));
            }
            (Type::Message(inner), Wire::Bytes(b)) => {
                out.insert(name, Value::Object(decode(b, inner)?));
            }
            (Type::StringMap, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Some(map) = map.as_object_mut() {
                    map.insert(k, Value::String(text(&v)?));
                }
            }
            (Type::BytesMap, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                let map = out.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if let Some(map) = map.as_object_mut() {
                    map.insert(k, Value::String(base64(&v)));
                }
            }
            (Type::RepeatedString, Wire::Bytes(b)) => {
                let list = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = list.as_array_mut() {
                    list.push(Value::String(text(b)?));
                }
            }
            (Type::RepeatedMessage(inner), Wire::Bytes(b)) => {
                let item = Value::Object(decode(b, inner)?);
                let list = out.entry(name).or_insert_with(|| Value::Array(Vec::new()));
                if let Some(list) = list.as_array_mut() {
                    list.push(item);
                }
            }
            _ => return Err(ProtobufError::Malformed),
        }
    }
    Ok(out)
}

/// Decodes a `k8s\0`-framed body into the object's JSON form.
pub fn to_json(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(b"k8s\0").ok_or(ProtobufError::NoMagic)?;
    let mut type_meta = Map::new();
    let mut raw: &[u8] = &[];
    let mut reader = Reader { buf: envelope };
    while let Some(field) = reader.next() {
        match field? {
            (1, Wire::Bytes(b)) => type_meta = decode(b, TYPE_META)?,
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let api_version = type_meta
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = type_meta
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let fields = match (api_version, kind) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        _ => {
            return Err(ProtobufError::UnsupportedKind(format!(
                "{api_version}/{kind}"
            )));
        }
    };
    let mut object = decode(raw, fields)?;
    object.insert("apiVersion".into(), Value::String(api_version.to_owned()));
    object.insert("kind".into(), Value::String(kind.to_owned()));
    Ok(Value::Object(object))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn bytes_field(number: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(number << 3 | 2, &mut out);
        varint(payload.len() as u64, &mut out);
        out.extend_from_slice(payload);
        out
    }

    fn map_entry(number: u64, key: &str, value: &[u8]) -> Vec<u8> {
        let mut e = bytes_field(1, key.as_bytes());
        e.extend(bytes_field(2, value));
        bytes_field(number, &e)
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = bytes_field(1, api_version.as_bytes());
        type_meta.extend(bytes_field(2, kind.as_bytes()));
        let mut body = b"k8s\0".to_vec();
        body.extend(bytes_field(1, &type_meta));
        body.extend(bytes_field(2, raw));
        body
    }

    #[test]
    fn decodes_a_config_map() {
        let mut meta = bytes_field(1, b"c1");
        meta.extend(map_entry(11, "app", b"web"));
        meta.extend(bytes_field(14, b"f1"));
        meta.extend(bytes_field(14, b"f2"));
        let mut raw = bytes_field(1, &meta);
        raw.extend(map_entry(2, "a", b"b"));
        raw.extend(map_entry(2, "c", b"d"));
        raw.extend([4 << 3, 1]);
        let object = to_json(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            object,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "c1", "labels": {"app": "web"}, "finalizers": ["f1", "f2"]},
                "data": {"a": "b", "c": "d"},
                "immutable": true,
            })
        );
    }

    #[test]
    fn secret_data_becomes_base64() {
        let mut raw = bytes_field(1, &bytes_field(1, b"s"));
        raw.extend(map_entry(2, "token", b"foo"));
        raw.extend(bytes_field(3, b"Opaque"));
        let object = to_json(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(object["data"]["token"], "Zm9v");
        assert_eq!(object["type"], "Opaque");
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        assert_eq!(
            to_json(&envelope("apps/v1", "Deployment", &[])),
            Err(ProtobufError::UnsupportedKind("apps/v1/Deployment".into()))
        );
        assert_eq!(to_json(b"{}"), Err(ProtobufError::NoMagic));
        assert_eq!(to_json(b"k8s\0\x0a\x05ab"), Err(ProtobufError::Malformed));
    }
}
