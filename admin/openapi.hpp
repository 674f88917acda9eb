// docs/admin-api.openapi.yaml, the OpenAPI 3.1 description of the admin API, compiled into the
// binary (admin/embed_text.cmake writes its source at build time) and served at GET /v1/openapi.yaml.
#pragma once

#include <string_view>

namespace cutover::admin {

// The YAML text, byte for byte as in the source tree.
std::string_view openapi_yaml();

}  // namespace cutover::admin
