// Worker CPU placement: see cpu_affinity.hpp.
#include "proxy/server/cpu_affinity.hpp"

#include <pthread.h>
#include <sched.h>

#include <cstring>

namespace cutover::server {

std::vector<int> worker_cpus(const std::vector<int>& allowed, std::size_t workers) {
  std::vector<int> out;
  if (allowed.empty()) return out;
  out.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) out.push_back(allowed[i % allowed.size()]);
  return out;
}

std::vector<int> allowed_cpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) out.push_back(cpu);
  return out;
}

std::string bind_this_thread(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return "no such CPU";
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  return rc == 0 ? std::string() : std::string(std::strerror(rc));
}

}  // namespace cutover::server
