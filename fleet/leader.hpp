// The fleet's leader: the one node that runs ramps (ramp_store.hpp), elected through etcd.
//
// Election (the etcd lease pattern, as etcd's own concurrency/election does it without the queue):
// the key <prefix>leader holds the leader's node name, put under the leader node's lease
// (Node::lease) by a transaction guarded on the key's create_revision == 0, i.e. only while no
// leader key exists. When the leader stops beating its lease expires (fleet.lease_ttl), etcd
// deletes the key and the next campaign of any node wins. Every node watches the key and
// campaigns at once on its deletion, and again every poll interval (a lost watch event, a new
// lease of its own), so a dead leader is replaced within lease_ttl of its last beat plus one etcd
// round trip.
//
// Writes that only the leader may make carry guard(): create_revision of the leader key ==
// the revision at which this node created it, so a node that lost the key (its lease expired
// while it was cut off from etcd) cannot move a ramp any more even before it notices.
// Threading: the io_context of the Node (the admin thread); call everything from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fleet/etcd/client.hpp"
#include "fleet/node.hpp"

namespace cutover::fleet {

class Leader {
 public:
  // Called when this node becomes the leader (true) or stops being it (false).
  using Changed = std::function<void(bool leader)>;

  Leader(boost::asio::io_context& io, Node& node, Changed changed);
  ~Leader();
  Leader(const Leader&) = delete;
  Leader& operator=(const Leader&) = delete;

  // Starts campaigning and watching the leader key.
  void start();

  // Gives the leadership up and stops campaigning (a process handing its sockets to its
  // successor, which joins the fleet as the same node and should run the ramps at once, not when
  // this process's lease expires): deletes the leader key when this node holds it (guarded, so
  // a key that changed hands meanwhile stays). campaign_again() undoes it (a hand-over that failed).
  boost::asio::awaitable<void> resign();
  void campaign_again();
  bool resigned() const { return resigned_; }

  bool is_leader() const { return leader_; }
  // The leader's node name as last read from etcd ("" when there is none, or etcd did not say).
  const std::string& holder() const { return holder_; }
  // The guard of a leader-only transaction (see above). Meaningful only while is_leader().
  etcd::Compare guard() const;
  std::string key() const { return node_.options().prefix + "leader"; }
  // How often a node campaigns without being woken: lease_ttl / 4, within 100 ms .. 1 s.
  static std::chrono::milliseconds poll_interval(std::chrono::milliseconds lease_ttl);

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> watch_loop();
  boost::asio::awaitable<void> campaign();
  boost::asio::awaitable<void> give_up();
  void set_leader(bool leader, std::string holder);

  boost::asio::io_context& io_;
  Node& node_;
  Changed changed_;
  boost::asio::steady_timer wake_;
  std::shared_ptr<etcd::Watch> watch_;
  bool stopped_ = false;
  bool resigned_ = false;
  bool leader_ = false;
  std::string holder_;
  std::int64_t create_revision_ = 0;  // of the leader key this node created
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cutover::fleet
