// Rendering a plan: the text table of `graft rules explain` and its JSON twin.
#include <graft/plugin.hpp>
#include <graft/rules/explain.h>

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>

namespace graft::rules {

namespace {

struct Row {
    std::array<std::string, 9> cells; // module class shape dtype rule kernel device bytes prefill
};

std::string module_label(const models::Module &m) {
    return m.name.empty() ? "(root)" : m.name;
}

std::string binding_text(const Binding &b, const models::Module &m) {
    if (m.op.empty())
        return "-";
    return b.resolved() ? b.kernel : "(none)";
}

std::string model_summary(const models::Model &tree, const std::string &model_name) {
    const models::HParams &hp = tree.hparams;
    std::string s = model_name + ": " + hp.family;
    if (hp.family != hp.arch)
        s += " (arch " + hp.arch + ")";
    s += ", " + std::to_string(hp.n_layer) + " layers, " + std::to_string(hp.n_embd) + " wide";
    if (hp.is_moe())
        s += ", " + std::to_string(hp.n_expert) + " experts (" + std::to_string(hp.n_expert_used) +
             " used)";
    return s + ", " + human_bytes(tree.weight_bytes()) + " of weights";
}

// "rule 0: model.layers.0.self_attn.q_proj and 13 more: amx-cpu/linear on cpu; passed
// over: ..." for each group of modules that made the same choice for the same reasons.
std::vector<std::string> preference_lines(const Plan &plan) {
    struct Group {
        std::string first;
        int count = 0;
    };
    std::map<std::string, Group> groups;
    std::vector<std::string> order;
    auto note = [&](const Placement &p, const Binding &b, const char *phase) {
        if (b.passed_over.empty())
            return;
        std::string key = "rule " + std::to_string(p.rule) + phase + ": " +
                          (p.module->op.empty() ? "device " + b.device
                                                : binding_text(b, *p.module) + " on " + b.device) +
                          "; passed over ";
        for (size_t i = 0; i < b.passed_over.size(); ++i)
            key += (i ? "; " : "") + b.passed_over[i];
        Group &g = groups[key];
        if (g.count++ == 0) {
            g.first = module_label(*p.module);
            order.push_back(key);
        }
    };
    for (const Placement &p : plan.placements) {
        note(p, p.decode, "");
        if (p.prefill)
            note(p, *p.prefill, " (prefill)");
    }
    std::vector<std::string> lines;
    for (const std::string &key : order) {
        const Group &g = groups[key];
        const size_t colon = key.find(": ");
        lines.push_back(key.substr(0, colon) + ", " + g.first +
                        (g.count > 1 ? " and " + std::to_string(g.count - 1) + " more" : "") +
                        key.substr(colon));
    }
    return lines;
}

} // namespace

std::string human_bytes(uint64_t bytes) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

std::string explain_text(const models::Model &tree, const RuleSet &rules, const Plan &plan,
                         const std::string &model_name) {
    const bool any_prefill = std::any_of(plan.placements.begin(), plan.placements.end(),
                                         [](const Placement &p) { return p.prefill.has_value(); });
    std::vector<Row> rows;
    rows.push_back(
        {{"module", "class", "shape", "dtype", "rule", "kernel", "device", "bytes", "prefill"}});
    for (const Placement &p : plan.placements) {
        const models::Module &m = *p.module;
        Row r;
        r.cells[0] = module_label(m);
        r.cells[1] = m.cls;
        r.cells[2] = m.weights.empty() ? "-" : models::shape_string(*m.weights.front().tensor);
        r.cells[3] = m.weights.empty() ? "-" : sdk::dtype_name(m.weights.front().tensor->dtype);
        r.cells[4] = p.rule < 0 ? "-" : std::to_string(p.rule);
        r.cells[5] = binding_text(p.decode, m);
        r.cells[6] = p.decode.device;
        r.cells[7] = m.weights.empty() ? "-" : human_bytes(m.own_bytes());
        if (p.prefill)
            r.cells[8] = binding_text(*p.prefill, m) + " on " + p.prefill->device;
        rows.push_back(std::move(r));
    }
    const size_t n_cols = any_prefill ? 9 : 8;
    std::array<size_t, 9> width{};
    for (const Row &r : rows)
        for (size_t c = 0; c < n_cols; ++c)
            width[c] = std::max(width[c], r.cells[c].size());

    std::string out;
    out += "model  " + model_summary(tree, model_name) + "\n";
    out += "rules  " + rules.source + ": " + std::to_string(rules.rules.size()) +
           (rules.rules.size() == 1 ? " rule\n\n" : " rules\n\n");
    for (const Row &r : rows) {
        std::string line;
        for (size_t c = 0; c < n_cols; ++c) {
            std::string cell = r.cells[c];
            if (c + 1 < n_cols) {
                // bytes right-aligned, the rest left-aligned
                if (c == 7)
                    cell = std::string(width[c] - cell.size(), ' ') + cell;
                else
                    cell += std::string(width[c] - cell.size(), ' ');
                cell += "  ";
            } else if (c == 7) {
                cell = std::string(width[c] - cell.size(), ' ') + cell;
            }
            line += cell;
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out += line + "\n";
    }
    if (const auto prefs = preference_lines(plan); !prefs.empty()) {
        out += "\npreference lists:\n";
        for (const std::string &line : prefs)
            out += "  " + line + "\n";
    }
    out += "\nweights per device:\n";
    size_t dev_width = 0;
    for (const DeviceTotal &t : plan.totals)
        dev_width = std::max(dev_width, t.device.size());
    for (const DeviceTotal &t : plan.totals) {
        const std::string hb = human_bytes(t.bytes);
        out += "  " + t.device + std::string(dev_width - t.device.size(), ' ') + "  " +
               std::string(hb.size() < 10 ? 10 - hb.size() : 0, ' ') + hb +
               (t.present ? "" : "  (not present here)") + "\n";
    }
    if (!plan.warnings.empty()) {
        out += "\nwarnings:\n";
        for (const std::string &w : plan.warnings)
            out += "  " + w + "\n";
    }
    return out;
}

std::string explain_json(const models::Model &tree, const RuleSet &rules, const Plan &plan,
                         const std::string &model_name) {
    namespace json = boost::json;
    const models::HParams &hp = tree.hparams;
    json::object model;
    model["file"] = model_name;
    model["arch"] = hp.arch;
    model["family"] = hp.family;
    model["n_layer"] = hp.n_layer;
    model["n_embd"] = hp.n_embd;
    model["n_vocab"] = hp.n_vocab;
    model["n_expert"] = hp.n_expert;
    model["weight_bytes"] = tree.weight_bytes();

    json::object rules_obj;
    rules_obj["file"] = rules.source;
    rules_obj["count"] = rules.rules.size();

    auto binding = [](const Binding &b, const models::Module &m) {
        json::object o;
        if (m.op.empty() || !b.resolved())
            o["kernel"] = nullptr;
        else
            o["kernel"] = b.kernel;
        o["device"] = b.device;
        o["device_present"] = b.device_present;
        o["device_index"] = b.device_index;
        json::array passed;
        for (const std::string &why : b.passed_over)
            passed.push_back(json::string(why));
        o["passed_over"] = std::move(passed);
        return o;
    };

    json::array modules;
    for (const Placement &p : plan.placements) {
        const models::Module &m = *p.module;
        json::object o;
        o["name"] = m.name;
        o["class"] = m.cls;
        o["op"] = m.op;
        json::array weights;
        for (const models::Weight &w : m.weights) {
            json::object wo;
            wo["role"] = w.role;
            wo["tensor"] = w.tensor->name;
            json::array shape;
            for (uint32_t d = 0; d < std::max<uint32_t>(1, w.tensor->n_dims) && d < 4; ++d)
                shape.push_back(w.tensor->ne[d]);
            wo["shape"] = std::move(shape);
            wo["dtype"] = sdk::dtype_name(w.tensor->dtype);
            wo["bytes"] = w.tensor->n_bytes;
            weights.push_back(std::move(wo));
        }
        o["weights"] = std::move(weights);
        if (m.weights.empty()) {
            o["shape"] = nullptr;
            o["dtype"] = nullptr;
        } else {
            o["shape"] = o["weights"].as_array()[0].as_object()["shape"];
            o["dtype"] = sdk::dtype_name(m.weights.front().tensor->dtype);
        }
        o["bytes"] = m.own_bytes();
        o["rule"] = p.rule;
        json::object decode = binding(p.decode, m);
        o["kernel"] = decode["kernel"];
        o["device"] = p.decode.device;
        o["device_present"] = p.decode.device_present;
        o["device_index"] = p.decode.device_index;
        o["passed_over"] = decode["passed_over"];
        o["prefill"] = p.prefill ? json::value(binding(*p.prefill, m)) : json::value(nullptr);
        json::object kwargs;
        for (const Kwarg &k : p.kwargs) {
            switch (k.type) {
            case GRAFT_PARAM_INT:
                kwargs[k.key] = k.i;
                break;
            case GRAFT_PARAM_FLOAT:
                kwargs[k.key] = k.f;
                break;
            case GRAFT_PARAM_STRING:
                kwargs[k.key] = k.s;
                break;
            }
        }
        o["kwargs"] = std::move(kwargs);
        modules.push_back(std::move(o));
    }

    json::array totals;
    for (const DeviceTotal &t : plan.totals) {
        json::object o;
        o["device"] = t.device;
        o["present"] = t.present;
        o["bytes"] = t.bytes;
        totals.push_back(std::move(o));
    }
    json::array rule_matches;
    for (int n : plan.rule_matches)
        rule_matches.push_back(n);
    rules_obj["matches"] = std::move(rule_matches);
    json::array warnings;
    for (const std::string &w : plan.warnings)
        warnings.push_back(json::string(w));

    json::object doc;
    doc["model"] = std::move(model);
    doc["rules"] = std::move(rules_obj);
    doc["modules"] = std::move(modules);
    doc["totals"] = std::move(totals);
    doc["warnings"] = std::move(warnings);
    return json::serialize(doc) + "\n";
}

} // namespace graft::rules
