// Which worker serves a newly accepted connection: the accepting one, unless it serves more than
// the least loaded worker by more than the slack.
#include "proxy/server/balance.hpp"

#include <array>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::server {
namespace {

std::size_t pick(std::vector<std::size_t> loads, std::size_t self, std::size_t slack = kBalanceSlack) {
  return pick_worker(loads, self, slack);
}

TEST(Balance, OneWorkerKeepsEverything) { EXPECT_EQ(pick({1000}, 0), 0u); }

TEST(Balance, WithinTheSlackTheAcceptingWorkerKeepsIt) {
  EXPECT_EQ(pick({5, 5}, 0), 0u);
  EXPECT_EQ(pick({6, 5}, 0), 0u);  // one above: within slack 1
  EXPECT_EQ(pick({5, 6}, 1), 1u);
  EXPECT_EQ(pick({4, 9}, 0), 0u);  // the less loaded one always keeps it
}

TEST(Balance, AboveTheSlackTheLeastLoadedGetsIt) {
  EXPECT_EQ(pick({7, 5}, 0), 1u);
  EXPECT_EQ(pick({3, 9, 1, 4}, 1), 2u);
  EXPECT_EQ(pick({2, 9, 0, 0}, 1), 2u) << "the lowest index among equals";
  EXPECT_EQ(pick({7, 5}, 0, 0), 1u);
  EXPECT_EQ(pick({6, 5}, 0, 0), 1u) << "slack 0: any excess moves it";
  EXPECT_EQ(pick({6, 5}, 0, 2), 0u);
}

TEST(Balance, AcceptsSpreadBySkewedHashingEvenOut) {
  // Every connection accepted by worker 0 (the worst a hash can do): the loads converge anyway.
  std::array<std::size_t, 3> loads{};
  for (int i = 0; i < 300; ++i) ++loads[pick_worker(loads, 0)];
  EXPECT_EQ(loads, (std::array<std::size_t, 3>{101, 100, 99})) << "the accepting worker keeps its slack";
  // Connections of one worker closing leave it below the others; new ones go to it only as they
  // arrive there, and the others hand theirs over until it has caught up.
  loads = {100, 40, 100};
  for (int i = 0; i < 60; ++i) ++loads[pick_worker(loads, i % 2 == 0 ? 0 : 2)];
  EXPECT_EQ(loads, (std::array<std::size_t, 3>{100, 99, 101}));  // the last accept, on worker 2, kept
}

}  // namespace
}  // namespace cutover::server
