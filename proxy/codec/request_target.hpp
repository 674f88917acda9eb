// The request-target forms of RFC 9112 §3.2 as a gateway sees them.
#pragma once

#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>

namespace cutover::codec {

// RFC 9112 §3.2.2: a request whose target is in absolute-form ("http://a.example:8080/p?q") is
// routed by the target's authority, which replaces any Host field, and goes upstream in
// origin-form ("/p?q"; "/" for an empty path) as a client talking to an origin sends it (§3.2.1).
// Leaves an origin-form, authority-form or asterisk-form target alone. Returns the problem (the
// caller answers 400) for an absolute-form target that is not an http or https URI with a host,
// or that carries userinfo (RFC 9110 §4.2.4) or a fragment.
std::optional<std::string> absolute_form_to_origin_form(boost::beast::http::request_header<>& req);

}  // namespace cutover::codec
