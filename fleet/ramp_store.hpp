// The fleet's ramps in etcd: one record per route, and the window statistics the nodes publish
// for their gates (stats.hpp).
//
// Keys, below the configured prefix:
// - ramps/<route>: the ramp as admin::RampController stores it (its spec, state, current step
//   index, the step's start in ms since the epoch, ...); this module does not look inside. A ramp
//   started, paused, resumed or aborted through any node is a guarded write of this key; the
//   leader (leader.hpp) writes the step changes and rollbacks. A write that moves weights puts
//   routes/<route> (node.hpp's value, generation + 1) in the same transaction, so the step index
//   and the weights it stands for never disagree in etcd, whoever dies between two writes.
// - stats/<node>/<route>: stats.hpp's StepStats of that node, under its lease.
// Every node reads ramps/ at start and watches it, and hands each record to Changed.
// Threading: the Node's io_context (the admin thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "fleet/etcd/client.hpp"
#include "fleet/node.hpp"
#include "fleet/stats.hpp"

namespace cutover::fleet {

class RampStore {
 public:
  // A ramp record changed in etcd: `value` empty when the key was deleted. Runs on the io_context.
  using Changed = std::function<void(const std::string& route, const std::string& value, std::int64_t mod_revision)>;

  RampStore(boost::asio::io_context& io, Node& node, Changed changed);
  ~RampStore();
  RampStore(const RampStore&) = delete;
  RampStore& operator=(const RampStore&) = delete;

  // Reads ramps/ and watches it (again after a compaction or a failed watch).
  void start();

  struct Weights {
    std::uint16_t read_bp = 0, write_bp = 0;
    std::uint64_t local_generation = 0;  // stands for the stored generation when routes/<route> has none
    // A step keeps the route's write hold as etcd has it (a ramp moves weights while writes stay
    // held); a rollback lifts it, so the held writes go to the weights it sets, as a manual
    // rollback does.
    bool lift_hold = false;
  };
  struct WriteResult {
    ChangeResult::Outcome outcome = ChangeResult::Outcome::applied;
    std::int64_t revision = 0;      // applied: the store revision (the record's new mod_revision)
    std::uint64_t generation = 0;   // applied with weights: the route's new generation
    std::string error;              // conflict, unavailable: why
  };
  // Puts `value` at ramps/<route> if its mod_revision is still `expected` (0: no record yet), with
  // `weights` (when given) at routes/<route> guarded on that key's mod_revision, and `guard` (the
  // leader's) when given, in one transaction. conflict: a guard failed (the record, the route or
  // the leadership changed meanwhile); unavailable: etcd did not answer (names etcd).
  boost::asio::awaitable<WriteResult> write(std::string route, std::string value, std::int64_t expected,
                                            std::optional<Weights> weights, std::optional<etcd::Compare> guard);

  // Puts this node's statistics, one key per route of `stats`, under the node's lease, and deletes
  // the keys of routes it published before but not now. Errors are ignored (the next second
  // publishes again; a leader without them sees less traffic, never wrong traffic).
  boost::asio::awaitable<void> publish(std::map<std::string, StepStats> stats);
  // Every node's published statistics by route, then node; nullopt when etcd did not answer.
  // Values that do not decode (or name a bin at or past `max_bins`) are left out.
  boost::asio::awaitable<std::optional<std::map<std::string, std::map<std::string, StepStats>>>> read_stats(
      std::size_t max_bins);

  std::string ramp_key(const std::string& route) const { return node_.options().prefix + "ramps/" + route; }

 private:
  boost::asio::awaitable<void> run();
  void deliver(const etcd::KeyValue& kv, bool deleted);

  boost::asio::io_context& io_;
  Node& node_;
  Changed changed_;
  std::shared_ptr<etcd::Watch> watch_;
  std::set<std::string> published_;  // routes of this node's stats keys
  bool publishing_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cutover::fleet
