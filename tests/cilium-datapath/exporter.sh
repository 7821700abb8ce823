#!/usr/bin/env bash
# A metrics endpoint in a pod of the datapath scenario, for the real Prometheus to scrape (issue 18
# item 4): run inside the scenario's namespaces (`nsenter -t <inner pid> -m -n -p`), like pods.sh.
#
#   exporter.sh NETNS POD PATH PORT...
#
# In the network namespace NETNS, an HTTP/1.x server on every PORT: `GET PATH` (query ignored) is
# answered 200 with valid Prometheus exposition text (Content-Type `text/plain; version=0.0.4`, which
# Prometheus 3 requires) naming POD and the port, any other path 404; every answer closes the
# connection. A connection that sends no complete request head within 10 s is closed unanswered.
# Prints "LISTENING" once every port is bound, then runs until killed (the scenario's end kills it).
# Perl (perl-base: IO::Socket::INET, IO::Select), as pods.sh's listener.
set -euo pipefail

[ $# -ge 4 ] || {
  echo "exporter.sh: usage: exporter.sh NETNS POD PATH PORT..." >&2
  exit 1
}
netns="$1"
shift
exec ip netns exec "$netns" perl -e '
  use strict; use IO::Socket::INET; use IO::Select;
  my ($pod, $path, @ports) = @ARGV;
  my $sel = IO::Select->new; my %port;
  for my $p (@ports) {
    my $l = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $p, Listen => 128,
                                  ReuseAddr => 1, Proto => "tcp")
      or die "exporter.sh: cannot listen on port $p: $!\n";
    $sel->add($l); $port{fileno $l} = $p;
  }
  $| = 1; print "LISTENING\n";
  my $served = 0;
  while (1) {
    for my $l ($sel->can_read) {
      my $c = $l->accept or next;
      my $p = $port{fileno $l};
      my ($head, $wait) = ("", IO::Select->new($c));
      my $deadline = time + 10;
      while ($head !~ /\r?\n\r?\n/ && time < $deadline && $wait->can_read(1)) {
        my $n = sysread($c, $head, 4096, length $head);
        last unless $n;
      }
      if ($head =~ m{^GET (\S+) HTTP/1\.[01]\r?\n}) {
        (my $asked = $1) =~ s/\?.*//;
        my ($status, $type, $body);
        if ($asked eq $path) {
          $served++;
          ($status, $type) = ("200 OK", "text/plain; version=0.0.4; charset=utf-8");
          $body = "# HELP scrapepath_datapath_target A target of the datapath scenario.\n"
                . "# TYPE scrapepath_datapath_target gauge\n"
                . "scrapepath_datapath_target{pod=\"$pod\",port=\"$p\"} 1\n"
                . "# HELP scrapepath_datapath_scrapes_total Scrapes of this pod answered so far.\n"
                . "# TYPE scrapepath_datapath_scrapes_total counter\n"
                . "scrapepath_datapath_scrapes_total{pod=\"$pod\"} $served\n";
        } else {
          ($status, $type, $body) = ("404 Not Found", "text/plain; charset=utf-8", "not found: $asked\n");
        }
        print $c "HTTP/1.1 $status\r\nContent-Type: $type\r\nContent-Length: " . length($body)
               . "\r\nConnection: close\r\n\r\n$body";
      }
      close $c;
    }
  }' "$@"
