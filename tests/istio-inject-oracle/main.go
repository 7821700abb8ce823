// Command istio-inject-oracle runs Istio's own sidecar injector on pods, for scrapepath's differential
// test (tests/istio_inject.rs). It is test-only and built by ensure.sh; see README.md.
//
// Input: one JSON case per line on stdin:
//
//	{"id": "...", "controlPlanes": [{"values": {...helm values of istio-discovery...}}],
//	 "namespace": {"name": "shop", "labels": {...}}, "pod": {...a v1 Pod...}}
//
// For each control plane the istio-discovery chart embedded in istio.io/istio is rendered with helm
// (operator/pkg/helm.Render), giving the istio-sidecar-injector ConfigMap, the istio (mesh) ConfigMap
// and the MutatingWebhookConfiguration. The webhooks' namespaceSelector and objectSelector are matched
// as the API server matches them; the first control plane with a matching webhook gets the pod as an
// AdmissionReview on its real webhook handler (pkg/kube/inject.NewWebhook, /inject), and the returned
// JSON patch is applied.
//
// Output: one JSON line per case:
//
//	{"id": "...", "configMaps": [{"injector": ConfigMap, "mesh": ConfigMap}, ...],
//	 "matched": ["namespace.sidecar-injector.istio.io", ...], "revision": "default",
//	 "injected": bool, "denied": "message", "pod": {...}}
//
// ENABLE_NATIVE_SIDECARS (an istiod environment variable, read once at start) is taken from this
// process's environment, as istiod takes it from its own.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"istio.io/istio/operator/pkg/helm"
	"istio.io/istio/operator/pkg/values"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/mesh/meshwatcher"
	"istio.io/istio/pkg/kube/inject"
	"istio.io/istio/pkg/kube/multicluster"
	"istio.io/istio/pkg/log"
)

const istioModule = "istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"

type controlPlane struct {
	Values map[string]any `json:"values"`
}

type namespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type input struct {
	ID            string          `json:"id"`
	ControlPlanes []controlPlane  `json:"controlPlanes"`
	Namespace     namespace       `json:"namespace"`
	Pod           json.RawMessage `json:"pod"`
}

type renderedCMs struct {
	Injector *corev1.ConfigMap `json:"injector"`
	Mesh     *corev1.ConfigMap `json:"mesh"`
}

type output struct {
	ID         string          `json:"id"`
	ConfigMaps []renderedCMs   `json:"configMaps"`
	Matched    []string        `json:"matched"`
	Revision   string          `json:"revision,omitempty"`
	Injected   bool            `json:"injected"`
	Denied     string          `json:"denied,omitempty"`
	Pod        json.RawMessage `json:"pod,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// A control plane rendered from its values, with its webhook (cached by the values' JSON).
type rendered struct {
	cms      renderedCMs
	webhooks []admissionregv1.MutatingWebhook
	revision string
	mux      *http.ServeMux
}

var cache = map[string]*rendered{}

type staticWatcher struct {
	cfg    *inject.Config
	values string
}

func (w staticWatcher) SetHandler(func(*inject.Config, string) error) {}
func (w staticWatcher) Run(<-chan struct{})                           {}
func (w staticWatcher) Get() (*inject.Config, string, error)          { return w.cfg, w.values, nil }

func render(cp controlPlane) (*rendered, error) {
	key, _ := json.Marshal(cp.Values)
	if r, ok := cache[string(key)]; ok {
		return r, nil
	}
	vals := map[string]any{}
	if cp.Values != nil {
		vals = cp.Values
	}
	iop := values.Map{"spec": map[string]any{"values": vals}}
	mfs, _, err := helm.Render("istio", "istio-system", "istio-control/istio-discovery", iop, nil)
	if err != nil {
		return nil, fmt.Errorf("rendering istio-discovery: %v", err)
	}
	r := &rendered{}
	for _, m := range mfs {
		switch m.GetKind() {
		case "ConfigMap":
			var cm corev1.ConfigMap
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.Object, &cm); err != nil {
				return nil, err
			}
			switch {
			case strings.HasPrefix(cm.Name, "istio-sidecar-injector"):
				r.cms.Injector = &cm
			case cm.Name == "istio" || strings.HasPrefix(cm.Name, "istio-"):
				if _, ok := cm.Data["mesh"]; ok {
					r.cms.Mesh = &cm
				}
			}
		case "MutatingWebhookConfiguration":
			var mwc admissionregv1.MutatingWebhookConfiguration
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.Object, &mwc); err != nil {
				return nil, err
			}
			r.webhooks = append(r.webhooks, mwc.Webhooks...)
		}
	}
	if r.cms.Injector == nil || r.cms.Mesh == nil {
		return nil, fmt.Errorf("the rendered chart has no injector or mesh ConfigMap")
	}
	r.revision = r.cms.Injector.Labels["istio.io/rev"]
	cfg, err := inject.UnmarshalConfig([]byte(r.cms.Injector.Data["config"]))
	if err != nil {
		return nil, fmt.Errorf("injector config: %v", err)
	}
	meshCfg, err := mesh.ApplyMeshConfigDefaults(r.cms.Mesh.Data["mesh"])
	if err != nil {
		return nil, fmt.Errorf("mesh config: %v", err)
	}
	// As istiod: ProxyConfig = mesh defaultConfig (+ no ProxyConfig resources) + pod annotation.
	store := model.NewFakeStore()
	env := model.Environment{Watcher: meshwatcher.NewTestWatcher(meshCfg), ConfigStore: store}
	env.SetPushContext(&model.PushContext{ProxyConfigs: model.GetProxyConfigs(store, meshCfg)})
	rev := r.revision
	if rev == "default" {
		rev = ""
	}
	r.mux = http.NewServeMux()
	if _, err := inject.NewWebhook(inject.WebhookParameters{
		Watcher:      staticWatcher{cfg: &cfg, values: r.cms.Injector.Data["values"]},
		Env:          &env,
		Mux:          r.mux,
		Revision:     rev,
		MultiCluster: multicluster.NewFakeController(),
	}); err != nil {
		return nil, fmt.Errorf("webhook: %v", err)
	}
	cache[string(key)] = r
	return r, nil
}

func selects(sel *metav1.LabelSelector, set map[string]string) (bool, error) {
	if sel == nil {
		return true, nil
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}
	return s.Matches(labels.Set(set)), nil
}

func run(in input) output {
	out := output{ID: in.ID, Matched: []string{}}
	var pod corev1.Pod
	if err := json.Unmarshal(in.Pod, &pod); err != nil {
		out.Error = "pod: " + err.Error()
		return out
	}
	// The API server labels every namespace with its name.
	nsLabels := map[string]string{}
	for k, v := range in.Namespace.Labels {
		nsLabels[k] = v
	}
	nsLabels["kubernetes.io/metadata.name"] = in.Namespace.Name
	var chosen *rendered
	for _, cp := range in.ControlPlanes {
		r, err := render(cp)
		if err != nil {
			out.Error = err.Error()
			return out
		}
		out.ConfigMaps = append(out.ConfigMaps, r.cms)
		for _, wh := range r.webhooks {
			nsOK, err1 := selects(wh.NamespaceSelector, nsLabels)
			objOK, err2 := selects(wh.ObjectSelector, pod.Labels)
			if err1 != nil || err2 != nil {
				out.Error = fmt.Sprintf("webhook %s selectors: %v %v", wh.Name, err1, err2)
				return out
			}
			if nsOK && objOK {
				out.Matched = append(out.Matched, r.revision+"/"+wh.Name)
				if chosen == nil {
					chosen = r
				}
			}
		}
	}
	if chosen == nil {
		return out
	}
	out.Revision = chosen.revision
	pod.Namespace = in.Namespace.Name
	raw, _ := json.Marshal(&pod)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("scrapepath-" + in.ID),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: in.Namespace.Name,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, _ := json.Marshal(review)
	req := httptest.NewRequest(http.MethodPost, "/inject", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	chosen.mux.ServeHTTP(rec, req)
	var resp admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Response == nil {
		out.Error = fmt.Sprintf("webhook answered %d: %s", rec.Code, rec.Body.String())
		return out
	}
	if resp.Response.Result != nil && resp.Response.Result.Message != "" && !resp.Response.Allowed {
		out.Denied = resp.Response.Result.Message
		return out
	}
	if len(resp.Response.Patch) == 0 {
		out.Pod = raw
		return out
	}
	patch, err := jsonpatch.DecodePatch(resp.Response.Patch)
	if err != nil {
		out.Error = "patch: " + err.Error()
		return out
	}
	patched, err := patch.Apply(raw)
	if err != nil {
		out.Error = "applying the patch: " + err.Error()
		return out
	}
	out.Injected = true
	out.Pod = patched
	return out
}

func main() {
	version := flag.Bool("version", false, "print the Istio module and exit")
	flag.Parse()
	if *version {
		fmt.Println(istioModule)
		return
	}
	// The injector logs every request; stdout carries the answers only.
	opts := log.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.ErrorOutputPaths = []string{"stderr"}
	if err := log.Configure(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, s := range log.Scopes() {
		s.SetOutputLevel(log.ErrorLevel)
	}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var in input
		var out output
		if err := json.Unmarshal(line, &in); err != nil {
			out = output{Error: "case: " + err.Error()}
		} else {
			out = run(in)
		}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w.Flush()
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
