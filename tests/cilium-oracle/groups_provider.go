//go:build cilium_1_16 || cilium_1_17 || cilium_1_18 || cilium_1_19

package main

import (
	"context"
	"net/netip"

	policyapi "github.com/cilium/cilium/pkg/policy/api"
)

func init() {
	policyapi.RegisterToGroupsProvider(policyapi.AWSProvider, func(context.Context, *policyapi.Groups) ([]netip.Addr, error) {
		return []netip.Addr{groupAddress}, nil
	})
}
