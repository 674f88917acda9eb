// The relay buffers and head strings of one worker, lent to an exchange for its duration and given
// back, so idle connections hold none and the steady state allocates none. Worker thread only.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace cutover::runtime {

class BufferLender {
 public:
  // Relay buffers: kScratchBytes each; at most kSpare kept when given back.
  static constexpr std::size_t kScratchBytes = 64 * 1024;
  static constexpr std::size_t kSpare = 64;
  // A head string given back with more capacity than this is dropped instead of kept.
  static constexpr std::size_t kHeadBufferKeep = 4096;

  std::unique_ptr<char[]> take_scratch() {
    if (spare_scratch_.empty()) return std::make_unique<char[]>(kScratchBytes);
    auto b = std::move(spare_scratch_.back());
    spare_scratch_.pop_back();
    return b;
  }
  void give_back_scratch(std::unique_ptr<char[]> buffer) {
    if (buffer && spare_scratch_.size() < kSpare) spare_scratch_.push_back(std::move(buffer));
  }

  // The strings message heads are serialized into; a given-back string is cleared.
  std::string take_head_buffer() {
    if (spare_heads_.empty()) return {};
    auto b = std::move(spare_heads_.back());
    spare_heads_.pop_back();
    return b;
  }
  void give_back_head_buffer(std::string buffer) {
    if (buffer.capacity() > kHeadBufferKeep || spare_heads_.size() >= kSpare) return;
    buffer.clear();
    spare_heads_.push_back(std::move(buffer));
  }

 private:
  std::vector<std::unique_ptr<char[]>> spare_scratch_;
  std::vector<std::string> spare_heads_;
};

}  // namespace cutover::runtime
