//go:build cilium_1_20

package main

// Cilium v1.20: like 1.19, except: GetPodMetadata returns the named ports as a NamedPortMap, and a
// new endpoint's identity also carries its named ports (label generated:io.cilium.k8s.named-ports*,
// pkg/endpoint/metadata); toGroups policies are no longer set aside; the selector policy is
// computed directly (UpdateIdentities + ComputeSelectorPolicy, then Supersede); the policy owner
// resolves ingress named ports with GetIngressNamedPort; allow-localhost became a synthesized
// rule of the repository.

import (
	"fmt"
	"log/slog"

	"github.com/cilium/cilium/pkg/endpoint/regeneration"
	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/k8s"
	cilium_v2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	k8stypes "github.com/cilium/cilium/pkg/k8s/types"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/option"
	"github.com/cilium/cilium/pkg/policy"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
	policytypes "github.com/cilium/cilium/pkg/policy/types"
	policyutils "github.com/cilium/cilium/pkg/policy/utils"
	ciliumtypes "github.com/cilium/cilium/pkg/types"
	"github.com/cilium/cilium/pkg/u8proto"
)

type namedPortMap = ciliumtypes.NamedPortMap

func setAllowLocalhost(v string) { option.Config.UnsafeDaemonConfigOption.AllowLocalhost = v }

func requiresDerivative(*k8stypes.SlimCNP) bool { return false }

// derivePolicy is never called on 1.20: the agent resolves groups itself (no derivative policy).
func derivePolicy(*cilium_v2.CiliumNetworkPolicy, policyapi.Rules) (*cilium_v2.CiliumNetworkPolicy, error) {
	return nil, fmt.Errorf("1.20 derives no policy from groups")
}

func cnpRules(rules policyapi.Rules) any { return policyutils.RulesToPolicyEntries(rules) }

func (r *slogRepo) add(o *object, parsed any) {
	r.repo.ReplaceByResource(parsed.(policytypes.PolicyEntries), resourceID(o))
}

// addNamedPortsLabels: pkg/endpoint/metadata FetchK8sMetadataForEndpoint (new endpoints).
func addNamedPortsLabels(logger *slog.Logger, idLabels labels.Labels, pod *slim_corev1.Pod) {
	for _, l := range k8s.NamedPortsIdentityLabels(namedPorts(logger, pod)) {
		idLabels[l.Key] = l
	}
}

func namedPorts(logger *slog.Logger, pod *slim_corev1.Pod) namedPortMap {
	ports, _ := k8s.GetPodMetadata(logger, &slim_corev1.Namespace{}, pod)
	return ports
}

func (o *endpointOwner) GetID() uint64 { return uint64(o.id) }
func (o *endpointOwner) GetIngressNamedPort(name string, proto u8proto.U8proto) uint16 {
	return o.namedPort(name, proto)
}
func (o *endpointOwner) PolicyDebug(msg string, attrs ...any)        {}
func (o *endpointOwner) IsHost() bool                                { return false }
func (o *endpointOwner) PreviousMapStateSizes() policy.MapStateSizes { return policy.MapStateSizes{} }
func (o *endpointOwner) RegenerateIfAlive(*regeneration.ExternalRegenerationMetadata) <-chan bool {
	ch := make(chan bool)
	close(ch)
	return ch
}

func (r *slogRepo) selectorPolicy(id *identity.Identity, epID uint16) (policy.SelectorPolicy, func(), error) {
	r.repo.UpdateIdentities(identity.IdentityMap{id.ID: id.LabelArray}, nil)
	sp, _, err := r.repo.ComputeSelectorPolicy(id)
	if err != nil {
		return nil, nil, err
	}
	return sp, func() {
		sp.Supersede()
		r.repo.UpdateIdentities(nil, identity.IdentityMap{id.ID: id.LabelArray})
	}, nil
}

func forEachFilter(epp *policy.EndpointPolicy, fn func(*policy.L4Filter, func(policy.CachedSelector, identity.NumericIdentity) bool)) {
	selects := func(cs policy.CachedSelector, id identity.NumericIdentity) bool { return cs.Selects(id) }
	for f := range epp.SelectorPolicy.L4Policy.Ingress.PortRules.Filters() {
		fn(f, selects)
	}
}

func isDeny(sp *policy.PerSelectorPolicy) bool { return sp != nil && sp.IsDeny() }
