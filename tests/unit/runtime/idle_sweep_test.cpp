// IdleSweep: a waiter is told to park only when it waited through a whole tick, once; one whose
// wait ended, or that is gone, is not; the timer stops when nobody waits.
#include "proxy/runtime/idle_sweep.hpp"

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

namespace cutover::runtime {
namespace {

using namespace std::chrono_literals;

struct CountingWaiter final : IdleSweep::Waiter {
  int parked = 0;
  void park_now() override { ++parked; }
};

TEST(IdleSweep, ParksAWaiterAfterOneToTwoPeriodsOnce) {
  boost::asio::io_context io;
  IdleSweep sweep(io, 20ms);
  CountingWaiter waits, wakes;
  const auto t0 = std::chrono::steady_clock::now();
  sweep.waiting(waits);
  sweep.waiting(wakes);
  EXPECT_EQ(sweep.linked(), 2u);
  wakes.stop_waiting();  // its wait ended before a tick: never parked
  io.run();              // returns once the timer stopped: nobody waits any more
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(waits.parked, 1);
  EXPECT_EQ(wakes.parked, 0);
  EXPECT_EQ(sweep.linked(), 0u);
  EXPECT_GE(took, 20ms);
}

TEST(IdleSweep, AWaiterGoneWhileLinkedIsForgotten) {
  boost::asio::io_context io;
  IdleSweep sweep(io, 10ms);
  {
    CountingWaiter gone;
    sweep.waiting(gone);
  }  // unlinked by its hook
  EXPECT_EQ(sweep.linked(), 0u);
  io.run();  // one tick finds nobody and stops
  CountingWaiter later;
  sweep.waiting(later);  // the timer starts again
  io.restart();
  io.run();
  EXPECT_EQ(later.parked, 1);
}

}  // namespace
}  // namespace cutover::runtime
