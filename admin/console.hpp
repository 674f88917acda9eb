// The migration console: GET /ui/ on the admin listener serves a single page (admin/ui/) that
// watches and drives the admin API from the browser. The files are built in (no CDN, works
// air-gapped) and served with a Content-Security-Policy that allows only this origin's scripts
// and styles (none inline), X-Frame-Options: DENY and X-Content-Type-Options: nosniff.
#pragma once

#include <optional>

#include "admin/api.hpp"

namespace cutover::admin {

// The answer when `request` is for the console (/ui and everything under /ui/), nullopt
// otherwise. /ui redirects to /ui/ (the page's links are relative); an unknown file is 404; a
// method other than GET is 405.
std::optional<AdminResponse> console_response(const AdminRequest& request);

}  // namespace cutover::admin
