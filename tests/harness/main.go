// Command scrapepath-testenv runs a real Kubernetes control plane for scrapepath's integration
// tests in ONE process: embedded etcd, kube-apiserver and kube-controller-manager (garbage
// collector and namespace controllers only), all on loopback.
//
// Everything it needs (keys, certificates, etcd data, the chosen ports) lives in --data-dir and is
// reused when it is started again with the same --data-dir, so a test can stop it and start it
// again to simulate an apiserver restart: same port, same credentials, same data.
//
// Once the apiserver's /readyz is ok it writes <data-dir>/kubeconfig (admin, group
// system:masters) and prints one line "READY <path-to-kubeconfig>" on stdout. It exits when its
// stdin reaches EOF (so it dies with the test process holding the pipe) or on SIGTERM/SIGINT.
//
// kube-controller-manager's garbage collector learns the resource types of CRDs from discovery only
// at start and then every 30 s. With --defer-controller-manager it starts when the line
// "start-controller-manager" arrives on stdin (after the caller installed its CRDs), and in any case
// only once discovery serves every Established CRD, so ownerReferences to and from custom resources
// are collected at once.
//
// Go is used here for test tooling only; the product is Rust.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/component-base/logs/json/register"          // as in cmd/kube-apiserver
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as in cmd/kube-apiserver
	_ "k8s.io/component-base/metrics/prometheus/version"  // as in cmd/kube-apiserver

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/cli/globalflag"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/logs"
	logsapi "k8s.io/component-base/logs/api/v1"

	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
)

const (
	// serviceCIDR is the service cluster IP range; its first address is the "kubernetes" service.
	serviceCIDR = "10.0.0.0/24"
	serviceIP   = "10.0.0.1"
)

// state is what must stay the same across restarts with one data dir.
type state struct {
	Port           int `json:"port"`
	EtcdClientPort int `json:"etcdClientPort"`
	EtcdPeerPort   int `json:"etcdPeerPort"`
}

func main() {
	var (
		dataDir  = flag.String("data-dir", "", "directory for keys, certificates, etcd data and the kubeconfig (required; reused on restart)")
		port     = flag.Int("port", 0, "apiserver secure port (0: the one used last time with this data dir, else a free one)")
		noKCM    = flag.Bool("no-controller-manager", false, "do not run kube-controller-manager (garbage collector, namespace controller)")
		deferKCM = flag.Bool("defer-controller-manager", false, "start kube-controller-manager when the line \"start-controller-manager\" arrives on stdin, not at once")
		verbose  = flag.Int("v", 0, "log verbosity (klog) of the apiserver and the controller manager; logs go to stderr")
	)
	flag.Parse()
	if *dataDir == "" {
		fatalf("--data-dir is required")
	}
	kcm := kcmNow
	if *noKCM {
		kcm = kcmNever
	} else if *deferKCM {
		kcm = kcmOnRequest
	}
	if err := run(*dataDir, *port, kcm, *verbose); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scrapepath-testenv: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scrapepath-testenv: "+format+"\n", args...)
}

type kcmMode int

const (
	kcmNow kcmMode = iota
	kcmOnRequest
	kcmNever
)

func run(dataDir string, port int, kcm kcmMode, verbosity int) error {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	pkiDir := filepath.Join(dataDir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return err
	}

	// Stop on stdin EOF or SIGTERM/SIGINT: both cancel the apiserver's context (it shuts down
	// gracefully on that); on stdin EOF we send ourselves SIGTERM to take the same path.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	startKCM := make(chan struct{}, 1)
	go func() {
		lines := bufio.NewScanner(os.Stdin)
		for lines.Scan() {
			if strings.TrimSpace(lines.Text()) == "start-controller-manager" {
				select {
				case startKCM <- struct{}{}:
				default:
				}
			}
		}
		logf("stdin closed, shutting down")
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()

	st, err := loadState(dataDir, port)
	if err != nil {
		return err
	}
	if err := ensurePKI(pkiDir); err != nil {
		return err
	}

	// The apiserver's port is held from here on: bound now, handed to the apiserver as its
	// listener, never released and bound again (another process could take it in between).
	apiListener, err := listenAPIServer(st.Port)
	if err != nil {
		return err
	}
	st.Port = apiListener.Addr().(*net.TCPAddr).Port

	// etcd
	etcd, err := startEtcdRetrying(dataDir, &st)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	if err := saveState(dataDir, st); err != nil {
		return err
	}
	shutdownEtcd := sync.OnceFunc(func() {
		etcd.Close()
	})
	defer shutdownEtcd()

	// kube-apiserver, in-process, through its own cobra command (flags as envtest sets them).
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", st.Port)
	apiArgs := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(st.Port),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", st.EtcdClientPort),
		"--cert-dir=" + pkiDir,
		"--tls-cert-file=" + filepath.Join(pkiDir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(pkiDir, "serving.key"),
		"--client-ca-file=" + filepath.Join(pkiDir, "ca.crt"),
		"--authorization-mode=RBAC",
		"--disable-admission-plugins=ServiceAccount",
		"--service-account-issuer=" + apiURL + "/",
		"--service-account-key-file=" + filepath.Join(pkiDir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pkiDir, "sa.key"),
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--endpoint-reconciler-type=none",
		"--v=" + strconv.Itoa(verbosity),
	}
	apiCtx, stopAPIServer := context.WithCancel(context.Background())
	defer stopAPIServer()
	apiDone := make(chan error, 1)
	go func() { apiDone <- runAPIServer(apiCtx, apiArgs, apiListener) }()

	client, err := adminHTTPClient(pkiDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	readyErr := make(chan error, 1)
	go func() { readyErr <- waitReady(ctx, client, apiURL+"/readyz") }()

	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	var kcmDone chan error
	select {
	case err := <-apiDone:
		return fmt.Errorf("kube-apiserver exited before it was ready: %v", err)
	case sig := <-sigs:
		logf("%v before ready, exiting", sig)
		stopAPIServer()
		return waitAPIServer(apiDone)
	case err := <-readyErr:
		if err != nil {
			return err
		}
	}
	if err := writeKubeconfig(kubeconfig, apiURL, pkiDir); err != nil {
		return err
	}
	if kcm != kcmNever {
		kcmDone = make(chan error, 1)
		go func() {
			if kcm == kcmOnRequest {
				select {
				case <-startKCM:
				case <-ctx.Done():
					return
				}
			}
			if err := waitDiscoveryServesCRDs(ctx, kubeconfig); err != nil {
				logf("starting kube-controller-manager anyway: %v", err)
			}
			logf("starting kube-controller-manager (garbagecollector, namespace)")
			kcmDone <- runControllerManager(ctx, kubeconfig)
		}()
	}
	fmt.Printf("READY %s\n", kubeconfig)
	_ = os.Stdout.Sync()

	select {
	case err := <-apiDone:
		if err != nil {
			return fmt.Errorf("kube-apiserver exited: %v", err)
		}
		return errors.New("kube-apiserver exited")
	case err := <-kcmDone:
		return fmt.Errorf("kube-controller-manager exited: %v", err)
	case sig := <-sigs:
		logf("%v, shutting down", sig)
	}
	cancel() // controller manager
	stopAPIServer()
	err = waitAPIServer(apiDone)
	shutdownEtcd()
	return err
}

// runAPIServer runs kube-apiserver in this process as its cobra command does (options from the
// command-line flags, logging, complete, validate, Run), but serving on the listener given and
// stopping when ctx is cancelled. The command itself cannot be handed a listener: with a
// --secure-port it binds the port itself, later than it was chosen.
func runAPIServer(ctx context.Context, args []string, listener net.Listener) error {
	s := options.NewServerRunOptions()
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	namedFlagSets := s.Flags()
	globalflag.AddGlobalFlags(namedFlagSets.FlagSet("global"), "kube-apiserver", logs.SkipLoggingConfigurationFlags())
	for _, f := range namedFlagSets.FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	// As the command does: loopback clients should not log self-issued warnings.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return err
	}
	s.SecureServing.Listener = listener
	s.SecureServing.BindPort = listener.Addr().(*net.TCPAddr).Port
	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	return apiserverapp.Run(ctx, completed)
}

// waitAPIServer waits a bounded time for the apiserver's graceful shutdown (already triggered by
// the cancellation of its context).
func waitAPIServer(apiDone <-chan error) error {
	select {
	case err := <-apiDone:
		if err != nil {
			logf("kube-apiserver: %v", err)
		}
	case <-time.After(20 * time.Second):
		logf("kube-apiserver did not stop within 20s, exiting anyway")
	}
	return nil
}

// runControllerManager runs kube-controller-manager's garbage collector and namespace controller
// as the admin. It is started through its options and app.Run rather than its cobra command: the
// command would apply logging settings and install a signal handler a second time in this process
// (the apiserver's did already); logging verbosity is the apiserver's --v (klog is global).
func runControllerManager(ctx context.Context, kubeconfig string) error {
	s, err := kcmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	all, disabled, aliases := kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases()
	fss := s.Flags(all, disabled, aliases)
	fs := pflag.NewFlagSet("kube-controller-manager", pflag.ContinueOnError)
	for _, f := range fss.FlagSets {
		fs.AddFlagSet(f)
	}
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--controllers=garbagecollector,namespace",
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-gc-syncs=5",
		"--concurrent-namespace-syncs=5",
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := s.Config(ctx, all, disabled, aliases)
	if err != nil {
		return err
	}
	return kcmapp.Run(ctx, c.Complete())
}

// waitDiscoveryServesCRDs waits until API discovery lists the served versions of every Established
// CRD, so that the garbage collector sees their resource types when it starts.
func waitDiscoveryServesCRDs(ctx context.Context, kubeconfig string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	deadline := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		list, err := dyn.Resource(crdGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		_, resources, _ := disco.ServerGroupsAndResources()
		served := map[string]bool{}
		for _, rl := range resources {
			for _, r := range rl.APIResources {
				served[rl.GroupVersion+"/"+r.Name] = true
			}
		}
		for _, crd := range list.Items {
			if !crdEstablished(crd.Object) {
				continue
			}
			group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
			plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			for _, v := range versions {
				vm, _ := v.(map[string]any)
				name, _ := vm["name"].(string)
				if isServed, _ := vm["served"].(bool); isServed && !served[group+"/"+name+"/"+plural] {
					missing = append(missing, group+"/"+name+"/"+plural)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("discovery does not serve %v after 30s", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func crdEstablished(obj map[string]any) bool {
	conds, _, _ := unstructured.NestedSlice(obj, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Established" && cm["status"] == "True" {
			return true
		}
	}
	return false
}

func loadState(dataDir string, port int) (state, error) {
	path := filepath.Join(dataDir, "state.json")
	var st state
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return st, fmt.Errorf("%s: %w", path, err)
		}
	} else if !os.IsNotExist(err) {
		return st, err
	}
	if port != 0 {
		st.Port = port
	}
	return st, nil
}

func saveState(dataDir string, st state) error {
	b, _ := json.MarshalIndent(st, "", "  ")
	return writeFileAtomic(filepath.Join(dataDir, "state.json"), b, 0o600)
}

// Ports are taken BELOW the kernel's ephemeral range (net.ipv4.ip_local_port_range), by binding
// them. The kernel hands out ephemeral ports to every outgoing connection and to every port-0
// listener of other tests; a port below that range is never given to anyone who did not ask for
// it by number, so once this process binds it, it stays ours, and after a restart it is still
// free for us to bind again (a port in the ephemeral range may meanwhile be some client's local
// port: "bind: address already in use").

// portRange is [low, high) below the ephemeral range.
func portRange() (int, int) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	start := low - 12000
	if start < 1024 {
		start = 1024
	}
	return start, low
}

// listenRandom binds 127.0.0.1 on a random port of portRange.
func listenRandom() (net.Listener, error) {
	lo, hi := portRange()
	var last error
	for i := 0; i < 200; i++ {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)))
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lo+int(n.Int64())))
		if err == nil {
			return l, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free loopback port in [%d, %d) after 200 tries: %v", lo, hi, last)
}

// listenAPIServer binds the apiserver's port: the one this data dir used before (a restart keeps
// the address its clients have; waiting up to 30 s for it to be released), else a new one.
func listenAPIServer(port int) (net.Listener, error) {
	if port == 0 {
		return listenRandom()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the apiserver port of this data dir: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startEtcdRetrying starts etcd on the ports of st, choosing new ones (updating st) when they are
// unset or when etcd cannot bind them. etcd binds its ports itself, so a port chosen here is free
// when chosen but could in principle be taken before etcd binds it: then etcd fails with
// "address already in use" and we try other ports. Only the apiserver of this process talks to
// etcd, so its ports may change across restarts.
func startEtcdRetrying(dataDir string, st *state) (*embed.Etcd, error) {
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		for _, p := range []*int{&st.EtcdClientPort, &st.EtcdPeerPort} {
			if *p != 0 && attempt == 0 {
				continue
			}
			l, err := listenRandom()
			if err != nil {
				return nil, err
			}
			*p = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		e, err := startEtcd(dataDir, *st)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) && !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
		logf("etcd: %v; trying other ports", err)
		last = err
	}
	return nil, last
}

func startEtcd(dataDir string, st state) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "testenv"
	cfg.Dir = filepath.Join(dataDir, "etcd")
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdClientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", st.EtcdPeerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dataDir, "etcd.log")}
	// As envtest runs etcd: tests do not need fsync; a clean shutdown (or a killed process, whose
	// writes are in the page cache) keeps the data.
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
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcd was not ready within 60s")
	}
}

func adminHTTPClient(pkiDir string) (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "admin.crt"), filepath.Join(pkiDir, "admin.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{cert},
		}},
	}, nil
}

func waitReady(ctx context.Context, client *http.Client, readyz string) error {
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("kube-apiserver not ready within 3m: %s", last)
}

// ---- keys and certificates (created once, reused on restart) ----

func ensurePKI(dir string) error {
	p := func(name string) string { return filepath.Join(dir, name) }
	if exists(p("ca.crt")) && exists(p("ca.key")) && exists(p("serving.crt")) && exists(p("serving.key")) &&
		exists(p("admin.crt")) && exists(p("admin.key")) && exists(p("sa.key")) && exists(p("sa.pub")) {
		return nil
	}
	now := time.Now().Add(-time.Hour)
	notAfter := now.Add(10 * 365 * 24 * time.Hour)

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "scrapepath-testenv-ca"},
		NotBefore:             now,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	leaf := func(tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore = now
		tmpl.NotAfter = notAfter
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.BasicConstraintsValid = true
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		return der, k, err
	}
	servingDER, servingKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP)},
	})
	if err != nil {
		return err
	}
	adminDER, adminKey, err := leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "scrapepath-testenv-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}

	for _, f := range []struct {
		name string
		data []byte
	}{
		{"ca.crt", pemBlock("CERTIFICATE", caDER)},
		{"ca.key", pemKey(caKey)},
		{"serving.crt", pemBlock("CERTIFICATE", servingDER)},
		{"serving.key", pemKey(servingKey)},
		{"admin.crt", pemBlock("CERTIFICATE", adminDER)},
		{"admin.key", pemKey(adminKey)},
		{"sa.key", pemKey(saKey)},
		{"sa.pub", pemBlock("PUBLIC KEY", saPub)},
	} {
		if err := writeFileAtomic(p(f.name), f.data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// pemKey encodes a key as PKCS#8 ("PRIVATE KEY"), which Go, rustls and kubectl all read.
func pemKey(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func writeKubeconfig(path, server, pkiDir string) error {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(pkiDir, name))
		if err != nil {
			return "", err
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read("admin.crt")
	if err != nil {
		return err
	}
	key, err := read("admin.key")
	if err != nil {
		return err
	}
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: testenv
  context:
    cluster: testenv
    user: admin
    namespace: default
current-context: testenv
`, server, ca, crt, key)
	return writeFileAtomic(path, []byte(text), 0o600)
}
