//go:build cilium_1_18 || cilium_1_19 || cilium_1_20

package main

// The engine for the releases whose packages log with *slog.Logger (1.18+). What differs between
// them is in engine_1_18.go, engine_1_19.go and engine_1_20.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	cmtypes "github.com/cilium/cilium/pkg/clustermesh/types"
	"github.com/cilium/cilium/pkg/crypto/certificatemanager"
	"github.com/cilium/cilium/pkg/defaults"
	envoypolicy "github.com/cilium/cilium/pkg/envoy/policy"
	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/identity/identitymanager"
	ipcachetypes "github.com/cilium/cilium/pkg/ipcache/types"
	"github.com/cilium/cilium/pkg/k8s"
	cilium_v2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	slim_networkingv1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/networking/v1"
	k8stypes "github.com/cilium/cilium/pkg/k8s/types"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/labelsfilter"
	"github.com/cilium/cilium/pkg/option"
	"github.com/cilium/cilium/pkg/policy"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
	testidentity "github.com/cilium/cilium/pkg/testutils/identity"
	testpolicy "github.com/cilium/cilium/pkg/testutils/policy"
	"github.com/cilium/cilium/pkg/u8proto"
)

type slogEngine struct {
	logger *slog.Logger
	// policyCluster: the cluster name the policy parsers get (the local cluster with
	// policy-default-local-cluster, else "any cluster").
	policyCluster string
}

func newVersionEngine() versionEngine {
	var h slog.Handler = slog.NewTextHandler(io.Discard, nil)
	if debugEnabled() {
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return &slogEngine{logger: slog.New(h)}
}

func reservedIdentities() map[identity.NumericIdentity]labels.LabelArray {
	return identity.ListReservedIdentities()
}

// nodeSelectorLabels: the labels a remote node identity gets with enable-node-selector-labels
// (pkg/node/manager nodeIdentityLabels).
func nodeSelectorLabels(nodeLabels map[string]string, cluster string) labels.Labels {
	nl, _ := labelsfilter.FilterNodeLabels(labels.Map2Labels(nodeLabels, labels.LabelSourceNode))
	nl.MergeLabels(labels.Map2Labels(map[string]string{"io.cilium.k8s.policy.cluster": cluster}, labels.LabelSourceK8s))
	return nl
}

func (e *slogEngine) configure(cfg *agentConfig) ([]string, error) {
	// Settings the ConfigMap does not give take this release's defaults.
	if !cfg.IsSet("enable-non-default-deny-policies") {
		cfg.EnableNonDefaultDenyPolicies = defaults.EnableNonDefaultDenyPolicies
	}
	if !cfg.IsSet("enable-node-selector-labels") {
		cfg.EnableNodeSelectorLabels = defaults.EnableNodeSelectorLabels
	}
	if !cfg.IsSet("policy-cidr-match-mode") {
		cfg.PolicyCIDRMatchMode = append([]string{}, defaults.PolicyCIDRMatchMode...)
	}
	if !cfg.IsSet("policy-default-local-cluster") {
		cfg.PolicyDefaultLocalCluster = cmtypes.DefaultPolicyConfig.PolicyDefaultLocalCluster
	}
	option.Config.ClusterName = cfg.ClusterName
	option.Config.EnablePolicy = cfg.EnablePolicy
	policy.SetPolicyEnabled(cfg.EnablePolicy)
	option.Config.PolicyAuditMode = cfg.PolicyAuditMode
	setAllowLocalhost(cfg.EffectiveAllowLocalhost())
	option.Config.PolicyCIDRMatchMode = cfg.PolicyCIDRMatchMode
	option.Config.EnableNonDefaultDenyPolicies = cfg.EnableNonDefaultDenyPolicies
	option.Config.EnableNodeSelectorLabels = cfg.EnableNodeSelectorLabels
	if err := labelsfilter.ParseLabelPrefixCfg(e.logger, cfg.Labels, cfg.NodeLabels, ""); err != nil {
		return nil, fmt.Errorf("labels/node-labels: %w", err)
	}
	policyapi.InitEntities(cfg.ClusterName)
	e.policyCluster = cmtypes.LocalClusterNameForPolicies(cmtypes.PolicyConfig{PolicyDefaultLocalCluster: cfg.PolicyDefaultLocalCluster}, cfg.ClusterName)
	return nil, nil
}

// podLabels: pkg/endpoint/metadata FetchK8sMetadataForEndpointFromPod.
func (e *slogEngine) podLabels(ns *slim_corev1.Namespace, pod *slim_corev1.Pod) labels.Labels {
	_, lbls := k8s.GetPodMetadata(e.logger, ns, pod)
	idLabels, _ := labelsfilter.Filter(labels.Map2Labels(lbls, labels.LabelSourceK8s))
	addNamedPortsLabels(e.logger, idLabels, pod)
	return idLabels
}

func (e *slogEngine) parsePolicy(o *object) (any, string, error) {
	switch o.Kind {
	case "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy":
		cnp := &cilium_v2.CiliumNetworkPolicy{}
		if o.Kind == "CiliumClusterwideNetworkPolicy" {
			// pkg/policy/k8s watcher: a CCNP becomes a SlimCNP without namespace.
			ccnp := &cilium_v2.CiliumClusterwideNetworkPolicy{}
			if err := json.Unmarshal(o.Raw, ccnp); err != nil {
				return nil, "decode", err
			}
			cnp = &cilium_v2.CiliumNetworkPolicy{TypeMeta: ccnp.TypeMeta, ObjectMeta: ccnp.ObjectMeta, Spec: ccnp.Spec, Specs: ccnp.Specs}
		} else if err := json.Unmarshal(o.Raw, cnp); err != nil {
			return nil, "decode", err
		}
		slim := &k8stypes.SlimCNP{CiliumNetworkPolicy: cnp}
		if requiresDerivative(slim) {
			// The agent enforces what cilium-operator derives from it (groups.go).
			rules, err := slim.Parse(e.logger, e.policyCluster)
			if err != nil {
				return nil, "parse", err
			}
			d, err := derivePolicy(cnp, rules)
			if err != nil {
				return nil, "parse", err
			}
			slim = &k8stypes.SlimCNP{CiliumNetworkPolicy: d}
		}
		rules, err := slim.Parse(e.logger, e.policyCluster)
		if err != nil {
			return nil, "parse", err
		}
		return cnpRules(rules), "", nil
	case "NetworkPolicy":
		np := &slim_networkingv1.NetworkPolicy{}
		if err := json.Unmarshal(o.Raw, np); err != nil {
			return nil, "decode", err
		}
		rules, err := k8s.ParseNetworkPolicy(e.logger, e.policyCluster, np)
		if err != nil {
			return nil, "parse", err
		}
		return rules, "", nil
	}
	return nil, "decode", fmt.Errorf("unknown policy kind %s", o.Kind)
}

type slogRepo struct {
	e     *slogEngine
	repo  *policy.Repository
	idmgr identitymanager.IDManager
}

func (e *slogEngine) newRepository(ids map[identity.NumericIdentity]labels.LabelArray) repository {
	idmgr := identitymanager.NewIDManager(e.logger)
	r := policy.NewPolicyRepository(e.logger, identity.IdentityMap(ids), nil,
		envoypolicy.NewEnvoyL7RulesTranslator(e.logger, certificatemanager.NewMockSecretManagerInline()),
		idmgr, testpolicy.NewPolicyMetricsNoop())
	r.GetSelectorCache().SetLocalIdentityNotifier(testidentity.NewDummyIdentityNotifier())
	return &slogRepo{e: e, repo: r, idmgr: idmgr}
}

// resourceID: the resource the watcher files the policy's rules under (ReplaceByResource).
func resourceID(o *object) ipcachetypes.ResourceID {
	kind := ipcachetypes.ResourceKindCNP
	switch o.Kind {
	case "CiliumClusterwideNetworkPolicy":
		kind = ipcachetypes.ResourceKindCCNP
	case "NetworkPolicy":
		kind = ipcachetypes.ResourceKindNetpol
	}
	return ipcachetypes.NewResourceID(kind, o.Namespace, o.Name)
}

func (r *slogRepo) lookup(epID uint16, dst *slim_corev1.Pod, dstID, srcID *identity.Identity, port uint16, proto u8proto.U8proto, ingress bool) (lookupResult, error) {
	// With ingress false, dst is the subject S and srcID the peer D (the egress of S toward D).
	logger := r.e.logger
	owner := &endpointOwner{id: epID, ports: namedPorts(logger, dst)}

	selPolicy, release, err := r.selectorPolicy(dstID, epID)
	if err != nil {
		return lookupResult{}, err
	}
	defer release()

	// pkg/endpoint addNewRedirects: one proxy port per redirect (named ports resolved; a
	// redirect to a listener needs a CiliumEnvoyConfig, which the manifests cannot provide).
	redirects := map[string]uint16{}
	next := uint16(10000)
	for l4, t := range selPolicy.RedirectFilters() {
		listener := t.Policy.GetListener()
		if listener != "" {
			continue
		}
		p := l4.Port
		pr := l4.U8Proto
		if pr == 0 && !l4.Protocol.IsAny() {
			pr, _ = u8proto.ParseProtocol(string(l4.Protocol))
		}
		if p == 0 && l4.PortName != "" {
			if p = owner.namedPort(l4.PortName, pr); p == 0 {
				continue
			}
		}
		id := policy.ProxyID(epID, l4.Ingress, string(l4.Protocol), p, listener)
		if redirects[id] == 0 {
			redirects[id] = next
			next++
		}
	}

	epp := selPolicy.DistillPolicy(logger, owner, redirects)
	defer func() {
		epp.Ready()
		epp.Detach(logger)
	}()

	key := policy.IngressKey()
	if !ingress {
		key = policy.EgressKey()
	}
	key = key.WithIdentity(srcID.ID).WithPortProto(proto, port)
	entry, meta, found := epp.Lookup(key)
	res := lookupResult{Allowed: found && !entry.IsDeny(), L7: entry.IsRedirectEntry()}
	for _, la := range meta.LabelArray() {
		res.Rules = append(res.Rules, la.String())
	}
	if res.Allowed && res.L7 && ingress {
		// What the proxy will let through: the L7 rules of every ingress filter on this port
		// (or on all ports) whose selector selects the source, as the xDS server builds the
		// Envoy NetworkPolicy (pkg/envoy getPortNetworkPolicyRule: a selector without L7
		// rules allows every request).
		forEachFilter(epp, func(f *policy.L4Filter, selects func(policy.CachedSelector, identity.NumericIdentity) bool) {
			if !f.Ingress || !filterMatches(f.Port, f.EndPort, f.PortName, f.U8Proto, owner, port, proto) {
				return
			}
			for cs, sp := range f.PerSelectorPolicies {
				if !selects(cs, srcID.ID) || isDeny(sp) {
					continue
				}
				if sp == nil || len(sp.HTTP) == 0 {
					res.Unrestricted = true
					continue
				}
				for _, h := range sp.HTTP {
					res.HTTP = append(res.HTTP, h)
				}
			}
		})
	}
	return res, nil
}

// endpointOwner is the policy.PolicyOwner of D (its methods, which differ between releases,
// are in the engine_1_NN.go files): named ports resolve against D's own container ports
// (pkg/endpoint GetNamedPort / getNamedPortIngress).
type endpointOwner struct {
	id    uint16
	ports namedPortMap
}

func (o *endpointOwner) namedPort(name string, proto u8proto.U8proto) uint16 {
	port, err := o.ports.GetNamedPort(name, proto)
	if err != nil {
		return 0
	}
	return port
}

func filterMatches(fPort, fEnd uint16, fName string, fProto u8proto.U8proto, owner *endpointOwner, port uint16, proto u8proto.U8proto) bool {
	if fProto != 0 && fProto != proto {
		return false
	}
	if fName != "" {
		return owner.namedPort(fName, proto) == port
	}
	if fPort == 0 {
		return true
	}
	return fPort <= port && port <= max(fPort, fEnd)
}

// apiServerOwnCIDRLabels: an API server address outside the nodes inherits the CIDR label of its
// longest parent prefix (pkg/ipcache mergeParentLabels), as any address does.
const apiServerOwnCIDRLabels = false
