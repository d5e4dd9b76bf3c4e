// Loading one plugin file: the part of discovery that touches the shared library.
// Private to core/host; the registry decides variants and shadowing on top of it.
#pragma once

#include <graft/host/registry.h>

#include <filesystem>

namespace graft::host::detail {

// Loads the file (rtld_now | rtld_local), scores it, initialises it and checks its
// tables. Loading and initialisation happen once per process per file (the library is
// never unloaded); device figures are read again on every call. The record's status is
// Loaded or Refused, never anything else, and nothing here throws because of the file.
PluginRecord load_plugin_file(const std::filesystem::path &file);

} // namespace graft::host::detail
