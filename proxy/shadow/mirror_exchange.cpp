// One mirrored request and its verdict: see mirror_exchange.hpp.
#include "proxy/shadow/mirror_exchange.hpp"


#include <chrono>

#include <boost/beast/core/string.hpp>
#include <spdlog/spdlog.h>

#include "proxy/codec/head_writer.hpp"
#include "proxy/shadow/mismatch_log.hpp"
#include "proxy/shadow/shadow_record.hpp"
#include "proxy/stats/window.hpp"

namespace cutover::shadow {

namespace bhttp = boost::beast::http;

MirrorExchange::MirrorExchange(std::shared_ptr<const void> keep, const MirrorPolicy& policy, std::string_view route_name,
                               router::Side primary_side, std::string_view method, std::string_view path,
                               std::size_t worker)
    : request_body(policy.max_body),
      keep_(std::move(keep)),
      policy_(policy),
      route_(route_name),
      primary_side_(primary_side),
      method_(method),
      path_(path),
      worker_(worker) {
  for (auto& r : responses_) r.body = BodyCapture(policy.max_body);
}

MirrorExchange::~MirrorExchange() {
  // Destroyed without a verdict only when the worker stops with the exchange still pending.
  policy_.record->release_slot();
}

namespace {

// Fields a shadow copy never takes from the forwarded request (the copy gets its own framing and
// its own X-Cutover-Shadow), and with a span of its own, the traceparent.
bool shadow_keeps(const bhttp::fields::value_type& f) {
  return f.name() != bhttp::field::content_length && f.name() != bhttp::field::transfer_encoding &&
         !boost::beast::iequals(f.name_string(), "X-Cutover-Shadow");
}
bool shadow_keeps_but_trace(const bhttp::fields::value_type& f) {
  return shadow_keeps(f) && !boost::beast::iequals(f.name_string(), "traceparent");
}

// Trailer fields as a mismatch sample shows them: the first kSampleFields, each value cut to
// kSampleBytes (a sample is for reading, the comparison has seen them all).
constexpr std::size_t kSampleFields = 16;
MismatchSample::Fields sample_fields(const HeaderList& fields) {
  MismatchSample::Fields out;
  for (std::size_t i = 0; i < fields.size() && i < kSampleFields; ++i)
    out.emplace_back(fields[i].name, fields[i].value.substr(0, kSampleBytes));
  return out;
}

// Fields HTTP/2 forbids (RFC 9113 §8.2.2); Content-Length and Transfer-Encoding are gone already.
bool connection_specific(bhttp::field f) {
  return f == bhttp::field::connection || f == bhttp::field::keep_alive || f == bhttp::field::proxy_connection ||
         f == bhttp::field::upgrade || f == bhttp::field::te;
}

}  // namespace

void append_shadow_request_head(const bhttp::request_header<>& forwarded, std::string& out,
                                std::string_view traceparent) {
  codec::append_open_head(forwarded, traceparent.empty() ? shadow_keeps : shadow_keeps_but_trace, out);
  if (!traceparent.empty()) out.append("traceparent: ").append(traceparent).append("\r\n");
  out += "X-Cutover-Shadow: 1\r\n\r\n";
}

void append_shadow_request_fields(const bhttp::request_header<>& forwarded, HeaderList& out,
                                  std::string_view traceparent) {
  const auto keeps = traceparent.empty() ? shadow_keeps : shadow_keeps_but_trace;
  for (const auto& f : forwarded) {
    if (!keeps(f) || connection_specific(f.name())) continue;
    out.add(f.name_string(), f.value());
  }
  if (!traceparent.empty()) out.add("traceparent", traceparent);
  out.add("x-cutover-shadow", "1");
}

void MirrorExchange::copy_request_head(const bhttp::request_header<>& forwarded, bool has_body,
                                       std::string_view traceparent, RequestForms forms) {
  request_head_.clear();
  request_fields_.clear();
  if (forms.http1) append_shadow_request_head(forwarded, request_head_, traceparent);
  if (forms.http2) append_shadow_request_fields(forwarded, request_fields_, traceparent);
  request_method_ = forwarded.method();
  request_has_body_ = has_body;
}

void MirrorExchange::capture_primary_head(const bhttp::response_header<>& head) { capture_head(head, primary()); }

bool MirrorExchange::launch(bool noise) {
  request_body.finish();
  if (!request_body.complete()) {
    policy_.count(Result::skipped_body);
    concluded_ = true;
    return false;
  }
  expected_[static_cast<int>(Part::shadow)] = true;
  expected_[static_cast<int>(Part::noise)] = noise;
  return true;
}

void MirrorExchange::done(Part part, std::string_view error) {
  const int i = static_cast<int>(part);
  if (reported_[i]) return;
  reported_[i] = true;
  errors_[i] = error;
  if (error.empty()) {
    responses_[i].body.finish();
    trailers_only_status_as_trailers(responses_[i]);
  }
  for (int k = 0; k < 3; ++k)
    if (expected_[k] && !reported_[k]) return;
  conclude();
}

void MirrorExchange::conclude() {
  if (concluded_) return;
  concluded_ = true;
  const auto& primary_error = errors_[static_cast<int>(Part::primary)];
  const auto& shadow_error = errors_[static_cast<int>(Part::shadow)];
  if (!expected_[static_cast<int>(Part::shadow)] || !primary_error.empty() || !shadow_error.empty()) {
    // Not launched (the primary failed before its request was sent), or a side failed: nothing to
    // compare. A primary failure is the proxy's business (502/504 and its own metrics).
    std::string reason = !shadow_error.empty() ? "shadow " + std::string(router::name(shadow_side())) + ": " + shadow_error
                         : !primary_error.empty() ? "primary failed: " + primary_error
                                                  : std::string("primary failed before the request was sent");
    policy_.count(Result::error);
    policy_.record->note_error(reason);
    spdlog::debug("route {}: mirror of {} {}: {}", route_, method_, path_, reason);
    return;
  }
  const bool primary_is_source = primary_side_ == router::Side::source;
  const CapturedResponse& source = primary_is_source ? responses_[0] : responses_[1];
  const CapturedResponse& target = primary_is_source ? responses_[1] : responses_[0];
  Comparison verdict = compare(source, target, policy_.compare);
  std::vector<std::string> differences = std::move(verdict.differences);
  const int noise = static_cast<int>(Part::noise);
  if (expected_[noise] && errors_[noise].empty() && !differences.empty()) {
    Comparison n = compare(source, responses_[noise], policy_.compare);
    policy_.record->add_noise(n.differences);
    differences = without_noise(differences, n.differences);
  } else if (expected_[noise] && errors_[noise].empty()) {
    policy_.record->add_noise(compare(source, responses_[noise], policy_.compare).differences);
  }
  // Comparisons count on the target side's window, whichever side served (the ramp's
  // max_mismatch_rate gate reads them there).
  if (policy_.windows)
    policy_.windows->at(worker_, router::Side::target).record_mirror(stats::steady_seconds_now(), differences.empty());
  if (differences.empty()) {
    policy_.count(Result::match);
    return;
  }
  policy_.count(Result::mismatch);
  MismatchSample s;
  s.time = std::chrono::system_clock::now();
  s.route = route_;
  s.request_id = request_id_;
  s.method = method_;
  s.path = path_;
  s.primary_side = router::name(primary_side_);
  s.primary_status = responses_[0].status;
  s.shadow_status = responses_[1].status;
  s.differences = std::move(differences);
  s.differences_truncated = verdict.truncated;
  s.primary_body = responses_[0].body.sample();
  s.shadow_body = responses_[1].body.sample();
  s.primary_trailers = sample_fields(responses_[0].trailers);
  s.shadow_trailers = sample_fields(responses_[1].trailers);
  if (policy_.log) policy_.log->write(s.to_json());
  policy_.record->add_mismatch(std::move(s));
}

void capture_trailers(const bhttp::fields& trailers, CapturedResponse& out) {
  out.trailers.clear();
  for (const auto& f : trailers) out.trailers.add(f.name_string(), f.value());
}

void capture_head(const bhttp::response_header<>& head, CapturedResponse& out) {
  out.status = head.result_int();
  out.headers.clear();
  std::size_t fields = 0, bytes = 0;
  for (const auto& f : head) ++fields, bytes += f.name_string().size() + f.value().size();
  out.headers.reserve(fields, bytes);
  for (const auto& f : head) out.headers.add(f.name_string(), f.value());
  out.json = has_json_content_type(out.headers);
}

}  // namespace cutover::shadow
