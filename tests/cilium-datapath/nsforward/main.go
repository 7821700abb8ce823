// Command nsforward makes a TCP address of the host's network namespace reachable at the same
// address inside another network namespace: it listens on -addr inside the namespace of -netns (a
// /proc/<pid>/ns/net path) and forwards every connection to -addr in its own namespace.
//
// The datapath scenarios (run-scenario.sh) run the Cilium agent inside `unshare --net`, whose
// loopback is not the host's; the test API server listens on the host's 127.0.0.1. Forwarding to
// the same address keeps the kubeconfig (and the certificate's IP SAN) valid unchanged. It prints
// "READY" on stdout once it listens and runs until killed.
//
// Go is used here for test tooling only; the product is Rust.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
)

const cloneNewNet = 0x40000000

// setns(2) by number: the syscall package does not name it.
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268}

func setns(f *os.File) error {
	nr, ok := sysSetns[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("setns: syscall number unknown on %s", runtime.GOARCH)
	}
	_, _, errno := syscall.RawSyscall(nr, f.Fd(), cloneNewNet, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// listenIn opens a listener on addr inside the network namespace at path. The thread that
// switches namespace is locked and returns to the original namespace before it is unlocked.
func listenIn(path, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		return nil, err
	}
	defer self.Close()
	target, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		return nil, fmt.Errorf("setns %s: %w", path, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := setns(self); err != nil {
		// This thread is in the wrong namespace: never let the runtime reuse it.
		fmt.Fprintf(os.Stderr, "nsforward: cannot return to the original network namespace: %v\n", err)
		os.Exit(1)
	}
	return l, lerr
}

func main() {
	netns := flag.String("netns", "", "network namespace to listen in (/proc/<pid>/ns/net)")
	addr := flag.String("addr", "", "host:port to listen on there and to connect to here")
	flag.Parse()
	if *netns == "" || *addr == "" {
		fmt.Fprintln(os.Stderr, "usage: nsforward -netns /proc/<pid>/ns/net -addr 127.0.0.1:<port>")
		os.Exit(2)
	}
	l, err := listenIn(*netns, *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsforward: listen on %s in %s: %v\n", *addr, *netns, err)
		os.Exit(1)
	}
	fmt.Println("READY")
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "nsforward: accept: %v\n", err)
			os.Exit(1)
		}
		go func(c net.Conn) {
			defer c.Close()
			u, err := net.Dial("tcp", *addr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "nsforward: dial %s: %v\n", *addr, err)
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, u); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}(c)
	}
}
