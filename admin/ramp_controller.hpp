// The ramp state machine: applies a ramp's steps through Control::commit, evaluates its
// gates once a second on the current step's window statistics, and rolls back at once when a gate
// fails. Control thread only. States: running -> completed | rolled_back | aborted, and
// running <-> paused. A ramp is persisted with the route's state and resumes at its step after a
// restart (the step's interval starts again).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>

#include "admin/actor.hpp"
#include "admin/ramp.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::admin {

class Control;

enum class RampState { running, paused, completed, rolled_back, aborted };
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

  // The ramp view (SPEC GET /v1/routes/{route}/ramp), nullopt when the route never had one.
  std::optional<boost::json::object> view(const std::string& route) const;
  // True while a ramp drives the route's weights (manual weight changes are refused then).
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

 private:
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
  };

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
  void set_gauge(const std::string& route, const Ramp& ramp);
  boost::json::object view_of(const std::string& route, const Ramp& ramp) const;

  Control& control_;
  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  std::map<std::string, Ramp> ramps_;  // by route name; ended ramps stay for the view
};

}  // namespace cutover::admin
