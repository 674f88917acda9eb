// Worker CPU placement (config `worker_cpu_affinity: auto`): each worker thread runs on one CPU of
// the set the process may use (sched_getaffinity: a container's cpuset, a taskset), worker i on
// the i-th of them, wrapping around when there are more workers than CPUs.
//
// Why: with two workers on a 2-CPU machine that also runs the clients and backends, the kernel
// let both workers share one CPU at times; a worker woken there waited for the other's time slice
// (up to a 4 ms tick) with all its connections, and the two-worker p99 doubled
// (bench/README.md "workers2"). nginx's `worker_cpu_affinity auto` and HAProxy's `cpu-map` are
// the same idea.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cutover::server {

// Pure: the CPU of each of `workers` workers, given the CPUs allowed (ascending). Empty when no
// CPU is allowed.
std::vector<int> worker_cpus(const std::vector<int>& allowed, std::size_t workers);

// The CPUs this process may run on (ascending); empty when the kernel does not say.
std::vector<int> allowed_cpus();

// Binds the calling thread to `cpu`. Returns an empty string on success, else why not (errno text).
std::string bind_this_thread(int cpu);

}  // namespace cutover::server
