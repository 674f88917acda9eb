// Unit tests for the TLS contexts: certificate choice by SNI (a pure function), the names read
// from a certificate, and contexts built from the fixtures in tests/unit/config/tls.
#include "proxy/net/tls_context.hpp"

#include <gtest/gtest.h>

#include <openssl/pem.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace cutover::net {
namespace {

const std::string kTlsDir = std::string(CUTOVER_TEST_DATA) + "/config/tls";

TEST(SelectCertificate, ExactNamesFirstThenOneLabelWildcardsElseTheDefault) {
  const std::vector<std::vector<std::string>> names = {
      {"a.test"}, {"b.test", "*.b.test"}, {"*.c.test"}, {"x.c.test"}};
  EXPECT_EQ(select_certificate(names, "a.test"), 0u);
  EXPECT_EQ(select_certificate(names, "b.test"), 1u);
  EXPECT_EQ(select_certificate(names, "B.Test"), 1u);   // case-insensitive
  EXPECT_EQ(select_certificate(names, "b.test."), 1u);  // trailing dot
  EXPECT_EQ(select_certificate(names, "www.b.test"), 1u);
  EXPECT_EQ(select_certificate(names, "x.y.b.test"), 0u);  // a wildcard covers one label only
  EXPECT_EQ(select_certificate(names, "x.c.test"), 3u);    // an exact name beats an earlier wildcard
  EXPECT_EQ(select_certificate(names, "y.c.test"), 2u);
  EXPECT_EQ(select_certificate(names, "c.test"), 0u);      // "*.c.test" does not cover c.test
  EXPECT_EQ(select_certificate(names, ""), 0u);
  EXPECT_EQ(select_certificate(names, "."), 0u);
  EXPECT_EQ(select_certificate(names, "unknown.test"), 0u);
  EXPECT_EQ(select_certificate(names, ".b.test"), 0u);
  EXPECT_EQ(select_certificate({}, "a.test"), 0u);
}

TEST(CertificateNames, SubjectAltNamesLowerCase) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen((kTlsDir + "/b.pem").c_str(), "rb"), &std::fclose);
  ASSERT_TRUE(f);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_X509(f.get(), nullptr, nullptr, nullptr), &X509_free);
  ASSERT_TRUE(cert);
  EXPECT_EQ(certificate_names(cert.get()), (std::vector<std::string>{"b.test", "*.b.test"}));
  EXPECT_TRUE(certificate_names(nullptr).empty());
}

TEST(ServerTls, ReadsEveryCertificateAndItsNames) {
  config::ListenerTlsConfig c;
  c.enabled = true;
  c.certificates = {{kTlsDir + "/a.pem", kTlsDir + "/a.key", {}}, {kTlsDir + "/b.pem", kTlsDir + "/b.key", {}}};
  ServerTls tls(c, {"http/1.1"});
  ASSERT_EQ(tls.names().size(), 2u);
  EXPECT_EQ(tls.names()[0], (std::vector<std::string>{"a.test", "*.a.test"}));
  EXPECT_EQ(tls.names()[1][0], "b.test");
}

TEST(ServerTls, AnUnusableFileThrowsNamingIt) {
  config::ListenerTlsConfig c;
  c.enabled = true;
  c.certificates = {{kTlsDir + "/a.pem", kTlsDir + "/b.key", {}}};
  try {
    ServerTls tls(c, {});
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.key"), std::string::npos) << e.what();
  }
}

TEST(ClientTls, CaFileProblemsThrowNamingTheFile) {
  config::ClusterTlsConfig c;
  c.enabled = true;
  c.ca_file = kTlsDir + "/junk.pem";
  EXPECT_THROW(ClientTls{c}, std::runtime_error);
  c.ca_file = kTlsDir + "/a.pem";
  ClientTls ok(c);
  EXPECT_TRUE(ok.verify());
}

}  // namespace
}  // namespace cutover::net
