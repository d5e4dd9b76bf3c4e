// Plugin packages below the CLI: the manifest (reading strictly, writing, reading back),
// SHA-256, the tar.gz format (round trip, hostile archives), staging and committing an
// install, removal, requirements, and how discovery treats installed packages.
#include "process.h"

#include <graft/host/package.h>
#include <graft/host/registry.h>
#include <graft/util/error.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <unistd.h>

namespace graft::host {
namespace {

namespace fs = std::filesystem;
using host_test::run_process;
using host_test::shell_quote;

const fs::path kPlugins = HOST_TEST_PLUGIN_DIR;

class TempDir {
  public:
    TempDir() {
        std::string pattern = (fs::temp_directory_path() / "graft-package-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const fs::path &path() const { return path_; }

  private:
    fs::path path_;
};

void write_file(const fs::path &file, const std::string &text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << text;
}

std::string read_file(const fs::path &file) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// What coreutils says the file's SHA-256 is.
std::string coreutils_sha256(const fs::path &file) {
    const auto result = run_process("sha256sum " + shell_quote(file.string()));
    return result.output.substr(0, 64);
}

// A package directory holding the test plugin "dup" and a rules file.
Manifest make_package_dir(const fs::path &dir) {
    fs::create_directories(dir / "rules");
    fs::copy_file(kPlugins / "first" / "graft-dup.so", dir / "graft-dup.so");
    write_file(dir / "rules" / "dup.yaml",
               "- match: {name: \"^lm_head$\"}\n"
               "  replace: {kernel: dup/fake-linear, device: fake:0}\n");
    Manifest m;
    m.name = "dup";
    m.version = "1.0";
    m.vendor = "tests";
    m.abi_version = GRAFT_ABI_VERSION;
    m.files = {{"graft-dup.so", PackageFileKind::Plugin, sha256_file(dir / "graft-dup.so")},
               {"rules/dup.yaml", PackageFileKind::Rules, sha256_file(dir / "rules/dup.yaml")}};
    write_file(dir / kManifestFile, manifest_yaml(m));
    return m;
}

::testing::AssertionResult throws_with(const std::function<void()> &fn, const std::string &part) {
    try {
        fn();
    } catch (const Error &e) {
        if (std::string(e.what()).find(part) != std::string::npos)
            return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure()
               << "message \"" << e.what() << "\" lacks \"" << part << "\"";
    }
    return ::testing::AssertionFailure() << "no graft::Error thrown";
}

bool has_hidden_entries(const fs::path &dir) {
    for (const fs::directory_entry &e : fs::directory_iterator(dir))
        if (e.path().filename().string()[0] == '.')
            return true;
    return false;
}

TEST(Manifest, WritesAndReadsBack) {
    Manifest m;
    m.name = "cuda-extra";
    m.version = "2.1.0";
    m.vendor = "Vendor: \"quoted\"";
    m.description = "kernels: fast # not a comment";
    m.abi_version = 1;
    m.requirements = {{"CUDA >= 12", "libcudart.so.12", "cudaRuntimeGetVersion", {1000, 10}, {}},
                      {"nvidia-smi", "", "", {}, {"nvidia-smi", "-L"}}};
    m.files = {{"graft-cuda-extra.so", PackageFileKind::Plugin, std::string(64, 'a')},
               {"lib/libhelper.so", PackageFileKind::Library, std::string(64, 'b')},
               {"rules/x.yaml", PackageFileKind::Rules, std::string(64, 'c')}};
    const Manifest back = parse_manifest(manifest_yaml(m), "test");
    EXPECT_EQ(back.name, m.name);
    EXPECT_EQ(back.version, m.version);
    EXPECT_EQ(back.vendor, m.vendor);
    EXPECT_EQ(back.description, m.description);
    EXPECT_EQ(back.abi_version, 1u);
    ASSERT_EQ(back.requirements.size(), 2u);
    EXPECT_EQ(back.requirements[0].runtime, "CUDA >= 12");
    EXPECT_EQ(back.requirements[0].library, "libcudart.so.12");
    EXPECT_EQ(back.requirements[0].version_symbol, "cudaRuntimeGetVersion");
    EXPECT_EQ(back.requirements[0].version_encoding, (std::vector<int64_t>{1000, 10}));
    EXPECT_EQ(back.requirements[1].command, (std::vector<std::string>{"nvidia-smi", "-L"}));
    ASSERT_EQ(back.files.size(), 3u);
    EXPECT_EQ(back.files[1].path, "lib/libhelper.so");
    EXPECT_EQ(back.files[1].kind, PackageFileKind::Library);
    EXPECT_EQ(back.files_of(PackageFileKind::Rules).size(), 1u);
    EXPECT_EQ(manifest_yaml(back), manifest_yaml(m));
}

TEST(Manifest, RefusesWhatItCannotTrust) {
    const std::string sha(64, 'a');
    const std::string head = "name: x\nversion: '1'\nabi_version: 1\n";
    auto with_files = [&](const std::string &files) { return head + "files:\n" + files; };
    const std::string plugin = "  - {path: graft-x.so, kind: plugin, sha256: " + sha + "}\n";
    const std::pair<std::string, std::string> bad[] = {
        {"name: x\nversion: '1'\nfiles: []\n", "abi_version"},
        {with_files("  - {path: ../x.so, kind: plugin, sha256: " + sha + "}\n"), "relative"},
        {with_files("  - {path: /x.so, kind: plugin, sha256: " + sha + "}\n"), "relative"},
        {with_files(plugin + plugin), "listed twice"},
        {with_files("  - {path: graft-x.so, kind: plugin, sha256: 12ab}\n"), "64 hex digits"},
        {with_files("  - {path: graft-x.so, kind: blob, sha256: " + sha + "}\n"), "kind"},
        {with_files("  - {path: r.yaml, kind: rules, sha256: " + sha + "}\n"), "kind plugin"},
        {head + "files: []\n", "files must be a list"},
        {"name: a/b\nversion: '1'\nabi_version: 1\nfiles:\n" + plugin, "name"},
        {with_files(plugin) + "colour: blue\n", "unknown key \"colour\""},
        {with_files(plugin) + "requires:\n  - {runtime: X, library: a.so, command: b}\n",
         "exactly one of library and command"},
        {with_files(plugin) + "format: 2\n", "format 2"},
        {"[unclosed", "not valid YAML"},
    };
    for (const auto &[text, part] : bad)
        EXPECT_TRUE(throws_with([&] { parse_manifest(text, "plugin.yaml"); }, part)) << text;
}

TEST(Package, Sha256MatchesCoreutils) {
    const TempDir tmp;
    write_file(tmp.path() / "a", std::string(3'000'000, 'x') + "tail");
    write_file(tmp.path() / "empty", "");
    for (const char *name : {"a", "empty"})
        EXPECT_EQ(sha256_file(tmp.path() / name), coreutils_sha256(tmp.path() / name)) << name;
    EXPECT_TRUE(throws_with([&] { sha256_file(tmp.path() / "missing"); }, "cannot read"));
}

TEST(Package, ArchiveRoundTripIsReproducible) {
    const TempDir tmp;
    const Manifest m = make_package_dir(tmp.path() / "src");
    write_package_archive(tmp.path() / "src", m, tmp.path() / "one.tar.gz");
    write_package_archive(tmp.path() / "src", m, tmp.path() / "two.tar.gz");
    EXPECT_EQ(read_file(tmp.path() / "one.tar.gz"), read_file(tmp.path() / "two.tar.gz"));
    fs::create_directories(tmp.path() / "out");
    extract_package_archive(tmp.path() / "one.tar.gz", tmp.path() / "out");
    const fs::path root = tmp.path() / "out" / "dup-1.0";
    EXPECT_EQ(read_file(root / "graft-dup.so"), read_file(tmp.path() / "src" / "graft-dup.so"));
    EXPECT_EQ(read_file(root / "rules" / "dup.yaml"),
              read_file(tmp.path() / "src" / "rules" / "dup.yaml"));
    EXPECT_EQ(read_manifest(root).files.size(), 2u);
    EXPECT_TRUE((fs::status(root / "graft-dup.so").permissions() & fs::perms::owner_exec) !=
                fs::perms::none);
    // The tar tool reads it as an ordinary tar.gz.
    const auto listing =
        run_process("tar tzf " + shell_quote((tmp.path() / "one.tar.gz").string()));
    EXPECT_NE(listing.output.find("dup-1.0/plugin.yaml"), std::string::npos) << listing.output;
}

TEST(Package, HostileArchivesAreRefused) {
    const TempDir tmp;
    const fs::path dir = tmp.path();
    write_file(dir / "f", "payload");
    fs::create_symlink("/etc/passwd", dir / "link");
    const std::string tar = "cd " + shell_quote(dir.string()) + " && tar czf ";
    ASSERT_EQ(run_process(tar + "dotdot.tar.gz --transform 's,^,../,' f").exit_code, 0);
    ASSERT_EQ(run_process(tar + "abs.tar.gz -P --transform 's,^,/tmp/,' f").exit_code, 0);
    ASSERT_EQ(run_process(tar + "link.tar.gz link").exit_code, 0);
    write_file(dir / "junk.tar.gz", "not an archive");
    const std::pair<const char *, const char *> cases[] = {{"dotdot.tar.gz", "leaves the package"},
                                                           {"abs.tar.gz", "absolute"},
                                                           {"link.tar.gz", "link"},
                                                           {"junk.tar.gz", ""}};
    for (const auto &[file, part] : cases) {
        const fs::path out = dir / (std::string("out-") + file);
        fs::create_directories(out);
        EXPECT_TRUE(throws_with([&] { extract_package_archive(dir / file, out); }, part)) << file;
    }
}

TEST(Package, StageVerifiesAndLeavesNothingBehindOnFailure) {
    const TempDir tmp;
    const fs::path root = tmp.path() / "plugins";
    const Manifest m = make_package_dir(tmp.path() / "pkg");
    {
        StagedPackage staged = stage_package(tmp.path() / "pkg", root);
        EXPECT_EQ(staged.manifest().name, "dup");
        EXPECT_EQ(staged.target(), root / "dup");
        EXPECT_TRUE(fs::exists(staged.dir() / "graft-dup.so"));
    } // not committed: removed
    EXPECT_TRUE(fs::is_empty(root));

    write_file(tmp.path() / "pkg" / "rules" / "dup.yaml", "changed after packing\n");
    EXPECT_TRUE(
        throws_with([&] { stage_package(tmp.path() / "pkg", root); }, "does not match its sha256"));
    EXPECT_TRUE(fs::is_empty(root));

    make_package_dir(tmp.path() / "pkg2");
    write_package_archive(tmp.path() / "pkg2", read_manifest(tmp.path() / "pkg2"),
                          tmp.path() / "pkg2.tar.gz");
    EXPECT_TRUE(
        throws_with([&] { stage_package(tmp.path() / "missing.tar.gz", root); }, "no such file"));
    // An archive with a file the manifest does not list.
    fs::create_directories(tmp.path() / "x");
    extract_package_archive(tmp.path() / "pkg2.tar.gz", tmp.path() / "x");
    write_file(tmp.path() / "x" / "dup-1.0" / "extra.so", "stowaway");
    ASSERT_EQ(run_process("cd " + shell_quote((tmp.path() / "x").string()) +
                          " && tar czf ../extra.tar.gz dup-1.0")
                  .exit_code,
              0);
    EXPECT_TRUE(throws_with([&] { stage_package(tmp.path() / "extra.tar.gz", root); },
                            "\"extra.so\" is in the package but not listed"));
    EXPECT_TRUE(fs::is_empty(root));
}

TEST(Package, CommitInstallsReplacesAndRemoves) {
    const TempDir tmp;
    const fs::path root = tmp.path() / "plugins";
    make_package_dir(tmp.path() / "pkg");
    InstallRecord record;
    record.source = "first";
    record.scope = "user";
    stage_package(tmp.path() / "pkg", root).commit(record);
    ASSERT_TRUE(fs::is_regular_file(root / "dup" / "graft-dup.so"));
    const auto installed = read_installed_package(root / "dup");
    ASSERT_TRUE(installed && installed->record);
    EXPECT_EQ(installed->record->source, "first");
    EXPECT_TRUE(installed->record->usable);
    EXPECT_FALSE(installed->record->installed.empty());

    // A second install replaces the first in one step and leaves no staging behind.
    record.source = "second";
    record.usable = false;
    record.reason = "needs CUDA >= 12";
    stage_package(tmp.path() / "pkg", root).commit(record);
    const auto replaced = read_installed_package(root / "dup");
    ASSERT_TRUE(replaced && replaced->record);
    EXPECT_EQ(replaced->record->source, "second");
    EXPECT_FALSE(replaced->record->usable);
    EXPECT_EQ(replaced->record->reason, "needs CUDA >= 12");
    EXPECT_FALSE(has_hidden_entries(root));

    EXPECT_TRUE(remove_package(root, "dup"));
    EXPECT_FALSE(fs::exists(root / "dup"));
    EXPECT_FALSE(remove_package(root, "dup"));
    EXPECT_FALSE(has_hidden_entries(root));
    EXPECT_TRUE(throws_with([&] { remove_package(root, "../etc"); }, "not a plugin name"));
}

TEST(Package, DiscoveryLooksOneLevelIntoPackages) {
    const TempDir tmp;
    const fs::path root = tmp.path() / "plugins";
    make_package_dir(tmp.path() / "pkg");
    stage_package(tmp.path() / "pkg", root).commit(InstallRecord{"src", "user", "", true, ""});
    // A plain subdirectory is scanned; hidden ones and deeper levels are not.
    fs::create_directories(root / "plain");
    fs::copy_file(kPlugins / "first" / "graft-isa-avx2.so", root / "plain" / "graft-isa-avx2.so");
    fs::create_directories(root / ".hidden");
    fs::copy_file(kPlugins / "first" / "graft-old-table.so", root / ".hidden" / "graft-x.so");
    fs::create_directories(root / "plain" / "deeper");
    fs::copy_file(kPlugins / "first" / "graft-old-table.so",
                  root / "plain" / "deeper" / "graft-y.so");

    const Registry registry = Registry::discover(std::vector<SearchDir>{{root, "user"}});
    ASSERT_EQ(registry.plugins().size(), 2u);
    const PluginRecord *dup = registry.plugin("dup");
    ASSERT_NE(dup, nullptr);
    EXPECT_EQ(dup->file, root / "dup" / "graft-dup.so");
    EXPECT_EQ(dup->origin, "user");
    EXPECT_EQ(dup->package, "dup 1.0");
    EXPECT_EQ(dup->package_dir, root / "dup");
    const PluginRecord *isa = registry.plugin("isa");
    ASSERT_NE(isa, nullptr);
    EXPECT_TRUE(isa->package.empty());
}

TEST(Package, UnusableOrBrokenPackagesAreRefusedWithoutLoading) {
    const TempDir tmp;
    const fs::path root = tmp.path() / "plugins";
    make_package_dir(tmp.path() / "pkg");
    stage_package(tmp.path() / "pkg", root)
        .commit(InstallRecord{"src", "user", "", false, "needs CUDA >= 12: not found"});
    fs::create_directories(root / "broken");
    fs::copy_file(kPlugins / "second" / "graft-isa-amx.so", root / "broken" / "graft-isa-amx.so");
    write_file(root / "broken" / kManifestFile, "name: [not, a, name]\n");

    const Registry registry = Registry::discover({root});
    ASSERT_EQ(registry.plugins().size(), 2u);
    const PluginRecord &broken = registry.plugins()[0];
    EXPECT_EQ(broken.status, PluginStatus::Refused);
    EXPECT_NE(broken.reason.find("package is broken"), std::string::npos) << broken.reason;
    const PluginRecord &dup = registry.plugins()[1];
    EXPECT_EQ(dup.name, "dup");
    EXPECT_EQ(dup.status, PluginStatus::Refused);
    EXPECT_EQ(dup.reason.rfind("present, not usable here: needs CUDA >= 12: not found", 0), 0u)
        << dup.reason;
    EXPECT_EQ(dup.api, nullptr);
    EXPECT_EQ(registry.plugin("dup"), nullptr);
}

TEST(Requirements, LibrariesCommandsAndVersions) {
    const std::string lib = (kPlugins / "version" / "libfake-runtime.so").string();
    auto check = [](Requirement r) { return check_requirement(r); };
    EXPECT_TRUE(check({"libc", "libc.so.6", "", {}, {}}).met);
    const RequirementCheck missing = check({"CUDA", "libgraft-no-such-runtime.so.1", "", {}, {}});
    EXPECT_FALSE(missing.met);
    EXPECT_NE(missing.detail.find("cannot be loaded"), std::string::npos) << missing.detail;

    const RequirementCheck v12 = check({"Fake >= 12", lib, "fake_runtime_version", {1000, 10}, {}});
    EXPECT_TRUE(v12.met) << v12.detail;
    EXPECT_NE(v12.detail.find("version 12.4"), std::string::npos) << v12.detail;
    const RequirementCheck v13 =
        check({"Fake >= 12.5", lib, "fake_runtime_version", {1000, 10}, {}});
    EXPECT_FALSE(v13.met);
    EXPECT_NE(v13.detail.find("needs >= 12.5"), std::string::npos) << v13.detail;
    EXPECT_FALSE(check({"Fake", lib, "no_such_symbol", {}, {}}).met);

    EXPECT_TRUE(check({"true", "", "", {}, {"true"}}).met);
    EXPECT_FALSE(check({"false", "", "", {}, {"false"}}).met);
    EXPECT_FALSE(check({"x", "", "", {}, {"graft-no-such-command"}}).met);
    EXPECT_TRUE(check({"Tool >= 535.10", "", "", {}, {"echo", "driver 535.104.05"}}).met);
    EXPECT_FALSE(check({"Tool < 535", "", "", {}, {"echo", "driver 535.104.05"}}).met);
    EXPECT_FALSE(check({"Tool >= 1", "", "", {}, {"echo", "no number"}}).met);

    EXPECT_LT(compare_versions("12.4", "12.10"), 0);
    EXPECT_EQ(compare_versions("12", "12.0.0"), 0);
    EXPECT_GT(compare_versions("13", "12.99"), 0);
}

} // namespace
} // namespace graft::host
