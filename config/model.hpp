// The configuration as loaded from YAML (../shared/SPEC.md "Config"): plain values, validated,
// not yet compiled. proxy/runtime/snapshot.hpp turns it into what the data plane reads.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cutover::config {

using Millis = std::chrono::milliseconds;

// A position in the config file, 1-based line and column (0 = unknown).
struct Mark {
  int line = 0;
  int col = 0;
};

// "host:port" or "[v6]:port" split into parts. `host` is kept as written (IP literal or name),
// except that an IPv6 literal loses its brackets ("[::1]:80" gives host "::1").
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string text;  // as written, for logs and errors
  Mark mark;
};

// Active HTTP health checks of a cluster's endpoints (SPEC `health_check`): GET `path`
// every `interval`; 2xx or 3xx within `timeout` is a success. An endpoint turns unhealthy after
// `unhealthy_threshold` failures in a row and healthy again after `healthy_threshold` successes.
struct HealthCheckConfig {
  bool enabled = false;
  std::string path = "/healthz";
  Millis interval{2000};
  Millis timeout{1000};
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
};

// Passive outlier detection (SPEC `outlier_detection`, Envoy's shape): an endpoint that
// answers `consecutive_5xx` 5xx in a row, or fails `consecutive_connect_failures` connects in a
// row, is ejected for ejection_time x (times ejected before, +1), at most max_ejection_time.
struct OutlierConfig {
  bool enabled = false;
  std::uint32_t consecutive_5xx = 5;
  std::uint32_t consecutive_connect_failures = 3;
  Millis ejection_time{30000};
  Millis max_ejection_time{300000};
};

// PROXY protocol header sent first on every upstream connection of a cluster (the HAProxy
// "PROXY protocol" v1 text or v2 binary form), so the backend sees the client's address.
// Only clusters that serve tcp routes may send it: pooled HTTP connections carry many clients.
enum class ProxyProtocol { none, v1, v2 };
// Upstream TLS of a cluster (SPEC `tls: {sni, ca_file, verify}`). The peer certificate is
// verified against `ca_file` (the system's default CAs when empty) and its name against `sni`, or
// the endpoint's host when `sni` is empty (RFC 6125; an IP literal is matched as an IP address).
struct ClusterTlsConfig {
  bool enabled = false;  // the cluster has a `tls` block
  std::string sni;       // server name sent (RFC 6066 §3) and verified; empty = the endpoint's host
  std::string ca_file;   // PEM bundle of trusted CAs; resolved against the config dir; empty = system CAs
  bool verify = true;    // false: no certificate or name check (warned about)
  Mark mark;             // of the `tls` key
};

struct ClusterConfig {
  std::string name;
  std::vector<HostPort> endpoints;    // at least one
  // 5 s, as Envoy: a 1 s default raced the kernel's 1 s SYN retransmission, so one dropped SYN
  // became a 502.
  Millis connect_timeout{5000};
  Millis response_timeout{30000};     // time from request sent to response header received
  HealthCheckConfig health_check;
  OutlierConfig outlier_detection;
  ProxyProtocol send_proxy_protocol = ProxyProtocol::none;  // `send_proxy_protocol: v1|v2`
  Mark send_proxy_protocol_mark;      // of its value; line 0 when not given
  ClusterTlsConfig tls;
  // `protocol: http1` (the default) or `http2`: HTTP/2 with prior knowledge in cleartext (RFC 9113
  // §3.3), or negotiated by ALPN h2 over `tls` (§3.2); what gRPC services need. HTTP routes only.
  bool http2 = false;
  Mark protocol_mark;  // of its value; line 0 when not given
  // HTTP/2 clusters only: a session without streams for `http2_ping_interval` sends a PING (RFC
  // 9113 §6.7; 0 = never), and one whose ACK does not come within `http2_ping_timeout` is closed,
  // so a connection that died silently (a NAT or firewall dropped it) is not handed a request.
  Millis http2_ping_interval{30000};
  Millis http2_ping_timeout{5000};
  Mark mark;
};

// Sticky assignment, so a user keeps seeing one side while weights move: where a request's key
// comes from, in configuration order; the first source present in the request wins.
struct StickySource {
  enum class Kind { header, cookie, client_ip };
  Kind kind = Kind::header;
  std::string name;  // header or cookie name; empty for client_ip
};

struct StickyConfig {
  std::vector<StickySource> sources;  // empty = not sticky (per-request random)
  // When no source is present: pin the client with `pin_cookie`, a cookie holding a random bucket
  // id 0..9999 (not the side, so later weight changes still apply). Empty = do not pin.
  std::string pin_cookie;
  Millis pin_max_age{30LL * 24 * 3600 * 1000};  // Max-Age of the pin cookie
  bool enabled() const { return !sources.empty(); }
};

// Forced side for internal testers: header/cookie value "source" or "target", honoured only for
// clients inside allow_cidrs, so the public cannot pick a side that is not ready for them.
struct ForceConfig {
  std::string header;                    // empty = no header
  std::string cookie;                    // empty = no cookie
  // Validated and canonical: always "ADDR/PREFIX" with host bits clear ("10.0.0.1" in the file
  // becomes "10.0.0.1/32", "::1" becomes "::1/128"), so make_network_v4/v6 take them as they are.
  std::vector<std::string> allow_cidrs;
  bool enabled() const { return !header.empty() || !cookie.empty(); }
};

// Write hold (SPEC `writes`): while the database behind the two sides is promoted, non-safe
// requests wait instead of landing on a side that cannot take them.
struct WritesConfig {
  Millis hold_timeout{5000};   // a request held longer gets 503 + Retry-After
  Millis hold_max{60000};      // a hold older than this releases itself to the current weights
  std::uint32_t max_held = 10000;  // held requests per route; beyond, 503 at once
};

// How a shadow response is compared with the primary one (SPEC `mirror.compare`).
struct CompareConfig {
  // Header names (lower-case) left out of the comparison. Framing and hop-by-hop headers
  // (Content-Length, Transfer-Encoding, Connection, Keep-Alive, ...) never take part anyway.
  // Default: date. Giving the key replaces the default.
  std::vector<std::string> ignore_headers{"date"};
  // Object keys removed at any depth before two JSON bodies are compared (exact, case-sensitive).
  std::vector<std::string> ignore_json_fields;
  // Percent*100 (0..10000) of mirrored requests that also go to a second source endpoint, so that
  // differences source-vs-source (noise) are not counted as mismatches. Needs two or more source
  // endpoints (a warning otherwise). 0 = off.
  std::uint32_t noise_sample_bp = 0;
};

// Shadow traffic (SPEC `mirror`): a copy of a share of the requests goes to the side that
// did not serve them; its response is compared with the primary's and discarded.
struct MirrorConfig {
  bool enabled = false;                 // the route has a mirror block
  std::uint32_t percent_bp = 0;         // percent*100 of eligible requests mirrored, 0..10000
  // Methods mirrored, upper-case as written (RFC 9110 §9.1 method names are case-sensitive).
  // Default GET, HEAD. A non-safe method is mirrored only when listed (with a --check warning).
  std::vector<std::string> methods{"GET", "HEAD"};
  std::uint64_t max_body = 1024 * 1024;  // bytes: bodies up to this are mirrored and compared in full
  std::uint32_t max_in_flight = 1000;    // concurrent mirrors per route (all workers); beyond: dropped
  Millis timeout{5000};                  // the whole shadow exchange, connect to last body byte
  CompareConfig compare;
  Mark mark;                             // of the `mirror` key
};

// A tenant segment (a route's `segments`, also PUT at runtime): requests whose header or cookie
// NAME holds one of `values` (exact, case-sensitive) or starts with `prefix`, or whose client
// address is inside `client_cidrs`, go to `side` whatever the weights (after a forced side, before
// read-your-writes and sticky). The first matching segment of the list wins.
struct SegmentConfig {
  enum class Kind { header, cookie, client_cidrs };
  Kind kind = Kind::header;
  std::string name;                       // header or cookie name; empty for client_cidrs
  std::vector<std::string> values;        // exact values, no duplicates; empty when `prefix` is used
  std::string prefix;                     // non-empty when used instead of `values`
  std::vector<std::string> client_cidrs;  // canonical "ADDR/PREFIX" (see ForceConfig)
  bool to_target = false;                 // side: "target" (true) or "source"
};

// Read-your-writes (`read_your_writes: {window: 5s, cookie: cutover_ryw}`): after a write served by
// a side, the same client's reads go to that side for `window`, so a user does not read a lagging
// replica right after saving. The client is its sticky key when the request has one, else a signed
// cookie `cookie` set on the write's response.
struct ReadYourWritesConfig {
  bool enabled = false;
  Millis window{5000};
  std::string cookie = "cutover_ryw";
};

inline constexpr std::uint32_t kDefaultGrpcErrorCodes = 1u << 2 | 1u << 4 | 1u << 12 | 1u << 13 | 1u << 14 | 1u << 15;
// The highest gRPC status code (UNAUTHENTICATED).
inline constexpr std::uint32_t kMaxGrpcStatus = 16;

// Weights are in basis points of percent*100: 0..10000 means 0.00 % .. 100.00 % to target.
// A route of a tcp listener takes only name, source, target, weight and sticky: {client_ip: true}
// (a connection has no method, header or cookie to read); the loader rejects the HTTP-only keys there. Its connections are
// split by `weight` (read and write weight are equal on a tcp route).
struct RouteConfig {
  std::string name;
  std::string host = "*";             // exact host (lower-case, no port) or "*"
  std::string path_prefix = "/";      // plain string prefix of the path
  // match.grpc: the route takes gRPC calls only (content-type application/grpc*, gRPC's
  // PROTOCOL-HTTP2.md), as Envoy's route match `grpc`; both clusters must speak http2.
  bool grpc = false;
  std::string source;                 // cluster name
  std::string target;                 // cluster name
  std::uint32_t read_weight_bp = 0;   // safe methods (RFC 9110 §9.2.1)
  std::uint32_t write_weight_bp = 0;  // every other method
  StickyConfig sticky;
  ForceConfig force;
  WritesConfig writes;
  MirrorConfig mirror;
  // HTTP Upgrade protocols (RFC 9110 §7.8) the route tunnels: a request asking to upgrade to one
  // of them becomes a byte tunnel to the side that serves it. RFC 9110 §5.6.2 tokens, lower-case
  // (they compare case-insensitively); no "h2c" (RFC 9113 §3.1 deprecates it). Empty = no tunnels.
  std::vector<std::string> upgrade{"websocket"};
  // The gRPC status codes (0..16) that count a call as failed in the window statistics ramps gate
  // on, as a bit mask (bit N: code N). Default: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
  // INTERNAL, UNAVAILABLE and DATA_LOSS, the service's faults (NOT_FOUND and the like are answers).
  std::uint32_t grpc_error_codes = kDefaultGrpcErrorCodes;
  std::vector<SegmentConfig> segments;  // in order: the first match wins
  ReadYourWritesConfig read_your_writes;
  Mark mark;
};

// Default idle timeout of a tcp listener's connections (Envoy's tcp_proxy default): long enough
// for database connection pools that sit idle between bursts, short enough to reclaim leaks.
inline constexpr Millis kDefaultTcpIdleTimeout{3600 * 1000};
// One certificate a TLS listener can present: a PEM chain (leaf first) and its private key, both
// resolved against the config dir.
struct TlsCertificateConfig {
  std::string cert_file;
  std::string key_file;
  Mark mark;  // of the certificate's mapping
};

// TLS termination on a listener (SPEC `tls: {cert_file, key_file}`, or `tls: {certificates: [...]}`
// for several certificates chosen by SNI, RFC 6066 §3). The first certificate is the default: it
// is presented when the client sends no server name or one that no certificate's names match.
struct ListenerTlsConfig {
  bool enabled = false;  // the listener has a `tls` block
  std::vector<TlsCertificateConfig> certificates;  // at least one when enabled
  Mark mark;  // of the `tls` key
};

// A listener's access log: one JSON line per HTTP request, per tcp connection and per tunnel,
// written by a background thread (proxy/observe/log_writer.hpp). The fields are those of
// proxy/observe/access_record.hpp.
// The access log's fields, in the order of a line when `fields` is not given
// (proxy/observe/access_record.hpp says what each holds).
inline constexpr std::array<std::string_view, 23> kAccessLogFields{
    "time",     "request_id", "trace_id",    "client_ip",   "client_port", "listener",   "route",     "method",
    "path",     "protocol",   "status",      "side",        "side_reason", "endpoint",   "held_ms",   "connect_ms",
    "upstream_ms", "duration_ms", "bytes_in", "bytes_out", "retries",     "result",     "mirror"};

struct AccessLogConfig {
  bool enabled = false;
  std::string path;                 // a file (resolved against the config dir), or "stdout"
  std::vector<std::string> fields;  // the fields written, in this order; empty = every field
  bool log_query = false;           // false: the path is written without its query (it may hold secrets)
  std::uint32_t sample_bp = 10000;  // share of requests written, in basis points (100% = 10000)
  // Bytes of lines waiting for the writer thread, at most; beyond it lines are dropped (counted).
  // Listeners sharing a file share its writer, sized by the first that opened it.
  std::uint64_t buffer = 4 * 1024 * 1024;
  Mark mark;                        // of the `access_log` key
};

struct ListenerConfig {
  std::string name;
  HostPort address;
  // "http": requests are routed by host and path, one side per request.
  // "tcp": exactly one route; each connection gets a side by weight (sticky by client
  // IP when configured) and its bytes are relayed both ways until both sides closed.
  std::string protocol = "http";
  // tcp only (`idle_timeout: 1h`, the default): a connection with no byte relayed in either
  // direction for this long is closed. An error on an http listener.
  Millis idle_timeout = kDefaultTcpIdleTimeout;
  ListenerTlsConfig tls;
  // http only: HTTP/2 beside HTTP/1.1, by ALPN "h2" on TLS and by prior knowledge in cleartext
  // (RFC 9113 §3.2, §3.3). Upgrade: h2c is not offered (RFC 9113 deprecates it).
  bool http2 = true;
  AccessLogConfig access_log;
  // Open client connections at most (`max_connections: 10000`), counted across workers; 0 (the
  // default): no limit. At the limit cutover stops accepting on the listener: new connections
  // wait in the kernel's backlog (not accepted and closed) until open ones end.
  std::uint64_t max_connections = 0;
  std::vector<RouteConfig> routes;
  Mark mark;
  bool tcp() const { return protocol == "tcp"; }
};

struct AdminConfig {
  HostPort listen{"127.0.0.1", 9901, "127.0.0.1:9901", {}};
  std::string tokens_file;            // optional; lines "name:secret"; resolved against the config dir
  Mark tokens_file_mark;              // where tokens_file was given, for errors reading the file
};

// The optional JSONL log of shadow mismatches, rotated by size so a noisy comparison cannot fill
// the disk.
struct MirrorLogConfig {
  std::string path;                        // empty = no log; resolved against the config dir
  std::uint64_t max_size = 10 * 1024 * 1024;  // bytes per file before it is rotated
  unsigned max_files = 3;                  // rotated files kept besides the current one
};

// Request limits of every HTTP listener (RFC 9112 §3 and §5): over them a request is
// refused with 414, 431 or 413 and its connection closed.
struct LimitsConfig {
  std::uint64_t max_request_line = 8 * 1024;    // bytes of method, target and version: 414 over it
  std::uint64_t max_header_bytes = 64 * 1024;   // bytes of the whole request head: 431 over it
  std::uint64_t max_request_body = 0;           // bytes of a request body; 0 = no limit (bodies are streamed)
  // HTTP/2 connections (RFC 9113). The header list is bounded by max_header_bytes as for HTTP/1
  // (SETTINGS_MAX_HEADER_LIST_SIZE, 431 over it).
  std::uint32_t http2_max_concurrent_streams = 100;     // SETTINGS_MAX_CONCURRENT_STREAMS; more are refused
  std::uint32_t http2_stream_buffer = 256 * 1024;       // bytes buffered per stream each way (its flow-control window)
  std::uint32_t http2_connection_buffer = 1024 * 1024;  // bytes buffered per connection each way (its window)
  // RST_STREAM frames a client may send per second (a burst of as many): over it the connection
  // ends with GOAWAY ENHANCE_YOUR_CALM (the rapid reset attack, CVE-2023-44487).
  std::uint32_t http2_max_resets_per_second = 100;

  bool operator==(const LimitsConfig&) const = default;
};

// Downstream HTTP timeouts, so a slow or idle client cannot hold a connection for ever. Upstream
// ones are per cluster (connect_timeout, response_timeout). Reloadable: each request reads the
// current snapshot's.
struct TimeoutsConfig {
  Millis idle{60000};            // keep-alive wait for the first byte of the next request: then a plain close
  Millis request_header{30000};  // from a request head's first byte to its end (slowloris): 408
  Millis body_idle{60000};       // each read or write of a body from or to the client
  // From the complete request head to the last byte of the response; 0 = none. Expiring while the
  // request body is read: 408; while waiting for the response head: 504; mid-response: the
  // connection is closed (the client sees the truncation). A write hold's wait is not counted
  // (writes.hold_timeout bounds it).
  Millis request{0};
  // An upgraded connection (a WebSocket tunnel) with no byte moved either way for this long is
  // closed. Hours are allowed here (`1h`, the default): tunnels are long-lived on purpose.
  Millis tunnel_idle{3600 * 1000};

  bool operator==(const TimeoutsConfig&) const = default;
};

// Request IDs: an incoming one is kept only from a trusted client (a proxy in front that made
// it); otherwise cutover makes one. It goes upstream, to the shadow copy, back to the client and
// into the access log and mismatch samples.
struct RequestIdConfig {
  std::string header = "X-Request-Id";  // the field name (compared case-insensitively)
  std::vector<std::string> trust_cidrs;  // canonical "ADDR/PREFIX" (see ForceConfig); empty = trust none
};

// W3C Trace Context (traceparent, tracestate): forwarded unchanged when valid, dropped when not.
struct TracingConfig {
  bool generate = false;  // give a request without a valid traceparent a new one
};

// fleet: nodes sharing route weights through etcd. `node` empty: no fleet (the default).
struct FleetConfig {
  std::string node;                    // this node's name, unique in the fleet (a name: [A-Za-z0-9_.-])
  std::vector<std::string> endpoints;  // etcd client URLs, "http://127.0.0.1:2379" or https://...
  std::string prefix = "/cutover/";    // every fleet key is below it; ends with '/'
  Millis lease_ttl{5000};              // the node key's lease: a node silent this long is gone
  std::string username;                // etcd authentication (empty: none)
  std::string password_file;           // its password, the file's first line
  std::string ca_file, cert_file, key_file;  // https endpoints: CA, client certificate and key
  Millis apply_timeout{2000};          // how long a change waits for every live node to apply it

  bool enabled() const { return !node.empty(); }
};

struct Config {
  std::string path;                   // the file it came from
  unsigned workers = 0;               // 0 = one per core
  // `worker_cpu_affinity`: none (the kernel places the worker threads) or auto (worker i runs only
  // on the i-th CPU the process may use, wrapping around; proxy/server/cpu_affinity.hpp).
  enum class WorkerAffinity { none, automatic };
  WorkerAffinity worker_cpu_affinity = WorkerAffinity::none;
  Millis drain_timeout{30000};
  AdminConfig admin;
  std::string state_file;             // optional; resolved against the config dir
  std::string audit_log;              // optional; resolved against the config dir
  // optional; resolved against the config dir. The Unix socket a binary upgrade (`cutover
  // --upgrade`) takes the listening sockets through (app/upgrade.hpp).
  std::string upgrade_socket;
  MirrorLogConfig mirror_log;         // optional
  RequestIdConfig request_id;
  TracingConfig tracing;
  LimitsConfig limits;
  TimeoutsConfig timeouts;
  FleetConfig fleet;                  // optional
  std::vector<ClusterConfig> clusters;  // in file order; names unique
  std::vector<ListenerConfig> listeners;  // in file order; names unique

  const ClusterConfig* find_cluster(const std::string& name) const {
    for (const auto& c : clusters)
      if (c.name == name) return &c;
    return nullptr;
  }
};

}  // namespace cutover::config
