//! The resource verbs: get, list, create, update, patch, delete and deletecollection.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use serde_json::{Value, json};

use super::apply;
use super::cluster::{Cluster, Shared};
use super::meta;
use super::persist::{
    FieldValidation, WriteOptions, Written, delete_one, metadata_mut, persist, types,
};
use super::protobuf::{self, ProtobufError};
use super::registry::Served;
use super::schema::{FieldError, FieldErrorKind};
use super::selector::{FieldSelector, LabelSelector};
use super::status::{ApiError, GroupResource};
use super::store::{ContinueToken, ObjectKey};
use super::{metadata, table};

/// A parsed request against one resource.
pub struct Call {
    pub served: Arc<Served>,
    /// The resource whose objects `served` reads and writes (itself, unless converted).
    pub stored: Arc<Served>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    pub query: HashMap<String, String>,
    pub accept: String,
    pub content_type: String,
    pub user_agent: String,
    pub body: Bytes,
}

impl Call {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.param(key), Some("true" | "1"))
    }

    fn key(&self) -> ObjectKey {
        (
            self.namespace.clone().unwrap_or_default(),
            self.name.clone().unwrap_or_default(),
        )
    }

    /// How the client names the resource, for messages.
    fn gr(&self) -> GroupResource {
        self.served.group_resource()
    }

    /// Where the objects are stored.
    pub fn storage(&self) -> GroupResource {
        self.stored.group_resource()
    }

    /// What Table rows carry (`?includeObject=`).
    pub fn include_object(&self) -> table::IncludeObject {
        table::IncludeObject::parse(self.param("includeObject"))
    }

    /// Upstream's default field manager: the User-Agent up to the first `/`.
    fn manager(&self) -> String {
        match self.param("fieldManager") {
            Some(m) => m.to_owned(),
            None => self
                .user_agent
                .split('/')
                .next()
                .unwrap_or_default()
                .chars()
                .take(128)
                .collect(),
        }
    }
}

/// A successful answer.
pub struct Reply {
    pub code: u16,
    pub content_type: &'static str,
    pub body: Body,
    pub warnings: Vec<String>,
    /// Whether the request changed stored state.
    pub wrote: bool,
}

impl Reply {
    pub fn json(code: u16, value: &Value) -> Self {
        Self::bytes(code, serde_json::to_vec(value).unwrap_or_default())
    }

    /// Serialized JSON.
    pub fn bytes(code: u16, body: impl Into<Body>) -> Self {
        Self {
            code,
            content_type: "application/json",
            body: body.into(),
            warnings: Vec::new(),
            wrote: false,
        }
    }
}

/// `options`: the kind upstream validates the request's parameters as (`CreateOptions`, ...).
fn write_options(call: &Call, applied: bool, options: &str) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        manager: call.manager(),
        validation: FieldValidation::parse(call.param("fieldValidation"), options)?,
        dry_run: call.param("dryRun") == Some("All"),
        subresource: call.subresource.clone(),
        applied,
    })
}

fn parse_body(call: &Call) -> Result<Value, ApiError> {
    let media = call
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let value: Value = match media {
        ""
        | "application/json"
        | "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json" => serde_json::from_slice(&call.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?,
        "application/yaml" | "application/apply-patch+yaml" => {
            let text = std::str::from_utf8(&call.body)
                .map_err(|e| ApiError::bad_request(format!("body is not UTF-8: {e}")))?;
            serde_saphyr::from_str(text)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))?
        }
        protobuf::MEDIA_TYPE => protobuf::to_json(&call.body).map_err(|e| match e {
            ProtobufError::Malformed => ApiError::bad_request(e.to_string()),
            ProtobufError::NoMagic | ProtobufError::UnsupportedKind(_) => {
                ApiError::unsupported_media_type(e.to_string())
            }
        })?,
        _ => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml{}",
                if call.served.info.custom {
                    ""
                } else {
                    ", application/vnd.kubernetes.protobuf"
                }
            )));
        }
    };
    Ok(value)
}

fn rv_of(object: &Value) -> &str {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn serve_object(call: &Call, object: &Value, code: u16) -> Reply {
    let object = call.served.present(object);
    if table::wants_table(&call.accept) {
        let meta = json!({"resourceVersion": rv_of(&object)});
        return Reply::json(
            code,
            &table::to_table(&call.served.info, &[&object], meta, call.include_object()),
        );
    }
    if metadata::wants(&call.accept, "PartialObjectMetadata") {
        return Reply::json(code, &metadata::partial(&object));
    }
    Reply::json(code, &object)
}

pub fn get(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let object = shared
        .cluster()
        .store
        .get(&call.storage(), &call.key())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&call.gr(), call.name.as_deref().unwrap_or_default()))?;
    Ok(serve_object(call, &object, 200))
}

/// The objects a list or deletecollection selects.
pub struct Selection {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selection {
    pub fn parse(call: &Call) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(call.param("labelSelector").unwrap_or_default())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(
            call.param("fieldSelector").unwrap_or_default(),
            call.served.field_labels(),
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(Self { labels, fields })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }
}

/// Which state a list reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListAt {
    Latest,
    /// The latest state, which must be at least this version.
    NotOlderThan(u64),
    /// `resourceVersionMatch=Exact`: the state at that version, while history reaches it.
    Exact(u64),
}

fn list_at(call: &Call) -> Result<ListAt, ApiError> {
    match (
        call.param("resourceVersion"),
        call.param("resourceVersionMatch"),
    ) {
        (None, Some(_)) => Err(ApiError::invalid_options(
            "ListOptions",
            &[FieldError {
                kind: FieldErrorKind::Forbidden,
                field: "resourceVersionMatch".into(),
                bad_value: None,
                detail: "resourceVersionMatch is forbidden unless resourceVersion is provided"
                    .into(),
            }],
        )),
        (Some(rv), Some("Exact")) => rv
            .parse()
            .map(ListAt::Exact)
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}"))),
        (Some(rv), _) => Ok(rv.parse().map_or(ListAt::Latest, ListAt::NotOlderThan)),
        (None, None) => Ok(ListAt::Latest),
    }
}

/// Writes a list object's JSON with its items; built-in kinds' items carry no `kind` and
/// `apiVersion`, as upstream's typed lists serialize them.
fn write_list(call: &Call, items: &[Arc<Value>], list_meta: &Value) -> Result<Vec<u8>, ApiError> {
    let info = &call.served.info;
    // Written piecewise so a large list is serialized once, without copying the objects.
    let mut out = serde_json::to_vec(&json!({
        "kind": info.list_kind, "apiVersion": info.api_version(), "metadata": list_meta,
    }))
    .unwrap_or_default();
    out.pop();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let item = call.served.present(item);
        let written = match item.as_object() {
            Some(map) if !info.custom => serde_json::to_writer(&mut out, &WithoutTypeMeta(map)),
            _ => serde_json::to_writer(&mut out, item.as_ref()),
        };
        written.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// An object serialized without `kind` and `apiVersion`.
struct WithoutTypeMeta<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for WithoutTypeMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self
            .0
            .iter()
            .filter(|(k, _)| k.as_str() != "kind" && k.as_str() != "apiVersion");
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Upstream's answer to a continue token older than the retained history: a token that
/// continues at the latest version instead.
fn inconsistent_continue(token: &ContinueToken) -> ApiError {
    let mut err = ApiError::expired(
        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
    );
    err.continue_token = Some(
        ContinueToken {
            rv: None,
            ..token.clone()
        }
        .encode(),
    );
    err
}

/// The stored objects a list reads, in key order.
type Objects<'a> = Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a>;

pub fn list(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let selection = Selection::parse(call)?;
    let limit = match call.param("limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        )
        .filter(|l| *l > 0),
        None => None,
    };
    let token = match call.param("continue") {
        Some(t) => Some(ContinueToken::decode(t).ok_or_else(|| {
            ApiError::bad_request("invalid continue token: continue key is not valid")
        })?),
        None => None,
    };
    let at = match &token {
        Some(t) => t.rv.map_or(ListAt::Latest, ListAt::Exact),
        None => list_at(call)?,
    };
    let gr = call.storage();
    let namespace = call.namespace.as_deref();
    let (items, list_rv, next, remaining) = {
        let cluster = shared.cluster();
        let after = token
            .as_ref()
            .map(|t| (t.namespace.clone(), t.name.clone()));
        // Continued pages and exact lists read the state at their version, as upstream's
        // storage does, while the retained history reaches back to it.
        let current = cluster.store.current_rv();
        if let ListAt::NotOlderThan(rv) | ListAt::Exact(rv) = at
            && rv > current
        {
            // Upstream waits three seconds for its cache to catch up first; nothing here
            // ever lags behind itself.
            return Err(ApiError::too_large_resource_version(rv, current));
        }
        let snapshot;
        let (source, list_rv): (Objects<'_>, u64) = match at {
            ListAt::Latest | ListAt::NotOlderThan(_) => (
                Box::new(cluster.store.range(&gr, namespace, after.as_ref())),
                current,
            ),
            ListAt::Exact(rv) => {
                snapshot =
                    cluster
                        .store
                        .snapshot_at(&gr, namespace, rv)
                        .map_err(|_| match &token {
                            Some(t) => inconsistent_continue(t),
                            None => ApiError::expired(
                                "The resourceVersion for the provided list is too old.",
                            ),
                        })?;
                let lower = after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
                (
                    Box::new(snapshot.range((lower, std::ops::Bound::Unbounded))),
                    rv,
                )
            }
        };
        let mut matching = source.filter(|(_, o)| selection.matches(o));
        let mut items: Vec<Arc<Value>> = Vec::new();
        let mut last_key = None;
        for (key, object) in matching.by_ref() {
            items.push(object.clone());
            last_key = Some(key.clone());
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        let remaining = matching.count();
        let next = (remaining > 0)
            .then_some(last_key)
            .flatten()
            .map(|(namespace, name)| {
                ContinueToken {
                    rv: Some(list_rv),
                    namespace,
                    name,
                }
                .encode()
            });
        (items, list_rv, next, remaining)
    };
    let mut list_meta = json!({"resourceVersion": list_rv.to_string()});
    if let Some(next) = &next {
        list_meta["continue"] = Value::String(next.clone());
        list_meta["remainingItemCount"] = json!(remaining);
    }
    let info = &call.served.info;
    if table::wants_table(&call.accept) {
        let objects: Vec<_> = items.iter().map(|o| call.served.present(o)).collect();
        let refs: Vec<&Value> = objects.iter().map(|o| o.as_ref()).collect();
        return Ok(Reply::json(
            200,
            &table::to_table(info, &refs, list_meta, call.include_object()),
        ));
    }
    if metadata::wants(&call.accept, "PartialObjectMetadataList") {
        let refs: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
        return Ok(Reply::json(200, &metadata::partial_list(&refs, list_meta)));
    }
    Ok(Reply::bytes(200, write_list(call, &items, &list_meta)?))
}

pub fn create(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let mut body = parse_body(call)?;
    let opts = write_options(call, false, "CreateOptions")?;
    if !rv_of(&body).is_empty() {
        return Err(ApiError::without_reason(
            500,
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let info = &call.served.info;
    let name = {
        let meta = metadata_mut(&mut body)?;
        match meta
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            Some(n) => n.to_owned(),
            None => match meta.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => meta::generate_name(prefix),
                _ => {
                    return Err(ApiError::invalid(
                        &info.kind,
                        &info.group,
                        "",
                        &[meta::name_required()],
                    ));
                }
            },
        }
    };
    if let Some(ns) = body.pointer("/metadata/namespace").and_then(Value::as_str)
        && info.namespaced
        && call
            .namespace
            .as_deref()
            .is_some_and(|url_ns| url_ns != ns && !ns.is_empty())
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let key = (call.namespace.clone().unwrap_or_default(), name.clone());
    let mut warnings = Vec::new();
    let written = {
        let mut cluster = shared.cluster();
        if cluster.store.get(&call.storage(), &key).is_some() {
            return Err(ApiError::already_exists(&call.gr(), &name));
        }
        persist(
            &mut cluster,
            &call.stored,
            &key,
            None,
            call.served.to_stored(body),
            &opts,
            &mut warnings,
        )?
    };
    finish(shared, call, written, 201, warnings)
}

fn finish(
    shared: &Shared,
    call: &Call,
    written: Written,
    code: u16,
    warnings: Vec<String>,
) -> Result<Reply, ApiError> {
    if let Some(rv) = written.rv {
        shared.notify(rv);
    }
    let mut reply = serve_object(call, &written.object, code);
    reply.warnings = warnings;
    reply.wrote = written.changed;
    Ok(reply)
}

fn current(cluster: &Cluster, call: &Call) -> Result<Arc<Value>, ApiError> {
    cluster
        .store
        .get(&call.storage(), &call.key())
        .cloned()
        .ok_or_else(|| ApiError::not_found(&call.gr(), call.name.as_deref().unwrap_or_default()))
}

pub fn update(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let body = parse_body(call)?;
    let opts = write_options(call, false, "UpdateOptions")?;
    let name = call.name.clone().unwrap_or_default();
    if let Some(body_name) = body.pointer("/metadata/name").and_then(Value::as_str)
        && body_name != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let info = &call.served.info;
    let mut warnings = Vec::new();
    let written = {
        let mut cluster = shared.cluster();
        let old = current(&cluster, call)?;
        match rv_of(&body) {
            // Upstream names the resource here, not the kind.
            "" if info.custom => {
                return Err(ApiError::invalid(
                    &info.plural,
                    &info.group,
                    &name,
                    &[FieldError {
                        kind: FieldErrorKind::Invalid,
                        field: "metadata.resourceVersion".into(),
                        bad_value: Some(json!(0)),
                        detail: "must be specified for an update".into(),
                    }],
                ));
            }
            "" => {}
            rv if rv != rv_of(&old) => return Err(ApiError::stale(&call.gr(), &name)),
            _ => {}
        }
        persist(
            &mut cluster,
            &call.stored,
            &call.key(),
            Some(old),
            call.served.to_stored(body),
            &opts,
            &mut warnings,
        )?
    };
    finish(shared, call, written, 200, warnings)
}

pub fn patch(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let media = call
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let name = call.name.clone().unwrap_or_default();
    let gr = call.gr();
    let info = &call.served.info;
    let mut warnings = Vec::new();
    let patch_types = [
        "application/apply-patch+yaml",
        "application/merge-patch+json",
        "application/json-patch+json",
        "application/strategic-merge-patch+json",
    ];
    if !patch_types.contains(&media) {
        // Refused by upstream's router before any handler runs.
        return Err(
            ApiError::unsupported_media_type("415: Unsupported Media Type").with_details(json!({})),
        );
    }
    if media == "application/apply-patch+yaml" {
        if call.param("fieldManager").is_none() {
            return Err(ApiError::invalid_options(
                "PatchOptions",
                &[FieldError {
                    kind: FieldErrorKind::Required,
                    field: "fieldManager".into(),
                    bad_value: None,
                    detail: "is required for apply patch".into(),
                }],
            ));
        }
        let applied = parse_body(call)?;
        let opts = write_options(call, true, "PatchOptions")?;
        let written = {
            let mut cluster = shared.cluster();
            let old = cluster.store.get(&call.storage(), &call.key()).cloned();
            let live = old.as_deref().map(|o| call.served.present(o));
            let now = meta::now();
            let merged = apply::apply(
                &apply::ApplyRequest {
                    live: live.as_deref(),
                    applied: &applied,
                    manager: &opts.manager,
                    force: call.flag("force"),
                    subresource: call.subresource.as_deref(),
                    now: &now,
                },
                types(&call.served),
            )
            .map_err(|e| match &e {
                apply::ApplyError::Conflicts(conflicts) => {
                    ApiError::apply_conflicts(conflicts, e.to_string())
                }
                apply::ApplyError::Invalid(message) => ApiError::bad_request(message.clone()),
            })?;
            if old.is_none() && call.subresource.is_some() {
                return Err(ApiError::not_found(&gr, &name));
            }
            let created = old.is_none();
            let written = persist(
                &mut cluster,
                &call.stored,
                &call.key(),
                old,
                call.served.to_stored(merged),
                &opts,
                &mut warnings,
            )?;
            (written, created)
        };
        let code = if written.1 { 201 } else { 200 };
        return finish(shared, call, written.0, code, warnings);
    }
    let patch = parse_body(call)?;
    let opts = write_options(call, false, "PatchOptions")?;
    let written = {
        let mut cluster = shared.cluster();
        let old = current(&cluster, call)?;
        let mut doc = call.served.present(&old).into_owned();
        match media {
            "application/merge-patch+json" => json_patch::merge(&mut doc, &patch),
            "application/strategic-merge-patch+json" if !info.custom => {
                json_patch::merge(&mut doc, &patch);
            }
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                let ops = replace_missing_members_by_add(&doc, ops);
                // Upstream answers every failed operation with this generic Status.
                json_patch::patch(&mut doc, &ops).map_err(|_| {
                    ApiError::new_invalid(
                        "the server rejected our request due to an error in our request",
                    )
                })?;
            }
            _ => {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml{}",
                    if info.custom {
                        ""
                    } else {
                        ", application/strategic-merge-patch+json"
                    }
                )));
            }
        }
        if rv_of(&doc) != rv_of(&old) {
            return Err(ApiError::stale(&gr, &name));
        }
        persist(
            &mut cluster,
            &call.stored,
            &call.key(),
            Some(old),
            call.served.to_stored(doc),
            &opts,
            &mut warnings,
        )?
    };
    finish(shared, call, written, 200, warnings)
}

/// Upstream's JSON patch (evanphx/json-patch) lets `replace` create a missing object
/// member, as `add` would; the json-patch crate refuses.
fn replace_missing_members_by_add(doc: &Value, ops: json_patch::Patch) -> json_patch::Patch {
    let ops = ops
        .0
        .into_iter()
        .map(|op| match op {
            json_patch::PatchOperation::Replace(r) => {
                let path = r.path.to_string();
                let parent_is_object = path
                    .rsplit_once('/')
                    .and_then(|(parent, _)| doc.pointer(parent))
                    .is_some_and(Value::is_object);
                if parent_is_object && doc.pointer(&path).is_none() {
                    json_patch::PatchOperation::Add(json_patch::AddOperation {
                        path: r.path,
                        value: r.value,
                    })
                } else {
                    json_patch::PatchOperation::Replace(r)
                }
            }
            other => other,
        })
        .collect();
    json_patch::Patch(ops)
}

fn check_preconditions(call: &Call, old: &Value) -> Result<(), ApiError> {
    if call.body.is_empty() {
        return Ok(());
    }
    let options: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
    let name = call.name.as_deref().unwrap_or_default();
    // Upstream names the kind here, not the resource.
    let info = &call.served.info;
    let kind = GroupResource::new(&info.group, &info.kind);
    let actual = |field: &str| {
        old.pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let wanted = |field: &str| {
        options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
    };
    if let Some(uid) = wanted("uid")
        && uid != actual("uid")
    {
        return Err(ApiError::conflict(
            &kind,
            name,
            &format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                actual("uid")
            ),
        ));
    }
    if let Some(rv) = wanted("resourceVersion")
        && rv != actual("resourceVersion")
    {
        return Err(ApiError::conflict(
            &kind,
            name,
            &format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                actual("resourceVersion")
            ),
        ));
    }
    Ok(())
}

/// Upstream's answer to a deletion that removed the object at once.
fn deleted_status(call: &Call, object: &Value) -> Reply {
    let gr = call.gr();
    let mut details = json!({
        "name": call.name.as_deref().unwrap_or_default(),
        "kind": gr.resource,
        "uid": object.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
    });
    if !gr.group.is_empty() {
        details["group"] = Value::String(gr.group);
    }
    Reply::json(
        200,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Success", "details": details}),
    )
}

pub fn delete(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let dry_run = call.param("dryRun") == Some("All");
    let (deletion, rv) = {
        let mut cluster = shared.cluster();
        let old = current(&cluster, call)?;
        check_preconditions(call, &old)?;
        let deletion = delete_one(&mut cluster, &call.stored, &call.key(), old, dry_run);
        (deletion, cluster.store.current_rv())
    };
    if deletion.changed {
        shared.notify(rv);
    }
    let mut reply = if deletion.gone {
        deleted_status(call, &deletion.object)
    } else {
        serve_object(call, &deletion.object, 200)
    };
    reply.wrote = deletion.changed;
    Ok(reply)
}

pub fn delete_collection(shared: &Shared, call: &Call) -> Result<Reply, ApiError> {
    let selection = Selection::parse(call)?;
    let dry_run = call.param("dryRun") == Some("All");
    let gr = call.storage();
    let (items, changed, rv) = {
        let mut cluster = shared.cluster();
        let targets: Vec<(ObjectKey, Arc<Value>)> = cluster
            .store
            .range(&gr, call.namespace.as_deref(), None)
            .filter(|(_, o)| selection.matches(o))
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        let mut changed = false;
        let mut items = Vec::new();
        for (key, old) in targets {
            let deletion = delete_one(&mut cluster, &call.stored, &key, old, dry_run);
            changed |= deletion.changed;
            items.push(deletion.object);
        }
        (items, changed, cluster.store.current_rv())
    };
    if changed {
        shared.notify(rv);
    }
    let list_meta = json!({"resourceVersion": rv.to_string()});
    let mut reply = Reply::bytes(200, write_list(call, &items, &list_meta)?);
    reply.wrote = changed;
    Ok(reply)
}
