// graft: run large language models locally on whatever hardware the machine has.
#include "commands.h"

#include <graft/host/registry.h>
#include <graft/util/error.h>

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

namespace graft::cli {

std::vector<std::filesystem::path> plugin_search_path(const GlobalOptions &options) {
    std::vector<std::filesystem::path> explicit_paths(options.plugin_paths.begin(),
                                                      options.plugin_paths.end());
    return host::default_search_path(explicit_paths);
}

} // namespace graft::cli

int main(int argc, char **argv) {
    CLI::App app{"graft: run large language models locally on the CPUs, GPUs and NPUs this "
                 "machine has.\nModules of a GGUF model are bound to kernels from plugins by "
                 "YAML rules; see `graft rules explain`."};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("graft ") + GRAFT_VERSION);
    graft::cli::GlobalOptions options;
    app.add_option("--plugin-path", options.plugin_paths,
                   "Directory to search for plugins first (repeatable; also GRAFT_PLUGIN_PATH)")
        ->type_name("DIR");
    app.add_flag("-v,--verbose", options.verbose, "Log more detail");
    graft::cli::add_plugins_command(app, options);
    graft::cli::add_rules_command(app, options);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    } catch (const graft::Error &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception &e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
