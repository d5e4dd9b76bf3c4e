// Plugin packages: a directory or `.tar.gz` holding a plugin's `.so` files (one, or several
// ISA variants), optional rules files, and `plugin.yaml`, the manifest that names the
// plugin, its ABI version, what it needs on the machine and the SHA-256 of every file.
// An installed package is a directory <plugins>/<name>/ of a search-path directory; the
// registry looks one level into such directories. See docs/design/plugin-packages.md.
//
// Reading manifests and install records (this header's first half) is part of graft_host;
// making, unpacking, verifying and installing packages (the second half) is
// graft_host_packages, which links OpenSSL's libcrypto and libarchive.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace graft::host {

inline constexpr const char *kManifestFile = "plugin.yaml";
// Written by `graft plugins install` next to the manifest: where the package came from
// and whether it was usable on this machine.
inline constexpr const char *kInstallRecordFile = "install.yaml";
// The manifest format this graft writes and reads.
inline constexpr int kManifestFormat = 1;

enum class PackageFileKind {
    Plugin,  // a graft plugin (.so); the registry loads these
    Library, // a library a plugin links (found through its RUNPATH), never loaded as a plugin
    Rules,   // a rules file (YAML) for `--rules`
    Data,    // anything else the plugin reads
};
// "plugin", "library", "rules", "data".
const char *file_kind_name(PackageFileKind kind);

struct PackageFile {
    std::string path; // relative to the package root, '/'-separated, no "..", not absolute
    PackageFileKind kind = PackageFileKind::Data;
    std::string sha256; // 64 lowercase hex digits
};

// Something the plugin needs on the machine, e.g. `runtime: "CUDA >= 12"`, and how to
// check it: a library to dlopen (with an optional version query) or a command to run.
struct Requirement {
    std::string runtime;        // "NAME", or "NAME OP VERSION" with OP one of >= > == <= <
    std::string library;        // (optional) file name or path handed to dlopen
    std::string version_symbol; // (optional) `int f(int *version)` in library; 0 = success
    std::vector<int64_t> version_encoding; // (optional) how the int encodes major.minor...:
                                           // {1000, 10} reads 12040 as 12.4 (CUDA's way)
    std::vector<std::string> command;      // (optional) argv; exit 0 = present, the first
                                           // dotted number it prints is the version
};

struct Manifest {
    int format = kManifestFormat;
    std::string name, version, vendor, description;
    uint32_t abi_version = 0;
    std::vector<Requirement> requirements; // `requires:` in the file
    std::vector<PackageFile> files;

    std::vector<const PackageFile *> files_of(PackageFileKind kind) const;
};

// Parses manifest text; throws graft::Error naming `origin` and the fault.
Manifest parse_manifest(const std::string &yaml, const std::string &origin);
// Reads <dir or file>; throws graft::Error.
Manifest read_manifest(const std::filesystem::path &file);
// A manifest template for `graft plugins pack` (a plugin.yaml kept beside the build with
// requires:, description, ...): the same format, where every field is optional and
// files are ignored (pack lists and hashes them). Throws graft::Error.
Manifest read_manifest_template(const std::filesystem::path &file);
// The manifest as YAML, with a header comment; parse_manifest reads it back unchanged.
std::string manifest_yaml(const Manifest &manifest);

// What install wrote about one installed package.
struct InstallRecord {
    std::string source;    // the package path given to install
    std::string scope;     // "user" or "system"
    std::string installed; // UTC time, ISO 8601
    bool usable = true;    // false: installed with --force although it cannot run here
    std::string reason;    // why not usable; empty when usable
};
std::string install_record_yaml(const InstallRecord &record);
// Throws graft::Error when the file exists but cannot be read.
std::optional<InstallRecord> read_install_record(const std::filesystem::path &package_dir);

// A directory one level below a search-path directory that holds a manifest.
struct InstalledPackage {
    std::filesystem::path dir;
    Manifest manifest;
    std::optional<InstallRecord> record; // absent when copied in by hand
};
// Reads dir/plugin.yaml and dir/install.yaml; nullopt when dir has no manifest.
// Throws graft::Error for a manifest that is present but broken.
std::optional<InstalledPackage> read_installed_package(const std::filesystem::path &dir);

// ------------------------------------------------------------------ requirements

struct RequirementCheck {
    bool met = false;
    std::string detail; // "libcudart.so.12: version 12.4" or why it is not met
};
// Checks one requirement on this machine: dlopen (RTLD_LAZY | RTLD_LOCAL) of the library
// and its version query, or the command (10 s at most). Never throws.
RequirementCheck check_requirement(const Requirement &requirement);
// "12.4" < "12.10": dotted numbers compared part by part; missing parts are 0.
int compare_versions(const std::string &a, const std::string &b);

// ------------------------------------------------------------------ making and installing
// (graft_host_packages)

// Hex SHA-256 of a file's bytes; throws graft::Error when it cannot be read.
std::string sha256_file(const std::filesystem::path &file);

// Writes a package: manifest + the files it lists (read from `root`) as
// <name>-<version>/... in a gzip-compressed tar, written to a temporary name and renamed.
void write_package_archive(const std::filesystem::path &root, const Manifest &manifest,
                           const std::filesystem::path &output);

// Extracts a .tar.gz into `dest` (which must exist and be empty). Only regular files and
// directories; absolute paths, "..", links and devices are refused. Throws graft::Error.
void extract_package_archive(const std::filesystem::path &archive,
                             const std::filesystem::path &dest);

// A package unpacked and verified in a hidden staging directory next to its final place
// (same file system, so that the final step is a rename). Removed on destruction unless
// committed.
class StagedPackage {
  public:
    StagedPackage(StagedPackage &&) noexcept;
    StagedPackage &operator=(StagedPackage &&) noexcept;
    StagedPackage(const StagedPackage &) = delete;
    StagedPackage &operator=(const StagedPackage &) = delete;
    ~StagedPackage();

    const Manifest &manifest() const { return manifest_; }
    const std::filesystem::path &dir() const { return dir_; }
    // Where it will live: <plugins_root>/<name>.
    std::filesystem::path target() const { return root_ / manifest_.name; }

    // Writes the install record and moves the staging directory to target(), replacing
    // an installed package of that name in one rename (RENAME_EXCHANGE), then removes the
    // old one. Throws graft::Error; on failure nothing at target() has changed.
    void commit(const InstallRecord &record);

  private:
    friend StagedPackage stage_package(const std::filesystem::path &,
                                       const std::filesystem::path &);
    StagedPackage(std::filesystem::path root, std::filesystem::path dir, Manifest manifest);
    std::filesystem::path root_, dir_;
    Manifest manifest_;
    bool committed_ = false;
};

// Unpacks (a .tar.gz) or copies (a directory) the package into a staging directory under
// plugins_root (created when missing), and verifies its integrity: the manifest parses,
// every listed file is present with its SHA-256, nothing unlisted is there. Whether it can
// run here (ABI version, requirements, loading) is the caller's question. Throws
// graft::Error with the first fault; nothing stays behind.
StagedPackage stage_package(const std::filesystem::path &package,
                            const std::filesystem::path &plugins_root);

// Removes <plugins_root>/<name> (moved aside first, so a reader never sees half of it).
// Returns false when nothing of that name is installed there; throws graft::Error when it
// is there and cannot be removed.
bool remove_package(const std::filesystem::path &plugins_root, const std::string &name);

// The plugins directories of install's scopes: ~/.local/lib/graft/plugins and
// <prefix>/lib/graft/plugins (prefix: the parent of the running executable's directory).
std::filesystem::path user_plugins_root();
std::filesystem::path system_plugins_root();

} // namespace graft::host
