// Message head serialization: see head_writer.hpp.
#include "proxy/http/head_writer.hpp"

#include <cstring>

namespace cutover::http {

namespace {

namespace bhttp = boost::beast::http;

void append_version(unsigned version, std::string& out) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

// One resize for the whole field section, then plain copies (no capacity check per piece).
void append_fields(const bhttp::fields& f, std::string& out) {
  std::size_t size = 2;
  for (const auto& field : f) size += field.name_string().size() + field.value().size() + 4;
  const std::size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  const auto put = [&p](const char* data, std::size_t n) {
    std::memcpy(p, data, n);
    p += n;
  };
  for (const auto& field : f) {
    put(field.name_string().data(), field.name_string().size());
    put(": ", 2);
    put(field.value().data(), field.value().size());
    put("\r\n", 2);
  }
  put("\r\n", 2);
}

}  // namespace

void append_head(const bhttp::request_header<>& h, std::string& out) {
  auto method = h.method_string();
  out.append(method.data(), method.size());
  out += ' ';
  out.append(h.target().data(), h.target().size());
  out += ' ';
  append_version(h.version(), out);
  out += "\r\n";
  append_fields(h, out);
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

}  // namespace cutover::http
