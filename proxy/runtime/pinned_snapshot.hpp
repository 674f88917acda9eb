// A worker's hold on the current snapshot: sessions take it through a worker-local shared_ptr, so
// the reference count they touch per request is never shared with another core, and the source's
// mutex is taken only when the control thread published a new snapshot.
#pragma once

#include <cstdint>
#include <memory>

#include "proxy/runtime/snapshot.hpp"

namespace cutover::runtime {

struct PinnedSnapshot {
  std::shared_ptr<const Snapshot> snapshot;
};

// One per worker; used by its thread only.
class SnapshotCache {
 public:
  explicit SnapshotCache(SnapshotSource& source) : source_(source) {}
  SnapshotCache(const SnapshotCache&) = delete;
  SnapshotCache& operator=(const SnapshotCache&) = delete;

  // The current snapshot (refreshed when the source's version moved; one atomic load otherwise).
  std::shared_ptr<const PinnedSnapshot> current() {
    const auto v = source_.version();
    if (v != version_) {
      pinned_ = std::make_shared<const PinnedSnapshot>(PinnedSnapshot{source_.load()});
      version_ = v;
    }
    return pinned_;
  }

 private:
  SnapshotSource& source_;
  std::uint64_t version_ = ~std::uint64_t{0};
  std::shared_ptr<const PinnedSnapshot> pinned_;
};

}  // namespace cutover::runtime
