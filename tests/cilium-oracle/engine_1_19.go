//go:build cilium_1_19

package main

// Cilium v1.19: rules are types.PolicyEntries (CNP/CCNP: Parse → RulesToPolicyEntries; KNP:
// ParseNetworkPolicy returns entries); the selector policy comes from GetSelectorPolicy of a
// local endpoint identity (identity manager); PortRules are per tier (L4PolicyMaps).

import (
	"log/slog"

	"github.com/cilium/cilium/pkg/endpoint/regeneration"
	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/k8s"
	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	k8stypes "github.com/cilium/cilium/pkg/k8s/types"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/option"
	"github.com/cilium/cilium/pkg/policy"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
	policytypes "github.com/cilium/cilium/pkg/policy/types"
	policyutils "github.com/cilium/cilium/pkg/policy/utils"
	"github.com/cilium/cilium/pkg/spanstat"
	ciliumtypes "github.com/cilium/cilium/pkg/types"
	"github.com/cilium/cilium/pkg/u8proto"
)

type namedPortMap = ciliumtypes.NamedPortMap

func setAllowLocalhost(v string) { option.Config.AllowLocalhost = v }

func requiresDerivative(cnp *k8stypes.SlimCNP) bool { return cnp.RequiresDerivative() }

func cnpRules(rules policyapi.Rules) any { return policyutils.RulesToPolicyEntries(rules) }

func (r *slogRepo) add(o *object, parsed any) {
	r.repo.ReplaceByResource(parsed.(policytypes.PolicyEntries), resourceID(o))
}

func addNamedPortsLabels(*slog.Logger, labels.Labels, *slim_corev1.Pod) {}

// namedPorts: pkg/endpoint SetK8sMetadata (named ports of the pod's containers).
func namedPorts(logger *slog.Logger, pod *slim_corev1.Pod) namedPortMap {
	containerPorts, _ := k8s.GetPodMetadata(logger, &slim_corev1.Namespace{}, pod)
	m := make(namedPortMap, len(containerPorts))
	for _, cp := range containerPorts {
		if cp.Name != "" {
			_ = m.AddPort(cp.Name, int(cp.ContainerPort), string(cp.Protocol))
		}
	}
	return m
}

func (o *endpointOwner) GetID() uint64 { return uint64(o.id) }
func (o *endpointOwner) GetNamedPort(ingress bool, name string, proto u8proto.U8proto) uint16 {
	return o.namedPort(name, proto)
}
func (o *endpointOwner) PolicyDebug(msg string, attrs ...any) {}
func (o *endpointOwner) IsHost() bool                         { return false }
func (o *endpointOwner) PreviousMapState() *policy.MapState   { return nil }
func (o *endpointOwner) RegenerateIfAlive(*regeneration.ExternalRegenerationMetadata) <-chan bool {
	ch := make(chan bool)
	close(ch)
	return ch
}

type stats struct{ a, b spanstat.SpanStat }

func (s *stats) WaitingForPolicyRepository() *spanstat.SpanStat { return &s.a }
func (s *stats) SelectorPolicyCalculation() *spanstat.SpanStat  { return &s.b }

// selectorPolicy: as the endpoint's regeneration does, for a local endpoint identity.
func (r *slogRepo) selectorPolicy(id *identity.Identity, epID uint16) (policy.SelectorPolicy, func(), error) {
	r.idmgr.Add(id)
	sp, _, err := r.repo.GetSelectorPolicy(id, 0, &stats{}, uint64(epID))
	return sp, func() { r.idmgr.Remove(id) }, err
}

func forEachFilter(epp *policy.EndpointPolicy, fn func(*policy.L4Filter, func(policy.CachedSelector, identity.NumericIdentity) bool)) {
	selects := func(cs policy.CachedSelector, id identity.NumericIdentity) bool { return cs.Selects(id) }
	for f := range epp.SelectorPolicy.L4Policy.Ingress.PortRules.Filters() {
		fn(f, selects)
	}
}

func isDeny(sp *policy.PerSelectorPolicy) bool { return sp != nil && sp.IsDeny() }
