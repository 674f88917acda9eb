// HTTP/2 header lists to and from exchange heads: see fields.hpp.
#include "proxy/h2/fields.hpp"

#include <charconv>

#include "common/text.hpp"

namespace cutover::h2 {

namespace bhttp = boost::beast::http;

namespace {

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  // nghttp2 copies both when the frame is submitted (no NO_COPY flags).
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

void RequestHeadBuilder::add(std::string_view name, std::string_view value) {
  bytes_ += name.size() + value.size() + 32;
  if (bytes_ > max_bytes_) too_large_ = true;
  if (too_large_) return;
  if (!name.empty() && name.front() == ':') {
    if (name == ":method")
      head_.method_string(value);
    else if (name == ":path")
      head_.target(value);
    else if (name == ":authority")
      authority_.assign(value);
    return;  // :scheme, :protocol
  }
  if (name == "cookie") {
    if (!cookie_.empty()) cookie_ += "; ";
    cookie_.append(value);
    return;
  }
  if (name == "te") return;
  if (name == "content-length") {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc() && end == value.data() + value.size()) content_length_ = n;
  }
  head_.insert(name, value);
}

std::optional<std::uint64_t> RequestHeadBuilder::finish() {
  if (!authority_.empty()) head_.set(bhttp::field::host, authority_);
  if (!cookie_.empty()) head_.set(bhttp::field::cookie, cookie_);
  return content_length_;
}

void response_fields(const bhttp::response_header<>& head, std::string& storage, std::vector<nghttp2_nv>& out) {
  // One string for every lowercased name and the status, sized first so no view into it moves.
  std::size_t need = 3;
  for (const auto& f : head) need += f.name_string().size();
  storage.clear();
  storage.reserve(need);
  const unsigned status = head.result_int();
  storage += static_cast<char>('0' + status / 100 % 10);
  storage += static_cast<char>('0' + status / 10 % 10);
  storage += static_cast<char>('0' + status % 10);
  out.clear();
  out.reserve(std::distance(head.begin(), head.end()) + 1);
  out.push_back(make_nv(":status", std::string_view(storage.data(), 3)));
  for (const auto& f : head) {
    const std::size_t at = storage.size();
    for (char c : f.name_string()) storage += common::ascii_lower(c);
    out.push_back(make_nv(std::string_view(storage.data() + at, f.name_string().size()), f.value()));
  }
}

void add_field(std::vector<nghttp2_nv>& out, std::string_view name, std::string_view value) {
  out.push_back(make_nv(name, value));
}

}  // namespace cutover::h2
