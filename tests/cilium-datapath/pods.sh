#!/usr/bin/env bash
# Pods on the real datapath, for a driver outside the scenario (tests/common/datapath.rs): every
# subcommand but `hold` runs inside the scenario's namespaces (`nsenter -t <inner pid> -m -n -p`),
# with CILIUM_CNI in the environment.
#
#   hold                     the COMMAND for run-scenario.sh: prints "SCENARIO-READY <node> <work dir>"
#                            once the agent is ready, then waits until <work dir>/stop exists (the
#                            driver creates it to end the scenario; TERM of the runner also ends it).
#   add NAMESPACE NAME       a network namespace "NAMESPACE.NAME" wired by the real cilium-cni ADD to
#                            the Pending Pod NAMESPACE/NAME (which must exist, on this scenario's
#                            Node); brings up its lo; prints the pod's IPv4 address.
#   listen NETNS BANNER PORT...
#                            in NETNS ("-": the scenario's own, the node's), a TCP listener on
#                            every PORT that answers each connection with "BANNER:PORT\n" and
#                            closes it; prints "LISTENING" once all are bound,
#                            then runs until the scenario ends.
#   probe NETNS IP PORT SECONDS
#                            from NETNS, a TCP connect to IP:PORT bounded by SECONDS (a decimal
#                            number); prints one line:
#                            "answered <first line>", "timeout" (no answer: a dropped SYN), "refused"
#                            (RST: nothing listens), "silent" (connected, no line) or "error <errno>".
#   probes NETNS SECONDS IP:PORT...
#                            from NETNS ("-": the scenario's own network namespace, the node's host),
#                            one TCP connect to each IP:PORT, all at once (non-blocking), each bounded
#                            by SECONDS; prints one line per target, in order: "IP:PORT <result>",
#                            the result as for probe.
#   node NETNS IP GATEWAY    a second node's host, without an agent: moves cdp1 (the peer of the
#                            agent's device cdp0) into a new network namespace NETNS as IP/24, with
#                            the pods' 10.244.0.0/16 via GATEWAY (the agent's node address). Its
#                            packets reach the agent's node on cdp0, where the ipcache names their
#                            source (remote-node, once the node's CiliumNode is known). Run once.
#   del NAMESPACE NAME       undoes add: kills the processes in the network namespace (listeners), the
#                            real cilium-cni DEL (the agent removes the endpoint), deletes the netns.
#
# The listener and the probe are Perl (perl-base: IO::Socket::INET, IO::Select), which every Debian has.
set -euo pipefail

say() { echo "pods.sh: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

netconf='{"cniVersion":"0.3.1","name":"cilium","type":"cilium-cni"}'

# Replaces this shell with COMMAND... in the network namespace NETNS ("-": this one, the node's).
in_netns() {
  local netns="$1"
  shift
  if [ "$netns" = - ]; then exec "$@"; else exec ip netns exec "$netns" "$@"; fi
}

cmd="${1:-}"
[ -n "$cmd" ] || die "usage: pods.sh hold | add NS NAME | del NS NAME | node NETNS IP GATEWAY | listen NETNS BANNER PORT... | probe NETNS IP PORT SECONDS | probes NETNS SECONDS IP:PORT..."
shift
case "$cmd" in
hold)
  echo "SCENARIO-READY $SCENARIO_NODE $SCENARIO_WORK"
  while [ ! -e "$SCENARIO_WORK/stop" ]; do sleep 0.2; done
  ;;
add)
  [ $# -eq 2 ] || die "usage: pods.sh add NAMESPACE NAME"
  ns="$1" name="$2" netns="$1.$2"
  ip netns add "$netns"
  out="$(printf '%s' "$netconf" | CNI_COMMAND=ADD CNI_CONTAINERID="$ns-$name" CNI_NETNS="/run/netns/$netns" \
    CNI_IFNAME=eth0 CNI_PATH=/nonexistent CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name" \
    "$CILIUM_CNI" 2>&1)" || die "cilium-cni ADD of $ns/$name failed: $out"
  ip -n "$netns" link set lo up
  ip="$(printf '%s' "$out" | jq -r '.ips[0].address // empty' 2>/dev/null)" || true
  [ -n "$ip" ] || die "cilium-cni ADD of $ns/$name gave no address: $out"
  echo "${ip%/*}"
  ;;
listen)
  [ $# -ge 3 ] || die "usage: pods.sh listen NETNS BANNER PORT..."
  netns="$1"
  shift
  in_netns "$netns" perl -e '
    use strict; use IO::Socket::INET; use IO::Select;
    my ($banner, @ports) = @ARGV;
    my $sel = IO::Select->new; my %port;
    for my $p (@ports) {
      my $l = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $p, Listen => 128,
                                    ReuseAddr => 1, Proto => "tcp")
        or die "pods.sh listen: cannot listen on port $p: $!\n";
      $sel->add($l); $port{fileno $l} = $p;
    }
    $| = 1; print "LISTENING\n";
    while (1) {
      for my $l ($sel->can_read) {
        my $c = $l->accept or next;
        print $c "$banner:$port{fileno $l}\n"; close $c;
      }
    }' "$@"
  ;;
probe)
  [ $# -eq 4 ] || die "usage: pods.sh probe NETNS IP PORT SECONDS"
  netns="$1"
  shift
  exec ip netns exec "$netns" perl -e '
    use strict; use IO::Socket::INET; use Errno;
    my ($ip, $port, $t) = @ARGV;
    my $s = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => $port, Proto => "tcp", Timeout => $t);
    if (!$s) {
      if ($!{ETIMEDOUT} || $@ =~ /timeout/) { print "timeout\n" }
      elsif ($!{ECONNREFUSED}) { print "refused\n" }
      else { print "error $!\n" }
      exit 0;
    }
    local $SIG{ALRM} = sub { print "silent\n"; exit 0 };
    alarm int($t) + 1;
    my $line = <$s>;
    defined $line or do { print "silent\n"; exit 0 };
    chomp $line; print "answered $line\n";' "$@"
  ;;
probes)
  [ $# -ge 3 ] || die "usage: pods.sh probes NETNS SECONDS IP:PORT..."
  netns="$1"
  shift
  in_netns "$netns" perl -e '
    use strict; use Socket; use Fcntl; use Errno; use IO::Select; use Time::HiRes qw(time);
    my ($t, @targets) = @ARGV;
    my (@sock, @res, @buf);
    my ($w, $r) = (IO::Select->new, IO::Select->new);
    for my $i (0 .. $#targets) {
      my ($ip, $port) = split /:/, $targets[$i];
      socket(my $s, PF_INET, SOCK_STREAM, 0) or die "pods.sh probes: socket: $!\n";
      fcntl($s, F_SETFL, fcntl($s, F_GETFL, 0) | O_NONBLOCK) or die "pods.sh probes: fcntl: $!\n";
      $sock[$i] = $s;
      if (connect($s, sockaddr_in($port, inet_aton($ip)))) { $r->add([$s, $i]) }
      elsif ($!{EINPROGRESS}) { $w->add([$s, $i]) }
      elsif ($!{ECONNREFUSED}) { $res[$i] = "refused" }
      else { $res[$i] = "error $!" }
    }
    my $deadline = time + $t;
    while ($w->count + $r->count && (my $left = $deadline - time) > 0) {
      my ($rd, $wr) = IO::Select->select($r, $w, undef, $left);
      for my $h (@{ $wr || [] }) {
        my ($s, $i) = @$h;
        $w->remove($h);
        my $err = unpack("i", getsockopt($s, SOL_SOCKET, SO_ERROR));
        if ($err == 0) { $r->add($h) }
        else { local $! = $err; $res[$i] = $!{ECONNREFUSED} ? "refused" : "error $!" }
      }
      for my $h (@{ $rd || [] }) {
        my ($s, $i) = @$h;
        my $n = sysread($s, my $chunk, 512);
        $buf[$i] .= $chunk if $n;
        if (!$n || $buf[$i] =~ /\n/) {
          $r->remove($h);
          my ($line) = split /\n/, $buf[$i] // "";
          $res[$i] = defined $line && length $line ? "answered $line" : "silent";
        }
      }
    }
    $res[$_->[1]] //= "silent" for $r->handles;
    $| = 1;
    print "$targets[$_] ", $res[$_] // "timeout", "\n" for 0 .. $#targets;' "$@"
  ;;
node)
  [ $# -eq 3 ] || die "usage: pods.sh node NETNS IP GATEWAY"
  netns="$1"
  ip netns add "$netns"
  ip link set cdp1 netns "$netns"
  ip -n "$netns" addr add "$2/24" dev cdp1
  ip -n "$netns" link set lo up
  ip -n "$netns" link set cdp1 up
  ip -n "$netns" route add 10.244.0.0/16 via "$3"
  ;;
del)
  [ $# -eq 2 ] || die "usage: pods.sh del NAMESPACE NAME"
  ns="$1" name="$2" netns="$1.$2"
  for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  out="$(printf '%s' "$netconf" | CNI_COMMAND=DEL CNI_CONTAINERID="$ns-$name" CNI_NETNS="/run/netns/$netns" \
    CNI_IFNAME=eth0 CNI_PATH=/nonexistent CNI_ARGS="K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name" \
    "$CILIUM_CNI" 2>&1)" || die "cilium-cni DEL of $ns/$name failed: $out"
  ip netns del "$netns"
  ;;
*) die "unknown subcommand $cmd" ;;
esac
