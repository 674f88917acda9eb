#!/usr/bin/env bash
# The keep-alive path's costs in numbers that do not drift with a noisy machine:
#   1. user-space instructions per proxied request: cutover under callgrind, stage proxies' setup
#      (one worker, 90/10, the bench's nginx backends), wrk -c16 for PROFILE_SECONDS after a warm-up,
#      counters zeroed in between; the total and where it goes (self cost by group and function);
#   2. system calls per request, cutover and HAProxy side by side: strace -c over a wrk run.
# Usage: ./bench/profile.sh   (installs valgrind and strace with scripts/setup.sh --bench);
#        PROFILE_TOP=40 lists 40 functions instead of 15; PROFILE_MIRROR=1 profiles mirroring.
# Prints plain text; writes nothing into the repository. See bench/README.md, "Profile".
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$repo/scripts/lib.sh"
conf=$repo/bench/config
PROFILE_SECONDS=${PROFILE_SECONDS:-5}
PROFILE_TOP=${PROFILE_TOP:-15}   # functions listed by self cost
# PROFILE_MIRROR=1: part 1 profiles the mirror stage's cutover (every GET of /same/ mirrored and compared)
PROFILE_MIRROR=${PROFILE_MIRROR:-0}

say() { printf '%s\n' "$*"; }
die() { printf 'profile: %s\n' "$*" >&2; exit 1; }

"$repo/scripts/setup.sh" --bench > /dev/null || die "scripts/setup.sh --bench failed (it needs root or sudo)"
work=$(mktemp -d "${TMPDIR:-/tmp}/cutover-profile.XXXXXX")
chmod 755 "$work"
trap 'stop_children; rm -rf "$work"' EXIT
ensure_cutover "$repo" "$work/build.log" "profile: " || die "could not build cutover"

mapfile -t ports < <(free_ports 3)
SOURCE_PORT=${ports[0]} TARGET_PORT=${ports[1]} HAPROXY_PORT=${ports[2]}
ports_kv=(SOURCE_PORT="$SOURCE_PORT" TARGET_PORT="$TARGET_PORT")
mkdir -p "$work/backends"
render "$conf/backends.nginx.conf" "$work/backends/nginx.conf" DIR="$work/backends" "${ports_kv[@]}"
start_nginx "$work/backends" "$work/backends/nginx.conf" "$work/backends/out.log"
wait_http "http://127.0.0.1:$SOURCE_PORT/" 10 "$SPAWNED_PID" || die "backend nginx did not start"
render "$conf/cutover.yaml" "$work/cutover.yaml" "${ports_kv[@]}" "${BENCH_ACCESS_LOG_OFF[@]}" WORKERS=1
profiled_config=$work/cutover.yaml path=/
if [ "$PROFILE_MIRROR" = 1 ]; then
  render "$conf/cutover-mirror.yaml" "$work/cutover-mirror.yaml" "${ports_kv[@]}"
  profiled_config=$work/cutover-mirror.yaml path=/same/
fi

# --- 1. instructions per request under callgrind ------------------------------------------------
real_bin=$CUTOVER_BIN
cat > "$work/cutover-callgrind" << EOF
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file=$work/callgrind.out --compress-strings=no \
  --compress-pos=no --dump-instr=no "$real_bin" "\$@"
EOF
chmod +x "$work/cutover-callgrind"
CUTOVER_BIN=$work/cutover-callgrind
start_cutover "$work" "$profiled_config" "$work/cutover-callgrind.log" bench || die "cutover under callgrind did not start"
vg_pid=$(pgrep -f "callgrind.*$real_bin" | head -n 1)
say "profile: cutover under callgrind at $CUTOVER_LISTEN$path ($(basename "$profiled_config")); warm-up 3 s, then wrk -t1 -c16 -d${PROFILE_SECONDS}s"
wrk -t1 -c16 -d3s "http://$CUTOVER_LISTEN$path" > /dev/null
callgrind_control -z "$vg_pid" > /dev/null
requests=$(wrk -t1 -c16 -d"${PROFILE_SECONDS}s" "http://$CUTOVER_LISTEN$path" | awk '/ requests in / { print $1 }')
callgrind_control -d "$vg_pid" > /dev/null
sleep 1
stop_pid "$CUTOVER_PID"
dump=$(ls -t "$work"/callgrind.out.* | head -n 1)
python3 - "$dump" "$requests" "$PROFILE_TOP" << 'EOF'
import collections, re, sys
path, n, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
# Self cost per function: cost lines not right after a calls= line (those are inclusive call costs).
own, fn, after_call = collections.Counter(), None, False
for line in open(path):
    if line.startswith('fn='):
        fn, after_call = line[3:].strip(), False
    elif line.startswith('calls='):
        after_call = True
    elif fn and line[:1] and (line[0].isdigit() or line[0] in '+-*'):
        parts = line.split()
        if len(parts) >= 2:
            if after_call:
                after_call = False
            else:
                own[fn] += int(parts[1])
total = sum(own.values())
print(f"\n{n} requests; user-space instructions per request: {total // n}\n")
groups = [('allocator (malloc/free, new/delete)', r'malloc|free|_int_|unlink_chunk|consolidate|operator new|operator delete|\bmi_|_mi_'),
          ('Beast HTTP parser', r'beast::http::basic_parser|parse_field|basic_parser_base'),
          ('Beast header fields', r'basic_fields'),
          ('cutover code', r'cutover::'),
          ('Asio scheduler and reactor', r'epoll_reactor|scheduler'),
          ('Asio executors and coroutines', r'any_executor|any_io_executor|awaitable'),
          ('mutexes', r'mutex'),
          ('mem*/str* (libc)', r'memcpy|memmove|memset|memchr|strlen|memcmp'),
          ('prometheus-cpp', r'prometheus')]
by_group = collections.Counter()
for f, v in own.items():
    by_group[next((g for g, pat in groups if re.search(pat, f)), 'other')] += v
print("| where (self cost) | instructions per request | share |\n|---|---:|---:|")
for g, v in by_group.most_common():
    print(f"| {g} | {v // n} | {100 * v / total:.1f} % |")
print(f"\n| function (self cost, top {top}) | instructions per request |\n|---|---:|")
for f, v in own.most_common(top):
    f = re.sub(r'\(.*', '', f.replace('(anonymous namespace)', '{anon}'))[:110].replace('|', '\\|')
    print(f"| `{f}` | {v // n} |")
EOF

# --- 2. system calls per request: cutover and HAProxy ------------------------------------------
command -v strace > /dev/null || die "strace missing"
CUTOVER_BIN=$real_bin
start_cutover "$work" "$work/cutover.yaml" "$work/cutover.log" bench || die "cutover did not start"
render "$conf/haproxy.cfg" "$work/haproxy.cfg" "${ports_kv[@]}" "${BENCH_ACCESS_LOG_OFF[@]}" WORKERS=1 PROXY_PORT="$HAPROXY_PORT" MAXCONN=1024 NOFILE=4096
spawn "$work/haproxy.log" haproxy -db -f "$work/haproxy.cfg"
haproxy_pid=$SPAWNED_PID
wait_http "http://127.0.0.1:$HAPROXY_PORT/" 10 "$haproxy_pid" || die "HAProxy did not start"
# syscalls NAME PID URL: strace -c -f over a 3 s wrk run; calls per request of each system call.
syscalls() {
  local name=$1 pid=$2 url=$3 n
  wrk -t1 -c64 -d1s "$url/" > /dev/null
  strace -c -f -p "$pid" -o "$work/strace-$name.txt" 2> /dev/null &
  local st=$!
  sleep 0.5
  n=$(wrk -t1 -c64 -d3s "$url/" | awk '/ requests in / { print $1 }')
  kill -INT "$st"; wait "$st" 2> /dev/null || true
  awk -v n="$n" -v name="$name" '
    $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { calls[$NF] = $4 }
    END { for (s in calls) if (calls[s] / n >= 0.01) printf "%s %s %.2f\n", name, s, calls[s] / n }' "$work/strace-$name.txt"
}
{
  syscalls cutover "$CUTOVER_PID" "http://$CUTOVER_LISTEN"
  syscalls haproxy "$haproxy_pid" "http://127.0.0.1:$HAPROXY_PORT"
} > "$work/syscalls.txt"
say ""
say "| system call (strace -c, wrk -c64 3 s) | cutover per request | HAProxy per request |"
say "|---|---:|---:|"
awk '{ v[$2, $1] = $3; s[$2] = 1 }
  END { for (k in s) printf "| %s | %s | %s |\n", k, ((k, "cutover") in v ? v[k, "cutover"] : "0"), ((k, "haproxy") in v ? v[k, "haproxy"] : "0") }' \
  "$work/syscalls.txt" | sort
say "(epoll_wait counts include the waits that blocked; under strace both proxies run slower, so the"
say " counts per request, not the times, are the figure)"
