// The access log line of one exchange, one tcp connection or one tunnel, handed to the listener's
// writer (observe/log_writer.hpp) when the listener has an access log and the sample picks it.
#pragma once

#include <cstdint>

#include "proxy/observe/access_record.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

// Whether `listener` writes a line for this request (it has an access log, and `random_bits`
// fall inside access_log.sample).
inline bool access_logged(const runtime::Listener& listener, std::uint64_t random_bits) {
  const auto& log = listener.access_log;
  return log.writer && (log.sample_bp >= 10000 || random_bits % 10000 < log.sample_bp);
}

// Serializes `record` and queues it; a full queue counts a drop (never waits).
void write_access_line(const runtime::Listener& listener, const observe::AccessRecord& record);

}  // namespace cutover::exchange
