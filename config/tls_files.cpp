// TLS file checks for the loader: see tls_files.hpp.
#include "config/tls_files.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace cutover::config {

namespace {

using CtxPtr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;

// OpenSSL's reason for the oldest error on this thread's queue, and an empty queue after.
std::string openssl_reason() {
  const unsigned long e = ERR_peek_error();  // the first: the root cause (later ones say "PEM lib")
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return reason ? reason : "unknown OpenSSL error";
}

// Empty when the file can be opened for reading; else "cannot read LABEL 'PATH': strerror".
std::string check_readable(const std::string& path, const char* label) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::string("cannot read ") + label + " '" + path + "': " + std::strerror(errno);
  std::fclose(f);
  return {};
}

}  // namespace

std::string check_certificate_pair(const std::string& cert_file, const std::string& key_file) {
  if (auto e = check_readable(cert_file, "cert_file"); !e.empty()) return e;
  if (auto e = check_readable(key_file, "key_file"); !e.empty()) return e;
  CtxPtr ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!ctx) return "cannot create an OpenSSL context: " + openssl_reason();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1)
    return "cert_file '" + cert_file + "' holds no usable PEM certificate: " + openssl_reason();
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const std::string reason = openssl_reason();
    // OpenSSL checks the key against the certificate while loading it.
    if (reason.find("values mismatch") != std::string::npos || reason.find("mismatch") != std::string::npos)
      return "key_file '" + key_file + "' does not match the certificate in cert_file '" + cert_file + "'";
    return "key_file '" + key_file + "' holds no usable PEM private key: " + reason;
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    ERR_clear_error();
    return "key_file '" + key_file + "' does not match the certificate in cert_file '" + cert_file + "'";
  }
  return {};
}

std::string check_ca_file(const std::string& ca_file) {
  if (auto e = check_readable(ca_file, "ca_file"); !e.empty()) return e;
  CtxPtr ctx(SSL_CTX_new(TLS_method()), &SSL_CTX_free);
  if (!ctx) return "cannot create an OpenSSL context: " + openssl_reason();
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1)
    return "ca_file '" + ca_file + "' holds no usable PEM certificate: " + openssl_reason();
  return {};
}

}  // namespace cutover::config
