// Access log lines from the data plane: see access_line.hpp.
#include "proxy/exchange/access_line.hpp"

#include <prometheus/counter.h>

namespace cutover::exchange {

void write_access_line(const runtime::Listener& listener, const observe::AccessRecord& record) {
  const auto& log = listener.access_log;
  if (!log.writer) return;
  if (!log.writer->push(observe::to_json_line(record, log.format)) && log.dropped) log.dropped->Increment();
}

}  // namespace cutover::exchange
