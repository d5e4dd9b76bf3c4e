// The child side of `graft plugins check`: `graft plugins check-worker FILE --kernel IMPL`
// (hidden). Loads the plugin as the host would, finds the reference kernels of amx-cpu
// through the registry, runs one kernel's cases and prints one JSON line per event on
// standard output, flushed at once, so that the parent knows which case was running when
// the child crashed or hung. Lines: kernel, begin, result, perf, skip, refused, fault.
#include "plugin_check.h"
#include "plugin_check_cases.h"
#include "plugin_check_data.h"

#include <graft/host/registry.h>
#include <graft/plugin.hpp>
#include <graft/util/error.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>

namespace graft::cli::check {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

constexpr const char *kReferencePlugin = "amx-cpu";

void emit(const json::object &line) {
    std::cout << json::serialize(line) << "\n" << std::flush;
}

// A kernel bound to a device, with the memory its tensors live in.
struct Target {
    const host::KernelRecord *kernel = nullptr;
    const graft_plugin *plugin = nullptr;
    uint32_t device = 0;
    bool host_memory = true;
    bool guarded = true;
};

struct RunOutcome {
    graft_status status = GRAFT_OK;
    std::string stage;   // "prepare_weights", "create" or "run" when status is not OK
    std::string message; // the plugin's words, or a bad behaviour found
    std::vector<HostTensor> outputs, written_inputs;
    std::vector<double> run_ms; // one per timed repetition
};

// Creates the kernel for the case on the target, runs it (repeat > 1: timed), copies back
// the outputs and checks the memory around them. Bad behaviour ends up in message.
RunOutcome run_on(const Target &target, const Case &c, int repeat) {
    RunOutcome outcome;
    const graft_kernel &k = *target.kernel->api;
    DeviceMemory memory(target.plugin->memory, target.device, target.host_memory, target.guarded);
    std::vector<graft_tensor> weights;
    std::vector<graft_prepared_weight> prepared;
    std::vector<std::unique_ptr<GuardedBuffer>> sources;
    auto release = [&] {
        for (graft_prepared_weight &w : prepared)
            k.release_weights(target.device, &w);
        prepared.clear();
    };
    for (uint32_t i = 0; i < c.weights.size(); ++i) {
        if (!k.prepare_weights) {
            weights.push_back(memory.upload(c.weights[i], {"weight", i}));
            continue;
        }
        // prepare_weights reads host memory: a guarded copy catches reads past its end.
        sources.push_back(
            std::make_unique<GuardedBuffer>(c.weights[i].bytes.size(), BufferRole{"weight", i}));
        std::memcpy(sources.back()->data(), c.weights[i].bytes.data(), c.weights[i].bytes.size());
        graft_tensor src = c.weights[i].desc;
        src.data = sources.back()->data();
        src.device = target.device;
        graft_prepared_weight out{};
        outcome.status = k.prepare_weights(target.device, i, &src, &out);
        if (outcome.status != GRAFT_OK) {
            outcome.stage = "prepare_weights";
            outcome.message = plugin_error(*target.plugin, outcome.status);
            release();
            return outcome;
        }
        prepared.push_back(out);
        weights.push_back(out.tensor);
    }
    for (graft_tensor &w : weights)
        w.device = target.device;

    auto config = sdk::versioned<graft_kernel_config>();
    config.device = target.device;
    config.weights = weights.empty() ? nullptr : weights.data();
    config.n_weights = static_cast<uint32_t>(weights.size());
    config.params = c.config_params.empty() ? nullptr : c.config_params.data();
    config.n_params = static_cast<uint32_t>(c.config_params.size());
    void *state = nullptr;
    outcome.status = k.create(&config, &state);
    if (outcome.status != GRAFT_OK) {
        outcome.stage = "create";
        outcome.message = plugin_error(*target.plugin, outcome.status);
        release();
        return outcome;
    }

    std::vector<graft_tensor> inputs, outputs;
    for (uint32_t i = 0; i < c.inputs.size(); ++i)
        inputs.push_back(memory.upload(c.inputs[i], {"input", i}));
    for (uint32_t i = 0; i < c.outputs.size(); ++i)
        outputs.push_back(memory.output_like(c.outputs[i], {"output", i}));
    for (graft_tensor &t : inputs)
        t.device = target.device;
    for (graft_tensor &t : outputs)
        t.device = target.device;
    auto call = sdk::versioned<graft_kernel_call>();
    call.inputs = inputs.empty() ? nullptr : inputs.data();
    call.n_inputs = static_cast<uint32_t>(inputs.size());
    call.outputs = outputs.data();
    call.n_outputs = static_cast<uint32_t>(outputs.size());
    call.params = c.call_params.empty() ? nullptr : c.call_params.data();
    call.n_params = static_cast<uint32_t>(c.call_params.size());

    for (int r = 0; r < std::max(1, repeat); ++r) {
        const auto start = Clock::now();
        outcome.status = k.run(state, &call);
        if (outcome.status == GRAFT_OK)
            memory.synchronize();
        outcome.run_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (outcome.status != GRAFT_OK)
            break;
    }
    if (outcome.status != GRAFT_OK) {
        outcome.stage = "run";
        outcome.message = plugin_error(*target.plugin, outcome.status);
    } else if (std::string damage = memory.canary_damage(); !damage.empty()) {
        outcome.message = damage;
    } else {
        for (size_t i = 0; i < outputs.size(); ++i) {
            outcome.outputs.push_back(c.outputs[i]);
            memory.download(outputs[i], outcome.outputs.back());
        }
        for (uint32_t i = 0; i < inputs.size(); ++i) {
            HostTensor after = c.inputs[i];
            memory.download(inputs[i], after);
            const bool written = std::find(c.written_inputs.begin(), c.written_inputs.end(), i) !=
                                 c.written_inputs.end();
            if (written)
                outcome.written_inputs.push_back(std::move(after));
            else if (after.bytes != c.inputs[i].bytes && repeat <= 1)
                outcome.message = "changed input " + std::to_string(i) + ", which it may only read";
        }
    }
    k.destroy(state);
    release();
    return outcome;
}

// Largest |got - want| over the RMS of want; infinite when got has a NaN or inf where want
// is finite.
double relative_error(const std::vector<float> &got, const std::vector<float> &want) {
    double sum = 0.0;
    for (float v : want)
        sum += static_cast<double>(v) * v;
    const double rms = want.empty() ? 1.0 : std::sqrt(sum / static_cast<double>(want.size()));
    const double scale = rms > 0.0 ? rms : 1.0;
    double worst = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
        if (!std::isfinite(got[i]) && std::isfinite(want[i]))
            return std::numeric_limits<double>::infinity();
        worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) / scale);
    }
    return worst;
}

// Router outputs: every token's k ids must be distinct experts whose probability is
// within the tolerance of the k-th largest (so near ties may go either way), and each
// weight must match that expert's probability. `probs` is the reference run with
// top_k = n_expert (all probabilities, in its order of ids).
std::string compare_top_k(const Case &c, const RunOutcome &got, const RunOutcome &probs,
                          double &worst) {
    const HostTensor &ids = got.outputs[0], &weights = got.outputs[1];
    const int64_t k = ids.desc.ne[0], tokens = ids.desc.ne[1];
    const int64_t n_expert = probs.outputs[0].desc.ne[0];
    worst = 0.0;
    for (int64_t t = 0; t < tokens; ++t) {
        std::vector<float> p(static_cast<size_t>(n_expert), -1.0f);
        for (int64_t j = 0; j < n_expert; ++j) {
            const int32_t id = probs.outputs[0].i32()[t * n_expert + j];
            if (id >= 0 && id < n_expert)
                p[static_cast<size_t>(id)] = probs.outputs[1].f32()[t * n_expert + j];
        }
        std::vector<float> sorted = p;
        std::sort(sorted.rbegin(), sorted.rend());
        const float kth = sorted[static_cast<size_t>(k - 1)];
        std::vector<bool> seen(static_cast<size_t>(n_expert), false);
        for (int64_t j = 0; j < k; ++j) {
            const int32_t id = ids.i32()[t * k + j];
            const std::string where =
                "token " + std::to_string(t) + ", choice " + std::to_string(j);
            if (id < 0 || id >= n_expert)
                return where + ": expert id " + std::to_string(id) + " is out of range";
            if (seen[static_cast<size_t>(id)])
                return where + ": expert " + std::to_string(id) + " chosen twice";
            seen[static_cast<size_t>(id)] = true;
            const double miss = (kth - p[static_cast<size_t>(id)]) / std::max(kth, 1e-6f);
            const double off = std::fabs(weights.f32()[t * k + j] - p[static_cast<size_t>(id)]) /
                               std::max(kth, 1e-6f);
            if (!std::isfinite(weights.f32()[t * k + j]))
                worst = std::numeric_limits<double>::infinity();
            worst = std::max({worst, miss, off});
        }
    }
    (void)c;
    return "";
}

double median(std::vector<double> v) {
    if (v.empty())
        return 0.0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Repetitions for timing: about half a second of the reference, 5 to 50.
int repetitions(double one_run_ms) {
    return std::clamp(static_cast<int>(500.0 / std::max(one_run_ms, 0.01)), 5, 50);
}

void check_case(const Target &plugin, const Target &reference, const Target *fast, const Case &c) {
    emit({{"kind", "begin"}, {"case", c.label}, {"variety", c.variety}});
    json::object result{{"kind", "result"},
                        {"case", c.label},
                        {"variety", c.variety},
                        {"tolerance", c.tolerance},
                        {"perf_case", c.perf}};
    const RunOutcome want = run_on(reference, c, 1);
    if (want.status != GRAFT_OK || !want.message.empty())
        throw Error("the reference " + reference.kernel->full_name() + " failed in " + want.stage +
                    ": " + want.message);
    const RunOutcome got = run_on(plugin, c, 1);
    if (got.status == GRAFT_ERR_UNSUPPORTED) {
        result["status"] = "unsupported";
        result["message"] = got.stage + " said " + got.message;
        emit(result);
        return;
    }
    if (got.status != GRAFT_OK || !got.message.empty()) {
        result["status"] = "fail";
        result["message"] =
            got.status != GRAFT_OK ? got.stage + " failed: " + got.message : got.message;
        emit(result);
        return;
    }
    double worst = 0.0;
    std::string mismatch;
    if (c.top_k_outputs) {
        Case all = c;
        const int64_t n_expert = c.weights[0].desc.ne[1], tokens = c.outputs[0].desc.ne[1];
        for (graft_param &p : all.config_params)
            if (std::string(p.key) == "top_k")
                p = sdk::make_int_param("top_k", n_expert);
        all.outputs = {HostTensor(GRAFT_DTYPE_I32, {n_expert, tokens}),
                       HostTensor(GRAFT_DTYPE_F32, {n_expert, tokens})};
        const RunOutcome probs = run_on(reference, all, 1);
        if (probs.status != GRAFT_OK)
            throw Error("the reference router failed with top_k = n_expert: " + probs.message);
        mismatch = compare_top_k(c, got, probs, worst);
    } else {
        for (size_t i = 0; i < want.outputs.size(); ++i)
            worst =
                std::max(worst, relative_error(got.outputs[i].values(), want.outputs[i].values()));
        for (size_t i = 0; i < want.written_inputs.size(); ++i)
            worst = std::max(worst, relative_error(got.written_inputs[i].values(),
                                                   want.written_inputs[i].values()));
    }
    result["error"] = std::isfinite(worst) ? json::value(worst) : json::value("inf");
    const bool pass = mismatch.empty() && worst <= c.tolerance;
    result["status"] = pass ? "pass" : "fail";
    if (!mismatch.empty())
        result["message"] = mismatch;
    else if (!pass)
        result["message"] = std::isfinite(worst) ? "results differ from the reference"
                                                 : "NaN, inf or unwritten elements in the output";
    emit(result);
    if (!c.perf)
        return;
    // Timing: the reference first, to choose a number of repetitions all three share.
    const RunOutcome ref_once = run_on(reference, c, 2);
    const int reps = repetitions(median(ref_once.run_ms));
    json::object perf{
        {"kind", "perf"}, {"case", c.label}, {"variety", c.variety}, {"repetitions", reps}};
    Target timed_plugin = plugin;
    timed_plugin.guarded = false; // mmap'd guard pages per call would be timed too
    perf["plugin_ms"] = median(run_on(timed_plugin, c, reps).run_ms);
    perf["reference_ms"] = median(run_on(reference, c, reps).run_ms);
    perf["reference"] = reference.kernel->full_name();
    if (fast) {
        perf["fast_ms"] = median(run_on(*fast, c, reps).run_ms);
        perf["fast"] = fast->kernel->full_name();
    }
    emit(perf);
}

// The device of the plugin this kernel runs on: --device when given, else the first.
const host::DeviceRecord *pick_device(const host::PluginRecord &record,
                                      const host::KernelRecord &kernel, const std::string &name) {
    for (const host::DeviceRecord &device : record.devices)
        if ((name.empty() || device.name == name) && kernel.runs_on(device.kind))
            return &device;
    return nullptr;
}

} // namespace

int run_check_worker(const GlobalOptions &options, const WorkerOptions &args) {
    install_guard_fault_handler();
    const host::PluginRecord record = host::inspect_plugin_file(args.file);
    if (record.status != host::PluginStatus::Loaded) {
        emit({{"kind", "refused"}, {"why", record.reason}});
        return 0;
    }
    const host::KernelRecord *kernel = nullptr;
    for (const host::KernelRecord &k : record.kernels)
        if (k.impl == args.impl)
            kernel = &k;
    if (!kernel) {
        emit({{"kind", "skip"}, {"why", "the plugin declares no kernel " + args.impl}});
        return 0;
    }
    if (!op_known(kernel->op)) {
        emit({{"kind", "skip"},
              {"why", "no checks for op \"" + kernel->op + "\" (a fused op checks itself)"}});
        return 0;
    }
    const host::Registry registry =
        host::Registry::discover(host::describe_search_path(std::vector<std::filesystem::path>(
            options.plugin_paths.begin(), options.plugin_paths.end())));
    const std::string ref_name = std::string(kReferencePlugin) + "/" + kernel->op + "_ref";
    const host::KernelRecord *ref = registry.kernel(ref_name);
    if (!ref) {
        emit({{"kind", "skip"},
              {"why", "no reference kernel " + ref_name +
                          ": the amx-cpu plugin is not on the plugin search path"}});
        return 0;
    }
    const host::PluginRecord *ref_plugin = registry.plugin(kReferencePlugin);
    const host::DeviceRecord *device = pick_device(record, *kernel, args.device);
    if (!device) {
        emit({{"kind", "skip"},
              {"why", "no device this kernel runs on" + (record.status_note.empty()
                                                             ? std::string()
                                                             : " (" + record.status_note + ")")}});
        return 0;
    }
    Target plugin{kernel, record.api, device->index,
                  (device->caps & GRAFT_CAP_HOST_MEMORY) != 0 || !record.api->memory, true};
    Target reference{ref, ref_plugin->api, 0, true, false};
    const host::KernelRecord *fast_kernel =
        registry.kernel(std::string(kReferencePlugin) + "/" + kernel->op);
    Target fast{fast_kernel, ref_plugin->api, 0, true, false};
    emit({{"kind", "kernel"},
          {"kernel", kernel->full_name()},
          {"op", kernel->op},
          {"device", device->name},
          {"device_memory", plugin.host_memory ? "host" : "device (through the memory API)"},
          {"reference", ref->full_name()},
          {"reference_file", ref_plugin->file.string()}});
    const std::vector<std::string> kinds =
        varieties(kernel->op, kernel->weight_dtypes, ref->weight_dtypes);
    if (kinds.empty()) {
        emit({{"kind", "skip"},
              {"why", "none of its weight dtypes can be checked against " + ref_name}});
        return 0;
    }
    for (const std::string &variety : kinds) {
        for (const Case &c : make_cases(kernel->op, variety, args.perf)) {
            try {
                const bool fast_takes =
                    fast_kernel && (c.weights.empty() || c.variety == "F32" ||
                                    fast_kernel->takes(c.weights[0].desc.dtype));
                check_case(plugin, reference, fast_takes ? &fast : nullptr, c);
            } catch (const std::exception &e) {
                emit({{"kind", "result"},
                      {"case", c.label},
                      {"variety", c.variety},
                      {"status", "error"},
                      {"message", e.what()}});
            }
        }
    }
    emit({{"kind", "done"}});
    return 0;
}

} // namespace graft::cli::check
