// Subcommands of the graft CLI. Each lives in its own cmd_*.cpp and registers itself on
// the root app; the commands are thin: they drive core and print.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace graft::cli {

// Options every subcommand shares.
struct GlobalOptions {
    std::vector<std::string> plugin_paths; // --plugin-path, before GRAFT_PLUGIN_PATH
    bool verbose = false;
};

// The plugin search path for these options (see host::default_search_path).
std::vector<std::filesystem::path> plugin_search_path(const GlobalOptions &options);

void add_plugins_command(CLI::App &app, GlobalOptions &options);
void add_rules_command(CLI::App &app, GlobalOptions &options);
void add_run_commands(CLI::App &app, GlobalOptions &options);
void add_serve_command(CLI::App &app, GlobalOptions &options);
void add_bench_command(CLI::App &app, GlobalOptions &options);
void add_ab_command(CLI::App &app, GlobalOptions &options);

} // namespace graft::cli
