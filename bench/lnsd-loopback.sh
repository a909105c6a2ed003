# Sourced by bench/lnsd-memory and bench/lnsd-setup-rate: lnsd on
# loopback with CHAP local users user1..N (pw1..N), an IPv4 pool, two DNS
# servers offered in IPCP (as an ISP's LNS does; without them the
# subscribers' DNS requests are rejected, an extra IPCP round), no data
# plane (LNSD_TABLE=1: the tables of an external one), and lns-bench as
# its LAC. LNSD_PPP adds lines to lnsd's [ppp] section (as
# LNSD_PPP='echo_adaptive = false'). Cleans up on exit.
#   lnsd_lab SESSIONS      -> $tmp, $port, $lnsd_pid (lnsd started on $LNSD_CPUS)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bench=target/release/lns-bench
tmp=$(mktemp -d)
lnsd_pid=
bench_pid=
trap 'kill $bench_pid $lnsd_pid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$tmp"' EXIT

lnsd_lab() {
  local sessions=$1 lnsd=$2
  [ -x "$lnsd" ] && [ -x "$bench" ] || {
    echo "$(basename "$0"): build first: cargo build --release -p lns-daemon -p lns-bench" >&2
    exit 1
  }
  port=$((20000 + RANDOM % 20000))
  python3 - "$tmp" "$sessions" "$port" <<'PY'
import os, sys
tmp, n, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"{tmp}/users.toml", "w") as f:
    for i in range(1, n + 1):
        f.write(f'[[user]]\nname = "user{i}"\npassword = "pw{i}"\n')
with open(f"{tmp}/lnsd.toml", "w") as f:
    f.write(f'''[l2tp]
listen = ["127.0.0.1:{port}"]
shutdown_timeout_secs = 1
[[peer]]
address = "127.0.0.1"
[ppp]
auth = ["chap"]
users_file = "{tmp}/users.toml"
ipv6 = false
dns = ["192.0.2.53", "198.51.100.53"]
{os.environ.get("LNSD_PPP", "")}
[[pool]]
name = "default"
ranges = ["100.64.0.1-100.127.255.254"]
''')
    # LNSD_TABLE=1: lnsd writes every session into the shared-memory
    # table as it would for a data plane (none runs), so its own
    # bookkeeping for the data plane is counted too. The table has a
    # twentieth spare, as OPERATIONS.md advises: sessions sit where
    # their ids point, all over the table, so a larger one has more of
    # its pages touched.
    if os.environ.get("LNSD_TABLE") == "1":
        f.write(f'''[dataplane]
mode = "external"
table = "{tmp}/table"
capacity = {max(n + n // 20, 1024)}
access_interface = "lo"
core_gateway = "127.0.0.1"
''')
PY
  RUST_LOG=${LNSD_LOG:-warn} taskset -c "${LNSD_CPUS:-0-1023}" "$lnsd" --config "$tmp/lnsd.toml" > "$tmp/lnsd.log" 2>&1 &
  lnsd_pid=$!
  local i
  for i in $(seq 50); do
    [ -n "$(ss -Hlun "sport = :$port")" ] && return 0
    kill -0 "$lnsd_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/lnsd.log" >&2
  exit 1
}
