// compile() against a RuntimeRegistry as a reload uses it: kept routes keep their runtime state,
// new routes take the config's weights, and a compile that throws leaves the registry unchanged.
#include "proxy/runtime/snapshot.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "config/loader.hpp"

namespace cutover::runtime {
namespace {

std::string config_text(const std::string& routes, const std::string& extra_listener = "",
                        const std::string& top = "") {
  return top + R"(
admin: {listen: 127.0.0.1:0}
clusters:
  legacy: {endpoints: ["127.0.0.1:9001"]}
  cloud: {endpoints: ["127.0.0.1:9002"]}
listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
)" + routes + extra_listener;
}

config::Config load(const std::string& text) {
  auto loaded = config::load_string(text, "test.yaml");
  EXPECT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
  return *loaded.config;
}

class Compile : public ::testing::Test {
 protected:
  stats::Metrics metrics;
  RuntimeRegistry registry{2};
};

TEST_F(Compile, KeptRoutesKeepTheirRuntimeStateAndNewRoutesTakeTheConfigWeights) {
  auto first = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n")),
                       registry, metrics);
  auto app = first->find_route("app")->runtime;
  app->set_weights({4200, 100});
  app->generation = 7;

  auto second = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 90}\n"
                                         "      - {name: api, source: cloud, target: legacy, weight: 30, "
                                         "match: {path_prefix: /api}}\n")),
                        registry, metrics);
  EXPECT_EQ(second->find_route("app")->runtime, app) << "the same runtime object: holds and stats too";
  EXPECT_EQ(app->weights(), (router::Weights{4200, 100}));
  EXPECT_EQ(app->generation, 7u);
  EXPECT_EQ(second->find_route("api")->runtime->weights(), (router::Weights{3000, 3000}));
  EXPECT_EQ(second->find_route("app")->clusters[0]->name, "legacy");
  EXPECT_EQ(second->find_route("api")->clusters[0]->name, "cloud");
}

TEST_F(Compile, ListenersKeepTheirIndexAcrossReloadsThatAddAndRemoveOthers) {
  const std::string app = "      - {name: app, source: legacy, target: cloud}\n";
  auto listener = [](const std::string& name, const std::string& route) {
    return "  - {name: " + name + ", address: \"127.0.0.1:0\", routes: [{name: " + route +
           ", source: legacy, target: cloud}]}\n";
  };
  auto names = [](const Snapshot& s) {
    std::vector<std::string> out;
    for (const auto& l : s.listeners) out.push_back(l.removed ? "-" + l.name : l.name);
    return out;
  };
  auto first = compile(load(config_text(app, listener("second", "two"))), registry, metrics);
  EXPECT_EQ(names(*first), (std::vector<std::string>{"public", "second"}));
  // public removed, third added before second: second keeps index 1, public's stays a placeholder.
  auto text = config_text(app);  // public's block is replaced below: the listeners are second and third
  text = text.substr(0, text.find("  - name: public")) + listener("third", "three") + listener("second", "two");
  auto second = compile(load(text), registry, metrics);
  EXPECT_EQ(names(*second), (std::vector<std::string>{"-public", "second", "third"}));
  EXPECT_FALSE(second->serves_listener(0));
  EXPECT_TRUE(second->serves_listener(1));
  EXPECT_EQ(second->listener_index("third"), 2u);
  EXPECT_EQ(second->listener_index("public"), std::nullopt);
  EXPECT_TRUE(second->listeners[0].routes.empty());
  EXPECT_EQ(second->listeners[1].routes.front()->name, "two");
  // public back: its old index again.
  auto third = compile(load(config_text(app, listener("second", "two"))), registry, metrics);
  EXPECT_EQ(names(*third), (std::vector<std::string>{"public", "second", "-third"}));
}

TEST_F(Compile, AFailedCompileLeavesNoEntryForItsNewRoutes) {
  auto first = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n")),
                       registry, metrics);
  first->find_route("app")->runtime->set_weights({5000, 5000});
  // The new route is compiled (and registered) before the second listener's address fails.
  const std::string bad_listener = R"(  - name: other
    address: no-such-host.invalid:8080
    routes:
      - {name: other, source: legacy, target: cloud}
)";
  auto bad = load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n"
                              "      - {name: fresh, source: legacy, target: cloud, weight: 25, match: {path_prefix: /f}}\n",
                              bad_listener));
  EXPECT_THROW(compile(bad, registry, metrics), std::runtime_error);
  EXPECT_EQ(registry.find_route("fresh"), nullptr) << "never published: no stale entry";
  EXPECT_EQ(registry.find_route("other"), nullptr);
  EXPECT_EQ(registry.find_route("app")->weights(), (router::Weights{5000, 5000})) << "kept routes untouched";

  auto good = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n"
                                       "      - {name: fresh, source: legacy, target: cloud, weight: 60, match: {path_prefix: /f}}\n")),
                      registry, metrics);
  EXPECT_EQ(good->find_route("fresh")->runtime->weights(), (router::Weights{6000, 6000}))
      << "the later config's weights, not the failed one's";
}

TEST_F(Compile, ForgottenRoutesStartAgainFromTheirConfigWeights) {
  auto snap = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n"
                                       "      - {name: old, source: legacy, target: cloud, weight: 10, "
                                       "match: {path_prefix: /old}}\n")),
                      registry, metrics);
  snap->find_route("old")->runtime->set_weights({10000, 10000});
  auto without = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n")),
                         registry, metrics);
  EXPECT_EQ(registry.retain_routes([&](const std::string& n) { return without->find_route(n) != nullptr; }), 1u);
  EXPECT_EQ(registry.find_route("old"), nullptr);
  EXPECT_EQ(snap->find_route("old")->runtime->weights().read_bp, 10000) << "the old snapshot's runtime lives on";
  auto back = compile(load(config_text("      - {name: app, source: legacy, target: cloud, weight: 10}\n"
                                       "      - {name: old, source: legacy, target: cloud, weight: 20, "
                                       "match: {path_prefix: /old}}\n")),
                      registry, metrics);
  EXPECT_EQ(back->find_route("old")->runtime->weights(), (router::Weights{2000, 2000}));
}

TEST_F(Compile, OneMismatchLogWriterPerPathWhileASnapshotUsesIt) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "compile_test_mirror_log";
  std::filesystem::create_directories(dir);
  auto with_log = [&](const std::string& file, int max_files) {
    return config_text("      - {name: app, source: legacy, target: cloud}\n", "",
                       "mirror_log: {path: " + (dir / file).string() + ", max_files: " + std::to_string(max_files) +
                           "}\n");
  };
  auto a = compile(load(with_log("a.jsonl", 3)), registry, metrics);
  auto a_again = compile(load(with_log("a.jsonl", 5)), registry, metrics);
  EXPECT_EQ(a->mismatch_log, a_again->mismatch_log) << "the open writer for the path is shared";
  auto b = compile(load(with_log("b.jsonl", 3)), registry, metrics);
  EXPECT_NE(b->mismatch_log, a->mismatch_log);
  auto a_back = compile(load(with_log("a.jsonl", 3)), registry, metrics);
  EXPECT_EQ(a_back->mismatch_log, a->mismatch_log) << "a.jsonl is still open in an old snapshot: no second writer";
  a.reset();
  a_again.reset();
  a_back.reset();
  auto a_new = compile(load(with_log("a.jsonl", 3)), registry, metrics);
  EXPECT_NE(a_new->mismatch_log, nullptr);
  auto none = compile(load(config_text("      - {name: app, source: legacy, target: cloud}\n")), registry, metrics);
  EXPECT_EQ(none->mismatch_log, nullptr);
}

}  // namespace
}  // namespace cutover::runtime
