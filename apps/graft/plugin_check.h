// `graft plugins check`: runs every kernel of a plugin against the reference kernels of
// amx-cpu in child processes, so that a plugin that crashes, hangs or scribbles is reported
// instead of taking graft down. Also the probe (`graft plugins probe FILE`, hidden) that
// install and pack use to load a plugin they do not trust yet.
#pragma once

#include "commands.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace graft::cli {

// Registers `plugins check` and the hidden `plugins check-worker` and `plugins probe`
// on the `plugins` subcommand.
void add_plugin_check_commands(CLI::App &plugins, GlobalOptions &options);

// The hidden `plugins probe FILE` alone (add_plugin_check_commands calls it).
void add_probe_command(CLI::App &plugins);

// What loading a plugin file in a child process showed.
struct ProbedPlugin {
    std::string file;
    std::string name, version, vendor, description, status_note;
    std::string status;       // "loaded", "refused", or "crashed" / "hung" (the child died)
    std::string reason;       // why, when not loaded
    uint32_t abi_version = 0; // the ABI version of its table, when it could be read
    bool has_score = false;
    uint32_t score = 0;
    std::vector<std::string> kernels; // "plugin/impl (op)"
    std::vector<std::string> devices; // device names
    bool loaded() const { return status == "loaded"; }
};

// Loads `file` as the host would, in a child process (`graft plugins probe`), within
// `timeout_seconds`. Never throws: a crash or hang becomes the status.
ProbedPlugin probe_plugin(const std::filesystem::path &file, double timeout_seconds = 60);

namespace check {

struct WorkerOptions {
    std::string file;   // the plugin under test
    std::string impl;   // its kernel to check
    std::string device; // (optional) its device to use
    bool perf = false;
};

// The hidden `plugins check-worker`: prints JSON lines (see plugin_check_worker.cpp).
int run_check_worker(const GlobalOptions &options, const WorkerOptions &args);

} // namespace check
} // namespace graft::cli
