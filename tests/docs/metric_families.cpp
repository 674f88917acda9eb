// Prints every metric family cutover registers, "NAME TYPE" one a line (stats::Metrics::families()),
// for docs_drift.py to compare with docs/metrics.md.
#include <iostream>

#include "proxy/stats/metrics.hpp"

namespace {

const char* type_name(prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter: return "counter";
    case prometheus::MetricType::Gauge: return "gauge";
    case prometheus::MetricType::Histogram: return "histogram";
    case prometheus::MetricType::Summary: return "summary";
    case prometheus::MetricType::Untyped: return "untyped";
  }
  return "untyped";
}

}  // namespace

int main() {
  const cutover::stats::Metrics metrics;
  for (const auto& f : metrics.families()) std::cout << f.name << ' ' << type_name(f.type) << '\n';
}
