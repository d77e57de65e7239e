//! rolesync against a real kube-apiserver of the pinned Kubernetes release (see
//! tests/kube-apiserver): its CRDs, install manifests and the operator under the chart's RBAC.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use testbed::RealKube;

#[tokio::test]
async fn the_real_server_starts_serves_and_stops() {
    let Some(kube) = RealKube::start_or_skip(&[]).await else {
        return;
    };
    let client = kube.client().await;
    let namespaces = Api::<Namespace>::all(client)
        .list(&Default::default())
        .await
        .expect("namespaces listed");
    let names: Vec<_> = namespaces
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    assert!(names.contains(&"default".to_owned()), "{names:?}");
    kube.stop().await;
}
