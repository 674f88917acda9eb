// Unit tests for the worker CPU placement of `worker_cpu_affinity: auto`.
#include "proxy/server/cpu_affinity.hpp"

#include <gtest/gtest.h>

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace cutover::server {
namespace {

TEST(WorkerCpus, OnePerAllowedCpuInOrder) {
  EXPECT_EQ(worker_cpus({0, 1}, 2), (std::vector<int>{0, 1}));
  // A cpuset that leaves out CPU 0 and 1 (a container's share).
  EXPECT_EQ(worker_cpus({2, 5, 7}, 3), (std::vector<int>{2, 5, 7}));
}

TEST(WorkerCpus, MoreWorkersThanCpusWrapAround) {
  EXPECT_EQ(worker_cpus({3, 4}, 5), (std::vector<int>{3, 4, 3, 4, 3}));
}

TEST(WorkerCpus, NothingAllowedNothingBound) {
  EXPECT_TRUE(worker_cpus({}, 4).empty());
  EXPECT_TRUE(worker_cpus({0}, 0).empty());
}

TEST(AllowedCpus, AscendingAndNotEmptyHere) {
  const auto cpus = allowed_cpus();
  ASSERT_FALSE(cpus.empty());
  for (std::size_t i = 1; i < cpus.size(); ++i) EXPECT_LT(cpus[i - 1], cpus[i]);
}

// A thread bound to the last allowed CPU runs there, and only there.
TEST(BindThisThread, TheThreadStaysOnItsCpu) {
  const int cpu = allowed_cpus().back();
  std::string problem = "not run";
  int seen = -1, count = 0;
  std::thread([&] {
    problem = bind_this_thread(cpu);
    seen = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) count = CPU_COUNT(&set);
  }).join();
  if (problem == std::strerror(EPERM)) GTEST_SKIP() << "this machine refuses sched_setaffinity";
  EXPECT_EQ(problem, "");
  EXPECT_EQ(seen, cpu);
  EXPECT_EQ(count, 1);
}

TEST(BindThisThread, ANonexistentCpuIsRefused) {
  std::string problem;
  std::thread([&] { problem = bind_this_thread(CPU_SETSIZE + 1); }).join();
  EXPECT_FALSE(problem.empty());
}

}  // namespace
}  // namespace cutover::server
