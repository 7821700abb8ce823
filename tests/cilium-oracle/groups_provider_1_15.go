//go:build cilium_1_15

package main

import (
	"context"
	"net/netip"

	policyapi "github.com/cilium/cilium/pkg/policy/api"
)

func init() {
	policyapi.RegisterToGroupsProvider(policyapi.AWSProvider, func(context.Context, *policyapi.ToGroups) ([]netip.Addr, error) {
		return []netip.Addr{groupAddress}, nil
	})
}
