//! Object metadata rules: names, timestamps, generated names, generation.

use rand::Rng;
use serde_json::Value;

use super::schema::{FieldError, FieldErrorKind};

/// Current time as upstream writes timestamps: RFC 3339, second precision, UTC.
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `generateName` plus five characters from upstream's alphabet (no vowels, no look-alikes).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    // Upstream truncates the prefix so the result stays within 63 characters.
    let keep = prefix.len().min(58);
    format!("{}{suffix}", &prefix[..keep])
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn invalid(field: &str, value: &str, detail: String) -> FieldError {
    FieldError {
        kind: FieldErrorKind::Invalid,
        field: field.to_owned(),
        bad_value: Some(Value::String(value.to_owned())),
        detail,
    }
}

/// Which names a kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain (most kinds, custom resources).
    Subdomain,
    /// RFC 1123 label (namespaces).
    Label,
}

/// Errors for `metadata.name` under `rule`, or for `field` when checking another name.
pub fn validate_name(field: &str, name: &str, rule: NameRule) -> Vec<FieldError> {
    match rule {
        NameRule::Subdomain if name.len() > 253 => vec![invalid(
            field,
            name,
            "must be no more than 253 characters".into(),
        )],
        NameRule::Subdomain if !name.split('.').all(is_label) => {
            vec![invalid(field, name, SUBDOMAIN_MSG.into())]
        }
        NameRule::Label if name.len() > 63 => vec![invalid(
            field,
            name,
            "must be no more than 63 characters".into(),
        )],
        NameRule::Label if !is_label(name) => vec![invalid(field, name, LABEL_MSG.into())],
        _ => Vec::new(),
    }
}

/// The error for an object with neither `name` nor `generateName`.
pub fn name_required() -> FieldError {
    FieldError {
        kind: FieldErrorKind::Required,
        field: "metadata.name".into(),
        bad_value: None,
        detail: "name or generateName is required".into(),
    }
}

/// Whether two versions of an object differ outside `metadata` (and `status` when the
/// kind has a status subresource): the changes that bump `metadata.generation`.
pub fn spec_changed(old: &Value, new: &Value, ignore_status: bool) -> bool {
    let strip = |v: &Value| {
        let mut map = v.as_object().cloned().unwrap_or_default();
        map.remove("metadata");
        if ignore_status {
            map.remove("status");
        }
        map
    };
    strip(old) != strip(new)
}

/// Whether a write changes anything a client could observe; managedFields timestamps alone
/// do not count, so re-applying the same configuration is a no-op.
pub fn is_noop(old: &Value, new: &Value) -> bool {
    fn normalized(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(entries) = v
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
        {
            for entry in entries {
                if let Some(entry) = entry.as_object_mut() {
                    entry.remove("time");
                }
            }
        }
        v
    }
    normalized(old) == normalized(new)
}

/// Standard base64, for folding a Secret's `stringData` into `data`.
pub fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn subdomain_names() {
        assert!(validate_name("metadata.name", "a.b-c.d", NameRule::Subdomain).is_empty());
        let errs = validate_name("metadata.name", "Bad_Name", NameRule::Subdomain);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].detail.starts_with("a lowercase RFC 1123 subdomain"));
        assert!(!validate_name("metadata.name", "a..b", NameRule::Subdomain).is_empty());
        assert!(!validate_name("metadata.name", "-a", NameRule::Subdomain).is_empty());
    }

    #[test]
    fn label_names() {
        assert!(validate_name("metadata.name", "team-a", NameRule::Label).is_empty());
        assert!(!validate_name("metadata.name", "team.a", NameRule::Label).is_empty());
        assert!(!validate_name("metadata.name", &"a".repeat(64), NameRule::Label).is_empty());
    }

    #[test]
    fn generated_names_keep_prefix() {
        let name = generate_name("ra-");
        assert!(name.starts_with("ra-"));
        assert_eq!(name.len(), 8);
        assert_ne!(generate_name("x-"), generate_name("x-"));
    }

    #[test]
    fn generation_ignores_metadata_and_optionally_status() {
        let old = json!({"metadata": {"labels": {}}, "spec": {"a": 1}, "status": {"x": 1}});
        let labels =
            json!({"metadata": {"labels": {"b": "c"}}, "spec": {"a": 1}, "status": {"x": 1}});
        let status = json!({"metadata": {"labels": {}}, "spec": {"a": 1}, "status": {"x": 2}});
        let spec = json!({"metadata": {"labels": {}}, "spec": {"a": 2}, "status": {"x": 1}});
        assert!(!spec_changed(&old, &labels, true));
        assert!(!spec_changed(&old, &status, true));
        assert!(spec_changed(&old, &status, false));
        assert!(spec_changed(&old, &spec, true));
    }

    #[test]
    fn managed_field_times_do_not_make_a_change() {
        let old = json!({"metadata": {"managedFields": [{"manager": "a", "time": "1"}]}});
        let later = json!({"metadata": {"managedFields": [{"manager": "a", "time": "2"}]}});
        let other = json!({"metadata": {"managedFields": [{"manager": "b", "time": "1"}]}});
        assert!(is_noop(&old, &later));
        assert!(!is_noop(&old, &other));
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
