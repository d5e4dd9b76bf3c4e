// `graft plugins probe FILE` (hidden): load one plugin file as the host would and print
// what came of it as one JSON document. probe_plugin() runs it as a child process, so that
// a plugin that crashes or hangs while loading cannot take the caller with it.
#include "plugin_check.h"

#include <graft/host/registry.h>
#include <graft/host/subprocess.h>

#include <boost/json.hpp>

#include <iostream>

namespace graft::cli {
namespace {

namespace json = boost::json;

void print_probe(const std::filesystem::path &file) {
    const host::PluginRecord record = host::inspect_plugin_file(file);
    json::array kernels, devices;
    for (const host::KernelRecord &k : record.kernels)
        kernels.emplace_back(k.full_name() + " (" + k.op + ")");
    for (const host::DeviceRecord &d : record.devices)
        devices.emplace_back(d.name);
    json::object doc{{"file", record.file.string()},
                     {"name", record.name},
                     {"version", record.version},
                     {"vendor", record.vendor},
                     {"description", record.description},
                     {"status_note", record.status_note},
                     {"status", host::status_name(record.status)},
                     {"reason", record.reason},
                     {"abi_version", record.api ? record.api->abi_version : 0u},
                     {"kernels", std::move(kernels)},
                     {"devices", std::move(devices)}};
    doc["score"] = record.has_score ? json::value(record.score) : json::value(nullptr);
    std::cout << json::serialize(doc) << "\n" << std::flush;
}

std::string str(const json::object &o, const char *key) {
    const json::value *v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

} // namespace

ProbedPlugin probe_plugin(const std::filesystem::path &file, double timeout_seconds) {
    ProbedPlugin probe;
    probe.file = file.string();
    const host::SubprocessResult run = host::run_subprocess(
        {host::self_executable(), "plugins", "probe", file.string()}, timeout_seconds);
    if (!run.started) {
        probe.status = "crashed";
        probe.reason = "cannot start a child process to load it: " + run.error;
        return probe;
    }
    if (run.timed_out) {
        probe.status = "hung";
        probe.reason = "loading it did not finish within " +
                       std::to_string(static_cast<int>(timeout_seconds)) + " s";
        return probe;
    }
    if (!run.exited) {
        probe.status = "crashed";
        probe.reason = "loading it killed the process: " + host::signal_text(run.signal);
        return probe;
    }
    try {
        const json::object doc = json::parse(run.out).as_object();
        probe.name = str(doc, "name");
        probe.version = str(doc, "version");
        probe.vendor = str(doc, "vendor");
        probe.description = str(doc, "description");
        probe.status_note = str(doc, "status_note");
        probe.status = str(doc, "status");
        probe.reason = str(doc, "reason");
        probe.abi_version = doc.at("abi_version").to_number<uint32_t>();
        if (doc.at("score").is_number()) {
            probe.has_score = true;
            probe.score = doc.at("score").to_number<uint32_t>();
        }
        for (const json::value &k : doc.at("kernels").as_array())
            probe.kernels.emplace_back(k.as_string());
        for (const json::value &d : doc.at("devices").as_array())
            probe.devices.emplace_back(d.as_string());
    } catch (const std::exception &) {
        probe.status = "crashed";
        probe.reason = "loading it in a child process gave no answer (exit code " +
                       std::to_string(run.exit_code) + ")" +
                       (run.err.empty() ? "" : ": " + run.err.substr(0, 300));
    }
    return probe;
}

void add_probe_command(CLI::App &plugins) {
    CLI::App *probe = plugins.add_subcommand("probe", "Load one plugin file and print the outcome");
    probe->group(""); // hidden: the child side of install, pack and check
    auto file = std::make_shared<std::string>();
    probe->add_option("file", *file, "Plugin file")->required();
    probe->callback([file] { print_probe(*file); });
}

} // namespace graft::cli
