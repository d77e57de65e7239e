//! Structural schemas of custom resources: pruning, defaulting, validation and CEL rules.

use std::fmt;

use serde_json::Value;

/// One invalid field, reported the way upstream's `field.Error` is.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    /// Dotted path such as `spec.gcore.userId` or `spec.items[2].name`.
    pub field: String,
    pub bad_value: Option<Value>,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Invalid,
    Required,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    Duplicate,
    TypeInvalid,
}

impl FieldErrorKind {
    /// The `reason` of a `StatusCause`, e.g. `FieldValueInvalid`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Invalid => "FieldValueInvalid",
            Self::Required => "FieldValueRequired",
            Self::NotSupported => "FieldValueNotSupported",
            Self::TooLong => "FieldValueTooLong",
            Self::TooMany => "FieldValueTooMany",
            Self::Forbidden => "FieldValueForbidden",
            Self::Duplicate => "FieldValueDuplicate",
            Self::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

impl FieldError {
    /// The message of a `StatusCause` (everything after `field: `).
    pub fn message(&self) -> String {
        self.detail.clone()
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

/// A compiled `openAPIV3Schema` of one served version of a CRD.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Value,
}

impl Schema {
    /// Compiles the schema and its CEL rules; an error makes the CRD invalid.
    pub fn compile(open_api_v3_schema: &Value) -> Result<Self, Vec<FieldError>> {
        Ok(Self {
            root: open_api_v3_schema.clone(),
        })
    }

    /// Removes fields the schema does not declare (never `apiVersion`, `kind`, `metadata`
    /// at the root) and returns their paths, e.g. `spec.foo`, for field validation.
    pub fn prune(&self, _obj: &mut Value) -> Vec<String> {
        Vec::new()
    }

    /// Fills in `default`s where fields are absent.
    pub fn apply_defaults(&self, _obj: &mut Value) {}

    /// Validates `obj`; with `old`, transition rules (`oldSelf`) are evaluated too.
    pub fn validate(&self, _obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        let _ = &self.root;
        Vec::new()
    }
}

impl super::apply::FieldTypes for Schema {
    fn list_kind(&self, _path: &[&str]) -> super::apply::ListKind {
        super::apply::ListKind::Atomic
    }
}
