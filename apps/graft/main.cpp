// graft: run large language models locally on whatever hardware the machine has.
#include "commands.h"

#include <graft/host/registry.h>
#include <graft/util/error.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

namespace graft::cli {

std::vector<std::filesystem::path> plugin_search_path(const GlobalOptions &options) {
    std::vector<std::filesystem::path> explicit_paths(options.plugin_paths.begin(),
                                                      options.plugin_paths.end());
    return host::default_search_path(explicit_paths);
}

namespace {

// Log lines go to stderr, so that what a command prints on stdout (a JSON document, a
// table) stays machine-readable. Warnings and errors by default; -v adds the rest.
void configure_logging(bool verbose) {
    static const auto logger = [] {
        auto l = spdlog::stderr_color_mt("graft");
        l->set_pattern("%^%l%$: %v");
        return l;
    }();
    logger->set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
    spdlog::set_default_logger(logger);
}

} // namespace

} // namespace graft::cli

int main(int argc, char **argv) {
    graft::cli::configure_logging(false);
    CLI::App app{"graft: run large language models locally on the CPUs, GPUs and NPUs this "
                 "machine has.\nModules of a GGUF model are bound to kernels from plugins by "
                 "YAML rules; see `graft rules explain`."};
    app.require_subcommand(1);
    app.fallthrough(); // global options may follow the subcommand: `graft plugins list -v`
    app.set_version_flag("--version", std::string("graft ") + GRAFT_VERSION);
    graft::cli::GlobalOptions options;
    app.add_option("--plugin-path", options.plugin_paths,
                   "Directory to search for plugins first (repeatable; also GRAFT_PLUGIN_PATH)")
        ->type_name("DIR");
    app.add_flag("-v,--verbose", options.verbose, "Log more detail (to stderr)");
    // Runs after parsing and before any subcommand's callback.
    app.parse_complete_callback([&options] { graft::cli::configure_logging(options.verbose); });
    graft::cli::add_plugins_command(app, options);
    graft::cli::add_rules_command(app, options);
    graft::cli::add_run_commands(app, options);
    graft::cli::add_serve_command(app, options);
    graft::cli::add_bench_command(app, options);
    graft::cli::add_ab_command(app, options);
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
