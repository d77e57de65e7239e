//! Discovery documents (`/api`, `/apis`, `/apis/{group}/{version}`).

use serde_json::{Value, json};

use super::resource::ResourceInfo;

/// `GET /api`.
pub fn core_api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
}

fn group_versions(group: &str, resources: &[ResourceInfo]) -> Vec<String> {
    let mut versions: Vec<String> = resources
        .iter()
        .filter(|r| r.group == group)
        .map(|r| r.version.clone())
        .collect();
    versions.sort();
    versions.dedup();
    versions
}

/// `GET /apis/{group}`.
pub fn api_group(group: &str, resources: &[ResourceInfo]) -> Option<Value> {
    let versions = group_versions(group, resources);
    let first = versions.first()?;
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    Some(json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
        "preferredVersion": {"groupVersion": format!("{group}/{first}"), "version": first},
    }))
}

/// `GET /apis`.
pub fn api_group_list(resources: &[ResourceInfo]) -> Value {
    let mut groups: Vec<&str> = resources
        .iter()
        .filter(|r| !r.group.is_empty())
        .map(|r| r.group.as_str())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let groups: Vec<Value> = groups
        .into_iter()
        .filter_map(|g| api_group(g, resources))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /api/v1` or `/apis/{group}/{version}`.
pub fn api_resource_list(group: &str, version: &str, resources: &[ResourceInfo]) -> Option<Value> {
    let entries: Vec<Value> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .flat_map(|r| {
            let main = json!({
                "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                "kind": r.kind, "verbs": r.verbs, "shortNames": r.short_names,
                "categories": r.categories,
            });
            let status = r.status_subresource.then(|| {
                json!({"name": format!("{}/status", r.plural), "singularName": "",
                       "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]})
            });
            std::iter::once(main).chain(status)
        })
        .collect();
    if entries.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList", "apiVersion": "v1",
        "groupVersion": group_version, "resources": entries,
    }))
}
