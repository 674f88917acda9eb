// AuditLog's file: entries survive a reopen, and a line torn by a crash neither hides nor swallows
// the entries written after it.
#include "admin/audit_log.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::admin {
namespace {

struct TempDir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("cutover-audit-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { std::filesystem::create_directories(path); }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AuditLog, EntriesSurviveAReopen) {
  TempDir dir;
  const auto file = (dir.path / "audit.jsonl").string();
  {
    AuditLog log(file);
    ASSERT_TRUE(log.append({{"action", "set_weights"}}));
    ASSERT_TRUE(log.append({{"action", "rollback"}}));
  }
  AuditLog again(file);
  const auto entries = again.newest(10);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].as_object().at("action"), "set_weights");
  EXPECT_EQ(entries[1].as_object().at("action"), "rollback");
}

TEST(AuditLog, AnEntryAfterATornLineStartsALineOfItsOwn) {
  TempDir dir;
  const auto file = dir.path / "audit.jsonl";
  {
    std::ofstream out(file);
    out << R"({"action":"set_weights","time":"2026-01-01T00:00:00.000Z"})" << "\n" << R"({"action":"rollb)";
  }
  {
    AuditLog log(file.string());
    ASSERT_TRUE(log.append({{"action", "hold"}}));
  }
  AuditLog again(file.string());
  const auto entries = again.newest(10);
  ASSERT_EQ(entries.size(), 2u) << read_all(file);
  EXPECT_EQ(entries[0].as_object().at("action"), "set_weights");
  EXPECT_EQ(entries[1].as_object().at("action"), "hold");
}

}  // namespace
}  // namespace cutover::admin

namespace cutover::admin {
namespace {

TEST(AuditLog, FleetEntriesNameTheNodeAndGoToTheFleetLog) {
  AuditLog log("");
  std::vector<boost::json::object> forwarded;
  log.append({{"action", "set_weights"}});
  log.set_fleet("edge-2", [&](const boost::json::object& e) { forwarded.push_back(e); });
  log.append({{"action", "hold"}});
  ASSERT_EQ(forwarded.size(), 1u);
  EXPECT_EQ(forwarded[0].at("node").as_string(), "edge-2");
  EXPECT_EQ(forwarded[0].at("action").as_string(), "hold");
  EXPECT_TRUE(forwarded[0].contains("time"));
  auto kept = log.newest(10);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_FALSE(kept[0].as_object().contains("node"));
  EXPECT_EQ(kept[1].as_object().at("node").as_string(), "edge-2");
}

}  // namespace
}  // namespace cutover::admin
