// Header rewriting at the proxy hop: see headers.hpp.
#include "proxy/codec/headers.hpp"

#include <string>

#include <boost/container/small_vector.hpp>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace cutover::codec {

namespace {

// Joins every value of `name` into one comma-separated list (RFC 9110 §5.3).
std::string joined_values(const bhttp::fields& fields, std::string_view name) {
  std::string out;
  auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last; ++it) {
    if (it->value().empty()) continue;
    if (!out.empty()) out += ", ";
    out.append(it->value().data(), it->value().size());
  }
  return out;
}

void append_to_list(bhttp::fields& fields, std::string_view name, std::string_view item) {
  // Most requests carry no such field yet: insert the item as it is, without building a joined
  // temporary (what set() would end with too: the field last, holding `item`).
  if (fields.find(name) == fields.end()) {
    fields.insert(name, item);
    return;
  }
  std::string value = joined_values(fields, name);
  if (!value.empty()) value += ", ";
  value += item;
  fields.set(name, value);
}

// The received protocol's version as Via writes it (RFC 9110 §7.6.3): "2" for HTTP/2 (Beast's 20).
std::string_view via_entry(unsigned version) {
  return version >= 20 ? "2 cutover" : version >= 11 ? "1.1 cutover" : "1.0 cutover";
}

}  // namespace

std::string transfer_codings_before_chunked(const bhttp::fields& fields) {
  std::string out;
  auto [first, last] = fields.equal_range(bhttp::field::transfer_encoding);
  for (auto it = first; it != last; ++it)
    for (auto coding : bhttp::token_list{it->value()}) {
      if (boost::beast::iequals(coding, "chunked")) continue;
      if (!out.empty()) out += ", ";
      out.append(coding.data(), coding.size());
    }
  return out;
}

void remove_hop_by_hop(bhttp::fields& fields) {
  // The names listed in Connection are looked at in place: the Connection fields themselves are
  // erased only after the pass, so the views into their values stay valid throughout. Most
  // requests list none, or only "keep-alive"/"close"; a few inline slots avoid any allocation.
  boost::container::small_vector<std::string_view, 4> named;
  auto [first, last] = fields.equal_range(bhttp::field::connection);
  for (auto it = first; it != last; ++it)
    for (auto token : bhttp::token_list{it->value()}) named.push_back(token);
  // One pass over the fields instead of a tree lookup per hop-by-hop name.
  bool has_connection = false;
  for (auto it = fields.begin(); it != fields.end();) {
    bool hop = false;
    switch (it->name()) {
      case bhttp::field::connection:
        has_connection = true;  // erased below, once `named` is no longer needed
        break;
      case bhttp::field::proxy_connection:
      case bhttp::field::keep_alive:
      case bhttp::field::te:
      case bhttp::field::transfer_encoding:
      case bhttp::field::upgrade:
      case bhttp::field::trailer:
        hop = true;
        break;
      // Connection may name extension fields, never the ones that frame or route the message:
      // dropping Content-Length or Host because a peer listed them is how a proxy gets its
      // requests smuggled (found by fuzz/request_head_fuzz.cpp).
      case bhttp::field::content_length:
      case bhttp::field::host:
        break;
      default:
        for (const auto n : named) hop = hop || boost::beast::iequals(n, it->name_string());
    }
    it = hop ? fields.erase(it) : std::next(it);
  }
  if (has_connection) fields.erase(bhttp::field::connection);
}

void prepare_upstream_request(bhttp::request_header<>& req, bool chunked_body, bool answers_continue,
                              std::string_view client_ip, std::string_view proto) {
  const unsigned client_version = req.version();
  const std::string codings = chunked_body ? transfer_codings_before_chunked(req) : std::string();
  remove_hop_by_hop(req);
  if (answers_continue) req.erase(bhttp::field::expect);
  add_forwarding_headers(req, client_ip, proto, client_version);
  req.version(11);
  if (chunked_body) {
    req.erase(bhttp::field::content_length);
    req.set(bhttp::field::transfer_encoding, codings.empty() ? std::string("chunked") : codings + ", chunked");
  }
}

bool prepare_downstream_response(bhttp::response_header<>& res, bool body_chunked, bool has_content_length,
                                 bool no_body, unsigned client_version, bool keep_alive) {
  const std::string codings = body_chunked ? transfer_codings_before_chunked(res) : std::string();
  remove_hop_by_hop(res);
  append_via(res, res.version());
  res.version(11);
  if (rechunks_response(no_body, has_content_length, client_version))
    res.set(bhttp::field::transfer_encoding, codings.empty() ? std::string("chunked") : codings + ", chunked");
  else if (!no_body && !has_content_length)
    keep_alive = false;  // an HTTP/1.0 client learns the end from the close; codings reach it unlabelled (rare)
  // Connection was removed above; the head is HTTP/1.1 now, which keeps alive unless told.
  if (!keep_alive)
    res.set(bhttp::field::connection, "close");
  else if (client_version < 11)
    res.set(bhttp::field::connection, "keep-alive");  // a 1.0 client closes unless told
  return keep_alive;
}

void add_forwarding_headers(bhttp::fields& fields, std::string_view client_ip, std::string_view proto,
                            unsigned version) {
  append_to_list(fields, "X-Forwarded-For", client_ip);
  fields.set("X-Forwarded-Proto", proto);
  append_via(fields, version);
}

void append_via(bhttp::fields& fields, unsigned version) {
  append_to_list(fields, "Via", via_entry(version));
}

}  // namespace cutover::codec
