// The dashboard's static files (controller/http/static/), embedded in the
// binary at build time by embed_assets.cmake: no files to install, no web
// server, no CDN. Plain HTML, CSS and JavaScript (ES2017, no framework, no
// build step): what the browser runs is what is in the repository.
#pragma once

#include <string_view>

namespace gantry::http {

struct Asset {
  std::string_view path;  // "app.js"
  std::string_view content_type;
  std::string_view body;
};

// The asset at `path` (relative to static/), or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace gantry::http
