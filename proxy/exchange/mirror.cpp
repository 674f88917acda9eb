// Shadow copies of a request: see mirror.hpp.
#include "proxy/exchange/mirror.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "proxy/exchange/shadow_client.hpp"
#include "proxy/shadow/mirror_policy.hpp"

namespace cutover::exchange {

std::shared_ptr<shadow::MirrorExchange> pick_mirror(WorkerContext& worker, const runtime::Route& route,
                                                    router::Side side, std::shared_ptr<const void> keep,
                                                    const boost::beast::http::request_header<>& forwarded,
                                                    std::optional<std::uint64_t> content_length, bool has_body,
                                                    const RequestIdentity& identity) {
  const auto& policy = *route.mirror;
  if (!shadow::selects(policy, forwarded.method_string(), worker.random())) return nullptr;
  if (content_length && *content_length > policy.max_body) {
    policy.count(shadow::Result::skipped_body);
    return nullptr;
  }
  if (!policy.record->try_acquire_slot(policy.max_in_flight)) {
    policy.count(shadow::Result::dropped);
    return nullptr;
  }
  auto ex = std::make_shared<shadow::MirrorExchange>(std::move(keep), policy, route.name, side,
                                                     forwarded.method_string(), forwarded.target(), worker.id);
  // The copy goes to the other side and a noise copy to the source: each in its cluster's protocol.
  const bool shadow_h2 = route.cluster(router::other(side)).http2;
  const bool source_h2 = route.cluster(router::Side::source).http2;
  const shadow::RequestForms forms{.http1 = !shadow_h2 || !source_h2, .http2 = shadow_h2 || source_h2};
  ex->copy_request_head(forwarded, has_body, shadow_traceparent(identity, worker.random()), forms);
  ex->set_request_id(identity.request_id);
  return ex;
}

void launch_mirror(WorkerContext& worker, std::shared_ptr<shadow::MirrorExchange>& mirror, const runtime::Route& route,
                   router::Side side, const runtime::Endpoint* primary_at) {
  const auto& policy = mirror->policy();
  const runtime::Cluster& source = route.cluster(router::Side::source);
  const bool noise = shadow::samples_noise(policy, source.endpoints.size(), worker.random());
  if (!mirror->launch(noise)) {
    mirror.reset();
    return;
  }
  const runtime::Endpoint* shadow_at = nullptr;  // the pool's round robin
  const runtime::Endpoint* noise_at = nullptr;
  if (noise) {
    // The source response to compare against comes from the primary (side source) or from the
    // shadow (side target); the noise copy goes to the next source endpoint after that one.
    const std::size_t n = source.endpoints.size();
    std::size_t reference = worker.random() % n;
    if (side == router::Side::source) {
      reference = static_cast<std::size_t>(primary_at - source.endpoints.data());
    } else {
      shadow_at = &source.endpoints[reference];
    }
    noise_at = &source.endpoints[(reference + 1) % n];
  }
  boost::asio::co_spawn(worker.executor,
                        send_shadow(mirror, shadow::MirrorExchange::Part::shadow, worker.pool,
                                    route.cluster(router::other(side)), shadow_at),
                        boost::asio::detached);
  if (noise)
    boost::asio::co_spawn(worker.executor,
                          send_shadow(mirror, shadow::MirrorExchange::Part::noise, worker.pool, source, noise_at),
                          boost::asio::detached);
}

}  // namespace cutover::exchange
