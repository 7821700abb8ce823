//go:build cilium_1_15

package main

// Cilium v1.15: like 1.16, plus: the repository and its selector cache take an identity
// allocator and an IdentityCache; rules go in with AddListLocked (the daemon's policyAdd); the
// policy owner returns the realized proxy port itself (LookupRedirectPortBuildLocked) and there
// are no listeners; PortRules is a plain map; the datapath lookup is the six exact lookups of
// bpf/lib/policy.h (L3/L4, L4-only, L3+proto, proto-only, L3-only, all), done here over the
// distilled map state; entities take "treat remote node as host" (allow-localhost=always and no
// remote-node identity). No enableDefaultDeny, no enable-node-selector-labels, no node label
// filter, no policy-default-local-cluster.

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/cilium/cilium/pkg/defaults"
	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/identity/cache"
	"github.com/cilium/cilium/pkg/identity/identitymanager"
	"github.com/cilium/cilium/pkg/k8s"
	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/labelsfilter"
	"github.com/cilium/cilium/pkg/option"
	"github.com/cilium/cilium/pkg/policy"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
	"github.com/cilium/cilium/pkg/policy/trafficdirection"
	testidentity "github.com/cilium/cilium/pkg/testutils/identity"
	ciliumtypes "github.com/cilium/cilium/pkg/types"
	"github.com/cilium/cilium/pkg/u8proto"
)

func reservedIdentities() map[identity.NumericIdentity]labels.LabelArray {
	out := map[identity.NumericIdentity]labels.LabelArray{}
	identity.IterateReservedIdentities(func(ni identity.NumericIdentity, id *identity.Identity) {
		out[ni] = id.LabelArray
	})
	return out
}

// No node selector labels in 1.15 (configure reports the setting as unsupported).
func nodeSelectorLabels(map[string]string, string) labels.Labels { return labels.Labels{} }

func (e *logrusEngine) configure(cfg *agentConfig) ([]string, error) {
	var unsupported []string
	// enableDefaultDeny came with 1.16: every 1.15 rule with ingress is default-deny.
	if cfg.IsSet("enable-non-default-deny-policies") && cfg.EnableNonDefaultDenyPolicies {
		unsupported = append(unsupported, "enable-non-default-deny-policies")
	}
	cfg.EnableNonDefaultDenyPolicies = false
	if cfg.IsSet("enable-node-selector-labels") && cfg.EnableNodeSelectorLabels {
		unsupported = append(unsupported, "enable-node-selector-labels")
	}
	cfg.EnableNodeSelectorLabels = false
	if len(cfg.NodeLabels) > 0 {
		unsupported = append(unsupported, "node-labels")
	}
	if !cfg.IsSet("policy-cidr-match-mode") {
		cfg.PolicyCIDRMatchMode = append([]string{}, defaults.PolicyCIDRMatchMode...)
	}
	if cfg.IsSet("policy-default-local-cluster") && cfg.PolicyDefaultLocalCluster {
		unsupported = append(unsupported, "policy-default-local-cluster")
	}
	cfg.PolicyDefaultLocalCluster = false

	option.Config.ClusterName = cfg.ClusterName
	option.Config.EnablePolicy = cfg.EnablePolicy
	policy.SetPolicyEnabled(cfg.EnablePolicy)
	option.Config.PolicyAuditMode = cfg.PolicyAuditMode
	option.Config.AllowLocalhost = cfg.EffectiveAllowLocalhost()
	option.Config.PolicyCIDRMatchMode = cfg.PolicyCIDRMatchMode
	option.Config.EnableRemoteNodeIdentity = defaults.EnableRemoteNodeIdentity
	if err := labelsfilter.ParseLabelPrefixCfg(cfg.Labels, ""); err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	// daemon/cmd: treatRemoteNodeAsHost := AlwaysAllowLocalhost() && !EnableRemoteNodeIdentity
	policyapi.InitEntities(cfg.ClusterName, option.Config.AlwaysAllowLocalhost() && !option.Config.EnableRemoteNodeIdentity)
	return unsupported, nil
}

func (e *logrusEngine) podLabels(ns *slim_corev1.Namespace, pod *slim_corev1.Pod) labels.Labels {
	_, lbls, _, _ := k8s.GetPodMetadata(ns, pod)
	idLabels, _ := labelsfilter.Filter(labels.Map2Labels(lbls, labels.LabelSourceK8s))
	return idLabels
}

type repo115 struct {
	repo *policy.Repository
}

func (e *logrusEngine) newRepository(ids map[identity.NumericIdentity]labels.LabelArray) repository {
	idCache := cache.IdentityCache(ids)
	r := policy.NewPolicyRepository(testidentity.NewMockIdentityAllocator(idCache), idCache, nil, nil, policyapi.NewPolicyMetricsNoop())
	r.GetSelectorCache().SetLocalIdentityNotifier(testidentity.NewDummyIdentityNotifier())
	return &repo115{repo: r}
}

func (r *repo115) add(o *object, parsed any) {
	r.repo.Mutex.Lock()
	defer r.repo.Mutex.Unlock()
	r.repo.AddListLocked(parsed.(policyapi.Rules))
}

func (o *endpointOwner) namedPort(name string, proto u8proto.U8proto) uint16 {
	port, err := o.ports.GetNamedPort(name, uint8(proto))
	if err != nil {
		return 0
	}
	return port
}

func (o *endpointOwner) GetID() uint64 { return uint64(o.id) }
func (o *endpointOwner) GetNamedPort(ingress bool, name string, proto uint8) uint16 {
	return o.namedPort(name, u8proto.U8proto(proto))
}

// LookupRedirectPortBuildLocked: every redirect is realized (pkg/endpoint would create it), except
// one to a listener: that needs its CiliumEnvoyConfig, which the manifests cannot provide
// (pkg/endpoint addNewRedirectsFromDesiredPolicy: CreateOrUpdateRedirect fails, "Redirect rule with
// missing listener skipped"), and toMapState leaves an entry out while its proxy port is 0.
func (o *endpointOwner) LookupRedirectPortBuildLocked(ingress bool, protocol string, port uint16) uint16 {
	id := policy.ProxyID(o.id, ingress, protocol, port)
	if o.listeners[id] {
		return 0
	}
	if o.redirects[id] == 0 {
		o.redirects[id] = uint16(10000 + len(o.redirects))
	}
	return o.redirects[id]
}
func (o *endpointOwner) HasBPFPolicyMap() bool             { return true }
func (o *endpointOwner) PolicyDebug(logrus.Fields, string) {}

func (r *repo115) lookup(epID uint16, dst *slim_corev1.Pod, dstID, srcID *identity.Identity, port uint16, proto u8proto.U8proto, ingress bool) (lookupResult, error) {
	// With ingress false, dst is the subject S and srcID the peer D (the egress of S toward D).
	containerPorts, _, _, _ := k8s.GetPodMetadata(&slim_corev1.Namespace{}, dst)
	owner := &endpointOwner{id: epID, ports: make(ciliumtypes.NamedPortMap, len(containerPorts)), redirects: map[string]uint16{}}
	for _, cp := range containerPorts {
		if cp.Name != "" {
			_ = owner.ports.AddPort(cp.Name, int(cp.ContainerPort), string(cp.Protocol))
		}
	}

	// pkg/endpoint regeneratePolicy.
	identitymanager.Add(dstID)
	defer identitymanager.Remove(dstID)
	pc := r.repo.GetPolicyCache()
	r.repo.Mutex.RLock()
	err := pc.UpdatePolicy(dstID)
	r.repo.Mutex.RUnlock()
	if err != nil {
		return lookupResult{}, fmt.Errorf("UpdatePolicy: %w", err)
	}
	selPolicy := pc.Lookup(dstID)
	if selPolicy == nil {
		return lookupResult{}, fmt.Errorf("no selector policy for identity %d", dstID.ID)
	}
	// The redirects to a listener (the filter's Listener, 1.15 keeps it per port): distil once to
	// find them, then again with them unrealized.
	first := selPolicy.Consume(owner)
	owner.listeners = map[string]bool{}
	for _, rules := range []policy.L4PolicyMap{first.L4Policy.Ingress.PortRules, first.L4Policy.Egress.PortRules} {
		for _, f := range rules {
			if f.GetListener() == "" {
				continue
			}
			p := uint16(f.Port)
			if p == 0 && f.PortName != "" {
				p = owner.namedPort(f.PortName, f.U8Proto)
			}
			owner.listeners[policy.ProxyID(epID, f.Ingress, string(f.Protocol), p)] = true
		}
	}
	first.Detach()
	epp := selPolicy.Consume(owner)
	defer epp.Detach()

	// bpf/lib/policy.h __policy_can_access (1.15).
	ms := epp.GetPolicyMap()
	get := func(id uint32, nexthdr uint8, dport uint16) (policy.MapStateEntry, bool) {
		return ms.Get(policy.Key{Identity: id, DestPort: dport, Nexthdr: nexthdr, TrafficDirection: direction(ingress)})
	}
	src, p := srcID.ID.Uint32(), uint8(proto)
	var entry policy.MapStateEntry
	found := false
	for _, k := range []struct {
		id    uint32
		proto uint8
		port  uint16
	}{{src, p, port}, {0, p, port}, {src, p, 0}, {0, p, 0}, {src, 0, 0}, {0, 0, 0}} {
		if entry, found = get(k.id, k.proto, k.port); found {
			break
		}
	}
	res := lookupResult{Allowed: found && !entry.IsDeny, L7: found && entry.IsRedirectEntry()}
	for _, la := range entry.DerivedFromRules {
		res.Rules = append(res.Rules, la.String())
	}
	if res.Allowed && res.L7 && ingress {
		for _, f := range epp.L4Policy.Ingress.PortRules {
			if !f.Ingress || !filterMatchesL4(uint16(f.Port), 0, f.PortName, f.U8Proto, owner, port, proto) {
				continue
			}
			for cs, sp := range f.PerSelectorPolicies {
				if !cs.Selects(srcID.ID) || (sp != nil && sp.IsDeny) {
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
		}
	}
	return res, nil
}

// direction is the policy map's traffic direction of a lookup.
func direction(ingress bool) uint8 {
	if ingress {
		return trafficdirection.Ingress.Uint8()
	}
	return trafficdirection.Egress.Uint8()
}

// apiServerOwnCIDRLabels: an API server address outside the nodes gets the CIDR labels of its own
// prefix (pkg/ipcache resolveIdentity: "no other labels ... needs a CIDR identity"), not its parent's.
const apiServerOwnCIDRLabels = true
