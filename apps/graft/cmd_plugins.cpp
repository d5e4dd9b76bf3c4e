// `graft plugins ...`: list (every plugin file on the search path, what it offers, where
// it came from and, when it is not used, why; exits 0 even when plugins are refused: the
// listing is the place to read about them), and the package commands pack, install,
// remove and info (docs/design/plugin-packages.md). `check` is plugin_check.cpp's.
#include "commands.h"
#include "plugin_check.h"

#include <graft/host/package.h>
#include <graft/util/error.h>

#include <graft/host/registry.h>
#include <graft/plugin.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <unistd.h>

namespace graft::cli {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

// Where a plugin came from, for people: "user", "system", "build tree", "--plugin-path",
// with the package it belongs to.
std::string origin_text(const host::PluginRecord &plugin) {
    std::string text = plugin.origin == "prefix" ? "system" : plugin.origin;
    if (text.empty())
        text = "search path";
    if (!plugin.package.empty())
        text += ", package " + plugin.package;
    return text;
}

std::string kinds_text(uint32_t device_kinds) {
    std::string text;
    for (graft_device_kind kind : {GRAFT_DEVICE_CPU, GRAFT_DEVICE_GPU, GRAFT_DEVICE_NPU})
        if ((device_kinds >> kind) & 1u)
            text += (text.empty() ? "" : ",") + std::string(host::device_kind_name(kind));
    return text;
}

std::string dtypes_text(const std::vector<graft_dtype> &dtypes) {
    std::string text;
    for (graft_dtype dtype : dtypes)
        text += (text.empty() ? "" : ",") + std::string(sdk::dtype_name(dtype));
    return text;
}

std::string bytes_text(uint64_t bytes) {
    if (bytes == 0)
        return "?";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f GiB", static_cast<double>(bytes) / (1ull << 30));
    return buffer;
}

json::object device_json(const host::DeviceRecord &device) {
    json::array caps;
    for (const std::string &word : host::caps_names(device.caps))
        caps.emplace_back(word);
    return json::object{
        {"name", device.name},
        {"kind", host::device_kind_name(device.kind)},
        {"index", device.index},
        {"description", device.description},
        {"memory_total", device.memory_total},
        {"memory_free", device.memory_free},
        {"caps", std::move(caps)},
        {"capabilities", device.capabilities},
    };
}

json::object kernel_json(const host::KernelRecord &kernel) {
    json::array dtypes, kinds;
    for (graft_dtype dtype : kernel.weight_dtypes)
        dtypes.emplace_back(sdk::dtype_name(dtype));
    for (graft_device_kind kind : {GRAFT_DEVICE_CPU, GRAFT_DEVICE_GPU, GRAFT_DEVICE_NPU})
        if (kernel.runs_on(kind))
            kinds.emplace_back(host::device_kind_name(kind));
    return json::object{
        {"name", kernel.full_name()},
        {"op", kernel.op},
        {"impl", kernel.impl},
        {"weight_dtypes", std::move(dtypes)},
        {"device_kinds", std::move(kinds)},
    };
}

json::object plugin_json(const host::PluginRecord &plugin) {
    json::array devices, kernels;
    for (const host::DeviceRecord &device : plugin.devices)
        devices.push_back(device_json(device));
    for (const host::KernelRecord &kernel : plugin.kernels)
        kernels.push_back(kernel_json(kernel));
    json::object object{
        {"name", plugin.name},
        {"version", plugin.version},
        {"vendor", plugin.vendor},
        {"description", plugin.description},
        {"file", plugin.file.string()},
        {"status", host::status_name(plugin.status)},
        {"reason", plugin.reason},
        {"status_text", host::status_text(plugin)},
        {"status_note", plugin.status_note},
        {"origin", plugin.origin},
        {"package", plugin.package},
        {"package_dir", plugin.package_dir.string()},
        {"device_prefix", plugin.device_prefix},
        {"devices", std::move(devices)},
        {"kernels", std::move(kernels)},
    };
    object["score"] = plugin.has_score ? json::value(plugin.score) : json::value(nullptr);
    return object;
}

void print_json(const std::vector<host::SearchDir> &path, const host::Registry &registry) {
    json::array dirs, plugins;
    for (const host::SearchDir &entry : path)
        dirs.push_back(json::object{{"dir", entry.dir.string()},
                                    {"origin", entry.origin},
                                    {"exists", std::filesystem::is_directory(entry.dir)}});
    for (const host::PluginRecord &plugin : registry.plugins())
        plugins.push_back(plugin_json(plugin));
    std::cout << json::serialize(json::object{{"search_path", std::move(dirs)},
                                              {"plugins", std::move(plugins)}})
              << "\n";
}

void print_table(const std::vector<host::SearchDir> &path, const host::Registry &registry) {
    std::cout << "search path (first wins):\n";
    for (const host::SearchDir &entry : path)
        std::cout << "  " << entry.dir.string() << "  [" << entry.origin
                  << (std::filesystem::is_directory(entry.dir) ? "" : ", missing") << "]\n";
    if (registry.plugins().empty()) {
        std::cout << "\nno plugins found: build them (cmake --build) or add a directory with "
                     "--plugin-path or GRAFT_PLUGIN_PATH\n";
        return;
    }
    for (const host::PluginRecord &plugin : registry.plugins()) {
        std::cout << "\n" << plugin.name;
        if (!plugin.version.empty())
            std::cout << " " << plugin.version;
        std::cout << "  " << host::status_text(plugin) << "\n";
        std::cout << "  file: " << plugin.file.string();
        if (plugin.has_score)
            std::cout << "  (score " << plugin.score << ")";
        std::cout << "\n  from: " << origin_text(plugin) << "\n";
        if (!plugin.description.empty())
            std::cout << "  about: " << plugin.description << "\n";
        if (!plugin.status_note.empty())
            std::cout << "  note: " << plugin.status_note << "\n";
        for (const host::DeviceRecord &device : plugin.devices) {
            std::cout << "  device " << device.name << " (" << host::device_kind_name(device.kind)
                      << "): " << device.description << "; memory "
                      << bytes_text(device.memory_total) << " total, "
                      << bytes_text(device.memory_free) << " free";
            std::string caps = host::caps_text(device.caps);
            if (!device.capabilities.empty())
                caps += (caps.empty() ? "(" : " (") + device.capabilities + ")";
            if (!caps.empty())
                std::cout << "; caps: " << caps;
            std::cout << "\n";
        }
        for (const host::KernelRecord &kernel : plugin.kernels) {
            std::cout << "  kernel " << kernel.full_name() << "  op " << kernel.op << "  on "
                      << kinds_text(kernel.device_kinds);
            if (!kernel.weight_dtypes.empty())
                std::cout << "  weights " << dtypes_text(kernel.weight_dtypes);
            std::cout << "\n";
        }
    }
}

// ---------------------------------------------------------------- packages

host::Registry discover_with_origins(const GlobalOptions &options) {
    return host::Registry::discover(host::describe_search_path(
        std::vector<fs::path>(options.plugin_paths.begin(), options.plugin_paths.end())));
}

struct PackArgs {
    std::string dir, output, name, version, vendor, description;
    std::vector<std::string> rules;
};

// `graft plugins pack DIR`: the .so files directly in DIR (those that are graft plugins,
// loaded in a child to read their name, version and vendor; the others as libraries),
// rules files, DIR/plugin.yaml as a template (requires:, description) when present.
void pack(const PackArgs &args) {
    const fs::path dir = args.dir;
    if (!fs::is_directory(dir))
        throw Error(dir.string() + " is not a directory (pack takes a build directory)");
    host::Manifest manifest;
    if (fs::exists(dir / host::kManifestFile))
        manifest = host::read_manifest_template(dir / host::kManifestFile);
    std::vector<fs::path> sos;
    for (const fs::directory_entry &e : fs::directory_iterator(dir))
        if (e.path().extension() == ".so" && e.is_regular_file())
            sos.push_back(e.path());
    std::sort(sos.begin(), sos.end());
    std::vector<ProbedPlugin> loaded;
    std::vector<std::pair<fs::path, host::PackageFileKind>> files;
    std::string refusals;
    for (const fs::path &so : sos) {
        const ProbedPlugin probe = probe_plugin(so);
        const bool library = probe.status == "refused" && probe.reason.rfind("not a graft", 0) == 0;
        files.emplace_back(so, library ? host::PackageFileKind::Library
                                       : host::PackageFileKind::Plugin);
        if (probe.loaded())
            loaded.push_back(probe);
        else if (!library)
            refusals += "\n  " + so.filename().string() + ": " + probe.status + ": " + probe.reason;
    }
    if (std::none_of(files.begin(), files.end(),
                     [](const auto &f) { return f.second == host::PackageFileKind::Plugin; }))
        throw Error("no graft plugin (.so) directly in " + dir.string());
    for (const ProbedPlugin &p : loaded)
        if (p.name != loaded.front().name)
            throw Error(dir.string() + " holds two plugins, " + loaded.front().name + " and " +
                        p.name + ": a package holds one plugin (and its ISA variants)");
    if (!loaded.empty()) {
        const ProbedPlugin &p = loaded.front();
        if (!args.name.empty() && args.name != p.name)
            throw Error("--name " + args.name + " differs from the plugin's own name " + p.name);
        manifest.name = p.name;
        manifest.version = p.version.empty() ? manifest.version : p.version;
        manifest.vendor = p.vendor.empty() ? manifest.vendor : p.vendor;
        if (manifest.description.empty())
            manifest.description = p.description;
        manifest.abi_version = p.abi_version;
    } else if (!refusals.empty()) {
        std::cerr << "note: no plugin in " << dir.string() << " loads here, so name, version and "
                  << "ABI version come from options or plugin.yaml:" << refusals << "\n";
    }
    if (!args.name.empty())
        manifest.name = args.name;
    if (!args.version.empty())
        manifest.version = args.version;
    if (!args.vendor.empty())
        manifest.vendor = args.vendor;
    if (!args.description.empty())
        manifest.description = args.description;
    if (manifest.abi_version == 0)
        manifest.abi_version = GRAFT_ABI_VERSION;
    if (manifest.name.empty() || manifest.version.empty())
        throw Error("the plugin's name and version are unknown: give --name and --version");

    std::vector<fs::path> rules(args.rules.begin(), args.rules.end());
    if (fs::is_directory(dir / "rules"))
        for (const fs::directory_entry &e : fs::directory_iterator(dir / "rules"))
            if (e.path().extension() == ".yaml" && e.is_regular_file())
                rules.push_back(e.path());
    // The package's tree is assembled in a scratch directory, then written out.
    const fs::path scratch = fs::temp_directory_path() /
                             ("graft-pack-" + manifest.name + "-" + std::to_string(::getpid()));
    fs::remove_all(scratch);
    fs::create_directories(scratch / "rules");
    try {
        manifest.files.clear();
        for (const auto &[file, kind] : files) {
            fs::copy_file(file, scratch / file.filename());
            manifest.files.push_back({file.filename().string(), kind, ""});
        }
        for (const fs::path &rule : rules) {
            const std::string rel = "rules/" + rule.filename().string();
            if (fs::exists(scratch / rel))
                continue;
            fs::copy_file(rule, scratch / rel);
            manifest.files.push_back({rel, host::PackageFileKind::Rules, ""});
        }
        for (host::PackageFile &file : manifest.files)
            file.sha256 = host::sha256_file(scratch / file.path);
        // Checks what was made exactly as install will.
        host::parse_manifest(host::manifest_yaml(manifest), "the manifest pack made");
        const fs::path output = args.output.empty()
                                    ? fs::path(manifest.name + "-" + manifest.version + ".tar.gz")
                                    : fs::path(args.output);
        host::write_package_archive(scratch, manifest, output);
        std::cout << "packed " << manifest.name << " " << manifest.version << " ("
                  << manifest.files.size() << " files) into " << output.string() << "\n";
        for (const host::PackageFile &file : manifest.files)
            std::cout << "  " << file.path << "  " << host::file_kind_name(file.kind) << "  "
                      << file.sha256 << "\n";
    } catch (...) {
        fs::remove_all(scratch);
        throw;
    }
    fs::remove_all(scratch);
}

struct InstallArgs {
    std::string package;
    bool user = false, system = false, force = false;
};

fs::path scope_root(bool system) {
    return system ? host::system_plugins_root() : host::user_plugins_root();
}

// `graft plugins install PACKAGE`: verify (integrity, ABI, requirements, loading in a
// child), then one rename into place.
void install(const GlobalOptions &options, const InstallArgs &args) {
    const fs::path root = scope_root(args.system);
    host::StagedPackage staged = host::stage_package(args.package, root);
    const host::Manifest &m = staged.manifest();
    std::vector<std::string> problems;
    if (m.abi_version != GRAFT_ABI_VERSION)
        problems.push_back("built for plugin ABI version " + std::to_string(m.abi_version) +
                           "; this graft speaks " + std::to_string(GRAFT_ABI_VERSION));
    for (const host::Requirement &r : m.requirements)
        if (const host::RequirementCheck c = host::check_requirement(r); !c.met)
            problems.push_back("needs " + r.runtime + ": " + c.detail);
    std::vector<ProbedPlugin> loaded;
    std::string refusals;
    for (const host::PackageFile *file : m.files_of(host::PackageFileKind::Plugin)) {
        const ProbedPlugin probe = probe_plugin(staged.dir() / file->path);
        if (probe.loaded() && probe.name != m.name)
            throw Error(args.package + ": " + file->path + " is the plugin \"" + probe.name +
                        "\" but the manifest names \"" + m.name + "\"");
        if (probe.loaded())
            loaded.push_back(probe);
        else
            refusals += (refusals.empty() ? "" : "; ") + file->path + ": " + probe.reason;
    }
    if (loaded.empty())
        problems.push_back("no plugin file of it loads here (" + refusals + ")");
    std::string reason;
    for (const std::string &p : problems)
        reason += (reason.empty() ? "" : "; ") + p;
    if (!problems.empty() && !args.force)
        throw Error("not installing " + m.name + " " + m.version + ": " + reason +
                    ". --force installs it anyway, as present but not usable here");
    host::InstallRecord record;
    record.source = fs::absolute(args.package).lexically_normal().string();
    record.scope = args.system ? "system" : "user";
    record.usable = problems.empty();
    record.reason = reason;
    const fs::path target = staged.target();
    staged.commit(record);
    std::cout << "installed " << m.name << " " << m.version << " into " << target.string() << " ("
              << record.scope << ")\n";
    if (record.usable)
        std::cout << "  usable here: " << loaded.front().kernels.size() << " kernels\n";
    else
        std::cout << "  present, not usable here: " << reason << "\n";
    for (const host::PackageFile *rules : m.files_of(host::PackageFileKind::Rules))
        std::cout << "  rules: " << (target / rules->path).string() << "\n";
    // A plugin of that name earlier on the search path wins over the installed one.
    const host::Registry registry = discover_with_origins(options);
    for (const host::PluginRecord &p : registry.plugins())
        if (p.package_dir == target && p.status == host::PluginStatus::Shadowed)
            std::cout << "  note: shadowed by " << p.reason
                      << ", earlier on the search path (see graft plugins list)\n";
}

// `graft plugins remove NAME`: from the scope given, else from the one place it is in.
void remove(const std::string &name, bool user, bool system) {
    std::vector<fs::path> roots;
    if (user || !system)
        roots.push_back(host::user_plugins_root());
    if (system || !user)
        roots.push_back(host::system_plugins_root());
    std::vector<fs::path> found;
    for (const fs::path &root : roots)
        if (fs::is_directory(root / name))
            found.push_back(root);
    if (found.empty())
        throw Error("no plugin package " + name + " is installed in " + roots.front().string() +
                    (roots.size() > 1 ? " or " + roots.back().string() : ""));
    if (found.size() > 1)
        throw Error(name + " is installed for the user and the system; say --user or --system");
    host::remove_package(found.front(), name);
    std::cout << "removed " << name << " from " << found.front().string() << "\n";
}

// `graft plugins info NAME`: the installed package(s) of that name and its records.
void info(const GlobalOptions &options, const std::string &name, bool as_json) {
    const host::Registry registry = discover_with_origins(options);
    std::vector<const host::PluginRecord *> records;
    std::vector<fs::path> package_dirs;
    for (const host::PluginRecord &p : registry.plugins()) {
        if (p.name != name)
            continue;
        records.push_back(&p);
        if (!p.package_dir.empty() && std::find(package_dirs.begin(), package_dirs.end(),
                                                p.package_dir) == package_dirs.end())
            package_dirs.push_back(p.package_dir);
    }
    if (records.empty())
        throw Error("no plugin named " + name + " on the search path (see graft plugins list)");
    json::array packages_json, records_json;
    for (const host::PluginRecord *p : records)
        records_json.push_back(plugin_json(*p));
    std::ostringstream text;
    for (const fs::path &dir : package_dirs) {
        std::optional<host::InstalledPackage> pkg;
        try {
            pkg = host::read_installed_package(dir);
        } catch (const std::exception &e) {
            text << "package at " << dir.string() << " is broken: " << e.what() << "\n";
            continue;
        }
        if (!pkg)
            continue;
        const host::Manifest &m = pkg->manifest;
        json::array files, rules, reqs;
        text << m.name << " " << m.version << (m.vendor.empty() ? "" : " (" + m.vendor + ")")
             << "\n";
        if (!m.description.empty())
            text << "  about: " << m.description << "\n";
        text << "  installed in: " << dir.string() << "\n";
        if (pkg->record)
            text << "  installed from: " << pkg->record->source << " (" << pkg->record->scope
                 << ", " << pkg->record->installed << ")\n"
                 << "  status here: "
                 << (pkg->record->usable ? "usable"
                                         : "present, not usable here: " + pkg->record->reason)
                 << "\n";
        text << "  abi version: " << m.abi_version << "\n";
        for (const host::Requirement &r : m.requirements) {
            const host::RequirementCheck c = host::check_requirement(r);
            text << "  requires " << r.runtime << ": " << (c.met ? "met" : "NOT met") << " ("
                 << c.detail << ")\n";
            reqs.push_back(
                json::object{{"runtime", r.runtime}, {"met", c.met}, {"detail", c.detail}});
        }
        text << "  files:\n";
        for (const host::PackageFile &f : m.files) {
            std::string state;
            try {
                state = host::sha256_file(dir / f.path) == f.sha256 ? "ok" : "MODIFIED";
            } catch (const std::exception &) {
                state = "MISSING";
            }
            text << "    " << f.path << "  " << host::file_kind_name(f.kind) << "  " << state
                 << "\n";
            files.push_back(json::object{{"path", f.path},
                                         {"kind", host::file_kind_name(f.kind)},
                                         {"sha256", f.sha256},
                                         {"state", state}});
            if (f.kind == host::PackageFileKind::Rules) {
                rules.emplace_back((dir / f.path).string());
                text << "  rules file: " << (dir / f.path).string() << "  (use with --rules)\n";
            }
        }
        json::object pj{{"name", m.name},      {"version", m.version},
                        {"vendor", m.vendor},  {"description", m.description},
                        {"dir", dir.string()}, {"abi_version", m.abi_version},
                        {"requires", reqs},    {"files", files},
                        {"rules", rules}};
        if (pkg->record)
            pj["install"] = json::object{{"source", pkg->record->source},
                                         {"scope", pkg->record->scope},
                                         {"installed", pkg->record->installed},
                                         {"usable", pkg->record->usable},
                                         {"reason", pkg->record->reason}};
        packages_json.push_back(std::move(pj));
    }
    for (const host::PluginRecord *p : records) {
        text << "file " << p->file.string() << "\n  from: " << origin_text(*p)
             << "\n  status: " << host::status_text(*p) << "\n";
        if (!p->status_note.empty())
            text << "  note: " << p->status_note << "\n";
        for (const host::DeviceRecord &d : p->devices)
            text << "  device " << d.name << " (" << host::device_kind_name(d.kind) << ")\n";
        for (const host::KernelRecord &k : p->kernels)
            text << "  kernel " << k.full_name() << "  op " << k.op
                 << (k.weight_dtypes.empty() ? "" : "  weights " + dtypes_text(k.weight_dtypes))
                 << "\n";
    }
    if (as_json)
        std::cout << json::serialize(json::object{{"name", name},
                                                  {"packages", std::move(packages_json)},
                                                  {"plugins", std::move(records_json)}})
                  << "\n";
    else
        std::cout << text.str();
}

void add_package_commands(CLI::App &plugins, GlobalOptions &options) {
    auto pack_args = std::make_shared<PackArgs>();
    CLI::App *pack_cmd = plugins.add_subcommand(
        "pack", "Make a plugin package (.tar.gz with plugin.yaml and hashes) from a build "
                "directory holding the .so files of one plugin");
    pack_cmd->add_option("dir", pack_args->dir, "Build directory")->required()->type_name("DIR");
    pack_cmd
        ->add_option("-o,--output", pack_args->output,
                     "Package file (default: NAME-VERSION.tar.gz here)")
        ->type_name("OUT.tar.gz");
    pack_cmd->add_option("--name", pack_args->name, "Plugin name (default: the plugin's own)");
    pack_cmd->add_option("--version", pack_args->version, "Version (default: the plugin's own)");
    pack_cmd->add_option("--vendor", pack_args->vendor, "Vendor (default: the plugin's own)");
    pack_cmd->add_option("--description", pack_args->description, "One line about it");
    pack_cmd
        ->add_option("--rules", pack_args->rules,
                     "Rules file to ship (repeatable; DIR/rules/*.yaml are added too)")
        ->check(CLI::ExistingFile);
    pack_cmd->callback([pack_args] { pack(*pack_args); });

    auto install_args = std::make_shared<InstallArgs>();
    CLI::App *install_cmd = plugins.add_subcommand(
        "install", "Verify a plugin package (hashes, ABI, requirements, that it loads here) and "
                   "install it into <dir>/<name>/");
    install_cmd->add_option("package", install_args->package, "Package (.tar.gz or directory)")
        ->required()
        ->type_name("PACKAGE");
    auto *user = install_cmd->add_flag("--user", install_args->user,
                                       "Into ~/.local/lib/graft/plugins (the default)");
    install_cmd->add_flag("--system", install_args->system, "Into <prefix>/lib/graft/plugins")
        ->excludes(user);
    install_cmd->add_flag("--force", install_args->force,
                          "Install even when it cannot run here, marked present but not usable");
    install_cmd->callback([&options, install_args] { install(options, *install_args); });

    auto remove_args = std::make_shared<std::tuple<std::string, bool, bool>>();
    CLI::App *remove_cmd = plugins.add_subcommand("remove", "Remove an installed plugin package");
    remove_cmd->add_option("name", std::get<0>(*remove_args), "Plugin name")->required();
    auto *ruser = remove_cmd->add_flag("--user", std::get<1>(*remove_args), "From the user's dir");
    remove_cmd->add_flag("--system", std::get<2>(*remove_args), "From <prefix>'s dir")
        ->excludes(ruser);
    remove_cmd->callback([remove_args] {
        remove(std::get<0>(*remove_args), std::get<1>(*remove_args), std::get<2>(*remove_args));
    });

    auto info_args = std::make_shared<std::pair<std::string, bool>>();
    CLI::App *info_cmd = plugins.add_subcommand(
        "info", "A plugin's package (manifest, files, rules, where it came from), status here, "
                "devices and kernels");
    info_cmd->add_option("name", info_args->first, "Plugin name")->required();
    info_cmd->add_flag("--json", info_args->second, "One JSON document");
    info_cmd->callback(
        [&options, info_args] { info(options, info_args->first, info_args->second); });
}

} // namespace

void add_plugins_command(CLI::App &app, GlobalOptions &options) {
    CLI::App *plugins = app.add_subcommand("plugins", "Plugins found on the search path");
    plugins->require_subcommand(1);
    CLI::App *list = plugins->add_subcommand(
        "list", "List every plugin file found: status (and why), devices and kernels");
    auto json_output = std::make_shared<bool>(false);
    list->add_flag("--json", *json_output, "One JSON document instead of the table");
    list->callback([&options, json_output] {
        std::vector<std::filesystem::path> explicit_paths(options.plugin_paths.begin(),
                                                          options.plugin_paths.end());
        const std::vector<host::SearchDir> path = host::describe_search_path(explicit_paths);
        const host::Registry registry = host::Registry::discover(path);
        if (*json_output)
            print_json(path, registry);
        else
            print_table(path, registry);
    });
    add_package_commands(*plugins, options);
    add_plugin_check_commands(*plugins, options);
}

} // namespace graft::cli
