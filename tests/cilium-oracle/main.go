// Command cilium-oracle answers, with Cilium's own policy engine, whether a flow from pod S to pod D
// on a port is allowed at D's ingress. It is the oracle of scrapepath's differential test of its
// Cilium ingress evaluator (see README.md beside this file).
//
// This file is version-independent: command line, manifest reading, API-server defaulting,
// the agent settings of the cilium-config ConfigMap, flows and output. It imports nothing from
// Cilium. The Cilium side is in cluster.go (Cilium's Kubernetes types, stable since 1.15) and in
// one engine_<version>.go file per Cilium minor, selected by a build tag (cilium_1_19, ...).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ciliumVersion is set by ensure.sh (-ldflags -X main.ciliumVersion=v1.19.7).
var ciliumVersion = "unknown"

// object is one Kubernetes object of a kind the oracle reads, after API-server defaulting.
type object struct {
	Kind      string
	Namespace string // "" for cluster-scoped kinds
	Name      string
	Source    string // file it came from, for messages
	Raw       []byte // JSON
}

func (o *object) key() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// inputs are the objects of the manifests, by kind, in input order.
type inputs struct {
	Namespaces []*object
	Pods       []*object
	Nodes      []*object
	Policies   []*object // CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy
	Config     *object   // ConfigMap kube-system/cilium-config, if any
	// APIServer: the endpoint addresses of the Service default/kubernetes (its EndpointSlices), which
	// the agent labels reserved:kube-apiserver in its ipcache.
	APIServer []string
}

// agentConfig holds the agent settings that change policy verdicts, read from the data of the
// ConfigMap kube-system/cilium-config (the keys are the agent's flag names).
type agentConfig struct {
	EnablePolicy                 string   `json:"enable-policy"`                    // default | always | never
	PolicyAuditMode              bool     `json:"policy-audit-mode"`                //
	AllowLocalhost               string   `json:"allow-localhost"`                  // auto | always | policy (as configured)
	PolicyCIDRMatchMode          []string `json:"policy-cidr-match-mode"`           // [] or ["nodes"]
	EnableNonDefaultDenyPolicies bool     `json:"enable-non-default-deny-policies"` //
	EnableNodeSelectorLabels     bool     `json:"enable-node-selector-labels"`      //
	ClusterName                  string   `json:"cluster-name"`                     //
	PolicyDefaultLocalCluster    bool     `json:"policy-default-local-cluster"`     // 1.18+ (ClusterMesh)
	Labels                       []string `json:"labels,omitempty"`                 // identity label filter (--labels)
	NodeLabels                   []string `json:"node-labels,omitempty"`            // node label filter (--node-labels)
	EnableIPv4                   bool     `json:"enable-ipv4"`                      // default true
	EnableIPv6                   bool     `json:"enable-ipv6"`                      // default false; both: dual stack (world-ipv4/world-ipv6)

	// set records the keys given in the ConfigMap (others keep the agent's default).
	set map[string]bool
}

// IsSet tells whether the ConfigMap gave the key.
func (c *agentConfig) IsSet(key string) bool { return c.set[key] }

// CIDRMatchesNodes is option.DaemonConfig.PolicyCIDRMatchesNodes.
func (c *agentConfig) CIDRMatchesNodes() bool {
	for _, m := range c.PolicyCIDRMatchMode {
		if m == "nodes" {
			return true
		}
	}
	return false
}

// EffectiveAllowLocalhost is what the agent runs with in Kubernetes mode: "auto" becomes "always"
// (daemon/cmd: "Kubernetes demands that the localhost can always reach local pods").
func (c *agentConfig) EffectiveAllowLocalhost() string {
	if c.AllowLocalhost == "auto" {
		return "always"
	}
	return c.AllowLocalhost
}

func defaultAgentConfig() *agentConfig {
	return &agentConfig{
		EnablePolicy:                 "default",
		AllowLocalhost:               "auto",
		PolicyCIDRMatchMode:          []string{},
		EnableNonDefaultDenyPolicies: true,
		ClusterName:                  "default",
		PolicyDefaultLocalCluster:    true,
		EnableIPv4:                   true,
		set:                          map[string]bool{},
	}
}

// parseAgentConfig reads the data of cilium-config as the agent reads its flags (viper: booleans
// as strconv.ParseBool, lists split on spaces or commas).
func parseAgentConfig(cm *object) (*agentConfig, error) {
	cfg := defaultAgentConfig()
	if cm == nil {
		return cfg, nil
	}
	var obj struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(cm.Raw, &obj); err != nil {
		return nil, fmt.Errorf("%s: data: %w", cm.key(), err)
	}
	boolean := func(key string, dst *bool) error {
		v, ok := obj.Data[key]
		if !ok {
			return nil
		}
		cfg.set[key] = true
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s: %s: %q is not a boolean", cm.key(), key, v)
		}
		*dst = b
		return nil
	}
	list := func(key string) []string {
		v, ok := obj.Data[key]
		if !ok {
			return nil
		}
		cfg.set[key] = true
		return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' })
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{
		{"policy-audit-mode", &cfg.PolicyAuditMode},
		{"enable-non-default-deny-policies", &cfg.EnableNonDefaultDenyPolicies},
		{"enable-node-selector-labels", &cfg.EnableNodeSelectorLabels},
		{"policy-default-local-cluster", &cfg.PolicyDefaultLocalCluster},
		{"enable-ipv4", &cfg.EnableIPv4},
		{"enable-ipv6", &cfg.EnableIPv6},
	} {
		if err := boolean(b.key, b.dst); err != nil {
			return nil, err
		}
	}
	if v, ok := obj.Data["enable-policy"]; ok {
		cfg.set["enable-policy"] = true
		cfg.EnablePolicy = strings.ToLower(strings.TrimSpace(v))
		switch cfg.EnablePolicy {
		case "default", "always", "never":
		default:
			return nil, fmt.Errorf("%s: enable-policy: %q is not one of default, always, never", cm.key(), v)
		}
	}
	if v, ok := obj.Data["allow-localhost"]; ok {
		cfg.set["allow-localhost"] = true
		cfg.AllowLocalhost = strings.ToLower(strings.TrimSpace(v))
		switch cfg.AllowLocalhost {
		case "auto", "always", "policy":
		default:
			return nil, fmt.Errorf("%s: allow-localhost: %q is not one of auto, always, policy", cm.key(), v)
		}
	}
	if l := list("policy-cidr-match-mode"); l != nil {
		cfg.PolicyCIDRMatchMode = l
		for _, m := range l {
			if m != "nodes" {
				return nil, fmt.Errorf("%s: policy-cidr-match-mode: %q is not supported (only \"nodes\")", cm.key(), m)
			}
		}
	}
	if v, ok := obj.Data["cluster-name"]; ok {
		cfg.set["cluster-name"] = true
		if v = strings.TrimSpace(v); v != "" {
			cfg.ClusterName = v
		}
	}
	cfg.Labels = list("labels")
	cfg.NodeLabels = list("node-labels")
	return cfg, nil
}

// ---- manifests ----

// readManifests reads a YAML file, or the *.yaml/*.yml files of a directory (not its
// subdirectories), multi-document, `kind: List` (and other *List kinds with items) accepted.
func readManifests(path string, in *inputs, warn func(string, ...any)) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	files := []string{path}
	if st.IsDir() {
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		files = files[:0]
		for _, e := range entries {
			n := e.Name()
			if !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				files = append(files, filepath.Join(path, n))
			}
		}
		sort.Strings(files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for doc := 1; ; doc++ {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return fmt.Errorf("%s: document %d: %w", f, doc, err)
			}
			if m == nil {
				continue
			}
			if err := addObject(m, f, in, warn); err != nil {
				return fmt.Errorf("%s: document %d: %w", f, doc, err)
			}
		}
	}
	return nil
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func addObject(m map[string]any, file string, in *inputs, warn func(string, ...any)) error {
	kind := str(m, "kind")
	apiVersion := str(m, "apiVersion")
	if items, ok := m["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		for i, it := range items {
			im, ok := it.(map[string]any)
			if !ok {
				return fmt.Errorf("%s item %d is not an object", kind, i)
			}
			if err := addObject(im, file, in, warn); err != nil {
				return fmt.Errorf("%s item %d: %w", kind, i, err)
			}
		}
		return nil
	}
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	namespaced := true
	var dst *[]*object
	switch {
	case kind == "Namespace" && apiVersion == "v1":
		namespaced, dst = false, &in.Namespaces
	case kind == "Node" && apiVersion == "v1":
		namespaced, dst = false, &in.Nodes
	case kind == "Pod" && apiVersion == "v1":
		dst = &in.Pods
		defaultPod(m)
	case kind == "ConfigMap" && apiVersion == "v1":
	case kind == "EndpointSlice" && apiVersion == "discovery.k8s.io/v1":
	case kind == "CiliumNetworkPolicy" && group == "cilium.io":
		dst = &in.Policies
	case kind == "CiliumClusterwideNetworkPolicy" && group == "cilium.io":
		namespaced, dst = false, &in.Policies
	case kind == "NetworkPolicy" && apiVersion == "networking.k8s.io/v1":
		dst = &in.Policies
		defaultNetworkPolicy(m)
	default:
		return nil // other kinds are ignored
	}
	if (kind == "CiliumNetworkPolicy" || kind == "CiliumClusterwideNetworkPolicy") && apiVersion != "cilium.io/v2" {
		warn("%s: %s %s has apiVersion %s; read as cilium.io/v2", file, kind, str(m, "metadata", "name"), apiVersion)
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	name := str(m, "metadata", "name")
	ns := str(m, "metadata", "namespace")
	if namespaced && ns == "" {
		ns = "default" // what kubectl apply does without -n
		meta["namespace"] = ns
	}
	if !namespaced {
		ns = ""
		delete(meta, "namespace")
	}
	if kind == "Namespace" {
		// The API server labels every namespace with its name (NamespaceDefaultLabelName).
		lbls, _ := meta["labels"].(map[string]any)
		if lbls == nil {
			lbls = map[string]any{}
			meta["labels"] = lbls
		}
		lbls["kubernetes.io/metadata.name"] = name
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	o := &object{Kind: kind, Namespace: ns, Name: name, Source: file, Raw: raw}
	if kind == "ConfigMap" {
		if ns == "kube-system" && name == "cilium-config" {
			in.Config = o
		}
		return nil
	}
	if kind == "EndpointSlice" {
		in.APIServer = append(in.APIServer, apiServerAddresses(m, ns)...)
		return nil
	}
	if name == "" {
		return fmt.Errorf("%s without metadata.name", kind)
	}
	// A later object of the same kind and name replaces an earlier one, as kubectl apply would.
	for i, old := range *dst {
		if old.Kind == o.Kind && old.Namespace == o.Namespace && old.Name == o.Name {
			warn("%s: %s is defined again (also in %s); the later one is used", file, o.key(), old.Source)
			(*dst)[i] = o
			return nil
		}
	}
	*dst = append(*dst, o)
	return nil
}

// apiServerAddresses are the addresses of an EndpointSlice of the Service default/kubernetes (label
// kubernetes.io/service-name), whatever their conditions: the API server keeps that slice itself, and
// the agent's kube-apiserver watcher labels its addresses (pkg/ipcache apiserver watcher, 1.19;
// pkg/k8s/watchers before). Other slices: none.
func apiServerAddresses(m map[string]any, ns string) []string {
	if ns != "default" || str(m, "metadata", "labels", "kubernetes.io/service-name") != "kubernetes" {
		return nil
	}
	var out []string
	eps, _ := m["endpoints"].([]any)
	for _, e := range eps {
		em, _ := e.(map[string]any)
		addrs, _ := em["addresses"].([]any)
		for _, a := range addrs {
			if s, ok := a.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// defaultPod applies the API server's defaults that matter here: the service account
// (ServiceAccount admission: "default"; the deprecated spec.serviceAccount is an alias) and the
// protocol of container ports (TCP).
func defaultPod(m map[string]any) {
	spec, _ := m["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		m["spec"] = spec
	}
	if s, _ := spec["serviceAccountName"].(string); s == "" {
		if dep, _ := spec["serviceAccount"].(string); dep != "" {
			spec["serviceAccountName"] = dep
		} else {
			spec["serviceAccountName"] = "default"
		}
	}
	for _, field := range []string{"containers", "initContainers", "ephemeralContainers"} {
		cs, _ := spec[field].([]any)
		for _, c := range cs {
			cm, _ := c.(map[string]any)
			ports, _ := cm["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				if pm != nil {
					if s, _ := pm["protocol"].(string); s == "" {
						pm["protocol"] = "TCP"
					}
				}
			}
		}
	}
}

// defaultNetworkPolicy applies the API server's defaults for networking.k8s.io/v1 NetworkPolicy:
// ports[].protocol TCP, and policyTypes [Ingress] plus Egress when there are egress rules.
func defaultNetworkPolicy(m map[string]any) {
	spec, _ := m["spec"].(map[string]any)
	if spec == nil {
		spec = map[string]any{}
		m["spec"] = spec
	}
	for _, dir := range []string{"ingress", "egress"} {
		rules, _ := spec[dir].([]any)
		for _, r := range rules {
			rm, _ := r.(map[string]any)
			ports, _ := rm["ports"].([]any)
			for _, p := range ports {
				pm, _ := p.(map[string]any)
				if pm != nil {
					if s, _ := pm["protocol"].(string); s == "" {
						pm["protocol"] = "TCP"
					}
				}
			}
		}
	}
	if pt, _ := spec["policyTypes"].([]any); len(pt) == 0 {
		types := []any{"Ingress"}
		if eg, _ := spec["egress"].([]any); len(eg) > 0 {
			types = append(types, "Egress")
		}
		spec["policyTypes"] = types
	}
}

// ---- flows and output ----

type flowIn struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

type flowOut struct {
	Src      string `json:"src"`
	Dst      string `json:"dst"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	// Verdict is what the policy engine decides at D's ingress: "Allowed" or "Denied".
	Verdict string `json:"verdict,omitempty"`
	// Audit: policy-audit-mode is on, so the datapath forwards the flow whatever the verdict.
	Audit bool `json:"audit"`
	// L7: the allow goes through the L7 proxy (rules.http etc.): requests are then checked by Envoy.
	L7 bool `json:"l7"`
	// L7HTTP (when l7): the HTTP rules (Cilium's PortRuleHTTP) that the proxy applies to the
	// source's requests on this port; a request must match one of them, else HTTP 403.
	L7HTTP []any `json:"l7Http,omitempty"`
	// L7Unrestricted (when l7): some rule that allows the source on this port has no L7 part,
	// so the proxy lets every request through (the L4 rule "shadows" the L7 rules).
	L7Unrestricted bool `json:"l7Unrestricted,omitempty"`
	// NotEndpoint: D is a hostNetwork pod, not a Cilium endpoint; nothing is enforced.
	NotEndpoint bool `json:"notEndpoint,omitempty"`
	// EgressVerdict is what the policy engine decides at S's egress toward D: "Allowed" or
	// "Denied" (before audit mode). A scrape passes only if both verdicts allow it.
	EgressVerdict string `json:"egressVerdict,omitempty"`
	// EgressL7: the egress allow goes through the L7 proxy.
	EgressL7 bool `json:"egressL7,omitempty"`
	// EgressNotEndpoint: S is a hostNetwork pod, not a Cilium endpoint: its egress is the host
	// firewall's, which the oracle does not model (Allowed).
	EgressNotEndpoint bool `json:"egressNotEndpoint,omitempty"`
	// EgressRules: the labels of the rules behind the deciding egress entry (debugging).
	EgressRules []string `json:"egressRules,omitempty"`
	SrcIdentity []string `json:"srcIdentity"`
	DstIdentity []string `json:"dstIdentity"`
	// SrcKind: "pod", "host" (hostNetwork pod on D's node) or "remote-node" (on another node).
	SrcKind string `json:"srcKind,omitempty"`
	// DstKind (for an address destination "addr:<IP>"): what S's node's ipcache makes of it:
	// "host" (an address of S's node), "remote-node" (another node's), "world" (anything else);
	// "+kube-apiserver" when it is an address of the API server.
	DstKind string `json:"dstKind,omitempty"`
	// Rules: the labels of the rules that produced the deciding policy map entry (debugging).
	Rules []string `json:"rules,omitempty"`
	Error string   `json:"error,omitempty"`
}

type policyError struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Error     string `json:"error"`
	// Stage: "parse" (Cilium's parser or sanitiser rejected it: the agent ignores the object) or
	// "decode" (the object does not even decode into Cilium's Go type; the API server would
	// have refused it).
	Stage string `json:"stage"`
}

type output struct {
	Cilium string `json:"cilium"`
	// Config: the effective agent settings used.
	Config *agentConfig `json:"config"`
	// Unsupported: settings given in cilium-config that this Cilium version's engine cannot
	// express; the answers ignore them.
	Unsupported []string      `json:"unsupported,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`
	Policies    []policyError `json:"policies"`
	Flows       []flowOut     `json:"flows"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cilium-oracle: "+format+"\n", args...)
	os.Exit(2)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var manifests multiFlag
	flag.Var(&manifests, "manifests", "YAML file or directory of *.yaml/*.yml (repeatable)")
	flowsPath := flag.String("flows", "", "JSON file: [{\"src\":\"ns/pod\",\"dst\":\"ns/pod\" or \"addr:IP\",\"port\":N,\"protocol\":\"TCP\"}, ...]")
	version := flag.Bool("version", false, "print the Cilium version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: cilium-oracle --manifests PATH [--manifests PATH...] --flows FLOWS.json\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *version {
		fmt.Println(ciliumVersion)
		return
	}
	if len(manifests) == 0 || *flowsPath == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	out := &output{Cilium: ciliumVersion, Policies: []policyError{}, Flows: []flowOut{}}
	warn := func(format string, args ...any) { out.Warnings = append(out.Warnings, fmt.Sprintf(format, args...)) }

	in := &inputs{}
	for _, p := range manifests {
		if err := readManifests(p, in, warn); err != nil {
			fail("reading manifests: %v", err)
		}
	}
	cfg, err := parseAgentConfig(in.Config)
	if err != nil {
		fail("cilium-config: %v", err)
	}
	out.Config = cfg

	data, err := os.ReadFile(*flowsPath)
	if err != nil {
		fail("reading flows: %v", err)
	}
	var flows []flowIn
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&flows); err != nil {
		fail("%s: %v", *flowsPath, err)
	}

	if err := evaluate(cfg, in, flows, out); err != nil {
		fail("%v", err)
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fail("writing output: %v", err)
	}
}

// splitRef splits "ns/pod".
func splitRef(ref string) (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(ref, "/")
	return ns, name, ok && ns != "" && name != "" && !strings.Contains(name, "/")
}
