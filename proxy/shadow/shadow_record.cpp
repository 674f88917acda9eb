// Per-route shadow findings: see shadow_record.hpp.
#include "proxy/shadow/shadow_record.hpp"

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

namespace cutover::shadow {

namespace json = boost::json;

namespace {

// Bodies are arbitrary bytes; JSON strings must be valid UTF-8. Invalid sequences become U+FFFD
// so a binary body still shows its readable parts.
std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  std::size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= bytes.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(bytes[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out.append("\xef\xbf\xbd");
      ++i;
    }
  }
  return out;
}

// A field list as one object; a name sent more than once has its values joined with ", " (RFC 9110 §5.3).
json::object fields_object(const MismatchSample::Fields& fields) {
  json::object o;
  for (const auto& [name, value] : fields) {
    const std::string key = printable(name);
    if (auto* seen = o.if_contains(key))
      seen->as_string().append(", ").append(printable(value));
    else
      o[key] = printable(value);
  }
  return o;
}

}  // namespace

std::string MismatchSample::to_json() const {
  json::object o;
  o["time"] = fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::milliseconds>(time));
  o["route"] = route;
  o["request_id"] = printable(request_id);
  o["method"] = printable(method);
  o["path"] = printable(path);
  o["primary_side"] = primary_side;
  o["primary_status"] = primary_status;
  o["shadow_status"] = shadow_status;
  o["first_difference"] = differences.empty() ? std::string() : differences.front();
  json::array diffs;
  for (const auto& d : differences) diffs.emplace_back(printable(d));
  o["differences"] = std::move(diffs);
  o["differences_truncated"] = differences_truncated;
  o["primary_body"] = printable(primary_body);
  o["shadow_body"] = printable(shadow_body);
  if (!primary_trailers.empty() || !shadow_trailers.empty()) {
    o["primary_trailers"] = fields_object(primary_trailers);
    o["shadow_trailers"] = fields_object(shadow_trailers);
  }
  return json::serialize(o);
}

void ShadowRecord::add_mismatch(MismatchSample sample) {
  std::lock_guard lock(mutex_);
  if (samples_.size() == kMaxSamples) samples_.pop_front();
  samples_.push_back(std::move(sample));
}

void ShadowRecord::add_noise(const std::vector<std::string>& fields) {
  std::lock_guard lock(mutex_);
  ++noise_samples_;
  for (const auto& f : fields) {
    auto it = noisy_.find(f);
    if (it != noisy_.end())
      ++it->second;
    else if (noisy_.size() < kMaxNoisyFields)
      noisy_.emplace(f, 1);
    else
      ++noisy_other_;
  }
}

void ShadowRecord::note_error(std::string reason) {
  std::lock_guard lock(mutex_);
  last_error_ = std::move(reason);
  last_error_time_ = std::chrono::system_clock::now();
}

ShadowRecord::View ShadowRecord::view() const {
  View v;
  {
    std::lock_guard lock(mutex_);
    v.samples.assign(samples_.begin(), samples_.end());
    v.noisy_fields.assign(noisy_.begin(), noisy_.end());
    v.noisy_other = noisy_other_;
    v.noise_samples = noise_samples_;
    v.last_error = last_error_;
    v.last_error_time = last_error_time_;
  }
  std::stable_sort(v.noisy_fields.begin(), v.noisy_fields.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  return v;
}

}  // namespace cutover::shadow
