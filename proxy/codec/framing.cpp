// Strict HTTP/1.1 framing checks: see framing.hpp.
#include "proxy/codec/framing.hpp"

#include <cstring>

#include <boost/beast/core/string.hpp>
#include <fmt/format.h>

namespace cutover::codec {

namespace bhttp = boost::beast::http;

namespace {

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The framing rules shared by requests and responses; `what` names the message in reasons.
template <bool isRequest>
std::optional<std::string> check_framing(const bhttp::header<isRequest>& head) {
  std::size_t lengths = 0;
  std::string_view length;
  std::size_t encodings = 0;
  std::string_view last_coding;
  std::size_t chunked = 0;
  for (const auto& f : head) {
    if (f.name() == bhttp::field::content_length) {
      ++lengths;
      length = f.value();
    } else if (f.name() == bhttp::field::transfer_encoding) {
      ++encodings;
      // A comma-separated list of codings, possibly over several fields: the last one counts.
      std::string_view v = f.value();
      while (!v.empty()) {
        auto comma = v.find(',');
        auto coding = trim(v.substr(0, comma));
        if (auto semi = coding.find(';'); semi != std::string_view::npos) coding = trim(coding.substr(0, semi));
        if (!coding.empty()) {
          last_coding = coding;
          if (boost::beast::iequals(coding, "chunked")) ++chunked;
        }
        if (comma == std::string_view::npos) break;
        v.remove_prefix(comma + 1);
      }
    }
  }
  if (lengths > 1) return std::string("more than one Content-Length field");
  if (lengths == 1 && !is_digits(length)) return fmt::format("invalid Content-Length '{}'", length);
  if (lengths == 1 && length.size() > 18) return std::string("Content-Length too large");
  if (encodings > 0) {
    if (head.version() < 11) return std::string("Transfer-Encoding in an HTTP/1.0 message");
    if (lengths > 0) return std::string("both Content-Length and Transfer-Encoding");
    if (last_coding.empty()) return std::string("empty Transfer-Encoding");
    if (!boost::beast::iequals(last_coding, "chunked"))
      return fmt::format("Transfer-Encoding does not end with chunked ('{}')", last_coding);
    if (chunked > 1) return std::string("chunked applied more than once");
  }
  return std::nullopt;
}

}  // namespace

// The one-shot forms are the scanner fed the whole input at once.
std::size_t head_end(std::string_view raw) {
  HeadScanner s;
  s.scan(raw);
  return s.end();
}

bool has_bare_lf(std::string_view raw) {
  HeadScanner s;
  s.scan(raw);
  return s.bare_lf();
}

bool has_obs_fold(std::string_view raw) {
  HeadScanner s;
  s.scan(raw);
  return s.obs_fold();
}

std::size_t first_line_length(std::string_view raw) {
  HeadScanner s;
  s.scan(raw);
  return s.first_line();
}

void HeadScanner::scan(std::string_view raw) {
  // From one LF to the next (memchr), not byte by byte: an obs-fold can only start right after
  // a CRLF, so the byte after each one is all that needs a look besides the line ends.
  if (end_ != std::string_view::npos) return;
  const std::size_t n = raw.size();
  std::size_t i = scanned_;
  const auto folds_at = [&](std::size_t at) {  // SP or HTAB starting a line after a CRLF
    return at >= 2 && at < n && (raw[at] == ' ' || raw[at] == '\t') && raw[at - 2] == '\r' && raw[at - 1] == '\n';
  };
  if (folds_at(i)) obs_fold_ = true;  // the CRLF ended the bytes scanned last time
  while (i < n) {
    const void* hit = std::memchr(raw.data() + i, '\n', n - i);
    if (!hit) {
      i = n;
      break;
    }
    const std::size_t lf = static_cast<std::size_t>(static_cast<const char*>(hit) - raw.data());
    const bool crlf = lf > 0 && raw[lf - 1] == '\r';
    if (first_line_ == std::string_view::npos) first_line_ = crlf ? lf - 1 : lf;
    i = lf + 1;
    if (!crlf) {
      bare_lf_ = true;
    } else if (lf >= 3 && raw[lf - 3] == '\r' && raw[lf - 2] == '\n') {
      end_ = i;
      break;
    } else if (folds_at(i)) {
      obs_fold_ = true;
    }
  }
  scanned_ = i;
}

std::optional<std::string> check_request_framing(const bhttp::request_header<>& head) {
  if (auto problem = check_framing(head)) return problem;
  std::size_t hosts = 0;
  for (const auto& f : head)
    if (f.name() == bhttp::field::host) ++hosts;
  if (hosts > 1) return std::string("more than one Host header");  // any version (RFC 9112 §3.2)
  // HTTP/1.0 allows no Host, but the request goes upstream as HTTP/1.1, which requires one.
  if (hosts == 0) return std::string("missing Host header");
  return std::nullopt;
}

std::optional<std::string> check_response_framing(const bhttp::response_header<>& head) {
  const unsigned status = head.result_int();
  if (status < 100 || status > 599) return fmt::format("status code {} is outside 100..599", status);
  return check_framing(head);
}

}  // namespace cutover::codec
