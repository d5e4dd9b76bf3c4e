// The placement plan: for every module, the kernel and device it runs on.
//
// make_plan is a pure function of (tree, rules, registry). Walking the tree depth first,
// parent before children, each module takes the first rule in file order that matches
// it; a module no rule matches inherits the device (and prefill device) of its nearest
// matched ancestor, "cpu" at the root, with that device's default kernel for its op.
// The default kernel for (op, device, dtype) is, over the loaded plugins in registry
// order that have the device (or, for an absent device, declare its prefix), the first
// kernel of the plugin's table with that op, the device's kind and taking the dtype.
// See docs/design/rules.md.
#pragma once

#include <graft/host/registry.h>
#include <graft/models/module.h>
#include <graft/rules/rules.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace graft::rules {

// Which kernel runs a module in one phase, and where.
struct Binding {
    std::string kernel;                         // "plugin/impl"; "" when none was found
    const host::PluginRecord *plugin = nullptr; // the kernel's plugin (Loaded), or null
    const host::KernelRecord *kernel_record = nullptr;
    std::string device;          // "cpu", "cuda:0"
    bool device_present = false; // the device exists on this machine
    uint32_t device_index = 0;   // the plugin-local index of the device
                                 // (for an absent device: its number)
    // For preference lists: each (kernel, device) pair tried before this one, with why it
    // was passed over ("cuda/gemv on cuda:0: device cuda:0 is not present here").
    std::vector<std::string> passed_over;
    bool resolved() const { return kernel_record != nullptr; }
};

struct Placement {
    const models::Module *module = nullptr;
    // Modules without an op (containers) carry only the device their children inherit;
    // their kernel is "".
    Binding decode;                 // every phase unless prefill is set
    std::optional<Binding> prefill; // the rule's prefill override, or inherited
    std::vector<Kwarg> kwargs;      // the rule's, for the module it matched
    int rule = -1;                  // index of the rule that matched it; -1: inherited
};

// Weight bytes that a device holds, each tensor once (tied embeddings placed on one
// device count once there).
struct DeviceTotal {
    std::string device;
    bool present = false;
    uint64_t bytes = 0;
};

struct Plan {
    // Every module of the tree, depth first, parent before children.
    std::vector<Placement> placements;
    std::vector<DeviceTotal> totals;   // by decode device, in order of first use
    std::vector<int> rule_matches;     // modules each rule matched, by rule index
    std::vector<std::string> warnings; // rules that matched nothing, absent devices,
                                       // modules no kernel can run
    // The placement of a module by its dotted name, or nullptr.
    const Placement *find(std::string_view module_name) const;

    std::unordered_map<std::string_view, size_t> index; // name -> placements position
};

// The plan points into `tree` and `registry`: both must outlive it. Throws graft::Error
// with file:line:column for rules that cannot apply: unknown kernels or devices, a kernel
// whose op is not the module's, that does not take the module's weight dtype, or that
// does not run on the device's kind; for a preference list, when no choice is available
// (the message lists each with its reason).
//
// Preference lists: devices in list order (the inherited device when the rule names none),
// and for each device the kernels in list order; the first pair that can run the module
// wins. A device of a list must be present here; a kernel must be loaded, run the module's
// op and dtype on the device's kind, from a plugin that serves the device.
Plan make_plan(const models::Model &tree, const RuleSet &rules, const host::Registry &registry);

// Throws graft::Error when the plan cannot run on this machine: a device that is absent
// ("no device cuda:0 (devices here: cpu)") or a module no kernel can run.
void check_runnable(const Plan &plan, const host::Registry &registry);

} // namespace graft::rules
