// Rules + tree + registry -> placement plan (see graft/rules/plan.h for the semantics and
// docs/design/rules.md for the reasons).
#include "lookup.h"

#include <graft/plugin.hpp>
#include <graft/rules/plan.h>
#include <graft/util/error.h>

#include <map>
#include <set>
#include <tuple>

namespace graft::rules {

namespace {

using detail::DeviceView;

std::optional<graft_dtype> weight_dtype(const models::Module &m) {
    if (m.weights.empty())
        return std::nullopt;
    return m.weights.front().tensor->dtype;
}

// " with Q4_K weights", or "" for a module without weights.
std::string with_weights(std::optional<graft_dtype> dtype) {
    return dtype ? std::string(" with ") + sdk::dtype_name(*dtype) + " weights" : std::string();
}

// A kernel constrains the dtype of weights[0] only when it lists dtypes; a module without
// weights fits any kernel of its op.
bool accepts(const host::KernelRecord &k, std::optional<graft_dtype> dtype) {
    if (!dtype || k.weight_dtypes.empty())
        return true;
    for (graft_dtype d : k.weight_dtypes)
        if (d == *dtype)
            return true;
    return false;
}

std::string dtypes_text(const host::KernelRecord &k) {
    std::string s;
    for (graft_dtype d : k.weight_dtypes)
        s += (s.empty() ? "" : ", ") + std::string(sdk::dtype_name(d));
    return s;
}

bool rule_matches(const Rule &r, const models::Module &m) {
    if (r.cls && *r.cls != m.cls)
        return false;
    if (!r.dtypes.empty()) {
        const auto d = weight_dtype(m);
        if (!d || std::find(r.dtypes.begin(), r.dtypes.end(), *d) == r.dtypes.end())
            return false;
    }
    return !r.name || std::regex_search(m.name, r.name_re);
}

// What children inherit from their nearest matched ancestor.
struct Inherited {
    std::string device = "cpu";
    std::optional<std::string> prefill_device;
    bool frozen = false; // below a recursive: false match
};

class Planner {
  public:
    Planner(const RuleSet &rules, const host::Registry &registry)
        : rules_(rules), registry_(registry) {}

    Plan run(const models::Model &tree) {
        check_rules(rules_, registry_);
        plan_.rule_matches.assign(rules_.rules.size(), 0);
        if (tree.root)
            visit(*tree.root, Inherited{});
        for (size_t i = 0; i < plan_.placements.size(); ++i)
            plan_.index.emplace(plan_.placements[i].module->name, i);
        totals();
        warnings();
        return std::move(plan_);
    }

  private:
    const DeviceView &device(const std::string &name) {
        auto it = devices_.find(name);
        if (it == devices_.end())
            it = devices_.emplace(name, detail::view_device(name, registry_)).first;
        return it->second;
    }

    // The device's default kernel for the module (cached per op, device and dtype).
    Binding default_binding(const models::Module &m, const std::string &device_name) {
        const DeviceView &dev = device(device_name);
        const auto dtype = weight_dtype(m);
        const auto key = std::make_tuple(m.op, device_name, dtype ? int(*dtype) : -1);
        if (auto it = defaults_.find(key); it != defaults_.end())
            return it->second;
        Binding b;
        b.device = device_name;
        b.device_present = dev.present;
        b.device_index = detail::device_number(device_name);
        for (const host::PluginRecord &p : registry_.plugins()) {
            uint32_t index = 0;
            if (!detail::plugin_serves(p, dev, &index))
                continue;
            for (const host::KernelRecord &k : p.kernels) {
                if (k.op != m.op || !((k.device_kinds >> dev.kind) & 1u) || !accepts(k, dtype))
                    continue;
                b.kernel = p.name + "/" + k.impl;
                b.plugin = &p;
                b.kernel_record = &k;
                b.device_index = index;
                return defaults_[key] = b;
            }
        }
        return defaults_[key] = b; // unresolved: reported among the warnings
    }

    // Why `k` cannot run `m` on the device, or "" when it can (then `*index` is the
    // plugin-local device index). The text follows "kernel plugin/impl".
    std::string kernel_problem(const models::Module &m, const detail::KernelRef &ref,
                               const std::string &device_name, uint32_t *index) {
        const DeviceView &dev = device(device_name);
        const host::KernelRecord &k = *ref.kernel;
        if (m.op.empty())
            return " runs op '" + k.op + "', but " + label(m) + " is a " + m.cls +
                   " that runs no op; give it kernel: default (or match its children)";
        if (k.op != m.op)
            return " runs op '" + k.op + "', but " + label(m) + " (" + m.cls + ") runs op '" +
                   m.op + "'";
        if (!((k.device_kinds >> dev.kind) & 1u))
            return std::string(" does not run on ") + detail::kind_name(dev.kind) +
                   " devices like " + device_name;
        if (!detail::plugin_serves(*ref.plugin, dev, index))
            return ": plugin " + ref.plugin->name + " has no device " + device_name;
        const auto dtype = weight_dtype(m);
        if (!accepts(k, dtype))
            return std::string(" does not take ") + sdk::dtype_name(*dtype) +
                   " weights (it takes " + dtypes_text(k) + "), as " + label(m) +
                   " has; match dtype: to narrow the rule";
        return {};
    }

    Binding kernel_binding(const detail::KernelRef &ref, const std::string &full_name,
                           const std::string &device_name, uint32_t index) {
        Binding b;
        b.kernel = full_name;
        b.plugin = ref.plugin;
        b.kernel_record = ref.kernel;
        b.device = device_name;
        b.device_present = device(device_name).present;
        b.device_index = index;
        return b;
    }

    // An explicit kernel, checked against the module and the device.
    Binding explicit_binding(const models::Module &m, const Target &t,
                             const std::string &device_name) {
        const detail::KernelRef ref = detail::find_kernel(registry_, t.kernel);
        const std::string at = t.kernel_pos.str() + ": kernel " + t.kernel;
        if (!ref.kernel) // check_rules has vetted the names; keep the planner safe anyway
            throw Error(at + " is unknown");
        uint32_t index = 0;
        if (const std::string problem = kernel_problem(m, ref, device_name, &index);
            !problem.empty())
            throw Error(at + problem);
        return kernel_binding(ref, t.kernel, device_name, index);
    }

    // Why a kernel named in a preference list is not loaded here.
    std::string missing_kernel(const std::string &full_name) const {
        const std::string plugin = full_name.substr(0, full_name.find('/'));
        for (const host::PluginRecord &p : registry_.plugins())
            if (p.name == plugin) {
                if (p.status != host::PluginStatus::Loaded)
                    return "plugin " + plugin + " is " + host::status_name(p.status) +
                           (p.reason.empty() ? "" : " (" + p.reason + ")");
                return "plugin " + plugin + " has no kernel '" +
                       full_name.substr(full_name.find('/') + 1) + "'";
            }
        return "no plugin " + plugin + " is loaded";
    }

    // A target with preference lists: the first (device, kernel) pair that can run the
    // module, devices outermost; every pair tried before it is recorded with its reason.
    Binding choose(const models::Module &m, const Target &t, const std::string &inherited,
                   const Rule &rule) {
        std::vector<Choice> devices = t.device_list;
        if (devices.empty())
            devices.push_back({t.device.empty() ? inherited : t.device, t.device_pos});
        std::vector<Choice> kernels = t.kernel_list;
        if (kernels.empty())
            kernels.push_back({t.kernel, t.kernel_pos});
        const bool must_be_present = !t.device_list.empty();
        std::vector<std::string> passed;
        for (const Choice &d : devices) {
            const DeviceView &dev = device(d.name);
            if (must_be_present && !dev.present) {
                passed.push_back(d.name + ": device not present here");
                continue;
            }
            for (const Choice &k : kernels) {
                const std::string what = k.name + " on " + d.name;
                if (k.name == "default") {
                    Binding b = bind(m, nullptr, d.name);
                    if (m.op.empty() || b.resolved()) {
                        b.passed_over = std::move(passed);
                        return b;
                    }
                    passed.push_back(what + ": no kernel runs op '" + m.op + "' there" +
                                     with_weights(weight_dtype(m)));
                    continue;
                }
                const detail::KernelRef ref = detail::find_kernel(registry_, k.name);
                if (!ref.kernel) {
                    passed.push_back(what + ": " + missing_kernel(k.name));
                    continue;
                }
                uint32_t index = 0;
                const std::string problem = kernel_problem(m, ref, d.name, &index);
                if (m.op.empty()) // a list of kernels on a container is a mistake in the file
                    throw Error(k.pos.str() + ": kernel " + k.name + problem);
                if (!problem.empty()) {
                    passed.push_back(what + ":" +
                                     (problem.front() == ':' ? problem.substr(1) : problem));
                    continue;
                }
                Binding b = kernel_binding(ref, k.name, d.name, index);
                b.passed_over = std::move(passed);
                return b;
            }
        }
        std::string list;
        for (const std::string &p : passed)
            list += (list.empty() ? "" : "; ") + p;
        const SourcePos &where = t.kernel_list.empty() ? t.device_pos : t.kernel_pos;
        throw Error(where.str() + ": none of the choices of " + rule.describe() + " can run " +
                    label(m) + " here (" + list + ")");
    }

    // The binding a rule's target gives the module; `inherited` is the device it would
    // have without the rule.
    Binding bind_target(const models::Module &m, const Target &t, const std::string &inherited,
                        const Rule &rule) {
        if (t.has_preferences())
            return choose(m, t, inherited, rule);
        return bind(m, &t, t.device.empty() ? inherited : t.device);
    }

    Binding bind(const models::Module &m, const Target *t, const std::string &device_name) {
        if (m.op.empty() && (!t || t->default_kernel())) {
            Binding b; // a container: only the device matters (for its children)
            b.device = device_name;
            b.device_present = device(device_name).present;
            b.device_index = detail::device_number(device_name);
            return b;
        }
        if (!t || t->default_kernel())
            return default_binding(m, device_name);
        return explicit_binding(m, *t, device_name);
    }

    static std::string label(const models::Module &m) {
        return m.name.empty() ? std::string("the root") : m.name;
    }

    void visit(const models::Module &m, const Inherited &from) {
        const Rule *rule = nullptr;
        if (!from.frozen)
            for (const Rule &r : rules_.rules)
                if (rule_matches(r, m)) {
                    rule = &r;
                    break;
                }
        Placement p;
        p.module = &m;
        Inherited next = from;
        if (rule) {
            ++plan_.rule_matches[static_cast<size_t>(rule->index)];
            p.rule = rule->index;
            p.kwargs = rule->kwargs;
            p.decode = bind_target(m, rule->decode, from.device, *rule);
            const std::string dev = p.decode.device;
            next.device = dev;
            next.prefill_device.reset();
            if (rule->prefill) {
                p.prefill = bind_target(m, *rule->prefill, dev, *rule);
                next.prefill_device = p.prefill->device;
            }
            next.frozen = from.frozen || !rule->recursive;
        } else {
            p.decode = bind(m, nullptr, from.device);
            if (from.prefill_device)
                p.prefill = bind(m, nullptr, *from.prefill_device);
        }
        plan_.placements.push_back(std::move(p));
        for (const auto &c : m.children)
            visit(*c, next);
    }

    void totals() {
        std::map<std::string, std::set<const gguf::TensorInfo *>> seen;
        auto total_for = [&](const Binding &b) -> DeviceTotal & {
            for (DeviceTotal &t : plan_.totals)
                if (t.device == b.device)
                    return t;
            plan_.totals.push_back({b.device, b.device_present, 0});
            return plan_.totals.back();
        };
        for (const Placement &p : plan_.placements) {
            if (p.module->op.empty())
                continue;
            DeviceTotal &t = total_for(p.decode);
            for (const models::Weight &w : p.module->weights)
                if (seen[p.decode.device].insert(w.tensor).second)
                    t.bytes += w.tensor->n_bytes;
        }
    }

    void warnings() {
        for (const Rule &r : rules_.rules)
            if (plan_.rule_matches[static_cast<size_t>(r.index)] == 0)
                plan_.warnings.push_back(r.describe() + " matched no module");
        // Absent devices, and modules that no kernel can run, grouped.
        std::map<std::string, int> absent;
        std::vector<std::string> absent_order;
        std::map<std::string, std::pair<std::string, int>> unresolved;
        std::vector<std::string> unresolved_order;
        auto note = [&](const models::Module &m, const Binding &b) {
            if (!b.device_present) {
                if (absent[b.device]++ == 0)
                    absent_order.push_back(b.device);
            }
            if (!m.op.empty() && !b.resolved()) {
                const std::string what = "no kernel runs op '" + m.op + "' on " + b.device +
                                         with_weights(weight_dtype(m));
                auto &u = unresolved[what];
                if (u.second++ == 0) {
                    u.first = m.name;
                    unresolved_order.push_back(what);
                }
            }
        };
        for (const Placement &p : plan_.placements) {
            if (p.module->op.empty())
                continue;
            note(*p.module, p.decode);
            if (p.prefill)
                note(*p.module, *p.prefill);
        }
        for (const std::string &d : absent_order)
            plan_.warnings.push_back("device " + d + " is not present here (" +
                                     std::to_string(absent[d]) +
                                     " module bindings name it); the plan cannot run here");
        for (const std::string &w : unresolved_order) {
            const auto &u = unresolved[w];
            plan_.warnings.push_back(
                w + ": " + u.first +
                (u.second > 1 ? " and " + std::to_string(u.second - 1) + " more" : ""));
        }
    }

    const RuleSet &rules_;
    const host::Registry &registry_;
    Plan plan_;
    std::map<std::string, DeviceView> devices_;
    std::map<std::tuple<std::string, std::string, int>, Binding> defaults_;
};

std::string devices_here(const host::Registry &registry) {
    std::string s;
    for (const host::DeviceRecord &d : registry.devices())
        s += (s.empty() ? "" : ", ") + d.name;
    return s.empty() ? "none" : s;
}

} // namespace

const Placement *Plan::find(std::string_view module_name) const {
    const auto it = index.find(module_name);
    return it == index.end() ? nullptr : &placements[it->second];
}

Plan make_plan(const models::Model &tree, const RuleSet &rules, const host::Registry &registry) {
    return Planner(rules, registry).run(tree);
}

void check_runnable(const Plan &plan, const host::Registry &registry) {
    auto check = [&](const Placement &p, const Binding &b) {
        if (!b.device_present)
            throw Error("no device " + b.device + " (devices here: " + devices_here(registry) +
                        ")");
        if (!p.module->op.empty() && !b.resolved())
            throw Error("no kernel runs op '" + p.module->op + "' on " + b.device +
                        with_weights(weight_dtype(*p.module)) + " (module " + p.module->name +
                        "); load a plugin that has one or change the rules");
    };
    for (const Placement &p : plan.placements) {
        if (p.module->op.empty())
            continue;
        check(p, p.decode);
        if (p.prefill)
            check(p, *p.prefill);
    }
}

} // namespace graft::rules
