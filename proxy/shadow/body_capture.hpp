// One HTTP message body captured as it streams past, for shadow comparison: a digest of every
// byte, and the bytes themselves only while they fit a bound.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "proxy/codec/body.hpp"

// xxHash's streaming state (xxhash.h's XXH3_state_t), declared here so that xxhash.h stays out
// of this header.
struct XXH3_state_s;

namespace cutover::shadow {

// Bytes kept of each body for mismatch samples.
inline constexpr std::size_t kSampleBytes = 512;

// Captures one HTTP message body as it streams past, in bounded memory: every byte goes into a
// streaming XXH3-128 digest; the bytes themselves are kept while the total stays <= keep_limit.
// Once the body grows past keep_limit, only the first kSampleBytes are kept (the rest freed) and
// complete() turns false for good.
//
// Memory: the kept bytes grow with the data (never reserved up front; std::string's geometric
// growth, so at most about 2 x min(size(), keep_limit) bytes), plus one xxHash streaming state
// (~600 bytes) from the append() that takes the body past keep_limit until finish(); a body that
// stays within keep_limit is hashed in one go by finish(), without that state. Movable, not copyable; a moved-from capture is only fit
// to be assigned to or destroyed.
class BodyCapture final : public codec::BodyTap {
 public:
  // keep_limit in bytes; 0 keeps only the sample of any non-empty body.
  explicit BodyCapture(std::size_t keep_limit);
  BodyCapture(BodyCapture&&) noexcept = default;
  BodyCapture& operator=(BodyCapture&&) noexcept = default;
  ~BodyCapture() = default;

  // The next piece of the body; any number of times (empty pieces are fine). Ignored after
  // finish(). Throws only std::bad_alloc, like the std::string it fills.
  void append(std::span<const char> data) override;

  // Once, after the last append(): computes digest(). Further calls do nothing.
  void finish();

  // kept() holds the whole body (size() <= keep_limit).
  bool complete() const { return complete_; }

  // The whole body when complete(), else its first min(size(), kSampleBytes) bytes.
  std::string_view kept() const { return kept_; }

  // The first min(size(), kSampleBytes) bytes.
  std::string_view sample() const;

  // Total bytes appended, kept or not.
  std::uint64_t size() const { return size_; }

  // XXH3-128 (seed 0) of all bytes appended, valid after finish(): {high64, low64}, so that
  // printing the two words in order as 16 hex digits each gives xxHash's canonical
  // (big-endian) form.
  std::array<std::uint64_t, 2> digest() const { return digest_; }

 private:
  struct StateDeleter {
    void operator()(XXH3_state_s* state) const noexcept;
  };

  std::size_t keep_limit_;
  std::uint64_t size_ = 0;
  bool complete_ = true;
  bool finished_ = false;
  std::string kept_;
  std::unique_ptr<XXH3_state_s, StateDeleter> state_;  // created once the body passes keep_limit
  std::array<std::uint64_t, 2> digest_{};
};

}  // namespace cutover::shadow
