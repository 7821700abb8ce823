//go:build cilium_1_19 || cilium_1_20

package main

import (
	"net/netip"

	"github.com/cilium/cilium/pkg/policy"
	policytypes "github.com/cilium/cilium/pkg/policy/types"
)

// cidrPrefixes are the prefixes the agent's policy importer upserts into its ipcache for a parsed
// policy (PolicyEntries from 1.19): policy.GetCIDRPrefixes (every CIDR selector's prefixes, excepts
// included).
func cidrPrefixes(parsed any) []netip.Prefix {
	return policy.GetCIDRPrefixes(parsed.(policytypes.PolicyEntries))
}
