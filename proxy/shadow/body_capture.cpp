// Body capture (see body_capture.hpp). The digest is the packaged xxHash library's streaming
// XXH3-128, never a local copy.
#include "proxy/shadow/body_capture.hpp"

#include <xxhash.h>

#include <algorithm>
#include <new>
#include <utility>

namespace cutover::shadow {

void BodyCapture::StateDeleter::operator()(XXH3_state_s* state) const noexcept { XXH3_freeState(state); }

BodyCapture::BodyCapture(std::size_t keep_limit) : keep_limit_(keep_limit) {}

void BodyCapture::append(std::span<const char> data) {
  if (finished_ || data.empty()) return;
  size_ += data.size();
  if (complete_ && size_ <= keep_limit_) {
    // The whole body is still in kept_: finish() hashes it in one go, with no streaming state
    // (an allocation) for the common small body.
    kept_.append(data.data(), data.size());
    return;
  }
  if (!state_) {
    // Past the limit for the first time: from here on the bytes are hashed as they pass, starting
    // with all those kept so far (every one, as the body was complete until now).
    state_.reset(XXH3_createState());
    if (!state_) throw std::bad_alloc();
    XXH3_128bits_reset(state_.get());
    XXH3_128bits_update(state_.get(), kept_.data(), kept_.size());
  }
  XXH3_128bits_update(state_.get(), data.data(), data.size());
  if (complete_) {
    // Past the limit for good: keep only the sample and give the rest of the memory back (a new
    // string, since shrink_to_fit is only a request).
    complete_ = false;
    kept_ = std::string(kept_.data(), std::min(kept_.size(), kSampleBytes));
  }
  if (kept_.size() < kSampleBytes) {
    // keep_limit may be smaller than the sample, so the sample can still be filling up here.
    kept_.append(data.data(), std::min(data.size(), kSampleBytes - kept_.size()));
  }
}

void BodyCapture::finish() {
  if (finished_) return;
  finished_ = true;
  const XXH128_hash_t hash = state_ ? XXH3_128bits_digest(state_.get()) : XXH3_128bits(kept_.data(), kept_.size());
  digest_ = {hash.high64, hash.low64};
  state_.reset();
}

std::string_view BodyCapture::sample() const {
  return std::string_view(kept_).substr(0, kSampleBytes);
}

}  // namespace cutover::shadow
