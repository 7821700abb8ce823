// Command nsforward makes a TCP address of the host's network namespace reachable at the same
// address inside another network namespace: it listens on -addr inside the namespace of -netns (a
// /proc/<pid>/ns/net path) and forwards every connection to -addr in its own namespace.
//
// Two optional flags generalise it (the real Prometheus in a pod of the datapath, issue 18): -to
// dials another address than -addr (the API server's host loopback behind a Service-like address
// of the scenario's node), and -dial-netns dials from inside that namespace instead of its own
// (-netns may then be empty: listen in its own namespace), e.g. the host's 127.0.0.1:0 forwarded to
// a pod's address, dialled from the scenario's node so that the connection crosses the datapath.
// -addr may have port 0: the port the kernel gave is in the READY line.
//
// The datapath scenarios (run-scenario.sh) run the Cilium agent inside `unshare --net`, whose
// loopback is not the host's; the test API server listens on the host's 127.0.0.1. Forwarding to
// the same address keeps the kubeconfig (and the certificate's IP SAN) valid unchanged. It prints
// "READY <address it listens on>" on stdout once it listens and runs until killed.
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

// inNetns runs f on a thread switched into the network namespace at path (none: as it is), so
// that the sockets f creates belong to that namespace (a socket keeps the namespace it was created
// in). The thread is locked and returns to the original namespace before it is unlocked.
func inNetns(path string, f func() error) error {
	if path == "" {
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
	if err != nil {
		return err
	}
	defer self.Close()
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := setns(target); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	ferr := f()
	if err := setns(self); err != nil {
		// This thread is in the wrong namespace: never let the runtime reuse it.
		fmt.Fprintf(os.Stderr, "nsforward: cannot return to the original network namespace: %v\n", err)
		os.Exit(1)
	}
	return ferr
}

// listenIn opens a listener on addr inside the network namespace at path (none: its own).
func listenIn(path, addr string) (l net.Listener, err error) {
	err = inNetns(path, func() error {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// dialIn connects to addr from inside the network namespace at path (none: its own).
func dialIn(path, addr string) (c net.Conn, err error) {
	err = inNetns(path, func() error {
		c, err = net.Dial("tcp", addr)
		return err
	})
	return c, err
}

func main() {
	netns := flag.String("netns", "", "network namespace to listen in (/proc/<pid>/ns/net; empty with -dial-netns: this one)")
	addr := flag.String("addr", "", "host:port to listen on there and to connect to here")
	to := flag.String("to", "", "host:port to connect to instead of -addr")
	dialNetns := flag.String("dial-netns", "", "network namespace to connect from (default: this one)")
	flag.Parse()
	if (*netns == "" && *dialNetns == "") || *addr == "" {
		fmt.Fprintln(os.Stderr, "usage: nsforward -netns /proc/<pid>/ns/net -addr 127.0.0.1:<port> [-to host:port] [-dial-netns PATH]")
		os.Exit(2)
	}
	if *to == "" {
		to = addr
	}
	l, err := listenIn(*netns, *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsforward: listen on %s in %s: %v\n", *addr, *netns, err)
		os.Exit(1)
	}
	fmt.Println("READY", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "nsforward: accept: %v\n", err)
			os.Exit(1)
		}
		go func(c net.Conn) {
			defer c.Close()
			u, err := dialIn(*dialNetns, *to)
			if err != nil {
				fmt.Fprintf(os.Stderr, "nsforward: dial %s: %v\n", *to, err)
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
