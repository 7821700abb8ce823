package main

// The version-independent part of the evaluation: which identity each side of a flow has, as
// the agent on D's node sees it, and one policy repository per destination node. The calls into
// Cilium that differ between releases are behind versionEngine (engine_<version>.go).

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/cilium/cilium/pkg/identity"
	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/option"
	testidentity "github.com/cilium/cilium/pkg/testutils/identity"
	"github.com/cilium/cilium/pkg/u8proto"
)

// versionEngine is what each engine_<version>.go provides (newVersionEngine).
type versionEngine interface {
	// configure sets the agent options the policy engine reads (option.Config, the policy
	// enforcement mode, the label filters, the entities) and returns the settings of cfg that
	// this release cannot express.
	configure(cfg *agentConfig) (unsupported []string, err error)
	// podLabels returns the identity labels of an endpoint pod, as the agent computes them
	// (pod metadata, namespace labels, service account, cluster; label filter applied).
	podLabels(ns *slim_corev1.Namespace, pod *slim_corev1.Pod) labels.Labels
	// parsePolicy parses (and sanitises) a policy object as the agent's watcher does.
	// A non-nil error means the agent rejects the whole object.
	parsePolicy(o *object) (parsed any, stage string, err error)
	// newRepository makes a policy repository whose selector cache knows the given identities.
	newRepository(ids map[identity.NumericIdentity]labels.LabelArray) repository
}

type repository interface {
	// add puts a parsed policy into the repository under its resource (kind/namespace/name).
	add(o *object, parsed any)
	// lookup computes the endpoint policy of the subject pod (selector policy distilled for the
	// endpoint, named ports resolved against the subject's pod) and looks up, with ingress, the
	// ingress from peer on port/proto (the subject is D), else the egress to peer (the subject is
	// S, peer is D as S's node sees it).
	lookup(epID uint16, subject *slim_corev1.Pod, subjectID, peerID *identity.Identity, port uint16, proto u8proto.U8proto, ingress bool) (res lookupResult, err error)
}

type lookupResult struct {
	Allowed bool
	L7      bool     // allowed through a proxy redirect
	Rules   []string // labels of the rules behind the deciding entry
	// For L7: the HTTP rules that apply to the source's requests, and whether some applicable
	// rule has no L7 part (then the proxy lets every request through).
	HTTP         []any
	Unrestricted bool
}

func debugEnabled() bool { return os.Getenv("CILIUM_ORACLE_DEBUG") != "" }

// removeWorld removes the world labels, as the ipcache does for in-cluster entities
// (pkg/ipcache resolveLabels).
func removeWorld(l labels.Labels) {
	for _, k := range []string{labels.IDNameWorld, labels.IDNameWorldIPv4, labels.IDNameWorldIPv6} {
		delete(l, k)
	}
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// world is the view of the agent on one node: its host identity, the identities of all pods
// and of the other nodes' addresses, and a policy repository.
type world struct {
	cl      *cluster
	node    string
	alloc   *testidentity.MockIdentityAllocator
	podIDs  map[string]*identity.Identity // "ns/name" of endpoint pods
	nodeIDs map[string]*identity.Identity // hostNetwork source pods on other nodes
	hostID  *identity.Identity
	// addrIDs: the identities of the flows' address destinations as this node's ipcache has them,
	// and what each is (flowOut.DstKind).
	addrIDs  map[netip.Addr]*identity.Identity
	addrKind map[netip.Addr]string
	repo     repository
}

// addressSpace is what the agents know of addresses besides pods: the API server's addresses
// (EndpointSlices of default/kubernetes), the CIDR prefixes the policies put into the ipcache, and
// the address destinations of the flows.
type addressSpace struct {
	apiServer map[netip.Addr]bool
	prefixes  []netip.Prefix
	dests     []netip.Addr
}

func newWorld(ve versionEngine, cfg *agentConfig, cl *cluster, as *addressSpace, node string, policies []*object, parsed []any, warn func(string, ...any)) (*world, error) {
	w := &world{
		cl:       cl,
		node:     node,
		alloc:    testidentity.NewMockIdentityAllocator(nil),
		podIDs:   map[string]*identity.Identity{},
		nodeIDs:  map[string]*identity.Identity{},
		addrIDs:  map[netip.Addr]*identity.Identity{},
		addrKind: map[netip.Addr]string{},
	}
	ctx := context.Background()
	ids := map[identity.NumericIdentity]labels.LabelArray{}

	// The local host: reserved:host, plus with policy-cidr-match-mode=nodes the CIDR labels of
	// every address of this node (pkg/node/manager nodeIdentityLabels; the ipcache merges the
	// labels of all host prefixes into the fixed host identity, so it also carries
	// reserved:kube-apiserver when an address of the API server is one of this node's).
	hostLbls := labels.NewFrom(labels.LabelHost)
	for _, a := range cl.nodeIPs(node) {
		if cfg.CIDRMatchesNodes() {
			hostLbls.MergeLabels(labels.GetCIDRLabels(hostPrefix(a)))
		}
		if as.apiServer[a] {
			hostLbls.MergeLabels(labels.LabelKubeAPIServer)
		}
	}
	removeWorld(hostLbls)
	w.hostID = identity.AddReservedIdentityWithLabels(identity.ReservedIdentityHost, hostLbls)

	for _, ref := range cl.podOrder {
		p := cl.pods[ref]
		if isEndpoint(p) {
			lbls := ve.podLabels(cl.namespaces[p.Namespace], p)
			id, _, err := w.alloc.AllocateIdentity(ctx, lbls, false, 0)
			if err != nil {
				return nil, fmt.Errorf("allocating the identity of pod %s: %w", ref, err)
			}
			w.podIDs[ref] = id
			continue
		}
		if p.Spec.NodeName == node {
			continue // the local host
		}
		if _, ok := cl.nodes[p.Spec.NodeName]; !ok && cfg.EnableNodeSelectorLabels {
			warn("node %s (of hostNetwork pod %s) is not in the manifests: its remote-node identity has no node labels", p.Spec.NodeName, ref)
		}
		ip, ok := cl.sourceIP(p)
		if !ok && cfg.CIDRMatchesNodes() {
			warn("hostNetwork pod %s has no IP (status.podIP, status.hostIP, Node InternalIP): no CIDR label", ref)
		}
		id, err := w.remoteNode(cfg, cl, as, p.Spec.NodeName, ip, ok)
		if err != nil {
			return nil, fmt.Errorf("allocating the remote-node identity of %s: %w", ref, err)
		}
		w.nodeIDs[ref] = id
	}

	// Address destinations: a node's address is the host (S's node) or a remote node; anything
	// else is outside the cluster: the identity of the longest policy prefix that contains it (the
	// ipcache's longest-prefix match), or world when none does (pkg/ipcache metadata
	// resolveIdentity/resolveLabels).
	for _, a := range as.dests {
		if _, done := w.addrKind[a]; done {
			continue
		}
		kind := "world"
		var id *identity.Identity
		var err error
		if owner, ok := cl.nodeOf(a); ok && owner == node {
			kind, id = "host", w.hostID
		} else if ok {
			kind = "remote-node"
			if id, err = w.remoteNode(cfg, cl, as, owner, a, true); err != nil {
				return nil, fmt.Errorf("allocating the remote-node identity of %s: %w", a, err)
			}
		} else if id, err = w.external(as, a); err != nil {
			return nil, fmt.Errorf("allocating the identity of %s: %w", a, err)
		}
		if as.apiServer[a] {
			kind += "+kube-apiserver"
		}
		w.addrIDs[a], w.addrKind[a] = id, kind
	}

	for ni, l := range reservedIdentities() {
		ids[ni] = l
	}
	ids[w.hostID.ID] = w.hostID.LabelArray
	for _, id := range w.podIDs {
		ids[id.ID] = id.LabelArray
	}
	for _, id := range w.nodeIDs {
		ids[id.ID] = id.LabelArray
	}
	for _, id := range w.addrIDs {
		ids[id.ID] = id.LabelArray
	}
	w.repo = ve.newRepository(ids)
	for i, o := range policies {
		if parsed[i] != nil {
			w.repo.add(o, parsed[i])
		}
	}
	return w, nil
}

// remoteNode is the identity of the address ip (if hasIP) of another node (pkg/node/manager
// nodeIdentityLabels + ipcache resolveLabels): reserved:remote-node; with enable-node-selector-labels
// the node's labels (source node, node label filter) and its cluster; with policy-cidr-match-mode=nodes
// the CIDR label of the address; reserved:kube-apiserver when the API server has that address. Without
// either option, the reserved identity remote-node, or kube-apiserver (7) with the API server
// (identity.LookupReservedIdentityByLabels, through the allocator).
func (w *world) remoteNode(cfg *agentConfig, cl *cluster, as *addressSpace, node string, ip netip.Addr, hasIP bool) (*identity.Identity, error) {
	lbls := labels.NewFrom(labels.LabelRemoteNode)
	if cfg.EnableNodeSelectorLabels {
		lbls.MergeLabels(nodeSelectorLabels(cl.nodeLabels(node), cfg.ClusterName))
	}
	if hasIP && cfg.CIDRMatchesNodes() {
		lbls.MergeLabels(labels.GetCIDRLabels(hostPrefix(ip)))
	}
	if hasIP && as.apiServer[ip] {
		lbls.MergeLabels(labels.LabelKubeAPIServer)
	}
	removeWorld(lbls)
	id, _, err := w.alloc.AllocateIdentity(context.Background(), lbls, false, 0)
	return id, err
}

// external is the identity of an address of no node: its ipcache prefix's labels (the CIDR label of
// the longest policy prefix that contains it, as a CIDR identity of that prefix has them, 1.17+
// mergeParentLabels; an address of the API server: reserved:kube-apiserver, and in 1.15/1.16 the CIDR
// labels of its own /32 instead of the parent's), plus the world label of its family (world, or
// world-ipv4/world-ipv6 in a dual-stack cluster). With no label but world, the reserved world identity.
func (w *world) external(as *addressSpace, a netip.Addr) (*identity.Identity, error) {
	lbls := labels.Labels{}
	if as.apiServer[a] {
		lbls.MergeLabels(labels.LabelKubeAPIServer)
		if apiServerOwnCIDRLabels {
			lbls.MergeLabels(labels.GetCIDRLabels(hostPrefix(a)))
		}
	}
	if !hasCIDRLabel(lbls) {
		if p, ok := longestPrefix(as.prefixes, a); ok {
			lbls.MergeLabels(labels.GetCIDRLabels(p))
		}
	}
	lbls.MergeLabels(labels.GetCIDRLabels(netip.PrefixFrom(a, 0))) // the world label alone
	id, _, err := w.alloc.AllocateIdentity(context.Background(), lbls, false, 0)
	return id, err
}

func hasCIDRLabel(l labels.Labels) bool {
	for _, v := range l {
		if v.Source == labels.LabelSourceCIDR {
			return true
		}
	}
	return false
}

// longestPrefix is the longest of prefixes that contains a.
func longestPrefix(prefixes []netip.Prefix, a netip.Addr) (netip.Prefix, bool) {
	best, found := netip.Prefix{}, false
	for _, p := range prefixes {
		if p.Contains(a) && (!found || p.Bits() > best.Bits()) {
			best, found = p, true
		}
	}
	return best, found
}

// identityOf is the identity of pod p (ref) as this world's agent sees it in a flow with other:
// its pod identity ("pod"), else, a hostNetwork pod, the host when it shares other's node ("host")
// and a remote node otherwise ("remote-node").
func (w *world) identityOf(ref string, p, other *slim_corev1.Pod) (*identity.Identity, string) {
	switch {
	case isEndpoint(p):
		return w.podIDs[ref], "pod"
	case sameNode(p, other):
		return w.hostID, "host"
	default:
		return w.nodeIDs[ref], "remote-node"
	}
}

func labelStrings(id *identity.Identity) []string {
	if id == nil {
		return []string{}
	}
	out := id.LabelArray.GetModel()
	sort.Strings(out)
	return out
}

func evaluate(cfg *agentConfig, in *inputs, flows []flowIn, out *output) error {
	warn := func(format string, args ...any) { out.Warnings = append(out.Warnings, fmt.Sprintf(format, args...)) }
	ve := newVersionEngine()
	// The address families: world labels (world, or world-ipv4/world-ipv6 in a dual-stack cluster)
	// of CIDR identities and of CIDR selectors (0.0.0.0/0) depend on them, so set before parsing.
	option.Config.EnableIPv4, option.Config.EnableIPv6 = cfg.EnableIPv4, cfg.EnableIPv6
	unsupported, err := ve.configure(cfg)
	if err != nil {
		return err
	}
	out.Unsupported = unsupported

	cl, err := newCluster(in, warn)
	if err != nil {
		return err
	}

	// Parse every policy once, to report the rejected ones; each world adds the accepted ones.
	parsedOnce := make([]any, len(in.Policies))
	for i, o := range in.Policies {
		p, stage, err := ve.parsePolicy(o)
		if err != nil {
			out.Policies = append(out.Policies, policyError{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Error: err.Error(), Stage: stage})
			continue
		}
		parsedOnce[i] = p
	}

	as := newAddressSpace(in, parsedOnce, flows)

	results := make([]flowOut, len(flows))

	// One world (repository, identities) per node, built when first needed: D's node decides its
	// ingress, S's node its egress. The first world uses the policies parsed above; each further one
	// parses them again (a parsed policy belongs to one repository).
	worlds := map[string]*world{}
	worldOf := func(node string) (*world, error) {
		if w, ok := worlds[node]; ok {
			return w, nil
		}
		parsed := parsedOnce
		if len(worlds) > 0 {
			parsed = make([]any, len(in.Policies))
			for i, o := range in.Policies {
				if parsedOnce[i] != nil {
					parsed[i], _, _ = ve.parsePolicy(o)
				}
			}
		}
		w, err := newWorld(ve, cfg, cl, as, node, in.Policies, parsed, warn)
		if err != nil {
			return nil, err
		}
		worlds[node] = w
		return w, nil
	}

	for i, f := range flows {
		r := &results[i]
		*r = flowOut{Src: f.Src, Dst: f.Dst, Port: f.Port, Protocol: f.Protocol, SrcIdentity: []string{}, DstIdentity: []string{}}
		if f.Port < 1 || f.Port > 65535 {
			r.Error = fmt.Sprintf("port %d out of range", f.Port)
			continue
		}
		if p := strings.ToUpper(f.Protocol); p != "TCP" && p != "UDP" && p != "SCTP" {
			r.Error = fmt.Sprintf("unknown protocol %q (TCP, UDP or SCTP)", f.Protocol)
			continue
		}
		proto, _ := u8proto.ParseProtocol(strings.ToUpper(f.Protocol))
		r.Audit = cfg.PolicyAuditMode
		if ipText, ok := strings.CutPrefix(f.Dst, "addr:"); ok {
			// An address no pod backs: S's egress toward the identity S's node gives it; no
			// ingress policy of Cilium's applies to it (not an endpoint).
			src := lookupPod(cl, f.Src, "src", r)
			a, perr := netip.ParseAddr(ipText)
			if perr != nil && r.Error == "" {
				r.Error = fmt.Sprintf("dst %q is not addr:<IP address>", f.Dst)
			}
			if src == nil || r.Error != "" {
				continue
			}
			a = a.Unmap()
			r.Verdict, r.NotEndpoint = "Allowed", true
			if !isEndpoint(src) {
				r.EgressVerdict, r.EgressNotEndpoint = "Allowed", true
				continue
			}
			ws, err := worldOf(src.Spec.NodeName)
			if err != nil {
				return err
			}
			peer := ws.addrIDs[a]
			r.DstKind, r.SrcKind = ws.addrKind[a], "pod"
			r.SrcIdentity, r.DstIdentity = labelStrings(ws.podIDs[f.Src]), labelStrings(peer)
			if err := egress(ws, r, f, src, peer, proto); err != nil {
				r.Error = err.Error()
			}
			continue
		}
		src, dst := lookupPod(cl, f.Src, "src", r), lookupPod(cl, f.Dst, "dst", r)
		if src == nil || dst == nil {
			continue
		}

		// The scraper's egress, on S's node: S is the subject, D the peer as S's node sees it.
		if !isEndpoint(src) {
			r.EgressVerdict, r.EgressNotEndpoint = "Allowed", true
		} else {
			ws, err := worldOf(src.Spec.NodeName)
			if err != nil {
				return err
			}
			peer, _ := ws.identityOf(f.Dst, dst, src)
			if err := egress(ws, r, f, src, peer, proto); err != nil {
				r.Error = err.Error()
				continue
			}
		}

		// D's ingress, on D's node.
		if !isEndpoint(dst) {
			r.Verdict, r.NotEndpoint = "Allowed", true
			continue
		}
		w, err := worldOf(dst.Spec.NodeName)
		if err != nil {
			return err
		}
		dstID := w.podIDs[f.Dst]
		var srcID *identity.Identity
		srcID, r.SrcKind = w.identityOf(f.Src, src, dst)
		r.SrcIdentity, r.DstIdentity = labelStrings(srcID), labelStrings(dstID)
		res, err := w.repo.lookup(endpointID(cl, f.Dst), dst, dstID, srcID, uint16(f.Port), proto, true)
		if err != nil {
			r.Error = err.Error()
			continue
		}
		r.Verdict = "Denied"
		if res.Allowed {
			r.Verdict = "Allowed"
		}
		r.L7 = res.Allowed && res.L7
		r.Rules = res.Rules
		if r.L7 {
			r.L7HTTP, r.L7Unrestricted = res.HTTP, res.Unrestricted
		}
	}
	out.Flows = results
	return nil
}

// egress looks up S's egress toward peer in S's world ws and records it in r.
func egress(ws *world, r *flowOut, f flowIn, src *slim_corev1.Pod, peer *identity.Identity, proto u8proto.U8proto) error {
	res, err := ws.repo.lookup(endpointID(ws.cl, f.Src), src, ws.podIDs[f.Src], peer, uint16(f.Port), proto, false)
	if err != nil {
		return err
	}
	r.EgressVerdict = "Denied"
	if res.Allowed {
		r.EgressVerdict = "Allowed"
	}
	r.EgressL7 = res.Allowed && res.L7
	r.EgressRules = res.Rules
	return nil
}

// newAddressSpace gathers the API server's addresses, the CIDR prefixes of the accepted policies
// (what the agent upserts into its ipcache for them: cidrPrefixes, the release's own
// policy.GetCIDRPrefixes), and the flows' address destinations.
func newAddressSpace(in *inputs, parsed []any, flows []flowIn) *addressSpace {
	as := &addressSpace{apiServer: map[netip.Addr]bool{}}
	for _, s := range in.APIServer {
		if a, err := netip.ParseAddr(s); err == nil {
			as.apiServer[a.Unmap()] = true
		}
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range parsed {
		if p == nil {
			continue
		}
		for _, pfx := range cidrPrefixes(p) {
			if pfx = pfx.Masked(); !seen[pfx] {
				seen[pfx] = true
				as.prefixes = append(as.prefixes, pfx)
			}
		}
	}
	for _, f := range flows {
		if ipText, ok := strings.CutPrefix(f.Dst, "addr:"); ok {
			if a, err := netip.ParseAddr(ipText); err == nil {
				as.dests = append(as.dests, a.Unmap())
			}
		}
	}
	return as
}

func lookupPod(cl *cluster, ref, side string, r *flowOut) *slim_corev1.Pod {
	if r.Error != "" {
		return nil
	}
	if _, _, ok := splitRef(ref); !ok {
		r.Error = fmt.Sprintf("%s %q is not of the form namespace/pod", side, ref)
		return nil
	}
	p := cl.pods[ref]
	if p == nil {
		r.Error = fmt.Sprintf("%s pod %s is not in the manifests", side, ref)
	}
	return p
}

// endpointID gives each endpoint pod a stable non-zero endpoint ID (used in proxy IDs only).
func endpointID(cl *cluster, ref string) uint16 {
	for i, r := range cl.podOrder {
		if r == ref {
			return uint16(i%60000 + 1)
		}
	}
	return 1
}
