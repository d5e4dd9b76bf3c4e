// Loading built plugins for the GPU tests: dlopen + graft_plugin_init, straight through the
// ABI, so the tests depend on nothing but the plugin files.
#pragma once

#include <graft/plugin.h>

#include <string>

namespace graft::gputest {

// Where the built plugins are: $GRAFT_TEST_PLUGIN_DIR, else <test binary>/../lib/graft/plugins
// (the build tree's layout, which survives moving the build directory), else the plugin
// directory of the build that compiled the test.
std::string plugin_dir();

struct LoadedPlugin {
    const graft_plugin *table = nullptr; // nullptr when loading failed
    std::string path;
    std::string error; // why loading failed
    bool file_exists = false;
};

// Loads graft-<name>.so once per process (plugins are never unloaded) and caches the result.
const LoadedPlugin &load_plugin(const std::string &name);

// The kernel of `plugin` with impl name `impl`, or nullptr.
const graft_kernel *find_kernel(const graft_plugin *plugin, const std::string &impl);

// Device index of the plugin's device named `name`, or -1.
int find_device(const graft_plugin *plugin, const std::string &name);

} // namespace graft::gputest
