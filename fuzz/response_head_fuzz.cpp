// libFuzzer target: the bytes an upstream answers with, through what cutover does with a response
// (proxy/channel/http1_channel.cpp read_head() and the exchange from the response head on): interim 1xx heads passed on,
// the final head read as head_reader.hpp does and checked (unsafe framing is a 502), rewritten,
// its body relayed through a small scratch buffer and framed again; then the bytes the client
// would get must parse as exactly that one response, with the same body.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/empty_body.hpp>

#include "fuzz/fuzz_http.hpp"
#include "proxy/codec/headers.hpp"

namespace {

using namespace cutover;
using namespace cutover::fuzz;

constexpr std::size_t kResponseHeaderLimit = 64 * 1024;  // http1_channel.hpp kResponseHeaderLimit
const codec::HeadLimits kResponseHeadLimits{kResponseHeaderLimit, kResponseHeaderLimit};

void check_raw_helpers(std::string_view raw) {
  const auto end = codec::head_end(raw);
  if (end != std::string_view::npos && (end < 4 || raw.substr(end - 4, 4) != "\r\n\r\n"))
    fail("head_end: not just past an empty line", raw);
  (void)codec::has_obs_fold(raw);
  (void)codec::has_bare_lf(raw);
  (void)codec::first_line_length(raw);
}

// An interim response as the connection passes it on: hop-by-hop fields removed, written as it came.
void check_interim(const bhttp::response_header<>& h) {
  bhttp::response<bhttp::empty_body> interim{h};
  codec::remove_hop_by_hop(interim);
  std::string wire;
  codec::append_head(interim.base(), wire);
  const auto seen = expect_one_message<false>(wire, {}, false, false, "interim response");
  if (seen.result_int() != h.result_int()) fail("interim status changed", wire);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_raw_helpers(input);

  // The request this answers, picked by the input's hash like the read segmentation: a HEAD
  // (no body may follow), an HTTP/1.0 client (no chunked: close-delimited instead), a pin cookie.
  const std::uint32_t h = input_hash(input);
  const bool head_request = (h >> 8) % 5 == 0;
  const unsigned req_version = (h >> 12) % 4 == 0 ? 10 : 11;
  const bool pin_cookie = (h >> 16) % 3 == 0;
  const bool req_keep_alive = (h >> 20) % 4 != 0;

  InputStream stream(input, segment_for(input));
  boost::beast::flat_buffer buffer;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> rp;
  for (;;) {
    rp.emplace();
    rp->header_limit(static_cast<std::uint32_t>(kResponseHeaderLimit));
    rp->body_limit(boost::none);
    if (head_request) rp->skip(true);
    const auto got = read_head(stream, buffer, *rp, kResponseHeadLimits);
    if (!got.ok()) return 0;                                 // 502 (or 504)
    if (codec::check_response_framing(rp->get())) return 0;  // 502
    const unsigned status = rp->get().result_int();
    if (status < 100 || status >= 200 || status == 101) break;
    if (status != 100 && req_version >= 11) check_interim(rp->get().base());
  }

  auto& res = rp->get();
  const unsigned status = res.result_int();
  const bool no_body = head_request || status == 204 || status == 304 || status < 200;
  const bool keep_alive = codec::prepare_downstream_response(res, rp->chunked(), rp->content_length().has_value(),
                                                            no_body, req_version, req_keep_alive && status != 101);
  if (pin_cookie)
    res.insert(bhttp::field::set_cookie, "cutover_bucket=4242; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax");

  std::array<char, 256> scratch;  // the relay's 64 KiB buffer, small so the loop turns
  const Relayed sent = relay_body(stream, buffer, *rp, scratch);
  if (!sent.complete) return 0;  // mid-body failure: the client connection closes, no final chunk

  // The client's view: one response, the same status and body, sound framing, and a connection
  // that ends where the proxy thinks (a close-delimited body only when the proxy closes).
  const auto seen = expect_one_message<false>(sent.wire, sent.body, head_request, !keep_alive, "response");
  if (auto problem = codec::check_response_framing(seen))
    fail(("forwarded response fails the proxy's own framing check: " + *problem).c_str(), sent.wire);
  if (seen.result_int() != status) fail("status changed", sent.wire);
  if (seen.keep_alive() != keep_alive) fail("keep-alive differs from the proxy's decision", sent.wire);
  if (seen.count(bhttp::field::te) || seen.count(bhttp::field::upgrade) || seen.count(bhttp::field::trailer) ||
      seen.count(bhttp::field::proxy_connection))
    fail("hop-by-hop field forwarded", sent.wire);
  const std::string_view head(sent.wire.data(), codec::head_end(sent.wire));
  if (codec::has_obs_fold(head) || codec::has_bare_lf(head)) fail("forwarded head breaks the raw checks", head);
  return 0;
}
