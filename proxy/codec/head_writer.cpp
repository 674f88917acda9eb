// Message head serialization: see head_writer.hpp.
#include "proxy/codec/head_writer.hpp"

#include <cstring>

namespace cutover::codec {

namespace {

namespace bhttp = boost::beast::http;

void append_version(unsigned version, std::string& out) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

// One resize for the whole field section, then plain copies (no capacity check per piece). The
// fields `keep` accepts (all when null); the empty line after them when `close`.
void append_fields(const bhttp::fields& f, std::string& out, FieldFilter keep = nullptr, bool close = true) {
  std::size_t size = close ? 2 : 0;
  for (const auto& field : f)
    if (!keep || keep(field)) size += field.name_string().size() + field.value().size() + 4;
  const std::size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  const auto put = [&p](const char* data, std::size_t n) {
    std::memcpy(p, data, n);
    p += n;
  };
  for (const auto& field : f) {
    if (keep && !keep(field)) continue;
    put(field.name_string().data(), field.name_string().size());
    put(": ", 2);
    put(field.value().data(), field.value().size());
    put("\r\n", 2);
  }
  if (close) put("\r\n", 2);
}

void append_request_line(const bhttp::request_header<>& h, std::string& out) {
  auto method = h.method_string();
  out.append(method.data(), method.size());
  out += ' ';
  out.append(h.target().data(), h.target().size());
  out += ' ';
  append_version(h.version(), out);
  out += "\r\n";
}

}  // namespace

void append_head(const bhttp::request_header<>& h, std::string& out) {
  append_request_line(h, out);
  append_fields(h, out);
}

void append_open_head(const bhttp::request_header<>& h, FieldFilter keep, std::string& out) {
  append_request_line(h, out);
  append_fields(h, out, keep, /*close=*/false);
}

void append_head(const bhttp::response_header<>& h, std::string& out) {
  append_version(h.version(), out);
  out += ' ';
  unsigned status = h.result_int();
  out += static_cast<char>('0' + status / 100 % 10);
  out += static_cast<char>('0' + status / 10 % 10);
  out += static_cast<char>('0' + status % 10);
  out += ' ';
  auto reason = h.reason();
  if (reason.empty()) reason = bhttp::obsolete_reason(h.result());
  out.append(reason.data(), reason.size());
  out += "\r\n";
  append_fields(h, out);
}

}  // namespace cutover::codec
