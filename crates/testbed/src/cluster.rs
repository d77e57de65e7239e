//! A cluster made ready for rolesync, through the Kubernetes API as a user would do it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, ObjectMeta, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// rolesync's own namespace, where provider Secrets live.
pub const SYSTEM_NAMESPACE: &str = "rolesync-system";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the {0} simulator: {1}")]
    Simulator(&'static str, #[source] std::io::Error),
    #[error("the kubeconfig is unusable: {0}")]
    Kubeconfig(String),
    #[error("setting up the cluster: {0}")]
    Kube(#[from] kube::Error),
    #[error("waiting for CRD {0} to be established: {1}")]
    Crd(String, String),
}

/// The client configuration of the cluster a kubeconfig points at (its current context).
pub async fn config_for(kubeconfig_yaml: &str) -> Result<kube::Config, Error> {
    let bad = |e: kube::config::KubeconfigError| Error::Kubeconfig(e.to_string());
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml).map_err(bad)?;
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(bad)
}

/// A client that reaches the cluster a kubeconfig points at.
pub async fn client_for(kubeconfig_yaml: &str) -> Result<kube::Client, Error> {
    Ok(kube::Client::try_from(config_for(kubeconfig_yaml).await?)?)
}

/// Creates the CRDs (unless they exist) and waits until the API serves them.
pub async fn install_crds(
    client: &kube::Client,
    crds: Vec<CustomResourceDefinition>,
) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd.name_any();
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        tokio::time::timeout(
            Duration::from_secs(10),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .map_err(|_| Error::Crd(name.clone(), "timed out".into()))?
        .map_err(|e| Error::Crd(name.clone(), e.to_string()))?;
    }
    Ok(())
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &kube::Client, name: &str) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A rolesync.dev/v1alpha1 kind, as the API serves it.
fn rolesync_kind(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rolesync.dev", "v1alpha1", kind),
        plural,
    )
}

/// RoleAssignments in `namespace` (all namespaces when `None`), as JSON objects.
pub fn role_assignments(client: &kube::Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar = rolesync_kind("RoleAssignment", "roleassignments");
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Whether a RoleAssignment's status (`object` is the whole object's JSON, metadata aside)
/// says Ready=True for `generation`.
pub fn is_ready(object: &Value, generation: Option<i64>) -> bool {
    let status = &object["status"];
    status["observedGeneration"].as_i64() == generation
        && status["conditions"].as_array().is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Stores `api_key` in Secret `name` (key `apiKey`) in rolesync's namespace and creates
/// ClusterProviderConfig `name` with `provider_block` (e.g. `{"gcore": {"endpoint": ...}}`).
pub async fn connect_provider(
    client: &kube::Client,
    name: &str,
    api_key: &str,
    provider_block: Value,
) -> Result<(), Error> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(SYSTEM_NAMESPACE.to_owned()),
            ..ObjectMeta::default()
        },
        string_data: Some([("apiKey".to_owned(), api_key.to_owned())].into()),
        ..Secret::default()
    };
    secrets.create(&PostParams::default(), &secret).await?;
    let mut spec = json!({
        "credentials": {"secretRef": {"name": name, "namespace": SYSTEM_NAMESPACE, "key": "apiKey"}}
    });
    if let (Some(spec), Some(block)) = (spec.as_object_mut(), provider_block.as_object()) {
        spec.extend(block.clone());
    }
    let config: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rolesync.dev/v1alpha1",
        "kind": "ClusterProviderConfig",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
    let configs: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &rolesync_kind("ClusterProviderConfig", "clusterproviderconfigs"),
    );
    configs.create(&PostParams::default(), &config).await?;
    Ok(())
}
