// The gateway's JSON: see codec.hpp.
#include "fleet/etcd/codec.hpp"

#include <charconv>
#include <limits>
#include <type_traits>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <openssl/evp.h>

namespace cutover::fleet::etcd {

namespace {

namespace json = boost::json;

Error malformed(std::string what) { return Error{ErrorKind::malformed, "malformed answer: " + std::move(what), 0, 0}; }

std::string i64_text(std::int64_t n) { return std::to_string(n); }

// An int64 field: proto3 JSON writes it as a string, accepts a number, and leaves it out at 0.
template <class Int>
std::optional<Int> int_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return Int{0};
  if (v->is_string()) {
    const json::string& s = v->get_string();
    Int n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return n;
  }
  if (v->is_int64()) {
    const std::int64_t n = v->get_int64();
    if constexpr (std::is_unsigned_v<Int>) {
      if (n < 0) return std::nullopt;
    }
    return static_cast<Int>(n);
  }
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<Int>::max()))
    return static_cast<Int>(v->get_uint64());
  return std::nullopt;
}

std::optional<bool> bool_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return false;
  if (!v->is_bool()) return std::nullopt;
  return v->get_bool();
}

// A bytes field (base64); absent: empty.
std::optional<std::string> bytes_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return std::nullopt;
  return base64_decode(v->get_string());
}

std::optional<std::string> string_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return std::string();
  if (!v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// An optional member object or array (T); absent: an empty one; another kind sets `bad`.
template <class T>
const T* member(const json::object& o, std::string_view name, bool& bad) {
  static const T kEmpty;
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return &kEmpty;
  const T* found = nullptr;
  if constexpr (std::is_same_v<T, json::object>)
    found = v->if_object();
  else
    found = v->if_array();
  if (found == nullptr) {
    bad = true;
    return &kEmpty;
  }
  return found;
}

Result<Header> header_of(const json::object& h) {
  auto cluster = int_field<std::uint64_t>(h, "cluster_id");
  auto member = int_field<std::uint64_t>(h, "member_id");
  auto revision = int_field<std::int64_t>(h, "revision");
  auto term = int_field<std::uint64_t>(h, "raft_term");
  if (!cluster || !member || !revision || !term) return malformed("header");
  return Header{*cluster, *member, *revision, *term};
}

Result<KeyValue> kv_of(const json::value& v) {
  if (!v.is_object()) return malformed("kv is not an object");
  const json::object& o = v.get_object();
  auto key = bytes_field(o, "key");
  auto value = bytes_field(o, "value");
  auto create = int_field<std::int64_t>(o, "create_revision");
  auto mod = int_field<std::int64_t>(o, "mod_revision");
  auto version = int_field<std::int64_t>(o, "version");
  auto lease = int_field<std::int64_t>(o, "lease");
  if (!key || !value || !create || !mod || !version || !lease) return malformed("kv fields");
  return KeyValue{std::move(*key), std::move(*value), *create, *mod, *version, *lease};
}

Result<std::vector<KeyValue>> kvs_of(const json::object& o, std::string_view name) {
  bool bad = false;
  const json::array* a = member<json::array>(o, name, bad);
  if (bad) return malformed(std::string(name) + " is not an array");
  std::vector<KeyValue> out;
  out.reserve(a->size());
  for (const json::value& v : *a) {
    auto kv = kv_of(v);
    if (!kv) return kv.error();
    out.push_back(std::move(*kv));
  }
  return out;
}

void put_key_range(json::object& o, std::string_view key, std::string_view range_end) {
  o["key"] = base64_encode(key);
  if (!range_end.empty()) o["range_end"] = base64_encode(range_end);
}

json::object range_object(std::string_view key, std::string_view range_end, const RangeOptions& options) {
  json::object o;
  put_key_range(o, key, range_end);
  if (options.limit > 0) o["limit"] = i64_text(options.limit);
  if (options.revision > 0) o["revision"] = i64_text(options.revision);
  if (options.serializable) o["serializable"] = true;
  if (options.keys_only) o["keys_only"] = true;
  if (options.count_only) o["count_only"] = true;
  if (options.newest_mod_first) {
    o["sort_order"] = "DESCEND";
    o["sort_target"] = "MOD";
  }
  return o;
}

json::object put_object(std::string_view key, std::string_view value, std::int64_t lease, bool prev_kv) {
  json::object o;
  o["key"] = base64_encode(key);
  o["value"] = base64_encode(value);
  if (lease != 0) o["lease"] = i64_text(lease);
  if (prev_kv) o["prev_kv"] = true;
  return o;
}

json::object delete_object(std::string_view key, std::string_view range_end, bool prev_kv) {
  json::object o;
  put_key_range(o, key, range_end);
  if (prev_kv) o["prev_kv"] = true;
  return o;
}

json::array ops_array(const std::vector<Op>& ops) {
  json::array a;
  for (const Op& op : ops) {
    json::object wrapper;
    switch (op.type) {
      case Op::Type::range: wrapper["request_range"] = range_object(op.key, op.range_end, {}); break;
      case Op::Type::put: wrapper["request_put"] = put_object(op.key, op.value, op.lease, false); break;
      case Op::Type::delete_range: wrapper["request_delete_range"] = delete_object(op.key, op.range_end, false); break;
    }
    a.push_back(std::move(wrapper));
  }
  return a;
}

// The compare target's enum name and the field that carries its operand.
struct TargetNames {
  std::string_view target;
  std::string_view field;
};

TargetNames target_names(Compare::Target t) {
  switch (t) {
    case Compare::Target::version: return {"VERSION", "version"};
    case Compare::Target::create_revision: return {"CREATE", "create_revision"};
    case Compare::Target::mod_revision: return {"MOD", "mod_revision"};
    case Compare::Target::value: return {"VALUE", "value"};
    case Compare::Target::lease: return {"LEASE", "lease"};
  }
  return {"MOD", "mod_revision"};
}

std::string_view relation_name(Compare::Relation r) {
  switch (r) {
    case Compare::Relation::equal: return "EQUAL";
    case Compare::Relation::not_equal: return "NOT_EQUAL";
    case Compare::Relation::greater: return "GREATER";
    case Compare::Relation::less: return "LESS";
  }
  return "EQUAL";
}

Result<RangeResult> range_of(const json::object& answer) {
  bool bad = false;
  auto header = header_of(*member<json::object>(answer, "header", bad));
  if (bad) return malformed("header is not an object");
  if (!header) return header.error();
  auto kvs = kvs_of(answer, "kvs");
  if (!kvs) return kvs.error();
  auto count = int_field<std::int64_t>(answer, "count");
  auto more = bool_field(answer, "more");
  if (!count || !more) return malformed("range count or more");
  return RangeResult{*header, std::move(*kvs), *count, *more};
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(3 * (text.size() / 4), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes; the '=' at the end say how many to drop.
  std::size_t pad = 0;
  if (text.back() == '=') ++pad;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string auth_request(std::string_view name, std::string_view password) {
  return json::serialize(json::object{{"name", name}, {"password", password}});
}

std::string range_request(std::string_view key, std::string_view range_end, const RangeOptions& options) {
  return json::serialize(range_object(key, range_end, options));
}

std::string put_request(std::string_view key, std::string_view value, std::int64_t lease, bool prev_kv) {
  return json::serialize(put_object(key, value, lease, prev_kv));
}

std::string delete_request(std::string_view key, std::string_view range_end, bool prev_kv) {
  return json::serialize(delete_object(key, range_end, prev_kv));
}

std::string txn_request(const TxnRequest& txn) {
  json::array compares;
  for (const Compare& c : txn.compares) {
    json::object o;
    o["key"] = base64_encode(c.key);
    const TargetNames names = target_names(c.target);
    o["target"] = names.target;
    o["result"] = relation_name(c.relation);
    if (c.target == Compare::Target::value)
      o[names.field] = base64_encode(c.value);
    else
      o[names.field] = i64_text(c.number);
    compares.push_back(std::move(o));
  }
  json::object o;
  o["compare"] = std::move(compares);
  o["success"] = ops_array(txn.success);
  o["failure"] = ops_array(txn.failure);
  return json::serialize(o);
}

std::string lease_grant_request(std::int64_t ttl_s) { return json::serialize(json::object{{"TTL", i64_text(ttl_s)}}); }

std::string lease_id_request(std::int64_t id) { return json::serialize(json::object{{"ID", i64_text(id)}}); }

std::string watch_create_request(std::string_view key, std::string_view range_end, std::int64_t start_revision,
                                 bool progress_notify) {
  json::object create;
  put_key_range(create, key, range_end);
  if (start_revision > 0) create["start_revision"] = i64_text(start_revision);
  if (progress_notify) create["progress_notify"] = true;
  return json::serialize(json::object{{"create_request", std::move(create)}});
}

Result<json::object> parse_object(std::string_view body, std::size_t max_bytes) {
  if (body.size() > max_bytes)
    return Error{ErrorKind::too_large, "answer of " + std::to_string(body.size()) + " bytes, more than " +
                                           std::to_string(max_bytes), 0, 0};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return malformed("JSON: " + ec.message());
  if (!v.is_object()) return malformed("not a JSON object");
  return std::move(v.get_object());
}

Error parse_error_answer(unsigned http_status, std::string_view body) {
  Error e{ErrorKind::server, "HTTP " + std::to_string(http_status), http_status, 0};
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    if (!body.empty()) e.message += ": " + std::string(body.substr(0, 200));
    return e;
  }
  const json::object& o = v.get_object();
  auto code = int_field<std::int64_t>(o, "code");
  if (code) e.grpc_code = static_cast<int>(*code);
  auto text = string_field(o, "error");
  if (!text || text->empty()) text = string_field(o, "message");
  if (text && !text->empty()) e.message += ": " + *text;
  return e;
}

Result<std::string> parse_auth(const json::object& answer) {
  auto token = string_field(answer, "token");
  if (!token || token->empty()) return malformed("no token");
  return std::move(*token);
}

Result<Header> parse_header(const json::object& answer) {
  bool bad = false;
  const json::object* h = member<json::object>(answer, "header", bad);
  if (bad) return malformed("header is not an object");
  return header_of(*h);
}

Result<RangeResult> parse_range(const json::object& answer) { return range_of(answer); }

Result<PutResult> parse_put(const json::object& answer) {
  auto header = parse_header(answer);
  if (!header) return header.error();
  PutResult out{*header, std::nullopt};
  if (const json::value* prev = answer.if_contains("prev_kv"); prev != nullptr && !prev->is_null()) {
    auto kv = kv_of(*prev);
    if (!kv) return kv.error();
    out.prev_kv = std::move(*kv);
  }
  return out;
}

Result<DeleteResult> parse_delete(const json::object& answer) {
  auto header = parse_header(answer);
  if (!header) return header.error();
  auto deleted = int_field<std::int64_t>(answer, "deleted");
  if (!deleted) return malformed("deleted");
  auto prev = kvs_of(answer, "prev_kvs");
  if (!prev) return prev.error();
  return DeleteResult{*header, *deleted, std::move(*prev)};
}

Result<TxnResult> parse_txn(const json::object& answer) {
  auto header = parse_header(answer);
  if (!header) return header.error();
  auto succeeded = bool_field(answer, "succeeded");
  if (!succeeded) return malformed("succeeded");
  bool bad = false;
  const json::array* responses = member<json::array>(answer, "responses", bad);
  if (bad) return malformed("responses is not an array");
  TxnResult out{*header, *succeeded, {}};
  for (const json::value& r : *responses) {
    if (!r.is_object()) return malformed("a txn response is not an object");
    const json::object& o = r.get_object();
    OpResult op;
    const json::object* inner = nullptr;
    if (const json::value* v = o.if_contains("response_range"); v != nullptr && v->is_object()) {
      op.type = Op::Type::range;
      auto range = range_of(v->get_object());
      if (!range) return range.error();
      op.range = std::move(*range);
      inner = &v->get_object();
    } else if (const json::value* p = o.if_contains("response_put"); p != nullptr && p->is_object()) {
      op.type = Op::Type::put;
      inner = &p->get_object();
    } else if (const json::value* d = o.if_contains("response_delete_range"); d != nullptr && d->is_object()) {
      op.type = Op::Type::delete_range;
      auto deleted = int_field<std::int64_t>(d->get_object(), "deleted");
      if (!deleted) return malformed("deleted");
      op.deleted = *deleted;
      inner = &d->get_object();
    } else {
      return malformed("a txn response of an unknown kind");
    }
    auto h = parse_header(*inner);
    if (!h) return h.error();
    op.header = *h;
    out.results.push_back(std::move(op));
  }
  return out;
}

Result<LeaseGrant> parse_lease_grant(const json::object& answer) {
  auto header = parse_header(answer);
  if (!header) return header.error();
  auto id = int_field<std::int64_t>(answer, "ID");
  auto ttl = int_field<std::int64_t>(answer, "TTL");
  if (!id || !ttl) return malformed("lease ID or TTL");
  if (const auto error = string_field(answer, "error"); error && !error->empty())
    return Error{ErrorKind::server, "lease grant: " + *error, 0, 0};
  return LeaseGrant{*header, *id, *ttl};
}

Result<LeaseTtl> parse_lease_ttl(const json::object& answer) {
  const json::object* body = &answer;
  if (const json::value* r = answer.if_contains("result")) {
    if (!r->is_object()) return malformed("result is not an object");
    body = &r->get_object();
  } else if (const json::value* e = answer.if_contains("error"); e != nullptr && e->is_object()) {
    return parse_error_answer(0, json::serialize(*e));
  }
  auto header = parse_header(*body);
  if (!header) return header.error();
  auto id = int_field<std::int64_t>(*body, "ID");
  auto ttl = int_field<std::int64_t>(*body, "TTL");
  if (!id || !ttl) return malformed("lease ID or TTL");
  return LeaseTtl{*header, *id, *ttl};
}

Result<WatchMessage> parse_watch_message(const json::object& message) {
  if (const json::value* e = message.if_contains("error")) {
    Error out{ErrorKind::server, "watch stream error", 0, 0};
    if (e->is_object()) {
      const json::object& o = e->get_object();
      if (auto code = int_field<std::int64_t>(o, "grpc_code")) out.grpc_code = static_cast<int>(*code);
      if (auto http = int_field<std::int64_t>(o, "http_code")) out.http_status = static_cast<unsigned>(*http);
      if (auto text = string_field(o, "message"); text && !text->empty()) out.message += ": " + *text;
    }
    return out;
  }
  const json::value* r = message.if_contains("result");
  if (r == nullptr || !r->is_object()) return malformed("watch message without result");
  const json::object& o = r->get_object();
  auto header = parse_header(o);
  if (!header) return header.error();
  auto created = bool_field(o, "created");
  auto canceled = bool_field(o, "canceled");
  auto compact = int_field<std::int64_t>(o, "compact_revision");
  auto reason = string_field(o, "cancel_reason");
  if (!created || !canceled || !compact || !reason) return malformed("watch response fields");
  WatchMessage out{*header, *created, *canceled, *compact, std::move(*reason), {}};
  bool bad = false;
  const json::array* events = member<json::array>(o, "events", bad);
  if (bad) return malformed("events is not an array");
  for (const json::value& ev : *events) {
    if (!ev.is_object()) return malformed("an event is not an object");
    const json::object& eo = ev.get_object();
    auto type = string_field(eo, "type");
    if (!type || (!type->empty() && *type != "PUT" && *type != "DELETE")) return malformed("event type");
    const json::value* kv = eo.if_contains("kv");
    if (kv == nullptr) return malformed("event without kv");
    auto parsed = kv_of(*kv);
    if (!parsed) return parsed.error();
    out.events.push_back(
        WatchEvent{*type == "DELETE" ? WatchEvent::Type::del : WatchEvent::Type::put, std::move(*parsed)});
  }
  return out;
}

StreamDecoder::StreamDecoder(std::size_t max_message_bytes) : max_bytes_(max_message_bytes) {}

std::optional<Error> StreamDecoder::feed(std::string_view bytes, std::vector<json::object>& out) {
  if (failed_) return failed_;
  while (!bytes.empty()) {
    if (pending_ == 0) {
      // Separators between messages (the gateway writes a newline after each) are not part of one.
      const std::size_t start = bytes.find_first_not_of(" \t\r\n");
      if (start == std::string_view::npos) return std::nullopt;
      bytes.remove_prefix(start);
    }
    // One byte past the bound at most, so an oversized message is never parsed whole.
    const std::size_t room = max_bytes_ - pending_ + 1;
    const std::string_view slice = bytes.substr(0, room);
    boost::system::error_code ec;
    const std::size_t used = parser_.write_some(slice.data(), slice.size(), ec);
    if (ec) {
      failed_ = malformed("stream JSON: " + ec.message());
      return failed_;
    }
    pending_ += used;
    bytes.remove_prefix(used);
    if (pending_ > max_bytes_) {
      failed_ = Error{ErrorKind::too_large, "stream message larger than " + std::to_string(max_bytes_) + " bytes", 0, 0};
      return failed_;
    }
    if (parser_.done()) {
      json::value v = parser_.release();
      parser_.reset();
      pending_ = 0;
      if (!v.is_object()) {
        failed_ = malformed("stream message is not a JSON object");
        return failed_;
      }
      out.push_back(std::move(v.get_object()));
    }
  }
  return std::nullopt;
}

}  // namespace cutover::fleet::etcd
