// The chat page's files, built into the binary (generated from server/web/ at build time).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace graft::server {

struct Asset {
    std::string_view path;         // "/index.html", "/app.js", ...
    std::string_view content_type; // "text/html; charset=utf-8", ...
    std::string_view data;
};

std::span<const Asset> web_assets();

} // namespace graft::server
