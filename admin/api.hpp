// The admin API of ../shared/SPEC.md as one function from request to response (no I/O), so tests
// can call it directly. Runs on the admin thread only.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/control.hpp"

namespace cutover::admin {

using AdminRequest = boost::beast::http::request<boost::beast::http::string_body>;
using AdminResponse = boost::beast::http::response<boost::beast::http::string_body>;

// Answers one admin request. Errors are JSON {"error": "..."} with 400 (malformed JSON or query),
// 401 (mutating call without a valid bearer token when tokens are configured), 404 (unknown route
// or endpoint), 405 (wrong method), 409 (if_generation mismatch) and 422 (well-formed but invalid
// values). Keep-alive and version are left for the caller to set.
AdminResponse handle_admin_request(const AdminRequest& request, Control& control);

}  // namespace cutover::admin
