package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/pkg/controller/namespace"
)

// waitReady returns once /readyz answers OK and the objects the server creates for itself
// after starting (system namespaces, bootstrap RBAC roles) exist, so that a client may
// create things at once. It fails if serverDone closes first.
func waitReady(ctx context.Context, config *rest.Config, serverDone <-chan struct{}) error {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-serverDone:
			cancel()
		case <-ctx.Done():
		}
	}()
	var notYet error
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		status := 0
		client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status)
		if status != http.StatusOK {
			notYet = fmt.Errorf("/readyz answers %d", status)
			return false, nil
		}
		for _, ns := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, v1.NamespaceNodeLease} {
			if _, notYet = client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); notYet != nil {
				return false, nil
			}
		}
		for _, role := range []string{"cluster-admin", "admin", "edit", "view"} {
			if _, notYet = client.RbacV1().ClusterRoles().Get(ctx, role, metav1.GetOptions{}); notYet != nil {
				return false, nil
			}
		}
		return true, nil
	})
	select {
	case <-serverDone:
		return errors.New("the API server stopped before it was ready")
	default:
	}
	if err != nil {
		return fmt.Errorf("not ready (%v): %w", notYet, err)
	}
	return nil
}

// startNamespaceController runs kube-controller-manager's namespace controller in this
// process, so that a deleted namespace is emptied and then removed as in a real cluster,
// instead of staying Terminating for ever. It stops with ctx.
func startNamespaceController(ctx context.Context, config *rest.Config) error {
	config = rest.CopyConfig(config)
	// Emptying a namespace takes a request per resource type; client-go's default of 5 per
	// second would make each deletion take seconds. The server's own flow control still applies.
	config.QPS = -1
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(config)
	if err != nil {
		return err
	}
	// kube-controller-manager's default --namespace-sync-period; the informer must resync at
	// least as often for the controller's periodic retry to happen.
	const syncPeriod = 5 * time.Minute
	factory := informers.NewSharedInformerFactory(client, syncPeriod)
	controller := namespace.NewNamespaceController(ctx, client, metadataClient,
		client.Discovery().ServerPreferredNamespacedResources,
		factory.Core().V1().Namespaces(), syncPeriod, v1.FinalizerKubernetes)
	factory.Start(ctx.Done())
	// kube-controller-manager's default --concurrent-namespace-syncs.
	go controller.Run(ctx, 10)
	return nil
}
