//go:build cilium_1_17

package main

// Cilium v1.17: packages log with logrus (no logger arguments); CNP Parse() and KNP
// ParseNetworkPolicy() take no cluster name (no policy-default-local-cluster yet) and return
// api.Rules; the distilled policy's datapath lookup (mapState.Lookup) is not exported, so the
// build adds EndpointPolicy.ScrapepathLookup (inject/1.17); the policy owner logs with
// logrus.Fields and reports MapStateSize; selectors are evaluated at a VersionHandle.

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
	"github.com/cilium/cilium/pkg/spanstat"
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
	if !cfg.IsSet("enable-non-default-deny-policies") {
		cfg.EnableNonDefaultDenyPolicies = defaults.EnableNonDefaultDenyPolicies
	}
	if !cfg.IsSet("enable-node-selector-labels") {
		cfg.EnableNodeSelectorLabels = defaults.EnableNodeSelectorLabels
	}
	if !cfg.IsSet("policy-cidr-match-mode") {
		cfg.PolicyCIDRMatchMode = append([]string{}, defaults.PolicyCIDRMatchMode...)
	}
	// policy-default-local-cluster came with 1.18: 1.17 policies select any cluster.
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
	option.Config.EnableNonDefaultDenyPolicies = cfg.EnableNonDefaultDenyPolicies
	option.Config.EnableNodeSelectorLabels = cfg.EnableNodeSelectorLabels
	if err := labelsfilter.ParseLabelPrefixCfg(cfg.Labels, cfg.NodeLabels, ""); err != nil {
		return nil, fmt.Errorf("labels/node-labels: %w", err)
	}
	policyapi.InitEntities(cfg.ClusterName)
	return unsupported, nil
}

func (e *logrusEngine) podLabels(ns *slim_corev1.Namespace, pod *slim_corev1.Pod) labels.Labels {
	_, lbls := k8s.GetPodMetadata(ns, pod)
	idLabels, _ := labelsfilter.Filter(labels.Map2Labels(lbls, labels.LabelSourceK8s))
	return idLabels
}

type repo117 struct {
	repo  *policy.Repository
	idmgr identitymanager.IDManager
}

func (e *logrusEngine) newRepository(ids map[identity.NumericIdentity]labels.LabelArray) repository {
	idmgr := identitymanager.NewIDManager()
	r := policy.NewPolicyRepository(identity.IdentityMap(ids), nil, nil, idmgr, policyapi.NewPolicyMetricsNoop())
	r.GetSelectorCache().SetLocalIdentityNotifier(testidentity.NewDummyIdentityNotifier())
	return &repo117{repo: r, idmgr: idmgr}
}

func (r *repo117) add(o *object, parsed any) {
	r.repo.ReplaceByResource(parsed.(policyapi.Rules), resourceID(o))
}

func (o *endpointOwner) namedPort(name string, proto u8proto.U8proto) uint16 {
	port, err := o.ports.GetNamedPort(name, proto)
	if err != nil {
		return 0
	}
	return port
}

func (o *endpointOwner) GetID() uint64 { return uint64(o.id) }
func (o *endpointOwner) GetNamedPort(ingress bool, name string, proto u8proto.U8proto) uint16 {
	return o.namedPort(name, proto)
}
func (o *endpointOwner) PolicyDebug(logrus.Fields, string) {}
func (o *endpointOwner) IsHost() bool                      { return false }
func (o *endpointOwner) MapStateSize() int                 { return 0 }
func (o *endpointOwner) RegenerateIfAlive(*regeneration.ExternalRegenerationMetadata) <-chan bool {
	ch := make(chan bool)
	close(ch)
	return ch
}

type stats struct{ a, b spanstat.SpanStat }

func (s *stats) WaitingForPolicyRepository() *spanstat.SpanStat { return &s.a }
func (s *stats) PolicyCalculation() *spanstat.SpanStat          { return &s.b }

func (r *repo117) lookup(epID uint16, dst *slim_corev1.Pod, dstID, srcID *identity.Identity, port uint16, proto u8proto.U8proto, ingress bool) (lookupResult, error) {
	// With ingress false, dst is the subject S and srcID the peer D (the egress of S toward D).
	containerPorts, _ := k8s.GetPodMetadata(&slim_corev1.Namespace{}, dst)
	owner := &endpointOwner{id: epID, ports: make(ciliumtypes.NamedPortMap, len(containerPorts))}
	for _, cp := range containerPorts {
		if cp.Name != "" {
			_ = owner.ports.AddPort(cp.Name, int(cp.ContainerPort), string(cp.Protocol))
		}
	}

	r.idmgr.Add(dstID)
	defer r.idmgr.Remove(dstID)
	selPolicy, _, err := r.repo.GetSelectorPolicy(dstID, 0, &stats{}, uint64(epID))
	if err != nil {
		return lookupResult{}, fmt.Errorf("GetSelectorPolicy: %w", err)
	}

	// pkg/endpoint addNewRedirects.
	redirects := map[string]uint16{}
	next := uint16(10000)
	for l4, sp := range selPolicy.RedirectFilters() {
		listener := sp.GetListener()
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

	epp := selPolicy.DistillPolicy(owner, redirects)
	defer func() {
		epp.Ready()
		epp.Detach()
	}()

	key := policy.IngressKey()
	if !ingress {
		key = policy.EgressKey()
	}
	key = key.WithIdentity(srcID.ID).WithPortProto(proto, port)
	entry, found := epp.ScrapepathLookup(key)
	res := lookupResult{Allowed: found && !entry.IsDeny(), L7: entry.IsRedirectEntry()}
	if res.Allowed && res.L7 && ingress {
		epp.L4Policy.Ingress.PortRules.ForEach(func(f *policy.L4Filter) bool {
			if !f.Ingress || !filterMatchesL4(f.Port, f.EndPort, f.PortName, f.U8Proto, owner, port, proto) {
				return true
			}
			for cs, sp := range f.PerSelectorPolicies {
				if !cs.Selects(epp.VersionHandle, srcID.ID) || (sp != nil && sp.GetDeny()) {
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

// apiServerOwnCIDRLabels: from 1.17 an API server address outside the nodes inherits the CIDR label of
// its longest parent prefix (pkg/ipcache mergeParentLabels), as any address does.
const apiServerOwnCIDRLabels = false
