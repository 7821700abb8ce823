//go:build cilium_1_15 || cilium_1_16 || cilium_1_17

package main

// What the engines of the releases whose packages log with logrus (1.15-1.17) share: the policy
// parsers take no logger nor cluster name (CNP Parse(), KNP ParseNetworkPolicy(np), both
// returning api.Rules). The rest is in engine_1_15.go, engine_1_16.go and engine_1_17.go.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	ipcachetypes "github.com/cilium/cilium/pkg/ipcache/types"
	"github.com/cilium/cilium/pkg/k8s"
	cilium_v2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	slim_networkingv1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/networking/v1"
	k8stypes "github.com/cilium/cilium/pkg/k8s/types"
	"github.com/cilium/cilium/pkg/logging"
	ciliumtypes "github.com/cilium/cilium/pkg/types"
	"github.com/cilium/cilium/pkg/u8proto"
)

type logrusEngine struct{}

func newVersionEngine() versionEngine {
	logging.DefaultLogger.SetOutput(io.Discard)
	if debugEnabled() {
		logging.DefaultLogger.SetOutput(os.Stderr)
		logging.DefaultLogger.SetLevel(logrus.DebugLevel)
	}
	return &logrusEngine{}
}

func (e *logrusEngine) parsePolicy(o *object) (any, string, error) {
	switch o.Kind {
	case "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy":
		cnp := &cilium_v2.CiliumNetworkPolicy{}
		if o.Kind == "CiliumClusterwideNetworkPolicy" {
			ccnp := &cilium_v2.CiliumClusterwideNetworkPolicy{}
			if err := json.Unmarshal(o.Raw, ccnp); err != nil {
				return nil, "decode", err
			}
			cnp = &cilium_v2.CiliumNetworkPolicy{TypeMeta: ccnp.TypeMeta, ObjectMeta: ccnp.ObjectMeta, Spec: ccnp.Spec, Specs: ccnp.Specs}
		} else if err := json.Unmarshal(o.Raw, cnp); err != nil {
			return nil, "decode", err
		}
		slim := &k8stypes.SlimCNP{CiliumNetworkPolicy: cnp}
		if slim.RequiresDerivative() {
			// The agent enforces what cilium-operator derives from it (groups.go).
			rules, err := slim.Parse()
			if err != nil {
				return nil, "parse", err
			}
			d, err := derivePolicy(cnp, rules)
			if err != nil {
				return nil, "parse", err
			}
			slim = &k8stypes.SlimCNP{CiliumNetworkPolicy: d}
		}
		rules, err := slim.Parse()
		if err != nil {
			return nil, "parse", err
		}
		return rules, "", nil
	case "NetworkPolicy":
		np := &slim_networkingv1.NetworkPolicy{}
		if err := json.Unmarshal(o.Raw, np); err != nil {
			return nil, "decode", err
		}
		rules, err := k8s.ParseNetworkPolicy(np)
		if err != nil {
			return nil, "parse", err
		}
		return rules, "", nil
	}
	return nil, "decode", fmt.Errorf("unknown policy kind %s", o.Kind)
}

func resourceID(o *object) ipcachetypes.ResourceID {
	kind := ipcachetypes.ResourceKindCNP
	switch o.Kind {
	case "CiliumClusterwideNetworkPolicy":
		kind = ipcachetypes.ResourceKindCCNP
	case "NetworkPolicy":
		kind = ipcachetypes.ResourceKindNetpol
	}
	return ipcachetypes.NewResourceID(kind, o.Namespace, o.Name)
}

type endpointOwner struct {
	id        uint16
	ports     ciliumtypes.NamedPortMap
	redirects map[string]uint16 // 1.15/1.16: the realized redirects (proxy ID -> port)
	listeners map[string]bool   // 1.15: the proxy IDs of redirects to a listener (never realized)
}

func filterMatchesL4(fPort, fEnd uint16, fName string, fProto u8proto.U8proto, owner *endpointOwner, port uint16, proto u8proto.U8proto) bool {
	if fProto != 0 && fProto != proto {
		return false
	}
	if fName != "" {
		return owner.namedPort(fName, proto) == port
	}
	if fPort == 0 {
		return true
	}
	return fPort <= port && port <= max(fPort, fEnd)
}
