//go:build cilium_1_15 || cilium_1_16 || cilium_1_17 || cilium_1_18 || cilium_1_19

package main

// Policies with fromGroups/toGroups (cloud provider groups) up to 1.19: the agent sets the policy
// itself aside (pkg/policy/k8s: RequiresDerivative) and enforces the policy cilium-operator derives
// from it (pkg/policy/groups createDerivativeCNP/CCNP): the parsed rules with every group replaced by
// the addresses its provider resolves it to, written to the API server as a new object. The oracle
// does the same with Cilium's own Rule.CreateDerivative and a stand-in provider (groups_provider_*.go)
// that resolves every group to one documentation address (192.0.2.10, never a pod or node), then
// parses the derivative as the agent parses any policy. 1.20 resolves groups in the agent itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	cilium_v2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
)

// groupAddress is what the stand-in provider resolves every group to.
var groupAddress = netip.MustParseAddr("192.0.2.10")

// derivePolicy returns the policy cilium-operator writes for cnp, whose parsed rules are rules.
func derivePolicy(cnp *cilium_v2.CiliumNetworkPolicy, rules policyapi.Rules) (*cilium_v2.CiliumNetworkPolicy, error) {
	out := make(policyapi.Rules, len(rules))
	for i, r := range rules {
		if !r.RequiresDerivative() {
			out[i] = r
			continue
		}
		nr, err := r.CreateDerivative(context.Background())
		if err != nil {
			return nil, fmt.Errorf("cilium-operator cannot derive the policy: %w", err)
		}
		out[i] = nr
	}
	d := &cilium_v2.CiliumNetworkPolicy{Specs: out}
	d.Name = cnp.Name + "-groups-" + string(cnp.UID)
	d.Namespace = cnp.Namespace
	// Through JSON, as the operator writes it to the API server and the agent reads it back.
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	back := &cilium_v2.CiliumNetworkPolicy{}
	if err := json.Unmarshal(b, back); err != nil {
		return nil, err
	}
	return back, nil
}
