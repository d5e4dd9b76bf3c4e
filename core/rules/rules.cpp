// Parsing rules files (yaml-cpp) with file:line:column in every error, and checking the
// kernels and devices they name against the plugins found.
#include "lookup.h"

#include <graft/plugin.hpp>
#include <graft/rules/rules.h>
#include <graft/util/error.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace graft::rules {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

class Parser {
  public:
    explicit Parser(std::string source) : source_(std::move(source)) {}

    SourcePos pos(const YAML::Node &node) const {
        const YAML::Mark m = node.Mark();
        return {source_, m.line < 0 ? 0 : m.line + 1, m.column < 0 ? 0 : m.column + 1};
    }
    [[noreturn]] void fail(const SourcePos &where, const std::string &what) const {
        throw Error(where.str() + ": " + what);
    }
    [[noreturn]] void fail(const YAML::Node &node, const std::string &what) const {
        fail(pos(node), what);
    }

    // Rejects keys outside `allowed`, pointing at the offending key.
    void only_keys(const YAML::Node &map, const std::vector<std::string> &allowed,
                   const std::string &where) const {
        for (auto it = map.begin(); it != map.end(); ++it) {
            const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                std::string list;
                for (const auto &a : allowed)
                    list += (list.empty() ? "" : ", ") + a;
                fail(it->first,
                     "unknown key '" + key + "' in " + where + " (expected " + list + ")");
            }
        }
    }

    std::string scalar(const YAML::Node &node, const std::string &what) const {
        if (!node.IsScalar())
            fail(node, what + " must be a single value");
        if (node.Scalar().empty())
            fail(node, what + " must not be empty");
        return node.Scalar();
    }

    void check_kernel_name(const YAML::Node &node, const std::string &kernel,
                           const std::string &where) const {
        const size_t slash = kernel.find('/');
        if (kernel != "default" &&
            (slash == std::string::npos || slash == 0 || slash + 1 == kernel.size() ||
             kernel.find('/', slash + 1) != std::string::npos))
            fail(node,
                 "kernel '" + kernel + "' in " + where + " is not \"plugin/impl\" or \"default\"");
    }

    // The entries of a preference list (`[a, b]`), each checked by `check`.
    template <typename Check>
    std::vector<Choice> choices(const YAML::Node &list, const std::string &what,
                                const Check &check) const {
        std::vector<Choice> out;
        for (const YAML::Node &n : list) {
            const std::string name = scalar(n, what);
            check(n, name);
            for (const Choice &c : out)
                if (c.name == name)
                    fail(n, what + " '" + name + "' is listed twice");
            out.push_back({name, pos(n)});
        }
        if (out.empty())
            fail(list, what + " list is empty");
        return out;
    }

    Target target(const YAML::Node &map, const std::string &where) const {
        Target t;
        t.kernel_pos = pos(map);
        t.device_pos = pos(map);
        if (const YAML::Node k = map["kernel"]) {
            if (k.IsSequence()) {
                t.kernel_list =
                    choices(k, "kernel", [&](const YAML::Node &n, const std::string &name) {
                        check_kernel_name(n, name, where);
                    });
                t.kernel = t.kernel_list.front().name;
            } else {
                t.kernel = scalar(k, "kernel");
                check_kernel_name(k, t.kernel, where);
            }
            t.kernel_pos = pos(k);
        }
        if (const YAML::Node d = map["device"]) {
            if (d.IsSequence()) {
                t.device_list =
                    choices(d, "device", [](const YAML::Node &, const std::string &) {});
                t.device = t.device_list.front().name;
            } else {
                t.device = scalar(d, "device");
            }
            t.device_pos = pos(d);
        }
        return t;
    }

    Kwarg kwarg(const std::string &key, const YAML::Node &value) const {
        if (!value.IsScalar())
            fail(value, "kwarg '" + key + "' must be a scalar (number, boolean or text)");
        Kwarg k;
        k.key = key;
        const std::string &s = value.Scalar();
        k.s = s;
        if (value.Tag() == "!") { // quoted: text as written
            k.type = GRAFT_PARAM_STRING;
            return k;
        }
        const std::string l = lower(s);
        if (l == "true" || l == "false") {
            k.type = GRAFT_PARAM_INT;
            k.i = l == "true";
            k.f = static_cast<double>(k.i);
            return k;
        }
        int64_t i = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
        if (ec == std::errc() && end == s.data() + s.size()) {
            k.type = GRAFT_PARAM_INT;
            k.i = i;
            k.f = static_cast<double>(i);
            return k;
        }
        char *fend = nullptr;
        const double f = std::strtod(s.c_str(), &fend);
        if (!s.empty() && fend == s.c_str() + s.size()) {
            k.type = GRAFT_PARAM_FLOAT;
            k.f = f;
            k.i = static_cast<int64_t>(f);
            return k;
        }
        k.type = GRAFT_PARAM_STRING;
        return k;
    }

    std::vector<graft_dtype> dtypes(const YAML::Node &node) const {
        std::vector<YAML::Node> items;
        if (node.IsSequence()) {
            for (const auto &n : node)
                items.push_back(n);
            if (items.empty())
                fail(node, "dtype lists no dtype");
        } else {
            items.push_back(node);
        }
        std::vector<graft_dtype> out;
        for (const YAML::Node &n : items) {
            const std::string name = scalar(n, "dtype");
            bool found = false;
            for (uint32_t id = 0; id < GRAFT_DTYPE_COUNT && !found; ++id)
                if (sdk::dtype_known(id) && lower(sdk::dtype_info(id).name) == lower(name)) {
                    out.push_back(static_cast<graft_dtype>(id));
                    found = true;
                }
            if (!found)
                fail(n, "unknown dtype '" + name + "' (e.g. F32, F16, BF16, Q8_0, Q4_0, Q4_K)");
        }
        return out;
    }

    Rule rule(const YAML::Node &node, int index) const {
        Rule r;
        r.index = index;
        r.pos = pos(node);
        if (!node.IsMap())
            fail(node, "a rule is a map with match and replace");
        only_keys(node, {"match", "replace", "recursive"}, "a rule");

        const YAML::Node match = node["match"];
        if (!match)
            fail(node, "rule " + std::to_string(index) + " has no match");
        if (!match.IsMap())
            fail(match, "match must be a map (name, class, dtype)");
        only_keys(match, {"name", "class", "dtype"}, "match");
        if (const YAML::Node n = match["name"]) {
            r.name = scalar(n, "match name");
            r.name_pos = pos(n);
            try {
                r.name_re = std::regex(*r.name, std::regex::ECMAScript | std::regex::optimize);
            } catch (const std::regex_error &e) {
                fail(n, "bad regex \"" + *r.name + "\": " + e.what());
            }
        }
        if (const YAML::Node c = match["class"]) {
            r.cls = scalar(c, "match class");
            r.cls_pos = pos(c);
        }
        if (const YAML::Node d = match["dtype"]) {
            r.dtypes = dtypes(d);
            r.dtype_pos = pos(d);
        }
        if (!r.name && !r.cls && r.dtypes.empty())
            fail(match, "match needs a name, a class or a dtype");

        const YAML::Node replace = node["replace"];
        if (!replace)
            fail(node, "rule " + std::to_string(index) + " has no replace (what to bind)");
        if (!replace.IsMap())
            fail(replace, "replace must be a map (kernel, device, prefill, kwargs)");
        only_keys(replace, {"kernel", "device", "prefill", "kwargs"}, "replace");
        r.decode = target(replace, "replace");
        if (const YAML::Node p = replace["prefill"]) {
            if (!p.IsMap())
                fail(p, "prefill must be a map (kernel, device)");
            only_keys(p, {"kernel", "device"}, "prefill");
            r.prefill = target(p, "prefill");
        }
        if (const YAML::Node kw = replace["kwargs"]) {
            if (!kw.IsMap())
                fail(kw, "kwargs must be a map of names to values");
            for (auto it = kw.begin(); it != kw.end(); ++it)
                r.kwargs.push_back(kwarg(scalar(it->first, "kwarg name"), it->second));
        }
        if (const YAML::Node rec = node["recursive"]) {
            const std::string v = rec.IsScalar() ? lower(rec.Scalar()) : "";
            if (v != "true" && v != "false")
                fail(rec, "recursive must be true or false");
            r.recursive = v == "true";
        }
        return r;
    }

    RuleSet parse(std::string_view text) const {
        RuleSet set;
        set.source = source_;
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::ParserException &e) {
            fail(SourcePos{source_, e.mark.line + 1, e.mark.column + 1}, e.msg);
        }
        if (!root || root.IsNull())
            return set; // an empty file: everything on the default device
        if (!root.IsSequence())
            fail(root, "a rules file is a list of rules (\"- match: ...\")");
        int index = 0;
        for (const auto &node : root)
            set.rules.push_back(rule(node, index++));
        return set;
    }

  private:
    std::string source_;
};

std::string prefix_of(const std::string &device) {
    const size_t colon = device.find(':');
    return colon == std::string::npos ? device : device.substr(0, colon);
}

bool numbered(const std::string &device) {
    const size_t colon = device.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == device.size())
        return false;
    return std::all_of(device.begin() + static_cast<std::ptrdiff_t>(colon) + 1, device.end(),
                       [](unsigned char c) { return std::isdigit(c); });
}

} // namespace

std::string SourcePos::str() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string Kwarg::text() const {
    switch (type) {
    case GRAFT_PARAM_INT:
        return std::to_string(i);
    case GRAFT_PARAM_FLOAT: {
        std::ostringstream os;
        os << f;
        return os.str();
    }
    case GRAFT_PARAM_STRING:
        break;
    }
    return s;
}

std::string Rule::describe() const {
    return "rule " + std::to_string(index) + " (" + pos.str() + ")";
}

RuleSet parse_rules(std::string_view yaml, const std::string &source_name) {
    return Parser(source_name).parse(yaml);
}

RuleSet load_rules(const std::filesystem::path &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in || std::filesystem::is_directory(path))
        throw Error("cannot read rules file " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    return parse_rules(text.str(), path.string());
}

bool device_known(const std::string &device, const host::Registry &registry) {
    if (device == "cpu")
        return true;
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded)
            continue;
        for (const host::DeviceRecord &d : p.devices)
            if (d.name == device)
                return true;
        if (!p.device_prefix.empty() && p.device_prefix != "cpu" && numbered(device) &&
            prefix_of(device) == p.device_prefix)
            return true;
    }
    return false;
}

std::string known_devices_text(const host::Registry &registry) {
    std::vector<std::string> names = {"cpu"};
    auto add = [&](const std::string &n) {
        if (std::find(names.begin(), names.end(), n) == names.end())
            names.push_back(n);
    };
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.status != host::PluginStatus::Loaded)
            continue;
        for (const host::DeviceRecord &d : p.devices)
            add(d.name);
        if (!p.device_prefix.empty() && p.device_prefix != "cpu")
            add(p.device_prefix + ":N");
    }
    std::string s;
    for (const auto &n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

void check_rules(const RuleSet &rules, const host::Registry &registry) {
    auto known_kernels = [&] {
        std::string s;
        for (const host::PluginRecord &p : registry.plugins())
            if (p.status == host::PluginStatus::Loaded)
                for (const host::KernelRecord &k : p.kernels)
                    s += (s.empty() ? "" : ", ") + p.name + "/" + k.impl;
        return s.empty() ? std::string("none: no plugin is loaded") : s;
    };
    auto check_target = [&](const Target &t) {
        // Entries of a preference list may be absent here; their names must still be
        // well formed, so that a typo is not silently passed over.
        for (const Choice &d : t.device_list)
            if (d.name != "cpu" && !numbered(d.name))
                throw Error(d.pos.str() + ": device '" + d.name +
                            "' is not \"cpu\" or \"kind:N\" (known here: " +
                            known_devices_text(registry) + ")");
        if (!t.kernel_list.empty() || !t.device_list.empty()) {
            if (t.kernel_list.empty() && !t.default_kernel() &&
                !detail::find_kernel(registry, t.kernel).kernel)
                throw Error(t.kernel_pos.str() + ": unknown kernel '" + t.kernel +
                            "' (known: " + known_kernels() + ")");
            if (t.device_list.empty() && !t.device.empty() && !device_known(t.device, registry))
                throw Error(t.device_pos.str() + ": unknown device '" + t.device +
                            "' (known: " + known_devices_text(registry) + ")");
            return;
        }
        if (!t.default_kernel() && !detail::find_kernel(registry, t.kernel).kernel) {
            const std::string plugin = t.kernel.substr(0, t.kernel.find('/'));
            std::string why;
            for (const host::PluginRecord &p : registry.plugins())
                if (p.name == plugin && p.status != host::PluginStatus::Loaded && why.empty())
                    why = "; plugin " + plugin + " is " + host::status_name(p.status) +
                          (p.reason.empty() ? "" : " (" + p.reason + ")");
            throw Error(t.kernel_pos.str() + ": unknown kernel '" + t.kernel + "'" + why +
                        " (known: " + known_kernels() + ")");
        }
        if (!t.device.empty() && !device_known(t.device, registry))
            throw Error(t.device_pos.str() + ": unknown device '" + t.device +
                        "' (known: " + known_devices_text(registry) + ")");
    };
    for (const Rule &r : rules.rules) {
        check_target(r.decode);
        if (r.prefill)
            check_target(*r.prefill);
    }
}

std::filesystem::path default_rules_path(const std::string &family,
                                         const std::filesystem::path &executable) {
    return (executable.parent_path() / ".." / "share" / "graft" / "rules" / (family + "-cpu.yaml"))
        .lexically_normal();
}

} // namespace graft::rules
