//! API discovery documents: the legacy `/api`, `/apis`, `/apis/{group}` and per-version
//! `APIResourceList`s, and the aggregated `apidiscovery.k8s.io/v2` form client-go asks for first.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::resource::ResourceInfo;

/// Content type of an aggregated discovery response; client-go only parses the body as
/// aggregated discovery when the response carries exactly this type.
pub const AGGREGATED_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Verbs upstream serves on a `/status` subresource.
const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];

/// `GET /api`: the core group's versions.
pub fn core_api_versions() -> Value {
    // Upstream lists the address clients should use per CIDR; clients of a loopback server
    // already use the one address it has, so the list stays empty.
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [],
    })
}

/// `GET /apis`: every named group with its versions, most preferred first.
pub fn api_group_list(resources: &[ResourceInfo]) -> Value {
    let groups: Vec<Value> = group_names(resources)
        .into_iter()
        .filter(|g| !g.is_empty())
        .filter_map(|g| group_body(g, resources))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`; `None` when no resource is served in `group`.
pub fn api_group(group: &str, resources: &[ResourceInfo]) -> Option<Value> {
    if group.is_empty() {
        return None;
    }
    let mut body = group_body(group, resources)?;
    let obj = body.as_object_mut()?;
    obj.insert("kind".into(), json!("APIGroup"));
    obj.insert("apiVersion".into(), json!("v1"));
    Some(body)
}

/// `GET /api/v1` (with `group` empty) or `GET /apis/{group}/{version}`; `None` when nothing
/// is served at that group/version.
pub fn api_resource_list(group: &str, version: &str, resources: &[ResourceInfo]) -> Option<Value> {
    let served: Vec<&ResourceInfo> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    let first = served.first()?;
    let mut list = Vec::new();
    for r in &served {
        let mut entry = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
            "storageVersionHash": r.storage_version_hash,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        if r.status_subresource {
            list.push(json!({
                "name": format!("{}/status", r.plural),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": STATUS_VERBS,
            }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": first.api_version(),
        "resources": list,
    }))
}

/// Whether an `Accept` header asks for aggregated discovery (`apidiscovery.k8s.io/v2`).
/// When it does, answer `GET /api` / `GET /apis` with [`aggregated`] and
/// [`AGGREGATED_CONTENT_TYPE`]; otherwise with the legacy documents.
pub fn wants_aggregated(accept_header: &str) -> bool {
    media_types(accept_header).any(|params| {
        param(&params, "g") == Some("apidiscovery.k8s.io")
            && param(&params, "v") == Some("v2")
            && param(&params, "as") == Some("APIGroupDiscoveryList")
    })
}

/// `GET /api` (`core` true: the core group only) or `GET /apis` (`core` false: every named
/// group) as an aggregated `APIGroupDiscoveryList`.
pub fn aggregated(core: bool, resources: &[ResourceInfo]) -> Value {
    let items: Vec<Value> = group_names(resources)
        .into_iter()
        .filter(|g| g.is_empty() == core)
        .map(|group| {
            let versions: Vec<Value> = sorted_versions(group, resources)
                .into_iter()
                .map(|version| {
                    let served: Vec<Value> = resources
                        .iter()
                        .filter(|r| r.group == group && r.version == version)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": version, "resources": served, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": group}, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    })
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let response_kind = json!({"group": r.group, "version": r.version, "kind": r.kind});
    let mut entry = json!({
        "resource": r.plural,
        "responseKind": response_kind,
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    if r.status_subresource {
        entry["subresources"] = json!([{
            "subresource": "status",
            "responseKind": response_kind,
            "verbs": STATUS_VERBS,
        }]);
    }
    entry
}

/// The splits of an `Accept` header: for each media type, its `key=value` parameters.
pub(super) fn media_types(accept_header: &str) -> impl Iterator<Item = Vec<(&str, &str)>> {
    accept_header.split(',').map(|media_type| {
        media_type
            .split(';')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect()
    })
}

pub(super) fn param<'a>(params: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// A group's `name`, `versions` and `preferredVersion`, or `None` when nothing serves it.
fn group_body(group: &str, resources: &[ResourceInfo]) -> Option<Value> {
    let versions = sorted_versions(group, resources);
    let preferred = versions.first()?;
    let entry = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    Some(json!({
        "name": group,
        "versions": versions.iter().map(|v| entry(v)).collect::<Vec<_>>(),
        "preferredVersion": entry(preferred),
    }))
}

/// Distinct groups in the order they are first served, so built-ins can come first.
fn group_names(resources: &[ResourceInfo]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in resources {
        if !names.contains(&r.group.as_str()) {
            names.push(&r.group);
        }
    }
    names
}

/// The versions served in `group`, most preferred first.
fn sorted_versions<'a>(group: &str, resources: &'a [ResourceInfo]) -> Vec<&'a str> {
    let mut versions: Vec<&str> = Vec::new();
    for r in resources.iter().filter(|r| r.group == group) {
        if !versions.contains(&r.version.as_str()) {
            versions.push(&r.version);
        }
    }
    versions.sort_by(|a, b| compare_kube_versions(b, a));
    versions
}

/// A version like `v1`, `v2beta1`: (major, stability, minor) where GA ranks above beta above alpha.
fn parse_kube_version(v: &str) -> Option<(u64, u8, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let major: u64 = rest[..digits_end].parse().ok()?;
    let suffix = &rest[digits_end..];
    if suffix.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = if let Some(m) = suffix.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = suffix.strip_prefix("alpha") {
        (0, m)
    } else {
        return None;
    };
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((major, stability, minor.parse().ok()?))
}

/// Upstream's `CompareKubeAwareVersionStrings` order: `Greater` means more preferred.
/// Kube-like versions beat others (GA > beta > alpha, then higher numbers); others sort
/// with the alphabetically first as most preferred.
fn compare_kube_versions(a: &str, b: &str) -> Ordering {
    match (parse_kube_version(a), parse_kube_version(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sa.cmp(&sb).then(ma.cmp(&mb)).then(na.cmp(&nb)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => b.cmp(a),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn info(group: &str, version: &str, kind: &str, plural: &str) -> ResourceInfo {
        ResourceInfo {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            verbs: [
                "create", "delete", "get", "list", "patch", "update", "watch",
            ]
            .map(String::from)
            .to_vec(),
            status_subresource: false,
            printer_columns: vec![],
            schema: None,
            custom: false,
            storage_version_hash: crate::resource::storage_version_hash(group, version, kind),
        }
    }

    fn sample() -> Vec<ResourceInfo> {
        let mut widget = info("example.com", "v1", "Widget", "widgets");
        widget.short_names = vec!["wd".into()];
        widget.categories = vec!["all".into(), "example".into()];
        widget.status_subresource = true;
        widget.custom = true;
        let mut ns = info("", "v1", "Namespace", "namespaces");
        ns.namespaced = false;
        vec![
            ns,
            info("", "v1", "Secret", "secrets"),
            info("coordination.k8s.io", "v1", "Lease", "leases"),
            info("example.com", "v1alpha1", "Widget", "widgets"),
            widget,
            info("example.com", "v1beta2", "Widget", "widgets"),
        ]
    }

    #[test]
    fn kube_versions_sort_ga_then_beta_then_alpha_then_others() {
        let mut v = vec![
            "foo",
            "v1alpha1",
            "v2",
            "v1beta2",
            "v1",
            "v11alpha2",
            "v1beta1",
            "bar",
        ];
        v.sort_by(|a, b| compare_kube_versions(b, a));
        assert_eq!(
            v,
            [
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v11alpha2",
                "v1alpha1",
                "bar",
                "foo"
            ]
        );
    }

    #[test]
    fn core_versions_list_v1() {
        let doc = core_api_versions();
        assert_eq!(doc["kind"], "APIVersions");
        assert_eq!(doc["versions"], json!(["v1"]));
        assert!(doc["serverAddressByClientCIDRs"].is_array());
    }

    #[test]
    fn group_list_excludes_core_and_prefers_ga() {
        let doc = api_group_list(&sample());
        assert_eq!(doc["kind"], "APIGroupList");
        let groups = doc["groups"].as_array().unwrap();
        let names: Vec<&str> = groups.iter().map(|g| g["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["coordination.k8s.io", "example.com"]);
        let example = &groups[1];
        assert_eq!(
            example["preferredVersion"],
            json!({"groupVersion": "example.com/v1", "version": "v1"})
        );
        let versions: Vec<&str> = example["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["v1", "v1beta2", "v1alpha1"]);
    }

    #[test]
    fn api_group_is_kind_apigroup_or_none() {
        let doc = api_group("coordination.k8s.io", &sample()).unwrap();
        assert_eq!(doc["kind"], "APIGroup");
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(
            doc["preferredVersion"]["groupVersion"],
            "coordination.k8s.io/v1"
        );
        assert!(api_group("nope.io", &sample()).is_none());
        assert!(api_group("", &sample()).is_none());
    }

    #[test]
    fn resource_list_has_status_subresource_short_names_and_categories() {
        let doc = api_resource_list("example.com", "v1", &sample()).unwrap();
        assert_eq!(doc["kind"], "APIResourceList");
        assert_eq!(doc["groupVersion"], "example.com/v1");
        let res = doc["resources"].as_array().unwrap();
        assert_eq!(res.len(), 2);
        assert_eq!(res[0]["name"], "widgets");
        assert_eq!(res[0]["singularName"], "widget");
        assert_eq!(res[0]["namespaced"], true);
        assert_eq!(res[0]["shortNames"], json!(["wd"]));
        assert_eq!(res[0]["categories"], json!(["all", "example"]));
        assert_eq!(res[1]["name"], "widgets/status");
        assert_eq!(res[1]["kind"], "Widget");
        assert_eq!(res[1]["verbs"], json!(["get", "patch", "update"]));
        assert_eq!(
            res[0]["storageVersionHash"],
            crate::resource::storage_version_hash("example.com", "v1", "Widget")
        );
        assert!(
            res[1].get("storageVersionHash").is_none(),
            "a subresource is stored with its resource"
        );
    }

    #[test]
    fn core_resource_list_uses_bare_version() {
        let doc = api_resource_list("", "v1", &sample()).unwrap();
        assert_eq!(doc["groupVersion"], "v1");
        let names: Vec<&str> = doc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["namespaces", "secrets"]);
        assert_eq!(doc["resources"][0]["namespaced"], false);
        assert!(doc["resources"][0].get("shortNames").is_none());
        assert!(api_resource_list("example.com", "v9", &sample()).is_none());
    }

    #[test]
    fn recognises_aggregated_accept_header() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
        ));
    }

    #[test]
    fn aggregated_splits_core_from_named_groups() {
        let core = aggregated(true, &sample());
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2");
        let items = core["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"]["name"], "");
        let ns = &items[0]["versions"][0]["resources"][0];
        assert_eq!(ns["scope"], "Cluster");
        assert_eq!(
            ns["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Namespace"})
        );

        let named = aggregated(false, &sample());
        let items = named["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let example = &items[1];
        assert_eq!(example["versions"][0]["version"], "v1");
        assert_eq!(example["versions"][0]["freshness"], "Current");
        let widget = &example["versions"][0]["resources"][0];
        assert_eq!(widget["resource"], "widgets");
        assert_eq!(widget["scope"], "Namespaced");
        assert_eq!(widget["shortNames"], json!(["wd"]));
        assert_eq!(widget["subresources"][0]["subresource"], "status");
        assert_eq!(
            widget["subresources"][0]["verbs"],
            json!(["get", "patch", "update"])
        );
    }
}
