// Command relabel-oracle runs Prometheus' own relabeling code (github.com/prometheus/prometheus/model/relabel,
// the release pinned in go.mod) on cases read as JSON lines from stdin and answers one JSON line per case on
// stdout, so that tests/relabel_oracle.rs can compare scrapepath's src/relabel.rs with it case by case.
//
// A case:
//
//	{"id": 7, "scheme": "utf8"|"legacy",
//	 "doc": "<YAML text of a relabel config list, as in relabel_configs>",
//	 "rules": [{"text": "<YAML text of rule i alone>", "fields": ["<YAML text of each field of rule i alone>", ...]}],
//	 "labels": {"name": "value", ...}}
//
// The list is loaded the way Prometheus loads relabel_configs: yaml.UnmarshalStrict (go.yaml.in/yaml/v2, what
// config.Load uses) into []*relabel.Config (whose UnmarshalYAML parses the action, the source label names and
// the anchored regex), then a null rule is refused and Config.Validate runs on each rule with the scheme's
// name validation. Scheme "utf8" is Prometheus 3 as cmd/prometheus runs it (model.NameValidationScheme =
// UTF8Validation, rules validated with UTF8Validation). Scheme "legacy" is legacy label names everywhere, as
// in Prometheus 2: the global scheme (which the source_labels unmarshalling reads) and the rule validation
// are both LegacyValidation.
//
// An answer:
//
//	{"id": 7, "refused": true, "error": "<Prometheus' error text>", "category": "<problem>",
//	 "rule_faults": [["<problem>", ...], ...]}
//
// or
//
//	{"id": 7, "refused": false, "kept": true|false, "dropped_by": -1|i, "labels": {...},
//	 "order_dependent": true|false}
//
// "rule_faults" lists, for each rule loaded alone, what Prometheus refuses in it: the problem of each field
// that does not unmarshal on its own (a bad action, source label name, regex, a field of the wrong type or an
// unknown field), or else the problem Config.Validate names. Loading a whole list stops at the first problem
// in document order, so the test compares refusals rule by rule with these.
//
// A case may instead hold "sd": {"role": "ingress"|"pod", "objects": [<Kubernetes objects as JSON>],
// "keep_prefixes": ["<label name prefix>", ...], "attach_namespace": true|false}: Prometheus' own Kubernetes
// service discovery (discovery/kubernetes: NewIngress, or NewPod with a Node informer as attach_metadata.node
// sets it up; with a Namespace informer as attach_metadata.namespace sets it up when "attach_namespace") runs on
// the objects, served by client-go's fake clientset through shared informers, until it has sent one target
// group per object of the role; each target's labels are the group's labels under the target's own (as
// PopulateDiscoveredLabels merges them), kept to the names with one of "keep_prefixes" when given, and the
// list is applied to each as to "labels". The answer then carries "sd_targets": [{"discovered": {...},
// "kept": ..., "dropped_by": ..., "labels": {...}}], in no particular order.
//
// The labels are set into a labels.Builder in name order (as PopulateLabels sets a target's labels, an empty
// value being no label) and the rules applied with relabel.ProcessBuilder one rule at a time, the builder
// rebuilt from its labels before each rule, so that labelmap visits labels in name order. Prometheus' result
// can depend on the builder's internal order (for targets, the order discovery set the labels in) only when a
// labelmap writes one name from two labels with different values; "order_dependent" says whether applying
// all rules in one ProcessBuilder call, from builders filled in name order and in reverse name order, gave a
// different result. "labels" are the labels after the last rule, or, when a rule drops, as that rule saw them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	yaml "go.yaml.in/yaml/v2"
	apiv1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

type ruleText struct {
	Text   string   `json:"text"`
	Fields []string `json:"fields"`
}

type request struct {
	ID     int64             `json:"id"`
	Scheme string            `json:"scheme"`
	Doc    string            `json:"doc"`
	Rules  []ruleText        `json:"rules"`
	Labels map[string]string `json:"labels"`
	SD     *sdRequest        `json:"sd,omitempty"`
}

type sdRequest struct {
	Role         string            `json:"role"`
	Objects      []json.RawMessage `json:"objects"`
	KeepPrefixes []string          `json:"keep_prefixes"`
	// AttachNamespace: attach_metadata.namespace, a Namespace informer given to the role.
	AttachNamespace bool `json:"attach_namespace"`
}

type sdTarget struct {
	Discovered map[string]string `json:"discovered"`
	Kept       bool              `json:"kept"`
	DroppedBy  int               `json:"dropped_by"`
	Labels     map[string]string `json:"labels"`
}

type response struct {
	ID             int64             `json:"id"`
	Refused        bool              `json:"refused"`
	Error          string            `json:"error,omitempty"`
	Category       string            `json:"category,omitempty"`
	RuleFaults     [][]string        `json:"rule_faults,omitempty"`
	Kept           bool              `json:"kept"`
	DroppedBy      int               `json:"dropped_by"`
	Labels         map[string]string `json:"labels,omitempty"`
	OrderDependent bool              `json:"order_dependent"`
	Panic          string            `json:"panic,omitempty"`
	SDTargets      []sdTarget        `json:"sd_targets,omitempty"`
}

// category names the problem an error from loading or validating relabel configs reports.
func category(err error) string {
	msg := err.Error()
	// A written `action: ""` is refused while unmarshalling, as the unknown action ""; a null one by
	// Validate, as an empty action. Both are the same problem: no action.
	if strings.Contains(msg, `unknown relabel action ""`) {
		return "empty_action"
	}
	for _, c := range []struct{ needle, cat string }{
		{"error parsing regexp", "invalid_regex"},
		{"unknown relabel action", "unknown_action"},
		{"is not a valid label name", "invalid_source_label"},
		{"relabel action cannot be empty", "empty_action"},
		{"requires non-zero modulus", "zero_modulus"},
		{"requires 'target_label' value", "missing_target_label"},
		{"is invalid 'target_label'", "invalid_target_label"},
		{"'replacement' can not be set", "replacement_not_allowed"},
		{"is invalid 'replacement'", "invalid_labelmap_replacement"},
		{"requires only", "field_not_allowed"},
		{"empty or null", "null_rule"},
		{"yaml:", "parse"},
	} {
		if strings.Contains(msg, c.needle) {
			return c.cat
		}
	}
	return "other"
}

func setScheme(scheme string) (model.ValidationScheme, error) {
	switch scheme {
	case "utf8", "":
		model.NameValidationScheme = model.UTF8Validation
		return model.UTF8Validation, nil
	case "legacy":
		model.NameValidationScheme = model.LegacyValidation
		return model.LegacyValidation, nil
	}
	return model.UnsetValidation, fmt.Errorf("unknown scheme %q", scheme)
}

// load loads a relabel config list as Prometheus loads relabel_configs.
func load(doc string, scheme model.ValidationScheme) ([]*relabel.Config, error) {
	var cfgs []*relabel.Config
	if err := yaml.UnmarshalStrict([]byte(doc), &cfgs); err != nil {
		return nil, err
	}
	for _, c := range cfgs {
		if c == nil {
			return nil, errors.New("empty or null target relabeling rule in scrape config")
		}
	}
	for _, c := range cfgs {
		if err := c.Validate(scheme); err != nil {
			return nil, err
		}
	}
	return cfgs, nil
}

func ruleFaults(r ruleText, scheme model.ValidationScheme) []string {
	var cfg *relabel.Config
	if err := yaml.UnmarshalStrict([]byte(r.Text), &cfg); err != nil {
		var faults []string
		for _, f := range r.Fields {
			var one *relabel.Config
			if err := yaml.UnmarshalStrict([]byte(f), &one); err != nil {
				faults = append(faults, category(err))
			}
		}
		if len(faults) == 0 {
			faults = append(faults, category(err))
		}
		return faults
	}
	if cfg == nil {
		return []string{"null_rule"}
	}
	if err := cfg.Validate(scheme); err != nil {
		return []string{category(err)}
	}
	return []string{}
}

type outcome struct {
	kept      bool
	droppedBy int
	labels    map[string]string
}

func toMap(ls labels.Labels) map[string]string {
	m := map[string]string{}
	ls.Range(func(l labels.Label) { m[l.Name] = l.Value })
	return m
}

func builder(in map[string]string, reverse bool) *labels.Builder {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	slices.Sort(names)
	if reverse {
		slices.Reverse(names)
	}
	lb := labels.NewBuilder(labels.EmptyLabels())
	for _, n := range names {
		lb.Set(n, in[n])
	}
	return lb
}

// stepwise applies the rules one at a time, each to a builder rebuilt from the labels (name order).
func stepwise(in map[string]string, cfgs []*relabel.Config) outcome {
	lb := builder(in, false)
	for i, c := range cfgs {
		lb = labels.NewBuilder(lb.Labels())
		if !relabel.ProcessBuilder(lb, c) {
			return outcome{false, i, toMap(lb.Labels())}
		}
	}
	return outcome{true, -1, toMap(lb.Labels())}
}

// whole applies the rules in one ProcessBuilder call, as scrape target relabeling does.
func whole(in map[string]string, cfgs []*relabel.Config, reverse bool) outcome {
	lb := builder(in, reverse)
	if !relabel.ProcessBuilder(lb, cfgs...) {
		return outcome{kept: false, labels: toMap(lb.Labels())}
	}
	return outcome{kept: true, labels: toMap(lb.Labels())}
}

func sameOutcome(a, b outcome) bool {
	if a.kept != b.kept || len(a.labels) != len(b.labels) {
		return false
	}
	for k, v := range a.labels {
		if w, ok := b.labels[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func handle(req request) (resp response) {
	resp.ID = req.ID
	resp.DroppedBy = -1
	defer func() {
		if p := recover(); p != nil {
			resp = response{ID: req.ID, DroppedBy: -1, Panic: fmt.Sprintf("%v\n%s", p, debug.Stack())}
		}
	}()
	scheme, err := setScheme(req.Scheme)
	if err != nil {
		resp.Panic = err.Error()
		return resp
	}
	cfgs, err := load(req.Doc, scheme)
	if err != nil {
		resp.Refused = true
		resp.Error = err.Error()
		resp.Category = category(err)
		resp.RuleFaults = make([][]string, len(req.Rules))
		for i, r := range req.Rules {
			resp.RuleFaults[i] = ruleFaults(r, scheme)
		}
		return resp
	}
	if req.SD != nil {
		found, err := discover(req.SD)
		if err != nil {
			resp.Panic = err.Error()
			return resp
		}
		resp.SDTargets = []sdTarget{}
		for _, d := range found {
			o := stepwise(d, cfgs)
			resp.SDTargets = append(resp.SDTargets, sdTarget{d, o.kept, o.droppedBy, o.labels})
		}
		return resp
	}
	o := stepwise(req.Labels, cfgs)
	resp.Kept, resp.DroppedBy, resp.Labels = o.kept, o.droppedBy, o.labels
	for _, reverse := range []bool{false, true} {
		w := whole(req.Labels, cfgs, reverse)
		// A dropped target's labels are not compared: only the decision and what a kept target ends with.
		if w.kept != o.kept || (o.kept && !sameOutcome(w, o)) {
			resp.OrderDependent = true
		}
	}
	return resp
}

// discover runs Prometheus' Kubernetes SD for sd.Role on sd.Objects and returns each target's labels.
func discover(sd *sdRequest) ([]map[string]string, error) {
	var objs []runtime.Object
	want := 0
	for _, raw := range sd.Objects {
		var meta struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, err
		}
		var o runtime.Object
		switch meta.Kind {
		case "Ingress":
			o = &netv1.Ingress{}
		case "Pod":
			o = &apiv1.Pod{}
		case "Node":
			o = &apiv1.Node{}
		case "Namespace":
			o = &apiv1.Namespace{}
		default:
			return nil, fmt.Errorf("sd: unknown kind %q", meta.Kind)
		}
		if err := json.Unmarshal(raw, o); err != nil {
			return nil, fmt.Errorf("sd: %s: %w", meta.Kind, err)
		}
		if strings.EqualFold(meta.Kind, sd.Role) {
			want++
		}
		objs = append(objs, o)
	}
	client := fake.NewSimpleClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	logger := slog.New(slog.DiscardHandler)
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sd_events"}, []string{"role", "event"})
	var d discovery.Discoverer
	// As Discovery.Run sets it up for attach_metadata.namespace: one Namespace informer, or none.
	var namespaces cache.SharedInformer
	if sd.AttachNamespace {
		namespaces = factory.Core().V1().Namespaces().Informer()
	}
	switch sd.Role {
	case "ingress":
		d = kubernetes.NewIngress(logger, factory.Networking().V1().Ingresses().Informer(), namespaces, events)
	case "pod":
		pods := factory.Core().V1().Pods().Informer()
		nodes := factory.Core().V1().Nodes().Informer()
		d = kubernetes.NewPod(logger, pods, nodes, namespaces, nil, nil, false, false, false, events)
	default:
		return nil, fmt.Errorf("sd: role %q is not served by the oracle", sd.Role)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	factory.Start(ctx.Done())
	ch := make(chan []*targetgroup.Group)
	go d.Run(ctx, ch)
	groups := map[string]*targetgroup.Group{}
	for len(groups) < want {
		select {
		case tgs := <-ch:
			for _, tg := range tgs {
				groups[tg.Source] = tg
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("sd: %d of %d target groups after 60s", len(groups), want)
		}
	}
	cancel()
	factory.Shutdown()
	var out []map[string]string
	for _, tg := range groups {
		for _, t := range tg.Targets {
			m := map[string]string{}
			add := func(ls model.LabelSet) {
				for k, v := range ls {
					if _, set := m[string(k)]; set {
						continue
					}
					if len(sd.KeepPrefixes) > 0 && !slices.ContainsFunc(sd.KeepPrefixes, func(p string) bool { return strings.HasPrefix(string(k), p) }) {
						continue
					}
					m[string(k)] = string(v)
				}
			}
			add(t)
			add(tg.Labels)
			out = append(out, m)
		}
	}
	return out, nil
}

func main() {
	version := flag.Bool("version", false, "print the Prometheus module version and exit")
	flag.Parse()
	if *version {
		v := "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/prometheus/prometheus" {
					v = d.Version
				}
			}
		}
		fmt.Println(v)
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	for in.Scan() {
		line := in.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var req request
		if err := json.Unmarshal(line, &req); err != nil {
			fmt.Fprintf(os.Stderr, "relabel-oracle: bad request line: %v\n", err)
			os.Exit(2)
		}
		if err := enc.Encode(handle(req)); err != nil {
			fmt.Fprintf(os.Stderr, "relabel-oracle: %v\n", err)
			os.Exit(2)
		}
		// One answer per request, right away: the test may wait for it before it sends the next.
		if err := out.Flush(); err != nil {
			fmt.Fprintf(os.Stderr, "relabel-oracle: %v\n", err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "relabel-oracle: reading stdin: %v\n", err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		os.Exit(2)
	}
}
