// OpenSSL contexts from the config: see tls_context.hpp.
#include "proxy/net/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include <boost/asio/ip/address.hpp>

namespace cutover::net {

namespace asio = boost::asio;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// OpenSSL's reason for the oldest queued error (the root cause), and an empty queue after.
std::string openssl_reason() {
  const unsigned long e = ERR_peek_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return reason ? reason : "unknown OpenSSL error";
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + openssl_reason()); }

// What both sides share: TLS 1.2 minimum (RFC 8996 deprecates 1.0 and 1.1), AEAD-only 1.2
// suites, no renegotiation (a DoS lever, and absent from TLS 1.3), no compression (CRIME).
void apply_common(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) fail("cannot set the minimum TLS version");
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) fail("cannot set the TLS 1.2 cipher suites");
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
}

int session_slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// ALPN's wire format (RFC 7301 §3.1): each protocol name behind its length byte.
std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

bool is_ip_literal(std::string_view host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  if (cert == nullptr) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const auto* data = ASN1_STRING_get0_data(gn->d.dNSName);
      names.push_back(lower({reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName))}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) return names;
  X509_NAME* subject = X509_get_subject_name(cert);
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i))
    last = i;
  if (last >= 0) {
    ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last));
    const auto* data = ASN1_STRING_get0_data(cn);
    names.push_back(lower({reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(cn))}));
  }
  return names;
}

std::size_t select_certificate(const std::vector<std::vector<std::string>>& names, std::string_view server_name) {
  if (!server_name.empty() && server_name.back() == '.') server_name.remove_suffix(1);
  if (server_name.empty()) return 0;
  const std::string name = lower(server_name);
  for (std::size_t i = 0; i < names.size(); ++i)
    for (const auto& n : names[i])
      if (n == name) return i;
  // "*.example.com" covers "<one label>.example.com".
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return 0;
  const std::string_view parent = std::string_view(name).substr(dot);  // ".example.com"
  for (std::size_t i = 0; i < names.size(); ++i)
    for (const auto& n : names[i])
      if (n.size() > 2 && n[0] == '*' && n[1] == '.' && std::string_view(n).substr(1) == parent) return i;
  return 0;
}

ServerTls::ServerTls(const config::ListenerTlsConfig& config, std::vector<std::string> alpn)
    : alpn_wire_(alpn_wire(alpn)) {
  for (const auto& cert : config.certificates) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    apply_common(native);
    SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(native, cert.cert_file.c_str()) != 1)
      fail("cannot use cert_file '" + cert.cert_file + "'");
    if (SSL_CTX_use_PrivateKey_file(native, cert.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(native) != 1)
      fail("cannot use key_file '" + cert.key_file + "' with cert_file '" + cert.cert_file + "'");
    static constexpr unsigned char kSessionContext[] = "cutover";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
    SSL_CTX_set_tlsext_servername_callback(native, &ServerTls::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(native, this);
    if (!alpn_wire_.empty()) SSL_CTX_set_alpn_select_cb(native, &ServerTls::on_alpn, this);
    names_.push_back(certificate_names(SSL_CTX_get0_certificate(native)));
    contexts_.push_back(std::move(ctx));
  }
  if (contexts_.empty()) throw std::runtime_error("tls: no certificate");
}

int ServerTls::on_server_name(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* self = static_cast<const ServerTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;  // no SNI: the default certificate
  const std::size_t i = select_certificate(self->names_, name);
  if (i != 0 && SSL_set_SSL_CTX(ssl, self->contexts_[i]->native_handle()) == nullptr)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  return SSL_TLSEXT_ERR_OK;
}

int ServerTls::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                       unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerTls*>(arg);
  unsigned char* selected = nullptr;
  unsigned char selected_len = 0;
  const int r = SSL_select_next_proto(&selected, &selected_len,
                                      reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
                                      static_cast<unsigned int>(self->alpn_wire_.size()), in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol
  *out = selected;
  *outlen = selected_len;
  return SSL_TLSEXT_ERR_OK;
}

ClientTls::ClientTls(const config::ClusterTlsConfig& config, std::vector<std::string> alpn)
    : context_(std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client)),
      sni_(config.sni),
      verify_(config.verify),
      alpn_(std::move(alpn)) {
  SSL_CTX* native = context_->native_handle();
  apply_common(native);
  if (!alpn_.empty()) {
    const std::string wire = alpn_wire(alpn_);
    // 0 is success here, unlike the rest of OpenSSL's API.
    if (SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(wire.data()),
                                static_cast<unsigned int>(wire.size())) != 0)
      fail("cannot set the ALPN protocols");
  }
  if (verify_) {
    if (config.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(native) != 1) fail("cannot load the system's CA certificates");
    } else if (SSL_CTX_load_verify_locations(native, config.ca_file.c_str(), nullptr) != 1) {
      fail("cannot use ca_file '" + config.ca_file + "'");
    }
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  }
  // Sessions are kept per endpoint by the pools (TlsSessionSlot), not in OpenSSL's cache; the
  // callback tells when the server issued one.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(native, &ClientTls::on_new_session);
}

bool ClientTls::prepare(SSL* ssl, std::string_view endpoint_host, TlsSessionSlot* slot) const {
  const std::string host(sni_.empty() ? endpoint_host : std::string_view(sni_));
  const bool ip = is_ip_literal(host);
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) return false;
  if (verify_) {
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) return false;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl, host.c_str()) != 1) return false;
    }
  }
  if (slot != nullptr) {
    if (SSL_set_ex_data(ssl, session_slot_index(), slot) != 1) return false;
    // A copy: OpenSSL marks the session of a connection freed without close_notify as not
    // resumable (an old SSL 3.0 rule that TLS 1.1 dropped, RFC 4346 §7.2.1), and upstreams that
    // close after a response do just that; the slot's own session must outlive such a connection.
    if (slot->session != nullptr && SSL_SESSION_is_resumable(slot->session)) {
      SSL_SESSION* copy = SSL_SESSION_dup(slot->session);
      if (copy == nullptr) return false;
      const int set = SSL_set_session(ssl, copy);
      SSL_SESSION_free(copy);  // the SSL holds its own reference
      if (set != 1) return false;
    }
  }
  return true;
}

std::string ClientTls::alpn_problem(SSL* ssl) const {
  if (alpn_.empty()) return {};
  const unsigned char* selected = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl, &selected, &length);
  // OpenSSL fails the handshake when the server selects a protocol not offered, so any selection
  // is one of ours; a server that ignores ALPN (an HTTP/1.1-only one) selects none.
  if (length > 0) return {};
  std::string offered;
  for (const auto& p : alpn_) offered += (offered.empty() ? "" : ", ") + p;
  return "ALPN: the upstream selected no application protocol (offered: " + offered + ")";
}

int ClientTls::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<TlsSessionSlot*>(SSL_get_ex_data(ssl, session_slot_index()));
  if (slot == nullptr) return 0;  // not pooled (a health check): OpenSSL drops it
  // A copy, for the reason in prepare(): the connection's own session dies with it.
  SSL_SESSION* copy = SSL_SESSION_dup(session);
  if (copy == nullptr) return 0;
  if (slot->session != nullptr) SSL_SESSION_free(slot->session);
  slot->session = copy;
  return 0;  // OpenSSL keeps (and releases) the reference it passed
}

std::string handshake_failure_reason(SSL* ssl, const std::string& fallback) {
  if (ssl != nullptr) {
    const long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
  }
  return fallback;
}

}  // namespace cutover::net
