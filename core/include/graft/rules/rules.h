// Rules files: YAML that binds modules of a tree to kernels and devices.
//
//   - match:
//       name: "^model\\.layers\\..*\\.mlp\\.experts$"   # regex search on the dotted name
//       class: Experts                                 # optional
//       dtype: [Q4_0, Q4_K]                            # optional: dtype of the first weight
//     replace:
//       kernel: amx-cpu/moe        # plugin/impl; "default" (or absent): the device's default
//       device: cpu                # absent: the device the module would inherit
//       # either may be a preference list: kernel: [cuda/gemv, amx-cpu/linear],
//       # device: ["cuda:0", cpu]; the first choice available here wins
//       prefill: {kernel: cuda/moe, device: "cuda:0"}  # optional per-phase override
//       kwargs: {threads: 16}      # scalars handed to the kernel
//     recursive: false             # rules do not reach the children (they inherit)
//
// Every error names file:line:column. docs/rules.md is the user guide,
// docs/design/rules.md the reasons.
#pragma once

#include <graft/host/registry.h>
#include <graft/plugin.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace graft::rules {

// Where something is in a rules file; line and column count from 1.
struct SourcePos {
    std::string file;
    int line = 0, column = 0;
    std::string str() const; // "file:line:column"
};

// A scalar kwarg: integers and booleans (0/1) are INT, numbers FLOAT, the rest STRING.
struct Kwarg {
    std::string key;
    graft_param_type type = GRAFT_PARAM_INT;
    int64_t i = 0;
    double f = 0.0;
    std::string s;
    std::string text() const; // the value as written
};

// One entry of a preference list and where it was written.
struct Choice {
    std::string name; // "plugin/impl" or "default" for kernels, "cpu" or "kind:N" for devices
    SourcePos pos;
};

// Kernel and device for one phase. `kernel: [a, b]` or `device: [x, y]` are preference
// lists: the planner takes the first (device, kernel) pair that is available here and
// records why it passed over the others (see plan.h). With a list, `kernel` / `device`
// hold its first entry.
struct Target {
    std::string kernel = "default"; // "default" or "plugin/impl"
    SourcePos kernel_pos;           // where the kernel was named (or the replace block)
    std::string device;             // "" when the rule leaves it to inheritance
    SourcePos device_pos;
    std::vector<Choice> kernel_list; // set only when `kernel:` is a list
    std::vector<Choice> device_list; // set only when `device:` is a list
    bool default_kernel() const { return kernel_list.empty() && kernel == "default"; }
    bool has_preferences() const { return !kernel_list.empty() || !device_list.empty(); }
};

struct Rule {
    int index = 0; // position in the file, from 0
    SourcePos pos; // the rule's first line
    // match
    std::optional<std::string> name; // regex source
    std::regex name_re;
    SourcePos name_pos;
    std::optional<std::string> cls;
    SourcePos cls_pos;
    std::vector<graft_dtype> dtypes; // empty: any
    SourcePos dtype_pos;
    // replace
    Target decode;
    std::optional<Target> prefill; // fields it leaves out come from `decode`
    std::vector<Kwarg> kwargs;
    bool recursive = true;
    std::string describe() const; // "rule 2 (file:7:3)"
};

struct RuleSet {
    std::string source; // file name, or the name given to parse_rules
    std::vector<Rule> rules;
};

// Parses the text; throws graft::Error("file:line:col: ...") on YAML syntax errors,
// unknown keys, bad regexes, a missing match or replace, values of the wrong kind, bad
// kernel names ("plugin/impl") or device names ("cpu", "kind:N"), unknown dtypes.
RuleSet parse_rules(std::string_view yaml, const std::string &source_name);
// Reads and parses a file; an unreadable file is a graft::Error naming it.
RuleSet load_rules(const std::filesystem::path &path);

// Devices a rules file may name with these plugins: "cpu", every device a loaded plugin
// has, and "<prefix>:<n>" for every device_prefix a loaded plugin declares (whether or
// not such a device is present).
bool device_known(const std::string &device, const host::Registry &registry);
// For messages: "cpu, cuda:N, npu:0" (present devices by name, declared prefixes as :N).
std::string known_devices_text(const host::Registry &registry);

// Checks every kernel and device the rules name against the registry; throws
// graft::Error("file:line:col: unknown kernel ... (known: ...)") or
// ("... unknown device ... (known: ...)"). Entries of preference lists may name kernels
// and devices that are not here (that is what the list is for); their device names must
// still be "cpu" or "kind:N". make_plan calls it.
void check_rules(const RuleSet &rules, const host::Registry &registry);

// "share/graft/rules/<family>-cpu.yaml" next to the executable: <exe>/../share/graft/rules.
std::filesystem::path default_rules_path(const std::string &family,
                                         const std::filesystem::path &executable);

} // namespace graft::rules
