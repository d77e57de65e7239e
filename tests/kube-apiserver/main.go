// Command kube-apiserver runs the real Kubernetes API server of the release pinned in go.mod,
// backed by an embedded etcd, on 127.0.0.1 only, for rolesync's tests. README.md says what
// it serves and what a full cluster would do that it does not.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd's data, the certificates and the admin kubeconfig (required)")
	port := flag.Int("port", 0, "HTTPS port on 127.0.0.1; 0 picks a free one")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: kube-apiserver --data-dir DIR [--port N] [-- extra kube-apiserver flags]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dataDir == "" {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// Once shutdown has begun, a second signal takes the default action and ends the process.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, *dataDir, *port, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "kube-apiserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir string, port int, extraFlags []string) error {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	files, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	listener, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	etcd, err := startEtcd(filepath.Join(dir, "etcd"))
	if err != nil {
		listener.Close()
		return fmt.Errorf("starting etcd: %w", err)
	}
	// The API server has stopped using etcd by the time this runs: run waits for it below.
	defer etcd.Close()

	flags := []string{
		"--bind-address=127.0.0.1",
		// Without it the server would advertise this host's first network address.
		"--advertise-address=127.0.0.1",
		// The default reconciler would publish the advertise address as the endpoint of the
		// "kubernetes" Service, and validation refuses loopback endpoints.
		"--endpoint-reconciler-type=none",
		"--etcd-servers=http://" + etcd.Clients[0].Addr().String(),
		"--authorization-mode=RBAC",
		"--client-ca-file=" + files.caCert,
		"--tls-cert-file=" + files.servingCert,
		"--tls-private-key-file=" + files.servingKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + files.serviceAccountPublicKey,
		"--service-account-signing-key-file=" + files.serviceAccountKey,
		"--service-cluster-ip-range=10.0.0.0/24",
	}
	opts, err := serverOptions(ctx, listener, append(flags, extraFlags...))
	if err != nil {
		listener.Close()
		return err
	}

	// Not derived from ctx: kube-apiserver stopped before it is ready ends the whole process
	// with status 255 (a post-start hook fails), so a signal during start-up takes effect once
	// the server is ready.
	serverCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	serverDone := make(chan struct{})
	var serverErr error
	go func() {
		defer close(serverDone)
		serverErr = app.Run(serverCtx, opts)
	}()

	serverURL := "https://" + listener.Addr().String()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	config, err := writeKubeconfig(kubeconfig, serverURL, files)
	if err == nil {
		err = waitReady(serverCtx, config, serverDone)
	}
	if err == nil {
		err = startNamespaceController(serverCtx, config)
	}
	if err == nil && ctx.Err() == nil {
		fmt.Printf("kube-apiserver ready url=%s kubeconfig=%s\n", serverURL, kubeconfig)
		select {
		case <-ctx.Done():
		case <-serverDone:
		}
	}
	cancel()
	<-serverDone
	// A server that stopped by itself says why better than the wait that noticed it.
	if serverErr != nil {
		return serverErr
	}
	return err
}

// serverOptions parses kube-apiserver's own flags the way its command does, serving on listener.
func serverOptions(ctx context.Context, listener net.Listener, args []string) (options.CompletedOptions, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return options.CompletedOptions{}, err
	}
	s.SecureServing.Listener = listener
	s.SecureServing.BindPort = listener.Addr().(*net.TCPAddr).Port

	registry := s.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return options.CompletedOptions{}, err
	}
	if err := logsapi.ValidateAndApply(s.Logs, registry.FeatureGateFor(basecompatibility.DefaultKubeComponent)); err != nil {
		return options.CompletedOptions{}, err
	}
	// The in-process clients would otherwise log every deprecated API they touch, as the
	// namespace controller does when it empties a namespace.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return options.CompletedOptions{}, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return options.CompletedOptions{}, utilerrors.NewAggregate(errs)
	}
	return completed, nil
}

// startEtcd runs a single-member etcd with its data in dir, reachable on 127.0.0.1 only.
func startEtcd(dir string) (*embed.Etcd, error) {
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The API server's log already reports storage failures; etcd's info lines would bury it.
	cfg.LogLevel = "error"
	// A test cluster's data need not survive a power cut, and fsync on every write makes
	// creating many objects several times slower.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(time.Minute):
		e.Close()
		return nil, errors.New("etcd was not ready within a minute")
	}
}
