// Staging, verifying, committing and removing installed packages. Every change to a
// plugins directory is a rename of a complete directory, so that discovery (which skips
// hidden entries) never sees half a package.
#include <graft/host/package.h>
#include <graft/plugin.h>
#include <graft/util/error.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <set>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

constexpr const char *kPluginSubdir = "lib/graft/plugins";

// A fresh hidden directory under root: "<root>/.graft-<what>-XXXXXX".
fs::path make_hidden_dir(const fs::path &root, const std::string &what) {
    std::string pattern = (root / (".graft-" + what + "-XXXXXX")).string();
    if (!::mkdtemp(pattern.data()))
        throw Error("cannot create a directory in " + root.string() + ": " + std::strerror(errno) +
                    (errno == EACCES ? " (try --user, or run as root)" : ""));
    return pattern;
}

void remove_quietly(const fs::path &dir) {
    std::error_code ec;
    fs::remove_all(dir, ec);
}

// The package root inside an unpacked archive: the archive root when it holds the
// manifest, else its only directory ("example-0.1.0/").
fs::path find_package_root(const fs::path &unpacked) {
    if (fs::exists(unpacked / kManifestFile))
        return unpacked;
    std::vector<fs::path> entries;
    for (const fs::directory_entry &e : fs::directory_iterator(unpacked))
        entries.push_back(e.path());
    if (entries.size() == 1 && fs::is_directory(fs::symlink_status(entries[0])) &&
        fs::exists(entries[0] / kManifestFile))
        return entries[0];
    throw Error("no " + std::string(kManifestFile) +
                " at the top of the package or in its only directory");
}

// Every regular file below dir, as '/'-separated relative paths.
std::set<std::string> files_below(const fs::path &dir) {
    std::set<std::string> files;
    for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator();
         ++it) {
        const fs::file_status status = it->symlink_status();
        if (fs::is_directory(status))
            continue;
        const std::string rel = it->path().lexically_relative(dir).generic_string();
        if (!fs::is_regular_file(status))
            throw Error("\"" + rel + "\" is a link or a special file; packages hold plain files");
        files.insert(rel);
    }
    return files;
}

// The manifest's files are all there with their hashes, and nothing else is.
void verify_contents(const fs::path &dir, const Manifest &manifest) {
    std::set<std::string> present = files_below(dir);
    present.erase(kManifestFile);
    present.erase(kInstallRecordFile);
    for (const PackageFile &file : manifest.files) {
        if (!present.erase(file.path))
            throw Error("\"" + file.path + "\" is listed in " + kManifestFile +
                        " but missing from the package");
        const std::string actual = sha256_file(dir / file.path);
        if (actual != file.sha256)
            throw Error("\"" + file.path + "\" does not match its sha256 in " + kManifestFile +
                        " (expected " + file.sha256 + ", got " + actual +
                        "): the package is damaged or was changed after packing");
    }
    if (!present.empty())
        throw Error("\"" + *present.begin() + "\" is in the package but not listed in " +
                    kManifestFile + "; every file of a package carries a hash");
}

// Copies the manifest and the files it lists from a package directory into dest.
void copy_listed(const fs::path &source, const Manifest &manifest, const fs::path &dest) {
    fs::create_directories(dest);
    fs::copy_file(source / kManifestFile, dest / kManifestFile);
    for (const PackageFile &file : manifest.files) {
        const fs::path from = source / file.path;
        if (!fs::is_regular_file(fs::symlink_status(from)) && !fs::is_regular_file(from))
            throw Error("\"" + file.path + "\" is listed in " + kManifestFile +
                        " but missing from " + source.string());
        fs::create_directories((dest / file.path).parent_path());
        fs::copy_file(from, dest / file.path); // follows a link: the package gets the bytes
    }
}

std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buffer;
}

} // namespace

StagedPackage::StagedPackage(fs::path root, fs::path dir, Manifest manifest)
    : root_(std::move(root)), dir_(std::move(dir)), manifest_(std::move(manifest)) {}

StagedPackage::StagedPackage(StagedPackage &&other) noexcept
    : root_(std::move(other.root_)), dir_(std::move(other.dir_)),
      manifest_(std::move(other.manifest_)), committed_(other.committed_) {
    other.committed_ = true;
}

StagedPackage &StagedPackage::operator=(StagedPackage &&other) noexcept {
    if (this != &other) {
        if (!committed_ && !dir_.empty())
            remove_quietly(dir_.parent_path());
        root_ = std::move(other.root_);
        dir_ = std::move(other.dir_);
        manifest_ = std::move(other.manifest_);
        committed_ = other.committed_;
        other.committed_ = true;
    }
    return *this;
}

StagedPackage::~StagedPackage() {
    // dir_ is <root>/.graft-stage-XXXXXX/package; the whole staging area goes.
    if (!committed_ && !dir_.empty())
        remove_quietly(dir_.parent_path());
}

void StagedPackage::commit(const InstallRecord &record) {
    if (committed_)
        throw Error("this package was already installed");
    InstallRecord stamped = record;
    if (stamped.installed.empty())
        stamped.installed = utc_now();
    {
        std::FILE *out = std::fopen((dir_ / kInstallRecordFile).c_str(), "wb");
        const std::string text = install_record_yaml(stamped);
        if (!out || std::fwrite(text.data(), 1, text.size(), out) != text.size() ||
            std::fclose(out) != 0)
            throw Error("cannot write " + (dir_ / kInstallRecordFile).string());
    }
    const fs::path final_dir = target();
    std::error_code ec;
    const bool replacing = fs::exists(fs::symlink_status(final_dir, ec));
    if (replacing) {
        // One atomic step: the old and the new directory change places; the old one, now
        // in the staging area, is removed with it.
        if (::renameat2(AT_FDCWD, dir_.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0)
            throw Error("cannot replace " + final_dir.string() + ": " + std::strerror(errno));
    } else if (::rename(dir_.c_str(), final_dir.c_str()) != 0) {
        throw Error("cannot move the package to " + final_dir.string() + ": " +
                    std::strerror(errno));
    }
    committed_ = true;
    remove_quietly(dir_.parent_path());
}

StagedPackage stage_package(const fs::path &package, const fs::path &plugins_root) {
    std::error_code ec;
    if (!fs::exists(package, ec))
        throw Error(package.string() + ": no such file or directory");
    fs::create_directories(plugins_root, ec);
    if (ec)
        throw Error("cannot create " + plugins_root.string() + ": " + ec.message());
    const fs::path stage = make_hidden_dir(plugins_root, "stage");
    const fs::path dir = stage / "package";
    try {
        Manifest manifest;
        if (fs::is_directory(package)) {
            manifest = read_manifest(package / kManifestFile);
            copy_listed(package, manifest, dir);
        } else {
            const fs::path unpacked = stage / "unpacked";
            fs::create_directory(unpacked);
            extract_package_archive(package, unpacked);
            fs::rename(find_package_root(unpacked), dir);
            manifest = read_manifest(dir / kManifestFile);
        }
        verify_contents(dir, manifest);
        return StagedPackage(plugins_root, dir, std::move(manifest));
    } catch (const Error &e) {
        remove_quietly(stage);
        throw Error(package.string() + ": " + e.what());
    } catch (const fs::filesystem_error &e) {
        remove_quietly(stage);
        throw Error(package.string() + ": " + e.what());
    }
}

bool remove_package(const fs::path &plugins_root, const std::string &name) {
    if (name.empty() || name.find('/') != std::string::npos || name[0] == '.')
        throw Error("\"" + name + "\" is not a plugin name");
    const fs::path dir = plugins_root / name;
    std::error_code ec;
    if (!fs::is_directory(fs::symlink_status(dir, ec)))
        return false;
    const fs::path trash = make_hidden_dir(plugins_root, "remove");
    if (::rename(dir.c_str(), (trash / name).c_str()) != 0) {
        remove_quietly(trash);
        throw Error("cannot remove " + dir.string() + ": " + std::strerror(errno));
    }
    fs::remove_all(trash, ec);
    if (ec)
        throw Error("moved " + dir.string() + " aside but cannot delete " + trash.string() + ": " +
                    ec.message());
    return true;
}

fs::path user_plugins_root() {
    const char *home = std::getenv("HOME");
    if (!home || !*home)
        throw Error("HOME is not set, so there is no user plugin directory; use --system");
    return fs::path(home) / ".local" / kPluginSubdir;
}

fs::path system_plugins_root() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec)
        throw Error("cannot find the running executable to locate <prefix>/" +
                    std::string(kPluginSubdir));
    return exe.parent_path().parent_path() / kPluginSubdir;
}

} // namespace graft::host
