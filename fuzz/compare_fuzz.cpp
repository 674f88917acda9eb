// libFuzzer target: the shadow comparison (proxy/shadow/compare.hpp) of two responses written as
// text, so that the seed corpus reads like what a mirror captures:
//   STATUS CONTENT-TYPE\n  [name: value\n]...  \n  BODY   \n--\n   (the same for the second response)
// Without the "\n--\n" separator the second response is the first again. compare() must not crash,
// must find no difference between a response and itself, must agree with itself both ways round,
// and must keep its bound on the differences it lists; without_noise() must remove a list from
// itself entirely.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "proxy/shadow/compare.hpp"

namespace {

using namespace cutover;
using namespace cutover::shadow;

constexpr std::size_t kMaxBody = 4096;  // mirror.max_body: larger bodies are compared by digest

[[noreturn]] void fail(const std::string& what, std::string_view input) {
  std::fprintf(stderr, "\n*** cutover fuzz invariant broken: %s\n--- input (%zu bytes) ---\n%.*s\n---\n",
               what.c_str(), input.size(), static_cast<int>(std::min<std::size_t>(input.size(), 4096)), input.data());
  std::abort();
}

std::string_view next_line(std::string_view& text) {
  const auto nl = text.find('\n');
  const auto line = text.substr(0, nl);
  text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  return line;
}

CapturedResponse capture(std::string_view text) {
  CapturedResponse r;
  r.body = BodyCapture(kMaxBody);
  const auto first = next_line(text);
  const auto space = first.find(' ');
  unsigned status = 0;
  for (char c : first.substr(0, std::min<std::size_t>(space, 3)))
    status = c >= '0' && c <= '9' ? status * 10 + static_cast<unsigned>(c - '0') : status;
  r.status = status;
  const auto content_type = space == std::string_view::npos ? std::string_view{} : first.substr(space + 1);
  r.json = is_json_media_type(content_type);
  if (!content_type.empty()) r.headers.add("content-type", content_type);
  while (!text.empty()) {
    const auto line = next_line(text);
    if (line.empty()) break;
    const auto colon = line.find(':');
    auto value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.add(line.substr(0, colon), value);  // add() lower-cases the name
  }
  // In pieces, as the relay's tap hands them over.
  for (std::size_t at = 0; at < text.size(); at += 100)
    r.body.append({text.data() + at, std::min<std::size_t>(100, text.size() - at)});
  r.body.finish();
  return r;
}

void check_one(const Comparison& c, std::string_view input) {
  if (c.differences.size() > kMaxDifferences) fail("more than kMaxDifferences differences", input);
  if (c.truncated && c.differences.size() != kMaxDifferences) fail("truncated below the bound", input);
  for (const auto& d : c.differences)
    if (d.empty()) fail("empty difference", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto sep = input.find("\n--\n");
  const std::string_view text_a = input.substr(0, sep);
  const std::string_view text_b = sep == std::string_view::npos ? text_a : input.substr(sep + 4);

  CompareOptions options;
  options.ignore_headers = {"date", "server"};
  options.ignore_json_fields = {"timestamp", "request_id"};

  const auto a = capture(text_a);
  const auto b = capture(text_b);
  const auto a_again = capture(text_a);

  const auto self = compare(a, a_again, options);
  check_one(self, input);
  if (!self.match())
    fail("a response differs from itself at " + self.differences.front(), input);

  const auto ab = compare(a, b, options);
  const auto ba = compare(b, a, options);
  check_one(ab, input);
  check_one(ba, input);
  if (ab.match() != ba.match() || ab.json_compared != ba.json_compared)
    fail("compare(a, b) and compare(b, a) disagree", input);
  if (ab.json_compared && !(a.json && b.json)) fail("JSON comparison of a non-JSON body", input);
  if (!without_noise(ab.differences, ab.differences).empty()) fail("without_noise(d, d) is not empty", input);
  if (without_noise(ab.differences, {}) != ab.differences) fail("without_noise(d, {}) is not d", input);
  if (!ab.truncated && !ba.truncated && ab.differences != ba.differences)
    fail("compare(a, b) and compare(b, a) find different places", input);
  return 0;
}
