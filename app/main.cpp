// cutover: the process. Loads the config, binds listeners on every worker, runs the admin API on
// the main (control) thread, reloads the config on SIGHUP, reopens the access logs on SIGUSR1,
// and stops on SIGTERM/SIGINT.
#include <chrono>
#include <csignal>
#include <unistd.h>
#include <functional>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "admin/audit_log.hpp"
#include "admin/auth.hpp"
#include "admin/control.hpp"
#include "admin/safety_api.hpp"
#include "admin/server.hpp"
#include "admin/state_file.hpp"
#include "app/upgrade.hpp"
#include "config/loader.hpp"
#include "fleet/node.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/server/cpu_affinity.hpp"
#include "proxy/server/listener_set.hpp"
#include "proxy/server/worker.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace cutover;

// Starts this node's fleet membership and waits, bounded by fleet.apply_timeout, for the shared
// weights to be applied before traffic is served, so a restarted node does not serve stale
// weights it could have known. Past the wait (etcd unreachable) the node serves its own state and
// the node keeps trying in the background.
std::unique_ptr<fleet::Node> join_fleet(const config::FleetConfig& f, asio::io_context& io, admin::Control& control,
                                        stats::Metrics& metrics) {
  fleet::NodeOptions o;
  o.node = f.node;
  o.prefix = f.prefix;
  o.lease_ttl = f.lease_ttl;
  o.apply_timeout = f.apply_timeout;
  o.etcd.endpoints = f.endpoints;
  o.etcd.username = f.username;
  if (!f.password_file.empty()) {
    std::ifstream in(f.password_file);
    if (!in) throw std::runtime_error("fleet.etcd.password_file: cannot read " + f.password_file);
    std::getline(in, o.etcd.password);
  }
  o.etcd.ca_file = f.ca_file;
  o.etcd.cert_file = f.cert_file;
  o.etcd.key_file = f.key_file;
  // An admin call waits for etcd at most this long: short enough to answer 503 while it is down.
  o.etcd.request_timeout = std::chrono::milliseconds(2000);
  o.etcd.connect_timeout = std::chrono::milliseconds(500);
  o.etcd.watch_idle = std::chrono::milliseconds(3000);
  o.etcd.backoff_max = std::chrono::milliseconds(1000);
  auto& up = metrics.fleet_etcd_up.Add({});
  auto node = fleet::Node::create(
      io, std::move(o),
      [&control](const std::string& route, const fleet::RouteValue& v, std::int64_t revision) {
        control.apply_fleet(route, v, revision);
      },
      [&up](bool is_up) { up.Set(is_up ? 1 : 0); });
  if (!node) throw std::runtime_error("fleet: " + node.error().message);
  control.set_fleet(node->get());
  // Segments and maintenance from etcd, from the first read on (before traffic is served).
  (*node)->set_setting_listener(
      [&control](const std::string& route, fleet::Setting setting, const std::string& value, std::int64_t revision) {
        control.apply_fleet_setting(route, setting, value, revision);
      });
  (*node)->start();
  const auto deadline = std::chrono::steady_clock::now() + f.apply_timeout;
  while (!(*node)->synced() && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(50));
  if (!(*node)->synced())
    spdlog::warn("fleet: etcd did not answer within {} ms; serving this node's own weights until it does",
                 f.apply_timeout.count());
  return std::move(*node);
}

std::string endpoint_text(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

// Restores weights and generations saved by an earlier run, before the config is compiled, so
// the runtime state wins over the config's initial weights for routes that still exist. A state
// file that cannot be read is reported and moved aside (kept for the operator, not overwritten);
// the config's weights apply then.
// Returns what was read, for the ramps (restored once the control plane exists).
admin::StateMap restore_state(const config::Config& cfg, runtime::RuntimeRegistry& registry) {
  if (cfg.state_file.empty()) return {};
  admin::StateMap state;
  try {
    state = admin::read_state_file(cfg.state_file);
  } catch (const std::exception& e) {
    auto aside = fmt::format("{}.corrupt-{}", cfg.state_file,
                             std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count());
    std::error_code ec;
    std::filesystem::rename(cfg.state_file, aside, ec);
    spdlog::error("{}; starting from the config's weights; the unreadable file is kept as {}{}", e.what(), aside,
                  ec ? " (move failed: " + ec.message() + ")" : "");
    return {};
  }
  for (const auto& [name, s] : state) {
    auto rt = registry.route(name, s.weights);
    rt->generation = s.generation;
    if (s.writes_held) {
      rt->hold_seq.store(1);
      rt->set_writes_held(true);
    }
    if (auto problem = admin::restore_safety(*rt, s))
      spdlog::error("state: route {}: {}; its saved segments and maintenance are not restored", name, *problem);
    spdlog::info("state: route {} restored: read_weight {:.2f} write_weight {:.2f} generation {}", name,
                 s.weights.read_bp / 100.0, s.weights.write_bp / 100.0, s.generation);
  }
  return state;
}

// A binary upgrade's old process closes the connections idle at the hand-over only after this
// (capped at half the drain_timeout): connections in use get their next answer with
// Connection: close instead, so no client's next request races the close of its connection.
constexpr std::chrono::milliseconds kHandOverIdleGrace{1000};
// How long `cutover --upgrade` waits for the running process to pass its sockets.
constexpr std::chrono::milliseconds kTakeTimeout{10000};

// A listening TCP socket on `address` owned by `io`, made by assigning a descriptor (not by
// open()): Asio then removes it from its epoll set on close, which matters once the socket is
// shared with another process (a binary upgrade), where close(2) alone would leave it registered.
void listen_assigned(tcp::acceptor& acceptor, const tcp::endpoint& address, boost::system::error_code& ec) {
  asio::io_context scratch{1};
  tcp::acceptor a(scratch);
  a.open(address.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(address, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return;
  const int fd = a.release(ec);
  if (!ec) acceptor.assign(address.protocol(), fd, ec);
}

int run(const config::Config& cfg, const std::string& config_path, bool upgrade) {
  // A binary upgrade takes the running process's sockets first, before reading the state file:
  // that process has written it for the last time once it passed them (app/upgrade.hpp).
  app::TakenSockets taken;
  std::unique_ptr<app::Predecessor> predecessor;
  if (upgrade) {
    predecessor = app::Predecessor::take(cfg.upgrade_socket, kTakeTimeout, taken);
    spdlog::info("upgrade: took the sockets of the running process (pid {}): {} listener(s), the admin listener",
                 taken.pid, taken.listeners.size());
  }
  stats::Metrics metrics;
  const unsigned n_workers = cfg.workers ? cfg.workers : std::max(1u, std::thread::hardware_concurrency());
  runtime::RuntimeRegistry registry(n_workers);
  const admin::StateMap restored = restore_state(cfg, registry);
  runtime::SnapshotSource snapshots;
  snapshots.publish(runtime::compile(cfg, registry, metrics));
  auto snap = snapshots.load();
  // Saved state of a route the config no longer has is dropped, as a reload drops a removed
  // route's: if the route comes back later, it starts from its config weights.
  registry.retain_routes([&](const std::string& name) {
    if (snap->find_route(name)) return true;
    spdlog::warn("state: route {} is not in the config; its saved state is dropped", name);
    return false;
  });

  std::vector<std::unique_ptr<server::Worker>> workers;
  for (unsigned i = 0; i < n_workers; ++i) {
    workers.push_back(std::make_unique<server::Worker>(i, snapshots));
  }
  std::vector<server::Worker*> peers;
  for (auto& w : workers) peers.push_back(w.get());
  for (auto& w : workers) {
    w->set_peers(peers);
    w->set_connections_gauge(&metrics.worker_connections.Add({{"worker", std::to_string(w->id())}}));
  }

  server::ListenerSet listeners(peers, metrics);
  listeners.bind_all(*snap, upgrade ? &taken.listeners : nullptr);
  taken.listeners.clear();  // the old process's listeners this config lacks: it drains them itself

  asio::io_context control_io{1};
  // Registered before anything is announced: a SIGHUP right after readiness must reload, not
  // terminate (its default action); signals that arrive before the wait below are queued.
  asio::signal_set signals(control_io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  tcp::acceptor admin_acceptor(control_io);
  {
    auto address = runtime::resolve(cfg.admin.listen);
    boost::system::error_code ec;
    if (taken.admin && taken.admin_address == endpoint_text(address))
      admin_acceptor.assign(address.protocol(), taken.admin.release(), ec);
    else
      listen_assigned(admin_acceptor, address, ec);
    if (ec) throw std::runtime_error(fmt::format("admin: cannot listen on {}: {}", cfg.admin.listen.text, ec.message()));
    spdlog::info("listening admin address={}", endpoint_text(admin_acceptor.local_endpoint()));
  }

  admin::Tokens tokens = cfg.admin.tokens_file.empty() ? admin::Tokens{} : admin::Tokens::load(cfg.admin.tokens_file);
  admin::Control control(control_io, snapshots, metrics, std::move(tokens),
                         std::make_unique<admin::AuditLog>(cfg.audit_log), cfg.state_file);
  control.enable_reload(config_path, registry);
  control.set_connection_closer(
      [&workers](const runtime::RouteRuntime* route, router::Side side, std::chrono::milliseconds grace) {
        for (auto& w : workers) w->close_connections(route, side, grace);
      });
  control.set_listener_binder(
      [&listeners](const config::Config& next) {
        std::vector<config::Diagnostic> out;
        for (const auto& e : listeners.prepare(next)) {
          config::Mark at;
          for (const auto& l : next.listeners)
            if (l.name == e.listener) at = l.address.mark;
          out.push_back({next.path, at, fmt::format("listener '{}': {}", e.listener, e.message)});
        }
        return out;
      },
      [&listeners](const runtime::Snapshot* published) { listeners.finish(published); });
  control.set_reload_listener([&workers] {
    for (auto& w : workers) w->reloaded();
  });
  control.resume_holds();
  // After a binary upgrade, every change of a route's weights or hold is relayed to the old
  // process (and from there to an older one still draining), where writes held before the
  // hand-over wait: they are released there, by the process whose client waits for them.
  if (predecessor)
    control.set_change_listener([&predecessor](const runtime::Route& r) {
      predecessor->relay(r.name, r.runtime->weights(), r.runtime->writes_held());
    });
  for (const auto& [name, s] : restored) {
    if (!snap->find_route(name)) continue;
    if (auto problem = control.ramps().restore(name, s.ramp))
      spdlog::error("state: route {}: {}; the ramp is not restored", name, *problem);
  }
  control.restore_fleet_overrides(restored);
  control.ramps().start_ticking();
  control.health().apply(snapshots.load());
  control.persist();  // the state file exists from the first start on, and is known writable
  std::unique_ptr<fleet::Node> fleet_node;
  if (cfg.fleet.enabled()) fleet_node = join_fleet(cfg.fleet, control_io, control, metrics);
  // The fleet's ramps (leader election, ramps/ and stats/ in etcd); gone before fleet_node.
  std::unique_ptr<admin::RampController::FleetLink> ramp_fleet;
  if (fleet_node) ramp_fleet = control.ramps().join_fleet(*fleet_node);

  // The upgrade socket: the one the old process passed when its path is unchanged, else bound.
  bool kept_upgrade_socket = false;
  server::UniqueFd upgrade_fd;
  if (!cfg.upgrade_socket.empty()) {
    kept_upgrade_socket = taken.upgrade && taken.upgrade_path == cfg.upgrade_socket;
    upgrade_fd = kept_upgrade_socket ? std::move(taken.upgrade) : app::listen_upgrade_socket(cfg.upgrade_socket);
  }
  taken.upgrade.reset();

  asio::steady_timer drain_timer(control_io);
  std::function<void(const boost::system::error_code&)> drain_poll;
  bool draining = false;
  bool handed_over = false;
  std::chrono::steady_clock::time_point drain_deadline;
  // Stop accepting, close idle keep-alives (after `idle_grace`), let exchanges in flight finish
  // (their responses carry Connection: close), then stop once no connection is left or at
  // drain_timeout (of the running config: a reload may have changed it). After a hand-over, writes
  // held here keep the process up past drain_timeout until the new process releases them or their
  // hold_max releases them here.
  auto start_drain = [&](std::chrono::milliseconds idle_grace) {
    draining = true;
    const auto drain_timeout = snapshots.load()->config.drain_timeout;
    control.set_ready(false);
    listeners.close_exported();
    for (auto& w : workers) w->drain(std::min(idle_grace, drain_timeout / 2));
    drain_deadline = std::chrono::steady_clock::now() + drain_timeout;
    drain_poll = [&, drain_timeout](const boost::system::error_code&) {
      // Connections are counted once each worker has closed its acceptors: before, one may
      // still be accepted. Those moving between workers or starting count too (load()).
      std::size_t open = 0;
      for (auto& w : workers) open += w->drain_ran() ? w->load() : 1;
      std::uint32_t held = 0;
      if (handed_over)
        for (const auto& r : snapshots.load()->routes)
          if (r.runtime->writes_held()) held += r.runtime->held_requests.load();
      const auto now = std::chrono::steady_clock::now();
      // Released writes get a whole drain_timeout from their release to be answered.
      if (held) drain_deadline = std::max(drain_deadline, now + drain_timeout);
      if (open == 0 || now >= drain_deadline) {
        if (open) spdlog::warn("drain_timeout reached with {} connection(s) open; closing them", open);
        boost::system::error_code ignored;
        admin_acceptor.close(ignored);
        control_io.stop();
        return;
      }
      drain_timer.expires_after(std::chrono::milliseconds(20));
      drain_timer.async_wait(drain_poll);
    };
    drain_poll({});
  };

  std::unique_ptr<app::UpgradeServer> upgrade_server;
  if (upgrade_fd) {
    app::UpgradeServer::Handlers h;
    h.offer = [&]() -> std::variant<app::UpgradeServer::Offer, std::string> {
      if (draining || control.frozen()) return std::string("this process is already draining or handing over");
      // The state file's last write by this process, fsynced before the sockets go: the new
      // process reads it only after it has them.
      if (!control.persist()) return std::string("the state file cannot be written; see this process's log");
      control.set_frozen(true);
      boost::json::object msg{{"op", "sockets"},
                              {"pid", static_cast<std::int64_t>(::getpid())},
                              {"admin", endpoint_text(runtime::resolve(cfg.admin.listen))},
                              {"upgrade", cfg.upgrade_socket}};
      app::UpgradeServer::Offer offer;
      offer.fds = {admin_acceptor.native_handle(), upgrade_server->native_handle()};
      boost::json::array ls;
      for (const auto& e : listeners.exported()) {
        ls.push_back(boost::json::object{{"name", e.name}, {"address", e.address},
                                         {"fds", static_cast<std::int64_t>(e.fds.size())}});
        offer.fds.insert(offer.fds.end(), e.fds.begin(), e.fds.end());
      }
      msg["listeners"] = std::move(ls);
      offer.text = boost::json::serialize(msg);
      spdlog::info("upgrade: a new process asks for the sockets; state changes stop here (state file written)");
      return offer;
    };
    h.handed_over = [&](bool kept) {
      spdlog::info("upgrade: the new process serves; this one stops accepting and drains");
      handed_over = true;
      boost::system::error_code ignored;
      admin_acceptor.close(ignored);  // the new process accepts on it now
      upgrade_server->close();
      if (!kept) ::unlink(cfg.upgrade_socket.c_str());
      start_drain(kHandOverIdleGrace);
    };
    h.aborted = [&](const std::string& why) {
      if (handed_over) return;
      spdlog::error("upgrade: the new process went away before serving ({}); this process serves on", why);
      control.set_frozen(false);
    };
    h.relayed = [&](const std::string& route, router::Weights w, bool held) {
      auto s = snapshots.load();
      if (const auto* r = s->find_route(route)) control.follow(*r, w, held);
    };
    upgrade_server = std::make_unique<app::UpgradeServer>(control_io, std::move(upgrade_fd), cfg.upgrade_socket,
                                                          std::move(h));
    upgrade_server->start();
    spdlog::info("upgrade socket listening at {}", cfg.upgrade_socket);
  }

  admin::start_admin_server(control_io, admin_acceptor, control);
  std::vector<int> cpus;
  if (cfg.worker_cpu_affinity == config::Config::WorkerAffinity::automatic) {
    cpus = server::worker_cpus(server::allowed_cpus(), workers.size());
    if (cpus.empty()) spdlog::warn("worker_cpu_affinity: auto, but the allowed CPUs are unknown; workers run unbound");
    else spdlog::info("worker_cpu_affinity: auto: workers on CPUs {} (worker 0 first)", fmt::join(cpus, ", "));
  }
  for (std::size_t i = 0; i < workers.size(); ++i) workers[i]->start(i < cpus.size() ? cpus[i] : -1);
  control.set_ready(true);
  spdlog::info("cutover {} ready: {} listener(s), {} worker(s)", CUTOVER_VERSION, snap->config.listeners.size(), n_workers);
  snap.reset();  // the start-up snapshot lives only as long as workers use it
  if (predecessor) predecessor->serving(kept_upgrade_socket);
  // systemd (Type=notify): ready, and this is the unit's main process now, also after an upgrade.
  app::notify_service_manager(fmt::format("READY=1\nMAINPID={}", ::getpid()));

  std::function<void(const boost::system::error_code&, int)> on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP && control.frozen()) {
      spdlog::warn("SIGHUP: ignored, this process hands over to a new one (binary upgrade)");
      signals.async_wait(on_signal);
      return;
    }
    if (draining && sig != SIGUSR1 && sig != SIGHUP) {  // draining after a hand-over: stop now
      control_io.stop();
      return;
    }
    if (sig == SIGHUP) {
      // The same reload as POST /v1/config/reload, on this (the control) thread; it logs its result.
      spdlog::info("SIGHUP: reloading {}", config_path);
      control.reload("SIGHUP");
      signals.async_wait(on_signal);
      return;
    }
    if (sig == SIGUSR1) {  // logrotate's postrotate: the access logs reopen their files
      control.reopen_logs();
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("signal {}: draining (up to {} ms)", sig, snapshots.load()->config.drain_timeout.count());
    if (upgrade_server) upgrade_server->close();
    start_drain(std::chrono::milliseconds(0));
    signals.async_wait([&](const boost::system::error_code& e, int) {  // a second signal: stop now
      if (!e) control_io.stop();
    });
  };
  signals.async_wait(on_signal);
  control_io.run();
  // The socket file is the new process's after a hand-over (one that did not keep it removed it
  // then); otherwise nobody's.
  if (upgrade_server && !handed_over) ::unlink(cfg.upgrade_socket.c_str());

  runtime::RouteRuntime::ReleaseChain::stop_all();  // frames destroyed with the workers pass no batons
  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The help is the reference of the command line: the man page (help2man) and docs/cutover.md
  // are checked against it, so every flag, signal and exit code is said here.
  CLI::App app{"cutover: layer-4/7 traffic-shifting proxy for migrations. It stands in front of two environments "
               "of one service, the source and the target, and moves traffic from source to target in reversible "
               "steps (weights, shadow traffic, a write hold, gated ramps), changed at run time through its admin "
               "API (see cutoverctl).",
               "cutover"};
  std::string config_path;
  bool check = false;
  bool upgrade = false;
  app.add_option("-c,--config", config_path, "the YAML config file to run (or to validate with --check)")
      ->required()
      ->type_name("FILE");
  app.add_flag("--check", check,
               "validate the config and the files it names (TLS, tokens), then exit: 0 when valid, 1 with "
               "FILE:LINE:COL errors");
  app.add_flag("--upgrade", upgrade,
               "binary upgrade: take the listening sockets of the cutover running with this config's "
               "upgrade_socket, serve, and let that one drain and exit; fails (exit 1) when none runs there");
  app.set_version_flag("--version", std::string("cutover ") + CUTOVER_VERSION, "print the version and exit");
  app.footer(
      "Signals:\n"
      "  SIGHUP            reload the config file; an invalid one is reported and the running config stays\n"
      "  SIGTERM, SIGINT   drain: stop accepting, finish the requests in flight (up to drain_timeout), exit 0;\n"
      "                    a second signal stops at once\n"
      "  SIGUSR1           reopen the access log files (after logrotate moved them)\n"
      "\n"
      "Environment:\n"
      "  NOTIFY_SOCKET     set by systemd for a Type=notify unit: cutover sends READY=1 and MAINPID=\n"
      "                    there once it serves (also after --upgrade). Everything else is in the config file.\n"
      "\n"
      "Exit status:\n"
      "  0   --check: the config is valid; running: stopped after a drain\n"
      "  1   the config is invalid (FILE:LINE:COL errors on stderr), or start-up failed (a port in use;\n"
      "      --upgrade: no running cutover on upgrade_socket, or it refused)\n"
      "  2   usage error\n"
      "\n"
      "Examples:\n"
      "  cutover --check --config /etc/cutover/cutover.yaml\n"
      "  cutover --config /etc/cutover/cutover.yaml\n"
      "  cutover --config /etc/cutover/cutover.yaml --upgrade   # replace the running binary, no refused connection");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints the help, the version or the error
    return rc == 0 ? 0 : 2;
  }

  auto loaded = config::load_file(config_path);
  for (const auto& w : loaded.warnings) std::fprintf(stderr, "%s (warning)\n", w.str().c_str());
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (!loaded.errors.empty()) return 1;
  // The files the config names are read at start-up; --check reads them too so it predicts it.
  if (!loaded.config->admin.tokens_file.empty()) {
    try {
      admin::Tokens::load(loaded.config->admin.tokens_file);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n",
                   config::Diagnostic{config_path, loaded.config->admin.tokens_file_mark, e.what()}.str().c_str());
      return 1;
    }
  }
  if (check) {
    std::printf("%s: ok\n", config_path.c_str());
    return 0;
  }
  if (upgrade && loaded.config->upgrade_socket.empty()) {
    std::fprintf(stderr, "%s: --upgrade needs upgrade_socket in the config (the running process listens there)\n",
                 config_path.c_str());
    return 1;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("cutover"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return run(*loaded.config, config_path, upgrade);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}
