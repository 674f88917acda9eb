// The state file: a route's fleet local override survives a write and a read, and files without
// the mark (single nodes, older files) read as no override.
#include "admin/state_file.hpp"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

namespace cutover::admin {
namespace {

std::string state_temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()))).string();
}

TEST(StateFile, KeepsAFleetLocalOverride) {
  const auto path = state_temp_path("cutover-state-override");
  StateMap state;
  state["app"] = {{0, 0}, 9, false, nullptr, true};
  state["api"] = {{2500, 0}, 3, true, nullptr, false};
  ASSERT_TRUE(write_state_file(path, state));
  auto back = read_state_file(path);
  std::filesystem::remove(path);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(back["app"].fleet_local_override);
  EXPECT_EQ(back["app"].generation, 9u);
  EXPECT_FALSE(back["api"].fleet_local_override);
  EXPECT_TRUE(back["api"].writes_held);
}

TEST(StateFile, RefusesAMarkThatIsNotABoolean) {
  const auto path = state_temp_path("cutover-state-bad-override");
  std::ofstream(path) << R"({"version": 1, "routes": {"app": {"read_weight_bp": 0, "write_weight_bp": 0,
      "generation": 1, "fleet_local_override": "yes"}}})";
  EXPECT_THROW(read_state_file(path), std::runtime_error);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace cutover::admin
