// The JSONL mismatch log: see mismatch_log.hpp.
#include "proxy/shadow/mismatch_log.hpp"

#include <stdexcept>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/rotating_file_sink.h>

namespace cutover::shadow {

MismatchLog::MismatchLog(const config::MirrorLogConfig& config) : path_(config.path) {
  try {
    pool_ = std::make_shared<spdlog::details::thread_pool>(kQueueLines, 1);
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(config.path, config.max_size, config.max_files);
    logger_ = std::make_shared<spdlog::async_logger>("mismatch-log", std::move(sink), pool_,
                                                     spdlog::async_overflow_policy::overrun_oldest);
    logger_->set_pattern("%v");
    logger_->set_level(spdlog::level::info);
    logger_->flush_on(spdlog::level::info);  // each line reaches the file (not the disk) at once
  } catch (const spdlog::spdlog_ex& e) {
    throw std::runtime_error("mirror_log: cannot open " + config.path + ": " + e.what());
  }
}

MismatchLog::~MismatchLog() {
  // The pool's destructor writes what is queued and joins its thread; only then does the logger
  // (and its file sink) go, so no write runs against a destroyed sink.
  pool_.reset();
  logger_.reset();
}

void MismatchLog::write(const std::string& line) { logger_->info("{}", line); }

std::uint64_t MismatchLog::dropped() const { return pool_->overrun_counter(); }

}  // namespace cutover::shadow
