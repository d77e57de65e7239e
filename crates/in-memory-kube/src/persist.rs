//! The write path shared by every verb: completing metadata, enforcing the status
//! subresource, schema pruning, defaulting and validation, no-op detection, generation,
//! managedFields, finalizers, and what creating or removing CRDs and namespaces implies.

use std::sync::Arc;

use serde_json::{Value, json};

use super::apply::{self, AtomicLists, FieldTypes};
use super::cluster::Cluster;
use super::crd;
use super::meta::{self, NameRule};
use super::registry::Served;
use super::resource::ResourceInfo;
use super::schema::{FieldError, FieldErrorKind};
use super::status::{ApiError, GroupResource};
use super::store::ObjectKey;

/// How unknown fields in a write are treated (`?fieldValidation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// `options` names the request's options kind (`CreateOptions`, `UpdateOptions`,
    /// `PatchOptions`), which upstream validates the parameter as.
    pub fn parse(param: Option<&str>, options: &str) -> Result<Self, ApiError> {
        match param {
            None | Some("Warn") => Ok(Self::Warn),
            Some("Strict") => Ok(Self::Strict),
            Some("Ignore") => Ok(Self::Ignore),
            Some(other) => Err(ApiError::invalid_options(
                options,
                &[FieldError {
                    kind: FieldErrorKind::NotSupported,
                    field: "fieldValidation".into(),
                    bad_value: Some(Value::String(other.to_owned())),
                    detail: r#"supported values: "", "Ignore", "Strict", "Warn""#.into(),
                }],
            )),
        }
    }
}

/// The fields of `metav1.ObjectMeta`: anything else in `metadata` is an unknown field.
const OBJECT_META: [&str; 15] = [
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Drops what upstream's typed objects leave out when empty (`omitempty`): in `metadata`
/// always, at the top level of built-in kinds too (custom resources keep their fields as
/// written).
fn drop_empty(object: &mut Value, builtin: bool) {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    };
    if let Some(Value::Object(meta)) = object.get_mut("metadata") {
        meta.retain(|_, v| !empty(v));
    }
    if builtin && let Some(map) = object.as_object_mut() {
        map.retain(|k, v| k == "metadata" || !empty(v));
    }
}

pub fn types(served: &Served) -> &dyn FieldTypes {
    match &served.schema {
        Some(schema) => schema,
        None if served.info.kind == "CustomResourceDefinition" => &crd::CrdFields,
        None => &AtomicLists,
    }
}

fn tracks_generation(info: &ResourceInfo) -> bool {
    info.custom || info.kind == "CustomResourceDefinition"
}

/// What a write does, beyond the new object itself.
pub struct WriteOptions {
    pub manager: String,
    pub validation: FieldValidation,
    pub dry_run: bool,
    pub subresource: Option<String>,
    /// Server-side apply already recorded managedFields.
    pub applied: bool,
}

pub struct Written {
    pub object: Arc<Value>,
    pub changed: bool,
    /// The resourceVersion to wake watches with.
    pub rv: Option<u64>,
}

pub fn metadata_mut(object: &mut Value) -> Result<&mut serde_json::Map<String, Value>, ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request("the object must be a JSON object"));
    }
    let meta = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut);
    meta.ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

fn fold_string_data(object: &mut Value) {
    let Some(Value::Object(string_data)) =
        object.as_object_mut().and_then(|o| o.remove("stringData"))
    else {
        return;
    };
    let data = object
        .as_object_mut()
        .map(|o| o.entry("data").or_insert_with(|| json!({})));
    if let Some(Value::Object(data)) = data {
        for (k, v) in string_data {
            if let Some(s) = v.as_str() {
                data.insert(k, Value::String(meta::base64(s.as_bytes())));
            }
        }
    }
}

fn unknown_field_messages(fields: &[String]) -> Vec<String> {
    fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect()
}

fn remove_status(object: &mut Value) {
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
}

fn is_core(info: &ResourceInfo, kind: &str) -> bool {
    info.group.is_empty() && info.kind == kind
}

/// Metadata the server owns on a new object.
fn init_metadata(info: &ResourceInfo, new: &mut Value, now: &str) -> Result<(), ApiError> {
    let meta = metadata_mut(new)?;
    meta.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    meta.insert("creationTimestamp".into(), Value::String(now.to_owned()));
    for field in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "generation",
    ] {
        meta.remove(field);
    }
    if tracks_generation(info) {
        meta.insert("generation".into(), json!(1));
    }
    // Status is written through the status subresource only.
    if info.status_subresource && info.custom {
        remove_status(new);
    }
    if is_core(info, "Namespace") {
        new["status"] = json!({"phase": "Active"});
    }
    Ok(())
}

/// What upstream's defaulting adds on every write: a namespace's name as a label.
fn default_fields(info: &ResourceInfo, name: &str, new: &mut Value) {
    if is_core(info, "Namespace") {
        new["metadata"]["labels"]["kubernetes.io/metadata.name"] = Value::String(name.to_owned());
    }
    if info.kind == "CustomResourceDefinition" && new.pointer("/spec/conversion").is_none() {
        new["spec"]["conversion"] = json!({"strategy": "None"});
    }
}

/// Keeps what a write to `subresource` may not change, and the metadata the server owns.
fn carry_over(
    info: &ResourceInfo,
    old: &Value,
    new: &mut Value,
    opts: &WriteOptions,
) -> Result<(), ApiError> {
    if opts.subresource.as_deref() == Some("status") {
        let status = new.get("status").cloned();
        let managed = new.pointer("/metadata/managedFields").cloned();
        *new = old.clone();
        match status {
            Some(s) => new["status"] = s,
            None => remove_status(new),
        }
        if let Some(m) = managed {
            new["metadata"]["managedFields"] = m;
        }
    } else if info.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => remove_status(new),
        }
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_default();
    let meta = metadata_mut(new)?;
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "resourceVersion",
    ] {
        match old_meta.get(field) {
            Some(v) => meta.insert(field.into(), v.clone()),
            None => meta.remove(field),
        };
    }
    if !opts.applied
        && meta.get("managedFields").is_none_or(Value::is_null)
        && let Some(m) = old_meta.get("managedFields")
    {
        meta.insert("managedFields".into(), m.clone());
    }
    Ok(())
}

/// A valid name, in a namespace that exists and is not being deleted.
fn check_creatable(cluster: &Cluster, served: &Served, key: &ObjectKey) -> Result<(), ApiError> {
    let info = &served.info;
    let (namespace, name) = key;
    let rule = if is_core(info, "Namespace") {
        NameRule::Label
    } else {
        NameRule::Subdomain
    };
    let errors = meta::validate_name("metadata.name", name, rule);
    if !errors.is_empty() {
        return Err(ApiError::invalid(&info.kind, &info.group, name, &errors));
    }
    if info.namespaced {
        let ns = cluster
            .store
            .get(&namespaces(), &(String::new(), namespace.clone()))
            .ok_or_else(|| ApiError::not_found(&namespaces(), namespace))?;
        if ns.pointer("/metadata/deletionTimestamp").is_some() {
            let mut err = ApiError::forbidden(
                &served.group_resource(),
                name,
                &format!(
                    "unable to create new content in namespace {namespace} because it is being terminated"
                ),
            );
            if let Some(details) = err.details.as_mut() {
                details["causes"] = json!([{
                    "reason": "NamespaceTerminating",
                    "message": format!("namespace {namespace} is being terminated"),
                    "field": "metadata.namespace",
                }]);
            }
            return Err(err);
        }
    }
    Ok(())
}

/// Removes the fields the kind does not have and returns their paths (`metadata.x`,
/// `spec.x`): unknown `metadata` fields for every kind, the schema's unknown fields for
/// custom resources, unknown top-level fields for built-in kinds (whose hand-written
/// schemas list their top-level fields only).
fn prune_unknown(served: &Served, new: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    if let Some(Value::Object(meta)) = new.get_mut("metadata") {
        meta.retain(|k, _| {
            let known = OBJECT_META.contains(&k.as_str());
            if !known {
                unknown.push(format!("metadata.{k}"));
            }
            known
        });
    }
    if let Some(schema) = &served.schema {
        unknown.extend(schema.prune(new));
    } else if let (Some(Value::Object(declared)), Some(map)) = (
        served
            .info
            .schema
            .as_ref()
            .and_then(|s| s.get("properties")),
        new.as_object_mut(),
    ) {
        map.retain(|k, _| {
            let known = declared.contains_key(k);
            if !known {
                unknown.push(k.clone());
            }
            known
        });
    }
    unknown
}

/// Prunes unknown fields as `validation` says, then defaults and validates a custom
/// resource against its CRD's schema.
fn check_schema(
    served: &Served,
    name: &str,
    old: Option<&Value>,
    new: &mut Value,
    validation: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let info = &served.info;
    let unknown = unknown_field_messages(&prune_unknown(served, new));
    if !unknown.is_empty() {
        match validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    unknown.join(", "),
                    kind = info.kind,
                    version = info.version,
                )));
            }
            FieldValidation::Warn => warnings.extend(unknown),
            FieldValidation::Ignore => {}
        }
    }
    let Some(schema) = &served.schema else {
        return Ok(());
    };
    schema.apply_defaults(new);
    let errors = schema.validate(new, old);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&info.kind, &info.group, name, &errors))
    }
}

/// Upstream refuses to add finalizers to an object being deleted.
fn check_finalizers(
    info: &ResourceInfo,
    name: &str,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    if old.pointer("/metadata/deletionTimestamp").is_none() {
        return Ok(());
    }
    let list = |o: &Value| -> Vec<String> {
        o.pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let before = list(old);
    let added: Vec<String> = list(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    // Go's %#v of a []string.
    let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
    Err(ApiError::invalid(
        &info.kind,
        &info.group,
        name,
        &[FieldError {
            kind: FieldErrorKind::Forbidden,
            field: "metadata.finalizers".into(),
            bad_value: None,
            detail: format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                quoted.join(", ")
            ),
        }],
    ))
}

/// What a CRD serves once stored; sets the status the server reports for it.
fn accept_crd(
    cluster: &Cluster,
    served: &Served,
    name: &str,
    old: Option<&Value>,
    new: &mut Value,
    now: &str,
) -> Result<Vec<Served>, ApiError> {
    let info = &served.info;
    let resources = crd::served_resources(new)
        .map_err(|errors| ApiError::invalid(&info.kind, &info.group, name, &errors))?;
    let text = |pointer: &str| {
        new.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if cluster
        .registry
        .claimed_by_other(name, &text("/spec/group"), &text("/spec/names/plural"))
    {
        return Err(ApiError::conflict(
            &served.group_resource(),
            name,
            "the resource is already served",
        ));
    }
    let transition_time = old
        .and_then(|o| o.pointer("/status/conditions/0/lastTransitionTime"))
        .and_then(Value::as_str)
        .unwrap_or(now)
        .to_owned();
    new["status"] = crd::accepted_status(new, &transition_time);
    Ok(resources)
}

/// Records the status `accept_crd` gave a CRD as kube-apiserver's controllers' update of
/// the status subresource, the writer upstream's managedFields name for it.
fn record_crd_status(old: Option<&Value>, new: &mut Value, now: &str) {
    let mut before = new.clone();
    before["status"] = match old.and_then(|o| o.get("status")) {
        Some(status) => status.clone(),
        None => crd::initial_status(&new["status"]),
    };
    apply::record_update(
        Some(&before),
        new,
        crd::STATUS_MANAGER,
        Some("status"),
        now,
        &crd::CrdFields,
    );
}

/// Validates, completes and stores a created or changed object.
pub fn persist(
    cluster: &mut Cluster,
    served: &Served,
    key: &ObjectKey,
    old: Option<Arc<Value>>,
    mut new: Value,
    opts: &WriteOptions,
    warnings: &mut Vec<String>,
) -> Result<Written, ApiError> {
    let info = &served.info;
    let name = key.1.as_str();
    let now = meta::now();
    if let Some(kind) = new.get("kind").and_then(Value::as_str)
        && kind != info.kind
    {
        return Err(ApiError::bad_request(if info.group.is_empty() {
            let version = new
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or(&info.version);
            format!(
                "{kind} in version \"{version}\" cannot be handled as a {expected}: converting ({version}.{kind}) to (core.{expected}): unknown conversion",
                expected = info.kind
            )
        } else {
            format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                info.kind
            )
        }));
    }
    new["apiVersion"] = Value::String(info.api_version());
    new["kind"] = Value::String(info.kind.clone());
    {
        let meta = metadata_mut(&mut new)?;
        meta.insert("name".into(), Value::String(name.to_owned()));
        if info.namespaced {
            meta.insert("namespace".into(), Value::String(key.0.clone()));
        } else {
            meta.remove("namespace");
        }
    }
    match &old {
        None => {
            init_metadata(info, &mut new, &now)?;
            check_creatable(cluster, served, key)?;
        }
        Some(old) => {
            carry_over(info, old, &mut new, opts)?;
            check_finalizers(info, name, old, &new)?;
        }
    }
    check_schema(
        served,
        name,
        old.as_deref(),
        &mut new,
        opts.validation,
        warnings,
    )?;
    default_fields(info, name, &mut new);
    drop_empty(&mut new, !info.custom);
    if is_core(info, "Secret") {
        fold_string_data(&mut new);
        if new.get("type").is_none_or(Value::is_null) {
            new["type"] = Value::String("Opaque".into());
        }
    }
    let crd_resources = if info.kind == "CustomResourceDefinition" {
        Some(accept_crd(
            cluster,
            served,
            name,
            old.as_deref(),
            &mut new,
            &now,
        )?)
    } else {
        None
    };
    if let Some(old) = &old {
        if meta::is_noop(old, &new) {
            return Ok(Written {
                object: old.clone(),
                changed: false,
                rv: None,
            });
        }
        if tracks_generation(info) && meta::spec_changed(old, &new, info.status_subresource) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            new["metadata"]["generation"] = json!(generation + 1);
        }
    }
    if !opts.applied {
        // Upstream resets the status of a main-resource write to a kind with a status
        // subresource (what the server sets there, as for Namespaces and CRDs, included),
        // so the writer never owns it: compare without it.
        let hide_status = opts.subresource.is_none() && info.status_subresource;
        let status = hide_status
            .then(|| new.as_object_mut().and_then(|o| o.remove("status")))
            .flatten();
        let old_view = old.as_deref().map(|o| {
            let mut o = o.clone();
            if hide_status {
                remove_status(&mut o);
            }
            o
        });
        apply::record_update(
            old_view.as_ref(),
            &mut new,
            &opts.manager,
            opts.subresource.as_deref(),
            &now,
            types(served),
        );
        if let Some(status) = status {
            new["status"] = status;
        }
    }
    if crd_resources.is_some() {
        record_crd_status(old.as_deref(), &mut new, &now);
    }
    // Upstream's namespace strategy adds this after the writer's fields are recorded.
    if old.is_none() && is_core(info, "Namespace") && new.pointer("/spec/finalizers").is_none() {
        new["spec"]["finalizers"] = json!(["kubernetes"]);
    }
    if opts.dry_run {
        return Ok(Written {
            object: Arc::new(new),
            changed: false,
            rv: None,
        });
    }
    let finalized = new.pointer("/metadata/deletionTimestamp").is_some()
        && new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    let object = if finalized {
        // Upstream answers with the final state under the version it was last stored at.
        let last = Arc::new(new.clone());
        remove_object(cluster, served, key, new);
        last
    } else {
        let object = cluster
            .store
            .put(&served.group_resource(), key.clone(), new);
        if let Some(resources) = crd_resources {
            cluster.registry.set_crd(name, resources);
        }
        object
    };
    Ok(Written {
        object,
        changed: true,
        rv: Some(cluster.store.current_rv()),
    })
}

/// Removes an object for good, with what its removal implies (a CRD's resources, a
/// namespace's contents).
fn remove_object(
    cluster: &mut Cluster,
    served: &Served,
    key: &ObjectKey,
    last: Value,
) -> Arc<Value> {
    let gr = served.group_resource();
    if served.info.kind == "CustomResourceDefinition" {
        let group = last
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plural = last
            .pointer("/spec/names/plural")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let resource = GroupResource::new(group, plural);
        let doomed: Vec<(ObjectKey, Value)> = cluster
            .store
            .range(&resource, None, None)
            .map(|(k, o)| (k.clone(), (**o).clone()))
            .collect();
        for (k, o) in doomed {
            cluster.store.remove(&resource, &k, o);
        }
        cluster.store.drop_resource(&resource);
        cluster.registry.remove_crd(&key.1);
    }
    let removed = cluster.store.remove(&gr, key, last);
    if !key.0.is_empty() {
        finish_namespace_if_done(cluster, &key.0);
    }
    removed
}

fn namespaces() -> GroupResource {
    GroupResource::new("", "namespaces")
}

/// One entry per namespaced resource (a CRD's versions share their objects).
fn namespaced_resources(cluster: &Cluster) -> Vec<Arc<Served>> {
    let mut seen = std::collections::HashSet::new();
    cluster
        .registry
        .infos()
        .iter()
        .filter(|i| i.namespaced && seen.insert((i.group.clone(), i.plural.clone())))
        .filter_map(|i| cluster.registry.lookup(&i.group, &i.version, &i.plural))
        .collect()
}

/// Removes a terminating namespace once the last object in it is gone.
fn finish_namespace_if_done(cluster: &mut Cluster, namespace: &str) {
    let key = (String::new(), namespace.to_owned());
    let terminating = cluster
        .store
        .get(&namespaces(), &key)
        .filter(|ns| ns.pointer("/metadata/deletionTimestamp").is_some())
        .cloned();
    let Some(ns) = terminating else {
        return;
    };
    let empty = namespaced_resources(cluster).iter().all(|served| {
        cluster
            .store
            .range(&served.group_resource(), Some(namespace), None)
            .next()
            .is_none()
    });
    if empty {
        cluster.store.remove(&namespaces(), &key, (*ns).clone());
    }
}

/// What a deletion did.
pub struct Deletion {
    /// The object as the client sees it afterwards.
    pub object: Arc<Value>,
    pub changed: bool,
    /// Removed for good: upstream answers with a Status instead of the object.
    pub gone: bool,
}

/// Marks an object deleted, or removes it when no finalizer holds it.
pub fn delete_one(
    cluster: &mut Cluster,
    served: &Served,
    key: &ObjectKey,
    old: Arc<Value>,
    dry_run: bool,
) -> Deletion {
    let pending = |object, changed| Deletion {
        object,
        changed,
        gone: false,
    };
    let finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let deleting = old.pointer("/metadata/deletionTimestamp").is_some();
    let is_namespace = served.info.kind == "Namespace" && served.info.group.is_empty();
    if is_namespace && !dry_run {
        let remaining = empty_namespace(cluster, &key.1);
        let mut marked = (*old).clone();
        if !deleting {
            marked["metadata"]["deletionTimestamp"] = Value::String(meta::now());
            marked["status"] = json!({"phase": "Terminating"});
        }
        // Upstream's namespace controller removes an emptied namespace seconds later; here
        // that happens at once, and the answer is the namespace marked for deletion.
        return match (remaining, deleting) {
            (0, _) => pending(remove_object(cluster, served, key, marked), true),
            (_, true) => pending(old, false),
            (_, false) => pending(
                cluster
                    .store
                    .put(&served.group_resource(), key.clone(), marked),
                true,
            ),
        };
    }
    if finalizers {
        if deleting || dry_run {
            return pending(old, false);
        }
        let mut new = (*old).clone();
        new["metadata"]["deletionTimestamp"] = Value::String(meta::now());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
        if tracks_generation(&served.info) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            new["metadata"]["generation"] = json!(generation + 1);
        }
        let object = cluster
            .store
            .put(&served.group_resource(), key.clone(), new);
        return pending(object, true);
    }
    if !dry_run {
        remove_object(cluster, served, key, (*old).clone());
    }
    // Upstream lists a removed object as it was last stored.
    Deletion {
        object: old,
        changed: !dry_run,
        gone: true,
    }
}

/// Deletes everything in a namespace; returns how many objects finalizers still hold.
fn empty_namespace(cluster: &mut Cluster, namespace: &str) -> usize {
    let mut remaining = 0;
    for served in namespaced_resources(cluster) {
        let gr = served.group_resource();
        let objects: Vec<(ObjectKey, Arc<Value>)> = cluster
            .store
            .range(&gr, Some(namespace), None)
            .map(|(k, o)| (k.clone(), o.clone()))
            .collect();
        for (key, object) in objects {
            delete_one(cluster, &served, &key, object, false);
            if cluster.store.get(&gr, &key).is_some() {
                remaining += 1;
            }
        }
    }
    remaining
}
