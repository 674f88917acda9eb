// A downstream connection's place under its listener's max_connections, held for the connection's
// lifetime wherever the connection lives meanwhile (a session coroutine, or an idle HTTP/1
// connection parked without one), and given back when it ends.
#pragma once

#include <memory>
#include <utility>

namespace cutover::runtime {

// What hands out slots (server::ListenerGate): takes back one. Thread-safe.
class SlotGate {
 public:
  virtual void release() = 0;

 protected:
  ~SlotGate() = default;
};

// A slot taken from a SlotGate, given back when destroyed: moved along with its connection (to
// the worker that serves it) and released when the connection ends, wherever that is. Empty
// (no gate): nothing to give back.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::shared_ptr<SlotGate> gate) : gate_(std::move(gate)) {}
  ConnectionSlot(ConnectionSlot&&) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
      reset();
      gate_ = std::move(other.gate_);
    }
    return *this;
  }
  ~ConnectionSlot() { reset(); }
  void reset() {
    if (gate_) gate_->release();
    gate_.reset();
  }

 private:
  std::shared_ptr<SlotGate> gate_;
};

}  // namespace cutover::runtime
