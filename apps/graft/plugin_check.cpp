// `graft plugins check PLUGIN.so [--op OP] [--perf] [--json]`: the parent side. Loads the
// plugin in a child (probe), then checks each kernel in a child of its own
// (`plugins check-worker`), reading the worker's JSON lines as they come; a child that
// dies of a signal or stops making progress is reported with the case it was in.
// Exit code: 0 every kernel passed (or was skipped, saying why) and at least one ran;
// 1 a kernel failed or the plugin did not load; 2 nothing could be checked.
#include "plugin_check.h"
#include "plugin_check_cases.h"

#include <graft/host/subprocess.h>

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace graft::cli {
namespace {

namespace json = boost::json;

struct CheckArgs {
    std::string file;
    std::vector<std::string> ops;
    std::vector<std::string> impls; // --kernel: only these kernels (impl names)
    std::string device;
    bool perf = false;
    bool json = false;
    double timeout = 60.0;
};

struct VarietyReport {
    std::string variety;
    int cases = 0, passed = 0, unsupported = 0;
    double worst = 0.0, tolerance = 0.0;
    std::vector<std::string> failures;
    json::array perf;
};

struct KernelReport {
    std::string kernel, op, device, device_memory, reference, reference_file;
    std::string verdict = "pass"; // pass, fail, skip
    std::string reason;           // for fail and skip
    std::vector<VarietyReport> varieties;
};

std::string str(const json::object &o, const char *key) {
    const json::value *v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string number_text(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g", v);
    return buffer;
}

VarietyReport &variety_of(KernelReport &report, const std::string &variety) {
    for (VarietyReport &v : report.varieties)
        if (v.variety == variety)
            return v;
    report.varieties.push_back(VarietyReport{variety, 0, 0, 0, 0.0, 0.0, {}, {}});
    return report.varieties.back();
}

KernelReport check_kernel(const GlobalOptions &options, const CheckArgs &args,
                          const std::string &kernel_name) {
    KernelReport report;
    report.kernel = kernel_name;
    const std::string impl = kernel_name.substr(kernel_name.find('/') + 1);
    std::vector<std::string> argv = {
        host::self_executable(), "plugins", "check-worker", args.file, "--kernel", impl};
    if (args.perf)
        argv.push_back("--perf");
    if (!args.device.empty())
        argv.insert(argv.end(), {"--device", args.device});
    for (const std::string &dir : options.plugin_paths)
        argv.insert(argv.end(), {"--plugin-path", dir});
    host::SubprocessLimits limits;
    limits.idle_seconds = args.timeout;
    const host::SubprocessResult run = host::run_subprocess(argv, limits);

    std::string current_case, fault;
    bool done = false;
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
        json::object event;
        try {
            event = json::parse(line).as_object();
        } catch (const std::exception &) {
            continue; // a plugin may print on stdout too
        }
        const std::string kind = str(event, "kind");
        if (kind == "kernel") {
            report.op = str(event, "op");
            report.device = str(event, "device");
            report.device_memory = str(event, "device_memory");
            report.reference = str(event, "reference");
            report.reference_file = str(event, "reference_file");
        } else if (kind == "refused") {
            report.verdict = "fail";
            report.reason = "refused by the host: " + str(event, "why");
        } else if (kind == "skip") {
            report.verdict = "skip";
            report.reason = str(event, "why");
        } else if (kind == "begin") {
            current_case = str(event, "case");
        } else if (kind == "fault") {
            fault = str(event, "what");
        } else if (kind == "done") {
            done = true;
        } else if (kind == "result") {
            VarietyReport &v = variety_of(report, str(event, "variety"));
            const std::string status = str(event, "status");
            ++v.cases;
            if (const json::value *t = event.if_contains("tolerance"); t && t->is_number())
                v.tolerance = t->to_number<double>();
            if (const json::value *e = event.if_contains("error"))
                v.worst = std::max(v.worst, e->is_number() ? e->to_number<double>() : 1e300);
            if (status == "pass") {
                ++v.passed;
            } else if (status == "unsupported") {
                ++v.unsupported;
            } else {
                std::string why = str(event, "message");
                if (const json::value *e = event.if_contains("error"))
                    why += " (error " +
                           (e->is_number() ? number_text(e->to_number<double>())
                                           : std::string("inf")) +
                           ", tolerance " + number_text(v.tolerance) + ")";
                v.failures.push_back(str(event, "case") + ": " + why);
            }
            current_case.clear();
        } else if (kind == "perf") {
            variety_of(report, str(event, "variety")).perf.push_back(event);
        }
    }
    const std::string where =
        current_case.empty() ? std::string(" while loading") : " in case \"" + current_case + "\"";
    if (!run.started) {
        report.verdict = "fail";
        report.reason = "cannot start the checker child: " + run.error;
    } else if (run.timed_out) {
        report.verdict = "fail";
        report.reason = "hung: no progress for " + number_text(args.timeout) + " s" + where +
                        " (the child was killed)";
    } else if (!run.exited) {
        report.verdict = "fail";
        report.reason = "crashed" + where + ": " + (fault.empty() ? "" : fault + "; ") +
                        host::signal_text(run.signal);
    } else if (!done && report.verdict == "pass") {
        report.verdict = "fail";
        report.reason = "the checker child exited with code " + std::to_string(run.exit_code) +
                        " before finishing" + where +
                        (run.err.empty() ? "" : ": " + run.err.substr(0, 500));
    }
    if (report.verdict == "pass") {
        int failed = 0, ran = 0;
        for (const VarietyReport &v : report.varieties) {
            failed += static_cast<int>(v.failures.size());
            ran += v.passed;
        }
        if (failed > 0) {
            report.verdict = "fail";
            report.reason = std::to_string(failed) + " case" + (failed > 1 ? "s" : "") + " failed";
        } else if (ran == 0) {
            report.verdict = "fail";
            report.reason = "it refused every case as unsupported";
        }
    }
    return report;
}

std::string perf_text(const json::object &p) {
    const double mine = p.at("plugin_ms").to_number<double>();
    const double ref = p.at("reference_ms").to_number<double>();
    std::string text = "perf " + str(p, "case") + ": " + number_text(mine) + " ms; " +
                       str(p, "reference") + " " + number_text(ref) + " ms (" +
                       number_text(ref / std::max(mine, 1e-9)) + "x)";
    if (const json::value *fast = p.if_contains("fast_ms")) {
        const double f = fast->to_number<double>();
        text += "; " + str(p, "fast") + " " + number_text(f) + " ms (" +
                number_text(f / std::max(mine, 1e-9)) + "x)";
    }
    return text + ", median of " + std::to_string(p.at("repetitions").to_number<int>());
}

void print_text(const ProbedPlugin &probe, const std::vector<KernelReport> &reports) {
    std::cout << "checking " << probe.name << " " << probe.version
              << (probe.vendor.empty() ? "" : " (" + probe.vendor + ")") << ": " << probe.file
              << "\n";
    for (const KernelReport &r : reports)
        if (!r.reference_file.empty()) {
            std::cout << "reference: amx-cpu from " << r.reference_file << "\n";
            break;
        }
    int passed = 0, failed = 0, skipped = 0;
    for (const KernelReport &r : reports) {
        std::cout << "\n"
                  << r.kernel << (r.op.empty() ? "" : " (" + r.op + ")")
                  << (r.device.empty() ? "" : " on " + r.device) << ": "
                  << (r.verdict == "pass"   ? "pass"
                      : r.verdict == "skip" ? "skipped"
                                            : "FAIL")
                  << (r.reason.empty() ? "" : ": " + r.reason) << "\n";
        passed += r.verdict == "pass";
        failed += r.verdict == "fail";
        skipped += r.verdict == "skip";
        for (const VarietyReport &v : r.varieties) {
            std::cout << "  " << v.variety << ": " << v.passed << " of " << v.cases
                      << " cases passed, worst error " << number_text(v.worst) << " (tolerance "
                      << number_text(v.tolerance) << ")";
            if (v.unsupported)
                std::cout << ", " << v.unsupported << " unsupported";
            std::cout << "\n";
            for (const std::string &f : v.failures)
                std::cout << "    FAIL " << f << "\n";
            for (const json::value &p : v.perf)
                std::cout << "    " << perf_text(p.as_object()) << "\n";
        }
    }
    std::cout << "\n"
              << reports.size() << " kernel" << (reports.size() == 1 ? "" : "s") << ": " << passed
              << " passed, " << failed << " failed, " << skipped << " skipped\n";
}

json::object report_json(const ProbedPlugin &probe, const std::vector<KernelReport> &reports,
                         int exit_code) {
    json::array kernels;
    for (const KernelReport &r : reports) {
        json::array varieties;
        for (const VarietyReport &v : r.varieties) {
            json::array failures;
            for (const std::string &f : v.failures)
                failures.emplace_back(f);
            varieties.push_back(json::object{{"variety", v.variety},
                                             {"cases", v.cases},
                                             {"passed", v.passed},
                                             {"unsupported", v.unsupported},
                                             {"worst_error", v.worst},
                                             {"tolerance", v.tolerance},
                                             {"failures", std::move(failures)},
                                             {"perf", v.perf}});
        }
        kernels.push_back(json::object{{"kernel", r.kernel},
                                       {"op", r.op},
                                       {"device", r.device},
                                       {"device_memory", r.device_memory},
                                       {"reference", r.reference},
                                       {"status", r.verdict},
                                       {"reason", r.reason},
                                       {"varieties", std::move(varieties)}});
    }
    return json::object{{"file", probe.file},          {"plugin", probe.name},
                        {"version", probe.version},    {"load", probe.status},
                        {"load_reason", probe.reason}, {"kernels", std::move(kernels)},
                        {"passed", exit_code == 0},    {"exit_code", exit_code}};
}

int run_check(const GlobalOptions &options, const CheckArgs &args) {
    const ProbedPlugin probe = probe_plugin(args.file, args.timeout);
    std::vector<KernelReport> reports;
    int exit_code = 0;
    if (!probe.loaded()) {
        exit_code = 1;
    } else {
        for (const std::string &entry : probe.kernels) {
            // "plugin/impl (op)"
            const std::string name = entry.substr(0, entry.find(' '));
            const std::string op =
                entry.substr(entry.find('(') + 1, entry.size() - entry.find('(') - 2);
            const std::string impl = name.substr(name.find('/') + 1);
            if ((!args.ops.empty() &&
                 std::find(args.ops.begin(), args.ops.end(), op) == args.ops.end()) ||
                (!args.impls.empty() &&
                 std::find(args.impls.begin(), args.impls.end(), impl) == args.impls.end()))
                continue;
            reports.push_back(check_kernel(options, args, name));
            if (reports.back().op.empty())
                reports.back().op = op;
        }
        bool any_pass = false;
        for (const KernelReport &r : reports) {
            if (r.verdict == "fail")
                exit_code = 1;
            any_pass = any_pass || r.verdict == "pass";
        }
        if (exit_code == 0 && !any_pass)
            exit_code = 2;
    }
    if (args.json) {
        std::cout << json::serialize(report_json(probe, reports, exit_code)) << "\n";
    } else if (!probe.loaded()) {
        std::cout << "checking " << probe.file << ": FAIL: the plugin does not load ("
                  << probe.status << "): " << probe.reason << "\n";
    } else {
        print_text(probe, reports);
        if (reports.empty())
            std::cout << "nothing to check"
                      << (args.ops.empty() && args.impls.empty()
                              ? ": the plugin declares no kernels"
                              : ": no kernel matches --op and --kernel")
                      << "\n";
    }
    return exit_code;
}

} // namespace

void add_plugin_check_commands(CLI::App &plugins, GlobalOptions &options) {
    auto args = std::make_shared<CheckArgs>();
    CLI::App *check = plugins.add_subcommand(
        "check", "Run every kernel of a plugin against amx-cpu's reference kernels on random "
                 "inputs, each in a child process; the exit code says whether all passed");
    check->add_option("plugin", args->file, "Plugin file (.so)")
        ->required()
        ->check(CLI::ExistingFile)
        ->type_name("PLUGIN.so");
    check->add_option("--op", args->ops, "Check only kernels of this op (repeatable)")
        ->type_name("OP");
    check
        ->add_option("--kernel", args->impls,
                     "Check only this kernel, by its impl name (repeatable; with --op, "
                     "kernels that match both)")
        ->type_name("IMPL");
    check->add_option("--device", args->device,
                      "Run on this device of the plugin (default: "
                      "its first that the kernel runs on)");
    check->add_flag("--perf", args->perf,
                    "Also time each kernel beside the reference and amx-cpu's fast kernel "
                    "(median of repetitions; ratio > 1: the plugin is faster)");
    check->add_flag("--json", args->json, "One JSON document instead of the report");
    check
        ->add_option("--timeout", args->timeout,
                     "Seconds a kernel may run without finishing a case before it counts as "
                     "hung")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 3600.0));
    check->callback([&options, args] {
        const int code = run_check(options, *args);
        if (code != 0)
            throw CLI::RuntimeError(code);
    });

    auto worker = std::make_shared<check::WorkerOptions>();
    CLI::App *worker_cmd =
        plugins.add_subcommand("check-worker", "Check one kernel (the child side of check)");
    worker_cmd->group(""); // hidden
    worker_cmd->add_option("plugin", worker->file)->required();
    worker_cmd->add_option("--kernel", worker->impl)->required();
    worker_cmd->add_option("--device", worker->device);
    worker_cmd->add_flag("--perf", worker->perf);
    worker_cmd->callback([&options, worker] {
        const int code = check::run_check_worker(options, *worker);
        if (code != 0)
            throw CLI::RuntimeError(code);
    });
    add_probe_command(plugins);
}

} // namespace graft::cli
