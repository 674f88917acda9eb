// Checks, with OpenSSL, that the TLS files a config names can be used, so the loader reports a
// missing file or a key that does not belong to its certificate as a config error (FILE:LINE:COL
// from `cutover --check`, a failed reload) rather than at the first handshake.
#pragma once

#include <string>

namespace cutover::config {

// Empty when `cert_file` holds a PEM certificate chain (leaf first) and `key_file` the PEM private
// key of its leaf; otherwise the reason, naming the file: "cannot read cert_file '/x/c.pem': No
// such file or directory", "key_file '/x/k.pem' does not match the certificate in cert_file ...".
std::string check_certificate_pair(const std::string& cert_file, const std::string& key_file);

// Empty when `ca_file` holds at least one PEM certificate; otherwise the reason, naming the file.
std::string check_ca_file(const std::string& ca_file);

}  // namespace cutover::config
