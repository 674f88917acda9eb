// One mirrored request: the copy of the request as it went upstream, the responses to
// compare, and the verdict. Owned jointly (shared_ptr) by the primary exchange and the detached
// shadow coroutines, all on one worker thread, so nothing here is locked. The primary never waits
// for it: the verdict is reached by whichever part finishes last.
//
// Lifecycle: the session creates it once the request is picked (MirrorPolicy, slot taken), taps
// the request body into request_body, then launch() sends the shadow copy (and maybe a noise
// copy); it taps the primary response into `primary` and calls primary_done(). Each request picked
// ends in exactly one Result: skipped_body (body over max_body), error (the primary or the shadow
// failed), match or mismatch. Memory: the request body and up to three response bodies of at most
// max_body bytes each, for at most max_in_flight exchanges per route.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>

#include "proxy/router/split.hpp"
#include "proxy/shadow/body_capture.hpp"
#include "proxy/shadow/compare.hpp"
#include "proxy/shadow/mirror_policy.hpp"

namespace cutover::runtime {
struct Cluster;
struct Endpoint;
}  // namespace cutover::runtime

namespace cutover::shadow {

// The head of a mirrored copy of `forwarded` (the request as sent upstream), appended to `out`: the
// request line, the fields without Content-Length, Transfer-Encoding and any X-Cutover-Shadow,
// then "X-Cutover-Shadow: 1\r\n" and the empty line "\r\n" (a sender of a body puts its
// Content-Length before those last 2 bytes). A non-empty `traceparent` replaces the request's
// (the copy is a span of its own in the same trace).
void append_shadow_request_head(const boost::beast::http::request_header<>& forwarded, std::string& out,
                                std::string_view traceparent = {});

// The fields of a mirrored copy of `forwarded` for an HTTP/2 upstream, appended to `out` (names
// lower-cased): the fields without the connection-specific ones HTTP/2 forbids (RFC 9113 §8.2.2:
// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE), Content-Length and
// any X-Cutover-Shadow, then "x-cutover-shadow: 1". Host stays: the sender makes it :authority
// (§8.3.1), as it makes the method and target the other pseudo-header fields. A non-empty
// `traceparent` replaces the request's, as in append_shadow_request_head().
void append_shadow_request_fields(const boost::beast::http::request_header<>& forwarded, HeaderList& out,
                                  std::string_view traceparent = {});

// Status, headers (names lower-cased) and JSON-ness of a response head into `out` (body untouched).
void capture_head(const boost::beast::http::response_header<>& head, CapturedResponse& out);

// Trailer fields into out.trailers (names lower-cased), replacing what was there.
void capture_trailers(const boost::beast::http::fields& trailers, CapturedResponse& out);

// Which forms of the request head the copies need: the HTTP/1.1 text for an http1 cluster, the
// field list for an http2 one (a route between an http1 and an http2 cluster may need both: the
// noise copy goes to the source).
struct RequestForms {
  bool http1 = true;
  bool http2 = false;
};

class MirrorExchange {
 public:
  enum class Part { primary, shadow, noise };

  // `keep` keeps the snapshot that `policy` and `route_name` live in alive for as long as this
  // exchange does. The caller has taken a slot from policy.record; the destructor gives it back.
  // `worker`: the worker thread it runs on (its window statistics slot).
  MirrorExchange(std::shared_ptr<const void> keep, const MirrorPolicy& policy, std::string_view route_name,
                 router::Side primary_side, std::string_view method, std::string_view path, std::size_t worker);
  ~MirrorExchange();
  MirrorExchange(const MirrorExchange&) = delete;
  MirrorExchange& operator=(const MirrorExchange&) = delete;

  const MirrorPolicy& policy() const { return policy_; }
  router::Side primary_side() const { return primary_side_; }
  router::Side shadow_side() const { return router::other(primary_side_); }

  // The request head as forwarded upstream (hop-by-hop removed, forwarding headers added), in the
  // `forms` asked for: serialized once as append_shadow_request_head() writes it, and as
  // append_shadow_request_fields() lists it.
  void copy_request_head(const boost::beast::http::request_header<>& forwarded, bool has_body,
                         std::string_view traceparent = {}, RequestForms forms = {});
  // The request's id, written into its mismatch sample.
  void set_request_id(std::string_view id) { request_id_ = id; }
  const std::string& request_head_text() const { return request_head_; }
  // The HTTP/2 form (RequestForms::http2), with the method and target it goes with.
  const HeaderList& request_fields() const { return request_fields_; }
  std::string_view request_method_text() const { return method_; }
  std::string_view request_target() const { return path_; }
  boost::beast::http::verb request_method() const { return request_method_; }
  bool request_has_body() const { return request_has_body_; }
  BodyCapture request_body{0};  // sized to max_body by the constructor

  // The primary's response head, before the proxy rewrote it; its body goes into primary().body.
  void capture_primary_head(const boost::beast::http::response_header<>& head);
  // The primary's response trailers (an HTTP/2 upstream's), after its body.
  void capture_primary_trailers(const boost::beast::http::fields& trailers) { capture_trailers(trailers, primary()); }
  CapturedResponse& primary() { return responses_[0]; }
  CapturedResponse& response(Part p) { return responses_[static_cast<int>(p)]; }

  // After the request body was read in full: counts skipped_body and returns false when it was
  // over max_body; otherwise registers the parts that will report and returns true. The caller
  // then runs send_shadow() for Part::shadow (and Part::noise when `noise`).
  bool launch(bool noise);

  // Each part reports once. `error` empty = its response is complete in response(part) (a gRPC
  // Trailers-Only answer's status is then taken as its trailers: trailers_only_status_as_trailers).
  void done(Part part, std::string_view error);

 private:
  void conclude();

  std::shared_ptr<const void> keep_;
  const MirrorPolicy& policy_;
  std::string route_;
  router::Side primary_side_;
  std::string method_;
  std::string path_;
  std::string request_id_;
  std::size_t worker_;
  std::string request_head_;
  HeaderList request_fields_;
  boost::beast::http::verb request_method_ = boost::beast::http::verb::unknown;
  bool request_has_body_ = false;
  CapturedResponse responses_[3];  // [Part]
  std::string errors_[3];          // [Part]
  bool reported_[3] = {false, false, false};
  bool expected_[3] = {true, false, false};
  bool concluded_ = false;
};

}  // namespace cutover::shadow
