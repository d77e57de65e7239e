//! HTTP: parses URLs into resource requests, dispatches verbs, records the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::cluster::{RequestRecord, Shared};
use super::status::ApiError;
use super::verbs::{self, Call, Reply};
use super::{discovery, openapi, watch};

/// Largest request body accepted (upstream's limit is 3 MiB per object).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The parts of a resource URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResourcePath {
    group: String,
    version: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
    /// The legacy `/watch/` path prefix.
    watch: bool,
}

/// What a URL addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    ResourceList {
        group: String,
        version: String,
    },
    OpenApiIndex,
    OpenApiGroupVersion {
        group: String,
        version: String,
    },
    /// Not served: kubectl validates through the server when OpenAPI v3 says it can.
    OpenApiV2,
    Resource(ResourcePath),
    Unknown,
}

fn parse_resource(group: &str, version: &str, rest: &[&str]) -> Target {
    let (watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let path = |namespace: Option<&str>, resource: &str, name: Option<&str>, sub: Option<&str>| {
        Target::Resource(ResourcePath {
            group: group.to_owned(),
            version: version.to_owned(),
            namespace: namespace.map(str::to_owned),
            resource: resource.to_owned(),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
            watch,
        })
    };
    let core = group.is_empty();
    match rest {
        [] if !watch => Target::ResourceList {
            group: group.to_owned(),
            version: version.to_owned(),
        },
        ["namespaces", ns, sub @ ("status" | "finalize")] if core => {
            path(None, "namespaces", Some(ns), Some(sub))
        }
        ["namespaces", ns, resource] => path(Some(ns), resource, None, None),
        ["namespaces", ns, resource, name] => path(Some(ns), resource, Some(name), None),
        ["namespaces", ns, resource, name, sub] => path(Some(ns), resource, Some(name), Some(sub)),
        [resource] => path(None, resource, None, None),
        [resource, name] => path(None, resource, Some(name), None),
        [resource, name, sub] => path(None, resource, Some(name), Some(sub)),
        _ => Target::Unknown,
    }
}

fn parse_target(path: &str) -> Target {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["version"] => Target::Version,
        ["healthz" | "readyz" | "livez"] => Target::Health,
        ["api"] => Target::CoreVersions,
        ["apis"] => Target::Groups,
        ["apis", group] => Target::Group((*group).to_owned()),
        ["openapi", "v3"] => Target::OpenApiIndex,
        ["openapi", "v3", "api", version] => Target::OpenApiGroupVersion {
            group: String::new(),
            version: (*version).to_owned(),
        },
        ["openapi", "v3", "apis", group, version] => Target::OpenApiGroupVersion {
            group: (*group).to_owned(),
            version: (*version).to_owned(),
        },
        ["openapi", "v2"] => Target::OpenApiV2,
        ["api", version, rest @ ..] => parse_resource("", version, rest),
        ["apis", group, version, rest @ ..] => parse_resource(group, version, rest),
        _ => Target::Unknown,
    }
}

fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

fn header_str(request: &axum::http::request::Parts, name: header::HeaderName) -> String {
    request
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Whether the client accepts JSON: protobuf-only clients are refused, not misunderstood.
fn accepts_json(accept: &str) -> bool {
    accept.is_empty()
        || accept.split(',').any(|media| {
            let media = media.split(';').next().unwrap_or_default().trim();
            matches!(
                media,
                "application/json" | "*/*" | "application/*" | "application/yaml"
            )
        })
}

fn verb_of(
    method: &Method,
    path: &ResourcePath,
    query: &HashMap<String, String>,
) -> Option<&'static str> {
    let watching =
        path.watch || matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    Some(match (method.as_str(), path.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watching => "watch",
        ("GET", false) => "list",
        ("POST", false) => "create",
        // Only subresources may serve it; refused below otherwise.
        ("POST", true) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    })
}

fn json_reply(value: &Value) -> Reply {
    Reply::json(200, value)
}

/// What upstream answers for a URL no API serves: its unknown groups and the paths of a
/// CRD's group that name no resource fall through to a plain-text 404.
fn page_not_found() -> Reply {
    Reply {
        content_type: "text/plain; charset=utf-8",
        ..Reply::bytes(404, "404 page not found\n")
    }
}

/// Whether kube-apiserver itself serves the group (its 404s are Status objects).
fn builtin_group(shared: &Shared, group: &str) -> bool {
    group.is_empty()
        || shared
            .cluster()
            .registry
            .infos()
            .iter()
            .any(|i| !i.custom && i.group == group)
}

fn not_allowed() -> ApiError {
    ApiError::method_not_allowed("the server does not allow this method on the requested resource")
        .with_details(json!({}))
}

fn non_resource(shared: &Shared, target: &Target) -> Result<Reply, ApiError> {
    let resources = || shared.cluster().registry.infos();
    let in_group = |group: &str, v: Option<Value>| match v {
        Some(v) => Ok(json_reply(&v)),
        None if builtin_group(shared, group) => Err(ApiError::no_such_path()),
        None => Ok(page_not_found()),
    };
    let found = |v: Option<Value>| v.map(|v| json_reply(&v)).ok_or_else(ApiError::no_such_path);
    match target {
        Target::Version => Ok(json_reply(&json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "", "gitTreeState": "clean",
            "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24", "compiler": "gc",
            "platform": "linux/amd64",
        }))),
        Target::Health => Ok(Reply {
            body: Body::from("ok"),
            ..json_reply(&Value::Null)
        }),
        Target::CoreVersions => Ok(json_reply(&discovery::core_api_versions())),
        Target::Groups => Ok(json_reply(&discovery::api_group_list(&resources()))),
        Target::Group(group) => in_group(group, discovery::api_group(group, &resources())),
        Target::ResourceList { group, version } => in_group(
            group,
            discovery::api_resource_list(group, version, &resources()),
        ),
        Target::OpenApiIndex => Ok(json_reply(&openapi::v3_index(&resources()))),
        Target::OpenApiGroupVersion { group, version } => {
            found(openapi::v3_group_version(group, version, &resources()))
        }
        Target::Unknown => Ok(page_not_found()),
        Target::OpenApiV2 | Target::Resource(_) => Err(ApiError::no_such_path()),
    }
}

fn injected_failure(code: u16, call: &Call) -> ApiError {
    let name = call.name.as_deref().unwrap_or_default();
    match code {
        409 => ApiError::stale(&call.served.group_resource(), name),
        _ => ApiError {
            code,
            ..ApiError::internal("injected failure")
        },
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    method: Method,
    parts: &axum::http::request::Parts,
    body: bytes::Bytes,
    record: &mut RequestRecord,
) -> Result<Reply, ApiError> {
    let accept = header_str(parts, header::ACCEPT);
    if !accepts_json(&accept) {
        return Err(ApiError::not_acceptable(format!(
            "only application/json is served, not {accept}"
        )));
    }
    let target = parse_target(parts.uri.path());
    let Target::Resource(path) = target else {
        return non_resource(shared, &target);
    };
    record.api_group.clone_from(&path.group);
    record.resource.clone_from(&path.resource);
    record.subresource.clone_from(&path.subresource);
    record.namespace.clone_from(&path.namespace);
    record.name.clone_from(&path.name);
    let query = parse_query(parts.uri.query());
    let verb = verb_of(&method, &path, &query).ok_or_else(not_allowed)?;
    record.verb = verb.to_owned();
    let found = {
        let cluster = shared.cluster();
        cluster
            .registry
            .lookup(&path.group, &path.version, &path.resource)
            .map(|served| {
                let stored = cluster.registry.storage_of(&served);
                (served, stored)
            })
    };
    let Some((served, stored)) = found else {
        return if builtin_group(shared, &path.group) {
            Err(ApiError::no_such_path())
        } else {
            Ok(page_not_found())
        };
    };
    let scope_fits = match (served.info.namespaced, path.namespace.is_some()) {
        (true, false) => matches!(verb, "list" | "watch"),
        (namespaced, in_namespace) => namespaced == in_namespace,
    };
    if !scope_fits {
        return Err(ApiError::no_such_path());
    }
    match (path.subresource.as_deref(), path.name.as_deref()) {
        (None, Some(_)) if verb == "create" => return Err(not_allowed()),
        (None, _) => {}
        (Some("status"), _)
            if served.info.status_subresource && !matches!(verb, "get" | "update" | "patch") =>
        {
            return Err(ApiError::verb_not_supported(&served.group_resource(), verb));
        }
        (Some("status"), _) if served.info.status_subresource => {}
        // Upstream's handler of custom resources reads any other subresource as the object.
        (Some(_), Some(name)) if served.info.custom => {
            return Err(ApiError::not_found(&served.group_resource(), name));
        }
        (Some(_), _) => return Err(ApiError::no_such_path()),
    }
    let content_type = header_str(parts, header::CONTENT_TYPE);
    let call = Call {
        served,
        stored,
        namespace: path.namespace,
        name: path.name,
        subresource: path.subresource,
        query,
        accept,
        content_type,
        user_agent: record.user_agent.clone(),
        body,
    };
    let writes = matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    );
    if writes && let Some(code) = shared.take_write_failure() {
        return Err(injected_failure(code, &call));
    }
    match verb {
        "get" => verbs::get(shared, &call),
        "list" => verbs::list(shared, &call),
        "watch" => watch::watch(shared.clone(), call),
        "create" => verbs::create(shared, &call),
        "update" => verbs::update(shared, &call),
        "patch" => verbs::patch(shared, &call),
        "delete" => verbs::delete(shared, &call),
        _ => verbs::delete_collection(shared, &call),
    }
}

fn warning_header(message: &str) -> Option<HeaderValue> {
    let escaped = message.replace('\\', "\\\\").replace('"', "\\\"");
    HeaderValue::from_str(&format!("299 - \"{escaped}\"")).ok()
}

/// Serves one HTTP request.
pub async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut record = RequestRecord {
        verb: match parts.method.as_str() {
            "GET" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "unknown",
        }
        .to_owned(),
        api_group: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        user_agent: header_str(&parts, header::USER_AGENT),
        accept: header_str(&parts, header::ACCEPT),
        code: 200,
    };
    let result = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => dispatch(&shared, parts.method.clone(), &parts, bytes, &mut record).await,
        Err(e) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {e}"
        ))),
    };
    // Upstream tells clients when to retry a failure it says is temporary.
    let retry_after = result.as_ref().err().and_then(|err| {
        err.details
            .as_ref()
            .and_then(|d| d.get("retryAfterSeconds"))
            .and_then(Value::as_u64)
    });
    let reply = result.unwrap_or_else(|err| Reply::json(err.code, &err.to_status()));
    record.code = reply.code;
    shared.record(record, reply.wrote);
    let mut response = Response::new(reply.body);
    *response.status_mut() =
        StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    for warning in &reply.warnings {
        if let Some(value) = warning_header(warning) {
            headers.append(header::WARNING, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(
        group: &str,
        ns: Option<&str>,
        resource: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Target {
        Target::Resource(ResourcePath {
            group: group.into(),
            version: "v1".into(),
            namespace: ns.map(Into::into),
            resource: resource.into(),
            name: name.map(Into::into),
            subresource: sub.map(Into::into),
            watch: false,
        })
    }

    #[test]
    fn core_paths() {
        assert_eq!(
            parse_target("/api/v1/namespaces"),
            resource("", None, "namespaces", None, None)
        );
        assert_eq!(
            parse_target("/api/v1/namespaces/default"),
            resource("", None, "namespaces", Some("default"), None)
        );
        assert_eq!(
            parse_target("/api/v1/namespaces/default/status"),
            resource("", None, "namespaces", Some("default"), Some("status"))
        );
        assert_eq!(
            parse_target("/api/v1/namespaces/default/configmaps"),
            resource("", Some("default"), "configmaps", None, None)
        );
        assert_eq!(
            parse_target("/api/v1/namespaces/default/configmaps/c"),
            resource("", Some("default"), "configmaps", Some("c"), None)
        );
        assert_eq!(
            parse_target("/api/v1"),
            Target::ResourceList {
                group: String::new(),
                version: "v1".into()
            }
        );
    }

    #[test]
    fn group_paths() {
        assert_eq!(
            parse_target("/apis/rolesync.io/v1/namespaces/a/roleassignments/x/status"),
            resource(
                "rolesync.io",
                Some("a"),
                "roleassignments",
                Some("x"),
                Some("status")
            )
        );
        assert_eq!(
            parse_target("/apis/rolesync.io/v1/roleassignments"),
            resource("rolesync.io", None, "roleassignments", None, None)
        );
        assert_eq!(
            parse_target("/apis/rolesync.io"),
            Target::Group("rolesync.io".into())
        );
        assert_eq!(parse_target("/nonsense"), Target::Unknown);
    }

    #[test]
    fn queries_are_percent_decoded() {
        let q = parse_query(Some("labelSelector=app%20in%20(a%2Cb)&watch=1&x"));
        assert_eq!(q["labelSelector"], "app in (a,b)");
        assert_eq!(q["watch"], "1");
        assert_eq!(q["x"], "");
    }

    #[test]
    fn protobuf_only_clients_are_refused() {
        assert!(accepts_json("application/vnd.kubernetes.protobuf, */*"));
        assert!(accepts_json(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!accepts_json("application/vnd.kubernetes.protobuf"));
        assert!(accepts_json(""));
    }

    #[test]
    fn warnings_are_quoted() {
        let value = warning_header("unknown field \"spec.foo\"").unwrap();
        assert_eq!(
            value.to_str().unwrap(),
            "299 - \"unknown field \\\"spec.foo\\\"\""
        );
    }
}
