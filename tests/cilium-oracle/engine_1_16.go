//go:build cilium_1_16

package main

// Cilium v1.16: the repository has no identity manager argument (its policy cache subscribes to
// the global one) and rules go in with ReplaceByResourceLocked under Repository.Mutex; an
// endpoint's policy comes from PolicyCache.UpdatePolicy + Lookup(identity).Consume(owner); proxy
// ports come from the owner's realized redirects; there is no userspace copy of the datapath
// lookup, so the lookup of bpf/lib/policy.h (__policy_can_access: longest-prefix match on
// proto/port for the identity and for "any identity", full L3/L4 match first, then the longer
// prefix, the L3 one on a tie) is done here over the distilled map state. No
// enable-non-default-deny-policies flag yet (enableDefaultDeny is always honoured), no
// policy-default-local-cluster.

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/cilium/cilium/pkg/defaults"
	"github.com/cilium/cilium/pkg/endpoint/regeneration"
	"github.com/cilium/cilium/pkg/identity"
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
	return identity.ListReservedIdentities()
}

func nodeSelectorLabels(nodeLabels map[string]string, cluster string) labels.Labels {
	nl, _ := labelsfilter.FilterNodeLabels(labels.Map2Labels(nodeLabels, labels.LabelSourceNode))
	nl.MergeLabels(labels.Map2Labels(map[string]string{"io.cilium.k8s.policy.cluster": cluster}, labels.LabelSourceK8s))
	return nl
}

func (e *logrusEngine) configure(cfg *agentConfig) ([]string, error) {
	var unsupported []string
	if cfg.IsSet("enable-non-default-deny-policies") && !cfg.EnableNonDefaultDenyPolicies {
		unsupported = append(unsupported, "enable-non-default-deny-policies")
	}
	cfg.EnableNonDefaultDenyPolicies = true
	if !cfg.IsSet("enable-node-selector-labels") {
		cfg.EnableNodeSelectorLabels = defaults.EnableNodeSelectorLabels
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
	option.Config.EnableNodeSelectorLabels = cfg.EnableNodeSelectorLabels
	if err := labelsfilter.ParseLabelPrefixCfg(cfg.Labels, cfg.NodeLabels, ""); err != nil {
		return nil, fmt.Errorf("labels/node-labels: %w", err)
	}
	policyapi.InitEntities(cfg.ClusterName)
	return unsupported, nil
}

func (e *logrusEngine) podLabels(ns *slim_corev1.Namespace, pod *slim_corev1.Pod) labels.Labels {
	_, lbls, _, _ := k8s.GetPodMetadata(ns, pod)
	idLabels, _ := labelsfilter.Filter(labels.Map2Labels(lbls, labels.LabelSourceK8s))
	return idLabels
}

type repo116 struct {
	repo *policy.Repository
}

func (e *logrusEngine) newRepository(ids map[identity.NumericIdentity]labels.LabelArray) repository {
	r := policy.NewPolicyRepository(identity.IdentityMap(ids), nil, nil, policyapi.NewPolicyMetricsNoop())
	r.GetSelectorCache().SetLocalIdentityNotifier(testidentity.NewDummyIdentityNotifier())
	return &repo116{repo: r}
}

func (r *repo116) add(o *object, parsed any) {
	r.repo.Mutex.Lock()
	defer r.repo.Mutex.Unlock()
	r.repo.ReplaceByResourceLocked(parsed.(policyapi.Rules), resourceID(o))
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
func (o *endpointOwner) LookupRedirectPort(ingress bool, protocol string, port uint16, listener string) (uint16, error) {
	id := policy.ProxyID(o.id, ingress, protocol, port, listener)
	if p, ok := o.redirects[id]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("no redirect %s", id)
}
func (o *endpointOwner) GetRealizedRedirects() map[string]uint16 { return o.redirects }
func (o *endpointOwner) HasBPFPolicyMap() bool                   { return true }
func (o *endpointOwner) PolicyDebug(logrus.Fields, string)       {}
func (o *endpointOwner) RegenerateIfAlive(*regeneration.ExternalRegenerationMetadata) <-chan bool {
	ch := make(chan bool)
	close(ch)
	return ch
}

func (r *repo116) lookup(epID uint16, dst *slim_corev1.Pod, dstID, srcID *identity.Identity, port uint16, proto u8proto.U8proto, ingress bool) (lookupResult, error) {
	// With ingress false, dst is the subject S and srcID the peer D (the egress of S toward D).
	containerPorts, _, _, _ := k8s.GetPodMetadata(&slim_corev1.Namespace{}, dst)
	owner := &endpointOwner{id: epID, ports: make(ciliumtypes.NamedPortMap, len(containerPorts)), redirects: map[string]uint16{}}
	for _, cp := range containerPorts {
		if cp.Name != "" {
			_ = owner.ports.AddPort(cp.Name, int(cp.ContainerPort), string(cp.Protocol))
		}
	}

	// pkg/endpoint regeneratePolicy: the identity is a local endpoint's; resolve and consume.
	identitymanager.Add(dstID)
	defer identitymanager.Remove(dstID)
	cache := r.repo.GetPolicyCache()
	r.repo.Mutex.RLock()
	err := cache.UpdatePolicy(dstID, uint64(epID))
	r.repo.Mutex.RUnlock()
	if err != nil {
		return lookupResult{}, fmt.Errorf("UpdatePolicy: %w", err)
	}
	selPolicy := cache.Lookup(dstID)
	if selPolicy == nil {
		return lookupResult{}, fmt.Errorf("no selector policy for identity %d", dstID.ID)
	}

	// pkg/endpoint addNewRedirects: one proxy port per redirecting filter; then distil again
	// with the redirects realized (as UpdateRedirects does).
	first := selPolicy.Consume(owner)
	next := uint16(10000)
	allot := func(l4 *policy.L4Filter) bool {
		for _, sp := range l4.PerSelectorPolicies {
			if !sp.IsRedirect() || sp.GetListener() != "" {
				continue
			}
			p := l4.Port
			if p == 0 && l4.PortName != "" {
				if p = owner.namedPort(l4.PortName, l4.U8Proto); p == 0 {
					continue
				}
			}
			id := policy.ProxyID(epID, l4.Ingress, string(l4.Protocol), p, "")
			if owner.redirects[id] == 0 {
				owner.redirects[id] = next
				next++
			}
		}
		return true
	}
	first.L4Policy.Ingress.PortRules.ForEach(allot)
	first.L4Policy.Egress.PortRules.ForEach(allot)
	first.Detach()
	epp := selPolicy.Consume(owner)
	defer epp.Detach()

	// bpf/lib/policy.h __policy_can_access (1.16): LPM lookups for (identity, proto, port) and
	// (any identity, proto, port).
	ms := epp.GetPolicyMap()
	type match struct {
		entry  policy.MapStateEntry
		prefix int
		ok     bool
	}
	best := func(id uint32) (m match) {
		ms.ForEach(func(k policy.Key, v policy.MapStateEntry) bool {
			if k.TrafficDirection != direction(ingress) || k.Identity != id {
				return true
			}
			prefix := 0
			switch {
			case k.Nexthdr == 0:
				// all protocols and ports
			case k.Nexthdr != uint8(proto):
				return true
			case k.DestPort == 0:
				prefix = 8
			default:
				if port&k.PortMask() != k.DestPort {
					return true
				}
				prefix = 8 + 16 - trailingZeros16(k.PortMask())
			}
			if !m.ok || prefix > m.prefix {
				m = match{entry: v, prefix: prefix, ok: true}
			}
			return true
		})
		return m
	}
	l3, l4 := best(srcID.ID.Uint32()), best(0)
	var chosen match
	switch {
	case l3.ok && l3.prefix == 24:
		chosen = l3
	case l4.ok && (!l3.ok || l4.prefix > l3.prefix):
		chosen = l4
	case l3.ok:
		chosen = l3
	}
	res := lookupResult{Allowed: chosen.ok && !chosen.entry.IsDeny, L7: chosen.ok && chosen.entry.IsRedirectEntry()}
	for _, la := range chosen.entry.DerivedFromRules {
		res.Rules = append(res.Rules, la.String())
	}
	if res.Allowed && res.L7 && ingress {
		epp.L4Policy.Ingress.PortRules.ForEach(func(f *policy.L4Filter) bool {
			if !f.Ingress || !filterMatchesL4(f.Port, f.EndPort, f.PortName, f.U8Proto, owner, port, proto) {
				return true
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
			return true
		})
	}
	return res, nil
}

func trailingZeros16(x uint16) int {
	n := 0
	for x&1 == 0 && n < 16 {
		x >>= 1
		n++
	}
	return n
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
