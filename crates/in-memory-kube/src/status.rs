//! Failures as `metav1.Status` objects, with upstream's reasons, codes and messages.

use serde_json::{Value, json};

use super::schema::FieldError;

/// A request that failed, rendered to the client as a `metav1.Status`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    pub code: u16,
    /// Empty for the few failures upstream gives no reason.
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// A continue token offered with a 410 for an expired one.
    pub continue_token: Option<String>,
}

/// How upstream names a resource in messages: `configmaps` or `roleassignments.rolesync.io`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        Self {
            group: group.to_owned(),
            resource: resource.to_owned(),
        }
    }

    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self, name: &str) -> Value {
        details(name, &self.group, &self.resource)
    }
}

/// `StatusDetails` as upstream serializes them: empty fields are left out.
fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut out = serde_json::Map::new();
    for (key, value) in [("name", name), ("group", group), ("kind", kind)] {
        if !value.is_empty() {
            out.insert(key.into(), Value::String(value.to_owned()));
        }
    }
    Value::Object(out)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            continue_token: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", gr.qualified()),
        )
        .with_details(gr.details(name))
    }

    /// A URL that names nothing the server serves.
    pub fn no_such_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", gr.qualified()),
        )
        .with_details(gr.details(name))
    }

    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                gr.qualified()
            ),
        )
        .with_details(gr.details(name))
    }

    /// The optimistic-concurrency failure of an update with a stale resourceVersion.
    pub fn stale(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `Kind.group "name" is invalid: ...` listing every failing field.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let qualified_kind = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let summary = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let causes: Vec<Value> = errors
            .iter()
            .map(|e| json!({"reason": e.kind.reason(), "message": e.message(), "field": e.field}))
            .collect();
        let mut details = details(name, group, kind);
        details["causes"] = Value::Array(causes);
        Self::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid: {summary}"),
        )
        .with_details(details)
    }

    /// Invalid query parameters, which upstream validates as a `meta.k8s.io` options kind
    /// (`ListOptions`, `CreateOptions`, `PatchOptions`, ...).
    pub fn invalid_options(kind: &str, errors: &[FieldError]) -> Self {
        Self::invalid(kind, "meta.k8s.io", "", errors)
    }

    pub fn forbidden(gr: &GroupResource, name: &str, why: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{} \"{name}\" is forbidden: {why}", gr.qualified()),
        )
        .with_details(gr.details(name))
    }

    /// An Invalid failure without field causes.
    pub fn new_invalid(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message).with_details(json!({}))
    }

    /// A list from a version newer than any the server has reached.
    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        Self::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        )
        .with_details(json!({
            "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
            "retryAfterSeconds": 1,
        }))
    }

    /// A failure upstream reports with a code and message only.
    pub fn without_reason(code: u16, message: impl Into<String>) -> Self {
        Self::new(code, "", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// A verb the resource (or subresource) does not serve.
    pub fn verb_not_supported(gr: &GroupResource, verb: &str) -> Self {
        Self::method_not_allowed(format!(
            "{verb} is not supported on resources of kind \"{}\"",
            gr.qualified()
        ))
        .with_details(gr.details(""))
    }

    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }

    /// A watch or continue token older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(415, "UnsupportedMediaType", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// An apply whose fields other managers own with different values; upstream's details
    /// carry only the causes.
    pub fn apply_conflicts(conflicts: &[super::apply::Conflict], message: String) -> Self {
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": c.cause_message(),
                    "field": c.field,
                })
            })
            .collect();
        Self::new(409, "Conflict", message).with_details(json!({"causes": causes}))
    }

    /// The `metav1.Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "code": self.code,
        });
        if !self.reason.is_empty() {
            status["reason"] = Value::String(self.reason.to_owned());
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        if let Some(token) = &self.continue_token {
            status["metadata"]["continue"] = Value::String(token.clone());
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::super::schema::FieldErrorKind;
    use super::*;

    #[test]
    fn not_found_names_the_qualified_resource() {
        let err = ApiError::not_found(&GroupResource::new("rolesync.io", "roleassignments"), "a");
        let status = err.to_status();
        assert_eq!(
            status["message"],
            "roleassignments.rolesync.io \"a\" not found"
        );
        assert_eq!(status["code"], 404);
        assert_eq!(status["details"]["kind"], "roleassignments");
        let core = ApiError::not_found(&GroupResource::new("", "configmaps"), "c");
        assert_eq!(core.message, "configmaps \"c\" not found");
    }

    #[test]
    fn invalid_lists_every_field() {
        let errors = vec![
            FieldError {
                kind: FieldErrorKind::Required,
                field: "spec.a".into(),
                bad_value: None,
                detail: String::new(),
            },
            FieldError {
                kind: FieldErrorKind::Invalid,
                field: "spec.b".into(),
                bad_value: Some(serde_json::json!(5)),
                detail: "must be even".into(),
            },
        ];
        let err = ApiError::invalid("RoleAssignment", "rolesync.io", "x", &errors);
        assert_eq!(
            err.message,
            "RoleAssignment.rolesync.io \"x\" is invalid: [spec.a: Required value, spec.b: Invalid value: 5: must be even]"
        );
        let causes = &err.to_status()["details"]["causes"];
        assert_eq!(causes[0]["reason"], "FieldValueRequired");
        assert_eq!(causes[1]["field"], "spec.b");
        assert_eq!(err.code, 422);
    }

    #[test]
    fn apply_conflicts_carry_only_causes() {
        let conflict = super::super::apply::Conflict {
            manager: "mgr".into(),
            field: ".spec.x".into(),
            operation: super::super::apply::Operation::Update,
            api_version: "v1".into(),
            subresource: None,
        };
        let err = ApiError::apply_conflicts(std::slice::from_ref(&conflict), "m".into());
        let details = &err.to_status()["details"];
        assert_eq!(details.as_object().map(|d| d.len()), Some(1), "{details}");
        let cause = &details["causes"][0];
        assert_eq!(cause["reason"], "FieldManagerConflict");
        assert_eq!(cause["message"], "conflict with \"mgr\" using v1");
        assert_eq!(cause["field"], ".spec.x");
    }

    #[test]
    fn empty_details_are_left_out() {
        let core = ApiError::not_found(&GroupResource::new("", "configmaps"), "c").to_status();
        assert_eq!(core["details"], json!({"name": "c", "kind": "configmaps"}));
        let options = ApiError::invalid_options("ListOptions", &[]).to_status();
        assert_eq!(
            options["details"],
            json!({"group": "meta.k8s.io", "kind": "ListOptions", "causes": []})
        );
    }
}
