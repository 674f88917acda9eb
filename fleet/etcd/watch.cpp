// The etcd watch over the gateway's streamed answer, with probes, reconnects and resumption:
// see the design note in client.hpp.
#include <algorithm>
#include <array>
#include <limits>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "fleet/etcd/client.hpp"
#include "fleet/etcd/codec.hpp"
#include "fleet/etcd/connection.hpp"

namespace cutover::fleet::etcd {

using namespace detail;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;       // bytes of the stream read at a time
constexpr std::size_t kHeadLimit = 64 * 1024;       // bytes of the answer head (and of an error body)
constexpr unsigned kMaxBackoffDoublings = 30;

}  // namespace

std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds min, std::chrono::milliseconds max,
                                        double unit_random) {
  auto d = std::max(min, std::chrono::milliseconds(1));
  for (unsigned i = 0; i < attempt && d < max; ++i) d *= 2;
  d = std::min(d, max);
  const auto half = d / 2;
  const double r = std::clamp(unit_random, 0.0, 1.0);
  return half + std::chrono::milliseconds(static_cast<std::int64_t>(r * static_cast<double>((d - half).count())));
}

std::int64_t drop_seen_events(std::vector<WatchEvent>& events, std::int64_t next_revision) {
  std::erase_if(events, [&](const WatchEvent& ev) { return ev.kv.mod_revision < next_revision; });
  return events.empty() ? next_revision : events.back().kv.mod_revision + 1;
}

struct Watch::SessionEnd {
  enum class Kind { lost, compacted, failed, canceled };
  Kind kind = Kind::lost;
  Error error;
  std::int64_t compact_revision = 0;
};

Watch::SessionEnd Watch::lost(ErrorKind kind, std::string message) {
  return {SessionEnd::Kind::lost, Error{kind, std::move(message), 0, 0}, 0};
}

Watch::Watch(Client& client, WatchOptions options, WatchHandler on_events, WatchNoticeHandler on_notice)
    : client_(client),
      options_(std::move(options)),
      on_events_(std::move(on_events)),
      on_notice_(std::move(on_notice)),
      next_revision_(options_.start_revision),
      backoff_timer_(client.io_) {}

void Watch::cancel() {
  asio::post(backoff_timer_.get_executor(), [self = shared_from_this()] {
    self->canceled_ = true;
    self->close_current();
    self->backoff_timer_.cancel();
  });
}

void Watch::close_current() {
  if (current_ != nullptr) current_->close();
}

asio::awaitable<WatchEnd> Watch::run() {
  auto self = shared_from_this();  // the handlers and timers outlive a caller that drops its pointer
  std::minstd_rand random(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::size_t index = client_.preferred_ % client_.endpoints_.size();
  for (;;) {
    if (canceled_) co_return WatchEnd{WatchEnd::Reason::canceled, 0, next_revision_, {}};
    SessionEnd end = co_await session(index);
    if (canceled_ || end.kind == SessionEnd::Kind::canceled)
      co_return WatchEnd{WatchEnd::Reason::canceled, 0, next_revision_, {}};
    if (end.kind == SessionEnd::Kind::compacted)
      co_return WatchEnd{WatchEnd::Reason::compacted, end.compact_revision, next_revision_, {}};
    if (end.kind == SessionEnd::Kind::failed)
      co_return WatchEnd{WatchEnd::Reason::failed, 0, next_revision_, std::move(end.error)};
    const auto delay = backoff_delay(attempt_, client_.config_.backoff_min, client_.config_.backoff_max, unit(random));
    attempt_ = std::min(attempt_ + 1, kMaxBackoffDoublings);
    if (on_notice_)
      on_notice_(WatchNotice{WatchNotice::Kind::disconnected, client_.endpoints_[index].text, end.error, delay});
    index = (index + 1) % client_.endpoints_.size();
    backoff_timer_.expires_after(delay);
    co_await backoff_timer_.async_wait(as_tuple(use_awaitable));
  }
}

asio::awaitable<Watch::SessionEnd> Watch::session(std::size_t endpoint) {
  const auto deadline = Clock::now() + client_.config_.connect_timeout + client_.config_.request_timeout;
  auto token = co_await client_.token(endpoint, deadline);
  if (!token) co_return SessionEnd{SessionEnd::Kind::lost, token.error(), 0};
  auto conn = co_await client_.connect(endpoint, deadline);
  if (!conn) co_return SessionEnd{SessionEnd::Kind::lost, conn.error(), 0};
  if (canceled_) co_return SessionEnd{SessionEnd::Kind::canceled, {}, 0};
  current_ = &(*conn)->lowest();
  SessionEnd end =
      co_await (*conn)->visit([&](auto& stream) { return stream_session(stream, endpoint, std::move(*token)); });
  current_ = nullptr;
  (*conn)->lowest().close();
  co_return end;
}

template <class Stream>
asio::awaitable<Watch::SessionEnd> Watch::stream_session(Stream& stream, std::size_t endpoint, std::string token) {
  const Endpoint& ep = client_.endpoints_[endpoint];
  const ClientConfig& config = client_.config_;
  beast::get_lowest_layer(stream).expires_after(config.request_timeout);
  auto req = detail::post_request(
      ep, "/v3/watch", watch_create_request(options_.key, options_.range_end, next_revision_, true), token);
  auto [wec, wn] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) co_return lost(ErrorKind::transport, "watch on " + ep.text + ": send: " + wec.message());

  beast::flat_buffer buffer(kHeadLimit);
  http::response_parser<http::buffer_body> parser;
  // The answer never ends on its own; each message in it is bounded by the StreamDecoder.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
  if (hec) co_return lost(ErrorKind::transport, "watch on " + ep.text + ": answer: " + hec.message());

  if (parser.get().result_int() != 200) {
    // An error answer is short and complete; read it (bounded) to say what etcd said.
    std::string body;
    std::array<char, 4096> chunk;
    while (!parser.is_done() && body.size() < kHeadLimit) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      auto [rec, rn] = co_await http::async_read_some(stream, buffer, parser, as_tuple(use_awaitable));
      if (rec && rec != http::error::need_buffer) break;
      body.append(chunk.data(), chunk.size() - parser.get().body().size);
    }
    Error e = parse_error_answer(parser.get().result_int(), body);
    e.message = "watch on " + ep.text + ": " + e.message;
    if (client_.token_rejected(e)) client_.token_.clear();
    co_return SessionEnd{SessionEnd::Kind::lost, std::move(e), 0};
  }

  beast::get_lowest_layer(stream).expires_never();  // silence is the watchdog's to judge
  last_activity_ = Clock::now();
  undelivered_seen_ = 0;
  using namespace asio::experimental::awaitable_operators;
  auto first = co_await (read_events(stream, parser, buffer, endpoint) || watchdog(endpoint));
  co_return std::visit([](SessionEnd& e) { return std::move(e); }, first);
}

template <class Stream, class Parser, class Buffer>
asio::awaitable<Watch::SessionEnd> Watch::read_events(Stream& stream, Parser& parser, Buffer& buffer,
                                                      std::size_t endpoint) {
  co_await asio::this_coro::throw_if_cancelled(false);
  const Endpoint& ep = client_.endpoints_[endpoint];
  StreamDecoder decoder(client_.config_.max_watch_message_bytes);
  std::array<char, kReadChunk> chunk;
  std::vector<json::object> messages;
  for (;;) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      if (canceled_) co_return SessionEnd{SessionEnd::Kind::canceled, {}, 0};
      co_return lost(ErrorKind::transport, "watch stream on " + ep.text + ": " + ec.message());
    }
    last_activity_ = Clock::now();
    messages.clear();
    auto error = decoder.feed(std::string_view(chunk.data(), chunk.size() - parser.get().body().size), messages);
    // The messages before a broken one are good: deliver them first.
    for (const json::object& m : messages) {
      if (auto end = handle(m, endpoint)) co_return std::move(*end);
    }
    if (error) {
      error->message = "watch stream on " + ep.text + ": " + error->message;
      // The same oversized message would come again after a reconnect.
      const auto kind = error->kind == ErrorKind::too_large ? SessionEnd::Kind::failed : SessionEnd::Kind::lost;
      co_return SessionEnd{kind, std::move(*error), 0};
    }
    if (parser.is_done()) co_return lost(ErrorKind::transport, "watch stream on " + ep.text + " ended by etcd");
  }
}

std::optional<Watch::SessionEnd> Watch::handle(const json::object& message, std::size_t endpoint) {
  const Endpoint& ep = client_.endpoints_[endpoint];
  auto m = parse_watch_message(message);
  if (!m) {
    Error e = m.error();
    e.message = "watch stream on " + ep.text + ": " + e.message;
    return SessionEnd{SessionEnd::Kind::lost, std::move(e), 0};
  }
  if (m->canceled) {
    if (m->compact_revision > 0) return SessionEnd{SessionEnd::Kind::compacted, {}, m->compact_revision};
    // etcd cancels the watch of a request whose token it no longer takes as "permission denied":
    // the next connection authenticates again.
    if (!client_.config_.username.empty()) client_.token_.clear();
    return lost(ErrorKind::server, "watch on " + ep.text + " canceled by etcd: " +
                                       (m->cancel_reason.empty() ? std::string("no reason given") : m->cancel_reason));
  }
  if (m->created) {
    attempt_ = 0;
    // Watching "from now on": what follows the creation's revision is what the caller has not seen.
    if (next_revision_ == 0) next_revision_ = m->header.revision + 1;
    if (on_notice_) on_notice_(WatchNotice{WatchNotice::Kind::connected, ep.text, {}, {}});
  }
  next_revision_ = drop_seen_events(m->events, next_revision_);
  if (m->events.empty()) return std::nullopt;
  undelivered_seen_ = 0;
  if (on_events_) on_events_(m->events, m->header.revision);
  return std::nullopt;
}

asio::awaitable<Watch::SessionEnd> Watch::watchdog(std::size_t endpoint) {
  co_await asio::this_coro::throw_if_cancelled(false);
  const ClientConfig& config = client_.config_;
  const std::string& name = client_.endpoints_[endpoint].text;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  RangeOptions newest;
  newest.limit = 1;
  newest.keys_only = true;
  newest.newest_mod_first = true;
  for (;;) {
    timer.expires_at(last_activity_ + config.watch_idle);
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    if (ec) co_return SessionEnd{SessionEnd::Kind::canceled, {}, 0};  // the reader ended first
    if (Clock::now() - last_activity_ < config.watch_idle) continue;
    // A quiet watch is normal; a quiet watch on a member that no longer answers is not.
    auto answer = co_await client_.call("/v3/kv/range", range_request(options_.key, options_.range_end, newest), endpoint);
    auto range = answer ? parse_range(*answer) : Result<RangeResult>(answer.error());
    if (!range) {
      close_current();
      co_return lost(range.error().kind, "watch on " + name + " quiet for " +
                                             std::to_string(config.watch_idle.count()) + " ms and its probe failed: " +
                                             range.error().message);
    }
    const std::int64_t top = range->kvs.empty() ? 0 : range->kvs.front().mod_revision;
    if (next_revision_ > 0 && top >= next_revision_) {
      // Seen undelivered twice across a whole quiet period: the stream is stuck, not just late.
      if (undelivered_seen_ != 0 && undelivered_seen_ >= next_revision_) {
        close_current();
        co_return lost(ErrorKind::transport, "watch on " + name + " has not delivered revision " +
                                                 std::to_string(undelivered_seen_) + " within " +
                                                 std::to_string(config.watch_idle.count()) + " ms");
      }
      undelivered_seen_ = top;
    } else {
      undelivered_seen_ = 0;
    }
    last_activity_ = Clock::now();
  }
}

}  // namespace cutover::fleet::etcd
