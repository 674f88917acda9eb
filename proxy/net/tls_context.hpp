// OpenSSL contexts built from the config: ServerTls terminates TLS on a listener (one context per
// certificate, chosen by SNI), ClientTls originates it to a cluster's endpoints. Both are built
// when a snapshot is compiled (start-up and every reload, so changed certificate files are read
// again) and are read-only afterwards: workers share them, since OpenSSL locks what an SSL_CTX
// changes during handshakes (its session cache). Not HTTP-specific: ALPN is a parameter.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "config/model.hpp"

namespace cutover::net {

// TLS 1.2 cipher suites allowed on both sides: ECDHE key exchange with AEAD ciphers only
// (Mozilla's "intermediate" list). TLS 1.3 suites are OpenSSL's defaults, all AEAD.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The DNS names a certificate answers for, lower-case: its subjectAltName dNSName entries, or the
// subject's last commonName when it has none (RFC 6125 §6.4.4).
std::vector<std::string> certificate_names(X509* cert);

// Which certificate to present for the SNI `server_name` (RFC 6066 §3), given each certificate's
// names: the first with an exact name, else the first with a wildcard "*.example.com" covering
// exactly the left-most label ("a.example.com", not "example.com" or "a.b.example.com"; RFC 6125
// §6.4.3), else 0, the default. Case-insensitive; a trailing dot on `server_name` is ignored.
std::size_t select_certificate(const std::vector<std::vector<std::string>>& names, std::string_view server_name);

// TLS termination on one listener: TLS 1.2 minimum, kTls12Ciphers, no renegotiation; the
// certificate picked per connection by SNI; ALPN (RFC 7301) when `alpn` is given: the first of
// the client's protocols we offer is selected, and a client offering ALPN but none of ours gets a
// fatal no_application_protocol alert (§3.2). A client sending no ALPN is served as usual.
class ServerTls {
 public:
  // Reads every certificate chain and key. Throws std::runtime_error naming the file and
  // OpenSSL's reason when one cannot be used.
  ServerTls(const config::ListenerTlsConfig& config, std::vector<std::string> alpn);
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // The context a new connection's SSL starts from (the first certificate's); the SNI callback
  // moves the SSL to another certificate's context during the handshake. The ServerTls must stay
  // alive until the handshake is over (the callback refers to it).
  boost::asio::ssl::context& context() const { return *contexts_.front(); }

  const std::vector<std::vector<std::string>>& names() const { return names_; }

 private:
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned int inlen, void* arg);

  std::vector<std::unique_ptr<boost::asio::ssl::context>> contexts_;  // parallel to names_
  std::vector<std::vector<std::string>> names_;
  std::string alpn_wire_;  // ALPN protocol list in wire format (length-prefixed names)
};

struct TlsSessionSlot;

// TLS to one cluster's endpoints: TLS 1.2 minimum, kTls12Ciphers; unless verify is false, the
// chain is verified against ca_file (or the system CAs) and the name against sni (or the
// endpoint's host; an IP literal is checked against the certificate's IP addresses). ALPN (RFC
// 7301) when `alpn` is given: those protocols are offered, and one of them must be selected.
class ClientTls {
 public:
  // Throws std::runtime_error naming the file and OpenSSL's reason when ca_file cannot be used.
  explicit ClientTls(const config::ClusterTlsConfig& config, std::vector<std::string> alpn = {});
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  boost::asio::ssl::context& context() const { return *context_; }
  bool verify() const { return verify_; }

  // Sets up `ssl` (from context()) for a connection to `endpoint_host`: SNI (sni, else the host
  // when it is a name: RFC 6066 forbids IP literals), the name to verify, and the session of
  // `slot` to resume (RFC 8446 §2.2, RFC 5077). Copies of new sessions the server issues on this
  // connection are stored into `slot` (TLS 1.3 tickets arrive after the handshake, so the slot
  // must outlive `ssl`). `slot` may be null: no resumption.
  // Returns false when OpenSSL refused a setting (allocation failure).
  bool prepare(SSL* ssl, std::string_view endpoint_host, TlsSessionSlot* slot) const;

  // After a completed handshake on `ssl`: empty when no ALPN was offered or the server selected
  // one of ours, else why the connection must not be used ("ALPN: the upstream selected no
  // application protocol (offered: h2)"). RFC 9113 §3.2: HTTP/2 over TLS only when h2 was selected.
  std::string alpn_problem(SSL* ssl) const;

 private:
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  std::unique_ptr<boost::asio::ssl::context> context_;
  std::string sni_;
  bool verify_ = true;
  std::vector<std::string> alpn_;  // offered, in order of preference; empty: no ALPN
};

// The last TLS session of one upstream endpoint, resumed by the next connection to it. Owned by
// one worker's pool (no locking) and shared with the connections whose SSL may still store a
// newer session into it. Bound to the ClientTls it came from: a reload builds new contexts, and
// a session is never resumed under another context's trust settings.
struct TlsSessionSlot {
  explicit TlsSessionSlot(std::shared_ptr<const ClientTls> t) : tls(std::move(t)) {}
  ~TlsSessionSlot() {
    if (session) SSL_SESSION_free(session);
  }
  TlsSessionSlot(const TlsSessionSlot&) = delete;
  TlsSessionSlot& operator=(const TlsSessionSlot&) = delete;

  std::shared_ptr<const ClientTls> tls;
  SSL_SESSION* session = nullptr;  // owned copy, never an SSL's own session; null until a server issued one
};

// "certificate verify failed: unable to get local issuer certificate" for a failed client
// handshake on `ssl`; `fallback` (the handshake's error text) when verification did not fail.
std::string handshake_failure_reason(SSL* ssl, const std::string& fallback);

}  // namespace cutover::net
