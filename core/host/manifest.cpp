// plugin.yaml and install.yaml: reading (strictly: a manifest is input from a stranger)
// and writing them. See docs/design/plugin-packages.md for the format.
#include <graft/host/package.h>
#include <graft/util/error.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

// Bounds far above any real package, low enough that a hostile manifest stays cheap.
constexpr size_t kMaxManifestBytes = 1u << 20;
constexpr size_t kMaxFiles = 4096;
constexpr size_t kMaxRequirements = 64;

const std::set<std::string> kManifestKeys = {"format",      "name",        "version",  "vendor",
                                             "description", "abi_version", "requires", "files"};
const std::set<std::string> kRequirementKeys = {"runtime", "library", "version_symbol",
                                                "version_encoding", "command"};
const std::set<std::string> kFileKeys = {"path", "kind", "sha256"};

[[noreturn]] void fail(const std::string &origin, const std::string &what) {
    throw Error(origin + ": " + what);
}

void check_keys(const YAML::Node &map, const std::set<std::string> &known,
                const std::string &origin, const std::string &where) {
    for (const auto &entry : map) {
        const std::string key = entry.first.as<std::string>("");
        if (!known.count(key))
            fail(origin, where + "unknown key \"" + key + "\"");
    }
}

std::string text(const YAML::Node &map, const char *key, const std::string &origin, bool required,
                 const std::string &where = "") {
    const YAML::Node node = map[key];
    if (!node || node.IsNull()) {
        if (required)
            fail(origin, where + "\"" + key + "\" is missing");
        return "";
    }
    if (!node.IsScalar())
        fail(origin, where + "\"" + key + "\" must be a string");
    return node.Scalar();
}

// A plugin name as the registry accepts it, and safe as a directory name.
bool valid_package_name(const std::string &name) {
    if (name.empty() || name.size() > 128 || name[0] == '.')
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == '+';
    });
}

// Relative, '/'-separated, no empty, "." or ".." parts, nothing hidden at the top (the
// install record and staging names start with '.' or are reserved).
bool valid_file_path(const std::string &path) {
    if (path.empty() || path.size() > 1024 || path.front() == '/' || path == kManifestFile ||
        path == kInstallRecordFile)
        return false;
    std::stringstream parts(path);
    for (std::string part; std::getline(parts, part, '/');)
        if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos)
            return false;
    return path.back() != '/';
}

bool valid_sha256(const std::string &hex) {
    return hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

PackageFileKind parse_kind(const std::string &word, const std::string &origin,
                           const std::string &where) {
    for (PackageFileKind kind : {PackageFileKind::Plugin, PackageFileKind::Library,
                                 PackageFileKind::Rules, PackageFileKind::Data})
        if (word == file_kind_name(kind))
            return kind;
    fail(origin, where + "kind \"" + word + "\" is not one of plugin, library, rules, data");
}

Requirement parse_requirement(const YAML::Node &node, const std::string &origin, size_t i) {
    const std::string where = "requires[" + std::to_string(i) + "]: ";
    if (!node.IsMap())
        fail(origin, where + "must be a map with runtime and library or command");
    check_keys(node, kRequirementKeys, origin, where);
    Requirement r;
    r.runtime = text(node, "runtime", origin, true, where);
    r.library = text(node, "library", origin, false, where);
    r.version_symbol = text(node, "version_symbol", origin, false, where);
    if (const YAML::Node enc = node["version_encoding"]; enc && !enc.IsNull()) {
        if (!enc.IsSequence() || enc.size() == 0 || enc.size() > 4)
            fail(origin, where + "version_encoding must be a list of 1 to 4 positive integers");
        for (const YAML::Node &v : enc) {
            const int64_t divisor = v.as<int64_t>(0);
            if (divisor <= 0)
                fail(origin, where + "version_encoding must be a list of positive integers");
            r.version_encoding.push_back(divisor);
        }
    }
    if (const YAML::Node cmd = node["command"]; cmd && !cmd.IsNull()) {
        if (cmd.IsScalar())
            r.command.push_back(cmd.Scalar());
        else if (cmd.IsSequence())
            for (const YAML::Node &arg : cmd)
                r.command.push_back(arg.as<std::string>(""));
        if (r.command.empty() || r.command[0].empty())
            fail(origin, where + "command must be a program name or a list (argv)");
    }
    if (r.library.empty() == r.command.empty())
        fail(origin,
             where + "give exactly one of library and command to check \"" + r.runtime + "\"");
    if (!r.version_symbol.empty() && r.library.empty())
        fail(origin, where + "version_symbol needs library");
    return r;
}

YAML::Node yaml_of(const std::string &text_in, const std::string &origin) {
    if (text_in.size() > kMaxManifestBytes)
        fail(origin, "larger than " + std::to_string(kMaxManifestBytes) + " bytes");
    try {
        return YAML::Load(text_in);
    } catch (const YAML::Exception &e) {
        fail(origin, std::string("not valid YAML: ") + e.what());
    }
}

std::string read_text(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw Error("cannot read " + file.string());
    std::string content;
    char buffer[65536];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        content.append(buffer, static_cast<size_t>(in.gcount()));
        if (content.size() > kMaxManifestBytes)
            throw Error(file.string() + ": larger than " + std::to_string(kMaxManifestBytes) +
                        " bytes");
    }
    return content;
}

// A scalar that YAML would read back as itself, quoted when needed.
std::string emit_scalar(const std::string &value) {
    YAML::Emitter out;
    out << YAML::DoubleQuoted << value;
    return out.c_str();
}

} // namespace

const char *file_kind_name(PackageFileKind kind) {
    switch (kind) {
    case PackageFileKind::Plugin:
        return "plugin";
    case PackageFileKind::Library:
        return "library";
    case PackageFileKind::Rules:
        return "rules";
    case PackageFileKind::Data:
        return "data";
    }
    return "data";
}

std::vector<const PackageFile *> Manifest::files_of(PackageFileKind kind) const {
    std::vector<const PackageFile *> out;
    for (const PackageFile &file : files)
        if (file.kind == kind)
            out.push_back(&file);
    return out;
}

namespace {

// strict: a package's manifest; otherwise a template for `graft plugins pack`, where only
// what is given is read and files are left to pack.
Manifest parse(const std::string &yaml, const std::string &origin, bool strict) {
    const YAML::Node root = yaml_of(yaml, origin);
    if (!root.IsMap())
        fail(origin, "must be a YAML map (name, version, abi_version, files, ...)");
    check_keys(root, kManifestKeys, origin, "");
    Manifest m;
    try {
        m.format = root["format"] ? root["format"].as<int>() : kManifestFormat;
        if (strict || root["abi_version"])
            m.abi_version = root["abi_version"].as<uint32_t>();
    } catch (const YAML::Exception &) {
        fail(origin, "format and abi_version must be non-negative integers (abi_version is "
                     "required)");
    }
    if (m.format != kManifestFormat)
        fail(origin, "manifest format " + std::to_string(m.format) + "; this graft reads format " +
                         std::to_string(kManifestFormat) + " (a newer graft may read it)");
    m.name = text(root, "name", origin, strict);
    if ((strict || !m.name.empty()) && !valid_package_name(m.name))
        fail(origin, "name \"" + m.name + "\" must be letters, digits and - _ . + (no '/')");
    m.version = text(root, "version", origin, strict);
    m.vendor = text(root, "vendor", origin, false);
    m.description = text(root, "description", origin, false);

    if (const YAML::Node req = root["requires"]; req && !req.IsNull()) {
        if (!req.IsSequence() || req.size() > kMaxRequirements)
            fail(origin, "requires must be a list (at most " + std::to_string(kMaxRequirements) +
                             " entries)");
        for (size_t i = 0; i < req.size(); ++i)
            m.requirements.push_back(parse_requirement(req[i], origin, i));
    }

    if (!strict)
        return m;
    const YAML::Node files = root["files"];
    if (!files || !files.IsSequence() || files.size() == 0 || files.size() > kMaxFiles)
        fail(origin, "files must be a list of 1 to " + std::to_string(kMaxFiles) +
                         " entries {path, kind, sha256}");
    std::set<std::string> seen;
    for (size_t i = 0; i < files.size(); ++i) {
        const std::string where = "files[" + std::to_string(i) + "]: ";
        if (!files[i].IsMap())
            fail(origin, where + "must be a map {path, kind, sha256}");
        check_keys(files[i], kFileKeys, origin, where);
        PackageFile file;
        file.path = text(files[i], "path", origin, true, where);
        if (!valid_file_path(file.path))
            fail(origin, where + "path \"" + file.path +
                             "\" must be relative, without \"..\" or empty parts");
        if (!seen.insert(file.path).second)
            fail(origin, where + "\"" + file.path + "\" is listed twice");
        file.kind = parse_kind(text(files[i], "kind", origin, true, where), origin, where);
        file.sha256 = text(files[i], "sha256", origin, true, where);
        std::transform(file.sha256.begin(), file.sha256.end(), file.sha256.begin(),
                       [](char c) { return static_cast<char>(std::tolower(c)); });
        if (!valid_sha256(file.sha256))
            fail(origin, where + "sha256 must be 64 hex digits");
        m.files.push_back(std::move(file));
    }
    if (m.files_of(PackageFileKind::Plugin).empty())
        fail(origin, "lists no file of kind plugin");
    return m;
}

} // namespace

Manifest parse_manifest(const std::string &yaml, const std::string &origin) {
    return parse(yaml, origin, true);
}

Manifest read_manifest_template(const fs::path &file) {
    return parse(read_text(file), file.string(), false);
}

Manifest read_manifest(const fs::path &file) {
    const fs::path path = fs::is_directory(file) ? file / kManifestFile : file;
    return parse_manifest(read_text(path), path.string());
}

std::string manifest_yaml(const Manifest &m) {
    std::ostringstream out;
    out << "# graft plugin package manifest (docs/design/plugin-packages.md)\n";
    out << "format: " << m.format << "\n";
    out << "name: " << emit_scalar(m.name) << "\n";
    out << "version: " << emit_scalar(m.version) << "\n";
    if (!m.vendor.empty())
        out << "vendor: " << emit_scalar(m.vendor) << "\n";
    if (!m.description.empty())
        out << "description: " << emit_scalar(m.description) << "\n";
    out << "abi_version: " << m.abi_version << "\n";
    if (!m.requirements.empty()) {
        out << "requires:\n";
        for (const Requirement &r : m.requirements) {
            out << "  - runtime: " << emit_scalar(r.runtime) << "\n";
            if (!r.library.empty())
                out << "    library: " << emit_scalar(r.library) << "\n";
            if (!r.version_symbol.empty())
                out << "    version_symbol: " << emit_scalar(r.version_symbol) << "\n";
            if (!r.version_encoding.empty()) {
                out << "    version_encoding: [";
                for (size_t i = 0; i < r.version_encoding.size(); ++i)
                    out << (i ? ", " : "") << r.version_encoding[i];
                out << "]\n";
            }
            if (!r.command.empty()) {
                out << "    command: [";
                for (size_t i = 0; i < r.command.size(); ++i)
                    out << (i ? ", " : "") << emit_scalar(r.command[i]);
                out << "]\n";
            }
        }
    }
    out << "files:\n";
    for (const PackageFile &f : m.files)
        out << "  - path: " << emit_scalar(f.path) << "\n    kind: " << file_kind_name(f.kind)
            << "\n    sha256: " << f.sha256 << "\n";
    return out.str();
}

std::string install_record_yaml(const InstallRecord &r) {
    std::ostringstream out;
    out << "# written by `graft plugins install`\n";
    out << "source: " << emit_scalar(r.source) << "\n";
    out << "scope: " << emit_scalar(r.scope) << "\n";
    out << "installed: " << emit_scalar(r.installed) << "\n";
    out << "usable: " << (r.usable ? "true" : "false") << "\n";
    if (!r.reason.empty())
        out << "reason: " << emit_scalar(r.reason) << "\n";
    return out.str();
}

std::optional<InstallRecord> read_install_record(const fs::path &package_dir) {
    const fs::path file = package_dir / kInstallRecordFile;
    std::error_code ec;
    if (!fs::exists(file, ec))
        return std::nullopt;
    const std::string origin = file.string();
    const YAML::Node root = yaml_of(read_text(file), origin);
    if (!root.IsMap())
        fail(origin, "must be a YAML map");
    InstallRecord r;
    r.source = text(root, "source", origin, false);
    r.scope = text(root, "scope", origin, false);
    r.installed = text(root, "installed", origin, false);
    r.reason = text(root, "reason", origin, false);
    try {
        r.usable = root["usable"] ? root["usable"].as<bool>() : true;
    } catch (const YAML::Exception &) {
        fail(origin, "usable must be true or false");
    }
    return r;
}

std::optional<InstalledPackage> read_installed_package(const fs::path &dir) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / kManifestFile, ec))
        return std::nullopt;
    InstalledPackage package;
    package.dir = dir;
    package.manifest = read_manifest(dir / kManifestFile);
    package.record = read_install_record(dir);
    return package;
}

} // namespace graft::host
