package main

// The cluster state the engines work on: Cilium's own (slim) Kubernetes types, which have the
// same shape in every supported release (1.15+).

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"

	slim_corev1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/api/core/v1"
	slim_metav1 "github.com/cilium/cilium/pkg/k8s/slim/k8s/apis/meta/v1"
)

type cluster struct {
	namespaces map[string]*slim_corev1.Namespace
	pods       map[string]*slim_corev1.Pod // "ns/name"
	podOrder   []string
	nodes      map[string]*slim_corev1.Node
}

func newCluster(in *inputs, warn func(string, ...any)) (*cluster, error) {
	c := &cluster{
		namespaces: map[string]*slim_corev1.Namespace{},
		pods:       map[string]*slim_corev1.Pod{},
		nodes:      map[string]*slim_corev1.Node{},
	}
	for _, o := range in.Namespaces {
		ns := &slim_corev1.Namespace{}
		if err := json.Unmarshal(o.Raw, ns); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", o.key(), o.Source, err)
		}
		c.namespaces[ns.Name] = ns
	}
	for _, o := range in.Nodes {
		n := &slim_corev1.Node{}
		if err := json.Unmarshal(o.Raw, n); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", o.key(), o.Source, err)
		}
		c.nodes[n.Name] = n
	}
	for _, o := range in.Pods {
		p := &slim_corev1.Pod{}
		if err := json.Unmarshal(o.Raw, p); err != nil {
			return nil, fmt.Errorf("%s (%s): %w", o.key(), o.Source, err)
		}
		ref := p.Namespace + "/" + p.Name
		c.pods[ref] = p
		c.podOrder = append(c.podOrder, ref)
		if _, ok := c.namespaces[p.Namespace]; !ok {
			// The API server refuses pods in a namespace that does not exist; assume one with
			// only its automatic label.
			warn("namespace %s of pod %s is not in the manifests: assuming it has only the label kubernetes.io/metadata.name", p.Namespace, ref)
			c.namespaces[p.Namespace] = &slim_corev1.Namespace{ObjectMeta: slim_metav1.ObjectMeta{
				Name:   p.Namespace,
				Labels: map[string]string{"kubernetes.io/metadata.name": p.Namespace},
			}}
		}
	}
	return c, nil
}

// isEndpoint tells whether the pod is a Cilium endpoint (a hostNetwork pod is not: it shares the
// node's network namespace and has the node's identity).
func isEndpoint(p *slim_corev1.Pod) bool { return !p.Spec.HostNetwork }

// sameNode tells whether a hostNetwork source is the local host of destination d.
func sameNode(s, d *slim_corev1.Pod) bool { return s.Spec.NodeName == d.Spec.NodeName }

// nodeIPs are the addresses the agent knows for a node: the Node's addresses (InternalIP,
// ExternalIP) and the IPs of its hostNetwork pods (status.podIP(s) and status.hostIP(s), which
// are node IPs).
func (c *cluster) nodeIPs(node string) []netip.Addr {
	seen := map[netip.Addr]bool{}
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil {
			seen[a.Unmap()] = true
		}
	}
	if n := c.nodes[node]; n != nil {
		for _, a := range n.Status.Addresses {
			if a.Type == slim_corev1.NodeInternalIP || a.Type == slim_corev1.NodeExternalIP {
				add(a.Address)
			}
		}
	}
	for _, ref := range c.podOrder {
		p := c.pods[ref]
		if p.Spec.NodeName != node {
			continue
		}
		add(p.Status.HostIP)
		if p.Spec.HostNetwork {
			add(p.Status.PodIP)
			for _, ip := range p.Status.PodIPs {
				add(ip.IP)
			}
		}
	}
	out := make([]netip.Addr, 0, len(seen))
	for a := range seen {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// nodeOf is the node that has address a (nodeIPs), if any; nodes in name order.
func (c *cluster) nodeOf(a netip.Addr) (string, bool) {
	names := map[string]bool{}
	for n := range c.nodes {
		names[n] = true
	}
	for _, p := range c.pods {
		if p.Spec.NodeName != "" {
			names[p.Spec.NodeName] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		for _, ip := range c.nodeIPs(n) {
			if ip == a {
				return n, true
			}
		}
	}
	return "", false
}

// sourceIP is the address a hostNetwork pod's traffic comes from: its pod IP (the node IP it
// uses), else its host IP, else the node's InternalIP.
func (c *cluster) sourceIP(p *slim_corev1.Pod) (netip.Addr, bool) {
	for _, s := range []string{p.Status.PodIP, p.Status.HostIP} {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.Unmap(), true
		}
	}
	if n := c.nodes[p.Spec.NodeName]; n != nil {
		for _, a := range n.Status.Addresses {
			if a.Type == slim_corev1.NodeInternalIP {
				if ip, err := netip.ParseAddr(a.Address); err == nil {
					return ip.Unmap(), true
				}
			}
		}
	}
	return netip.Addr{}, false
}

// nodeLabels are the labels of the Node object (empty when the manifests have no such Node).
func (c *cluster) nodeLabels(node string) map[string]string {
	if n := c.nodes[node]; n != nil && n.Labels != nil {
		return n.Labels
	}
	return map[string]string{}
}
