//go:build cilium_1_15 || cilium_1_16 || cilium_1_17 || cilium_1_18

package main

import (
	"net/netip"

	"github.com/cilium/cilium/pkg/policy"
	policyapi "github.com/cilium/cilium/pkg/policy/api"
)

// cidrPrefixes are the prefixes the agent upserts into its ipcache for a parsed policy (api.Rules up
// to 1.18): policy.GetCIDRPrefixes, which up to 1.15 expands each CIDR set minus its excepts
// (ComputeResultantCIDRSet) and from 1.16 keeps each CIDR and except as written.
func cidrPrefixes(parsed any) []netip.Prefix {
	return policy.GetCIDRPrefixes(parsed.(policyapi.Rules))
}
