// Message head serialization: see head_writer.hpp.
#include "proxy/http/head_writer.hpp"

namespace cutover::http {

namespace {

namespace bhttp = boost::beast::http;

void append_version(unsigned version, std::string& out) {
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
}

void append_fields(const bhttp::fields& f, std::string& out) {
  for (const auto& field : f) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
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
