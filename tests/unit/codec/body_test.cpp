// The chunk framing check of the HTTP/1 body reader (codec/body.hpp).
#include "proxy/codec/body.hpp"

#include <gtest/gtest.h>

namespace cutover::codec {
namespace {

TEST(BareLf, OnlyAnLfWithoutItsCrCounts) {
  EXPECT_FALSE(chunk_framing_has_bare_lf(""));
  EXPECT_FALSE(chunk_framing_has_bare_lf("5\r"));             // the LF is still on its way
  EXPECT_FALSE(chunk_framing_has_bare_lf("X-Trailer: 1\r\n"));  // a trailer line, the final CRLF still to come
  EXPECT_TRUE(chunk_framing_has_bare_lf("5\nhello"));
  EXPECT_TRUE(chunk_framing_has_bare_lf("\n0\r\n"));          // chunk data ended by LF alone
  EXPECT_TRUE(chunk_framing_has_bare_lf("X-Trailer: 1\r\nY: 2\n"));
}

}  // namespace
}  // namespace cutover::codec
