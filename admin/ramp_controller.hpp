// The ramp state machine: applies a ramp's steps through Control::commit, evaluates its
// gates once a second on the current step's window statistics, and rolls back at once when a gate
// fails. Control thread only. States: running -> completed | rolled_back | aborted, and
// running <-> paused; a step marked "approve" enters awaiting_approval when its weight is
// applied (gates still evaluated, a failing one still rolls back) and goes on as running after
// POST .../ramp/approve. A dry run (RampSpec::dry_run) walks the same states without ever
// moving a weight and records each decision it would have made ("would_advance",
// "would_roll_back", ...) in its view and, as a rehearsal, in the audit log. A ramp is persisted with the route's state and resumes at its step after a
// restart (the step's interval starts again).
//
// In a fleet (join_fleet) the ramps are the fleet's: each route's ramp is a record in etcd
// (fleet/ramp_store.hpp) that every node mirrors here; start, pause, resume and abort through any
// node are guarded writes of it (fleet_start, fleet_action), and only the leader
// (fleet/leader.hpp) evaluates gates, once a second, on the statistics every node publishes for
// the step (fleet/stats.hpp), and writes the step changes, completions and rollbacks, each with
// the weights it stands for in the same transaction. The record holds the step index and the
// step's start, so a new leader continues the step with its remaining time.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "admin/actor.hpp"
#include "admin/ramp.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::fleet {
class Leader;
class Node;
class RampStore;
}  // namespace cutover::fleet

namespace cutover::admin {

class Control;

enum class RampState { running, paused, awaiting_approval, completed, rolled_back, aborted };
std::string_view name(RampState s);

class RampController {
 public:
  // How often gates are evaluated.
  static constexpr std::chrono::milliseconds kTick{1000};

  RampController(Control& control, boost::asio::io_context& io);

  struct Answer {
    boost::beast::http::status status;
    boost::json::object body;  // the ramp view, or {"error": ...}
  };
  // POST /v1/routes/{route}/ramp: applies the first step now. 409 while one runs or is paused.
  Answer start(const runtime::Route& route, RampSpec spec, const Actor& actor);
  // POST .../ramp/pause|resume|abort; 404 without a ramp, 409 when the state does not allow it.
  // Resume re-applies the current step's weight and starts its interval again; abort leaves the
  // weights where they are.
  Answer pause(const runtime::Route& route, const Actor& actor);
  Answer resume(const runtime::Route& route, const Actor& actor);
  Answer abort(const runtime::Route& route, const Actor& actor);
  // POST .../ramp/approve: a ramp awaiting approval goes on (409 in any other state). The step
  // still needs its interval and passing gates; when the interval is already over, the next
  // evaluation advances, and the min_requests wait counts from the approval.
  Answer approve(const runtime::Route& route, const Actor& actor);

  // The ramp view (SPEC GET /v1/routes/{route}/ramp), nullopt when the route never had one.
  std::optional<boost::json::object> view(const std::string& route) const;
  // True while a ramp drives the route's weights (manual weight changes are refused then; a dry
  // run drives none).
  bool running(const std::string& route) const;
  // A manual rollback: a running or paused ramp ends as aborted (the rollback itself is the caller's).
  void on_manual_rollback(const std::string& route, const Actor& actor);
  // A config reload removed the route: a running or paused ramp ends as aborted at once (rather
  // than at the next tick). Returns whether one did.
  bool on_route_removed(const std::string& route);

  // For the state file: the ramp as a JSON object, or null. restore() takes it back at start-up
  // (before the control loop runs) and returns an error text when it cannot.
  boost::json::value saved(const std::string& route) const;
  std::optional<std::string> restore(const std::string& route, const boost::json::value& saved);

  // Starts the once-a-second evaluation (after restore()).
  void start_ticking();

  // Fleet mode. Makes the ramps the fleet's (see above): campaigns for the leadership, mirrors
  // ramps/ and publishes this node's statistics every second until the returned object is
  // destroyed (before `node`).
  struct FleetLink {
    RampController& owner;
    std::unique_ptr<fleet::Leader> leader;
    std::unique_ptr<fleet::RampStore> store;
    ~FleetLink();
  };
  std::unique_ptr<FleetLink> join_fleet(fleet::Node& node);
  bool in_fleet() const { return fleet_ != nullptr; }
  // The fleet's leader as this node knows it ("" when unknown), and whether it is this node.
  std::string fleet_leader() const;
  bool is_fleet_leader() const;
  // A ramp record from etcd (`value` empty: deleted) replaces this node's copy of the ramp.
  void on_fleet_record(const std::string& route, const std::string& value, std::int64_t mod_revision);
  // Fleet mode: start(), pause(), resume(), abort() as guarded writes of the ramp record (and the
  // step's weights); 409 when another node changed it meanwhile, 503 naming etcd when etcd does
  // not answer. `snap` keeps `route` alive.
  boost::asio::awaitable<Answer> fleet_start(std::shared_ptr<const runtime::Snapshot> snap, const runtime::Route* route,
                                             RampSpec spec, Actor actor);
  boost::asio::awaitable<Answer> fleet_action(std::shared_ptr<const runtime::Snapshot> snap,
                                              const runtime::Route* route, std::string action, Actor actor);

 private:
  // How many decisions a dry run keeps for its view (the oldest go first); the audit log has all.
  static constexpr std::size_t kRehearsalKept = 100;

  struct Ramp {
    RampSpec spec;
    RampState state = RampState::running;
    std::size_t step = 0;
    std::chrono::system_clock::time_point started{}, step_started_wall{}, ended{};
    std::chrono::steady_clock::time_point step_started{};
    std::string reason;
    std::optional<GateResult> failed_gate;
    std::optional<GateEvaluation> last_evaluation;
    std::chrono::system_clock::time_point last_evaluation_time{};
    bool webhook_pending = false;
    std::string webhook_last;  // the latest webhook outcome, for the view
    std::uint64_t generation = 0;  // bumped on every transition; stale webhook answers are ignored
    bool fleet_pending = false;    // fleet: the leader's write of a transition is under way
    bool webhook_passed = false;   // the older webhook gate answered 2xx for this step (pre_step next)
    std::string hook_last;         // the latest hook call and its outcome, for the view
    // Prometheus gates: the latest answer of each query (empty before the first round), and
    // whether a round is under way.
    std::vector<std::optional<PrometheusValue>> prometheus_answers;
    bool prometheus_pending = false;
    boost::json::array rehearsal;  // dry run: {"time", "step", "would", "reason"}, newest last
  };
  // States in which a ramp holds on to the route (not ended), and in which its gates are evaluated.
  static bool active(RampState s) {
    return s == RampState::running || s == RampState::paused || s == RampState::awaiting_approval;
  }
  static bool evaluated(RampState s) { return s == RampState::running || s == RampState::awaiting_approval; }

  // The ramp of `route` when its state is one of `allowed`; otherwise nullptr with `refused` set:
  // 404 without a ramp, 409 with `conflict` ("{}" takes the state's name) in any other state.
  Ramp* ramp_in(const runtime::Route& route, std::initializer_list<RampState> allowed, std::string_view conflict,
                Answer& refused);
  void tick();
  void evaluate(const runtime::Route& route, Ramp& ramp);
  void apply_step(const runtime::Route& route, Ramp& ramp, std::string_view action, const Actor& actor);
  void advance(const runtime::Route& route, Ramp& ramp);
  void fail(const runtime::Route& route, Ramp& ramp, const GateResult& gate, std::string reason);
  void finish(const runtime::Route& route, Ramp& ramp, RampState state, std::string reason);
  // The step's hooks after the gates passed: the older webhook gate, then pre_step, then advance
  // (or complete). A pre_step that refuses pauses the ramp.
  void proceed(const runtime::Route& route, Ramp& ramp);
  void pause_for_hook(const runtime::Route& route, Ramp& ramp, std::string reason);
  // Informing hooks (post_step, on_rollback, on_complete): fire and forget.
  void notify(const runtime::Route& route, const Ramp& ramp, std::string_view event,
              const std::optional<RampWebhook>& hook, std::size_t step_index, std::string reason);
  boost::json::object hook_body(const runtime::Route& route, const Ramp& ramp, std::string_view event,
                                std::size_t step_index, std::string reason) const;
  // Starts a round of the ramp's Prometheus queries when none is under way.
  void query_prometheus(const std::string& route, Ramp& ramp);
  // Dry run: appends a decision to the view and the audit log (no generation change: a
  // rehearsal changes nothing an if_generation guards).
  void rehearse(const runtime::Route& route, Ramp& ramp, std::string_view would, std::string reason,
                const Actor& actor);
  static void rehearsal_entry(Ramp& ramp, std::string_view would, const std::string& reason);
  void set_gauge(const std::string& route, const Ramp& ramp);
  boost::json::object view_of(const std::string& route, const Ramp& ramp) const;
  // Judges one evaluation of the current step's statistics: rolls back, waits, completes or
  // advances (the webhook first, when there is one).
  void judge(const runtime::Route& route, Ramp& ramp, const stats::WindowSummary& source,
             const stats::WindowSummary& target, std::int64_t window_s);
  // The step's statistics window: whole seconds since it began, within 1..SideWindow::kSeconds.
  static std::int64_t step_window_s(const Ramp& ramp, std::chrono::steady_clock::time_point now);
  static boost::json::object saved_of(const Ramp& ramp);
  static std::optional<std::string> parse_saved(const boost::json::value& saved, Ramp& out);
  // Fleet: the leader writes a transition of `ramp` (the record `next`, with the weights of its
  // step when `move_weights`); the mirror changes when etcd's watch delivers it.
  void fleet_transition(const runtime::Route& route, Ramp& ramp, Ramp next, std::optional<router::Weights> weights,
                        std::string action, boost::json::object extra);
  boost::asio::awaitable<void> fleet_write(std::string route, std::string value, std::int64_t expected,
                                           std::optional<router::Weights> weights, std::uint64_t local_generation,
                                           std::string action, boost::json::object extra, std::uint64_t generation);
  // The route's weights with the ramp's current step applied (to read, write or both).
  static router::Weights step_weights(const runtime::Route& route, const Ramp& ramp);
  // What an operator's fleet_start/fleet_action writes: the next record, or nullopt with `refused`.
  std::optional<Ramp> fleet_next(const runtime::Route& route, std::string_view action, const Actor& actor,
                                 bool& moves_weights, Answer& refused);
  boost::asio::awaitable<Answer> fleet_commit(const runtime::Route* route, Ramp next,
                                              std::optional<router::Weights> weights, std::string action, Actor actor);
  Answer fleet_answer(const runtime::Route& route, int outcome, std::int64_t revision, const std::string& error,
                      const std::string& value, std::string_view action, const Actor& actor);
  void audit_fleet(const runtime::Route& route, std::string_view action, const Actor& actor, std::int64_t revision,
                   boost::json::object extra);
  boost::asio::awaitable<void> fleet_loop();
  boost::asio::awaitable<void> fleet_tick();
  boost::asio::awaitable<void> fleet_abort_after_rollback(std::string route, Actor actor);

  Control& control_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::map<std::string, Ramp> ramps_;  // by route name; ended ramps stay for the view
  FleetLink* fleet_ = nullptr;                  // fleet mode: set while joined
  std::map<std::string, std::int64_t> fleet_revisions_;  // the mod_revision of each mirrored record
  std::shared_ptr<bool> fleet_alive_;           // false once the FleetLink is gone
  // Routes whose ramp a rollback on this node aborted and whose abort is not in etcd yet: records
  // still running there do not replace the mirror's aborted ramp meanwhile.
  std::set<std::string> fleet_aborting_;
};

}  // namespace cutover::admin
