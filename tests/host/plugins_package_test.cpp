// `graft plugins pack/install/info/list/remove` through the real binary, with HOME in a
// temporary directory: the package lifecycle a user sees, including --force for a package
// that cannot run here and the refusal to install one without it.
#include "process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

namespace graft::host_test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kPlugins = HOST_TEST_PLUGIN_DIR;

class PackageCli : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "graft-package-cli-XXXXXX").string();
        tmp_ = ::mkdtemp(pattern.data());
        build_ = tmp_ / "build";
        fs::create_directories(build_ / "rules");
        fs::copy_file(kPlugins / "first" / "graft-dup.so", build_ / "graft-dup.so");
        std::ofstream(build_ / "rules" / "dup-head.yaml")
            << "- match: {name: \"^lm_head$\"}\n  replace: {kernel: dup/fake-linear, device: "
               "\"fake:0\"}\n";
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(tmp_, ec);
    }
    // The CLI with HOME in the temporary directory and no other plugins on the path than
    // the build tree's.
    ProcessResult graft(const std::string &arguments) const {
        return run_process(
            "cd " + shell_quote(tmp_.string()) +
            " && env -u GRAFT_PLUGIN_PATH HOME=" + shell_quote((tmp_ / "home").string()) + " " +
            shell_quote(GRAFT_CLI) + " " + arguments + " 2>&1");
    }
    fs::path user_dir() const { return tmp_ / "home/.local/lib/graft/plugins"; }

    fs::path tmp_, build_;
};

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

TEST_F(PackageCli, PackInstallListInfoRemove) {
    ProcessResult r = graft("plugins pack " + shell_quote(build_.string()) + " -o dup.tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "packed dup 1.0 (2 files) into dup.tar.gz")) << r.output;
    EXPECT_TRUE(contains(r.output, "rules/dup-head.yaml  rules")) << r.output;

    r = graft("plugins install dup.tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const fs::path installed = user_dir() / "dup";
    EXPECT_TRUE(contains(r.output, "installed dup 1.0 into " + installed.string() + " (user)"))
        << r.output;
    EXPECT_TRUE(contains(r.output, "usable here: 2 kernels")) << r.output;
    EXPECT_TRUE(contains(r.output, "rules: " + (installed / "rules/dup-head.yaml").string()))
        << r.output;
    EXPECT_TRUE(fs::is_regular_file(installed / "graft-dup.so"));
    EXPECT_TRUE(fs::is_regular_file(installed / "install.yaml"));

    r = graft("plugins list --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const json::value doc = json::parse(r.output);
    bool listed = false;
    for (const json::value &p : doc.at("plugins").as_array())
        if (json::value_to<std::string>(p.at("file")) == (installed / "graft-dup.so").string()) {
            listed = true;
            EXPECT_EQ(json::value_to<std::string>(p.at("status")), "loaded");
            EXPECT_EQ(json::value_to<std::string>(p.at("origin")), "user");
            EXPECT_EQ(json::value_to<std::string>(p.at("package")), "dup 1.0");
        }
    EXPECT_TRUE(listed) << r.output;
    r = graft("plugins list");
    EXPECT_TRUE(contains(r.output, "from: user, package dup 1.0")) << r.output;

    r = graft("plugins info dup");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const std::string &part : std::vector<std::string>{
             "dup 1.0", "installed in: " + installed.string(),
             "installed from: " + (tmp_ / "dup.tar.gz").string(), "status here: usable",
             "graft-dup.so  plugin  ok", "rules/dup-head.yaml  rules  ok",
             "rules file: " + (installed / "rules/dup-head.yaml").string(),
             "kernel dup/fake-linear  op linear"})
        EXPECT_TRUE(contains(r.output, part)) << part << "\n" << r.output;

    // A file changed after installation shows up in info.
    std::ofstream(installed / "rules" / "dup-head.yaml", std::ios::app) << "# edited\n";
    r = graft("plugins info dup --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "\"state\":\"MODIFIED\"")) << r.output;

    r = graft("plugins remove dup");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_FALSE(fs::exists(installed));
    r = graft("plugins remove dup");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.output, "no plugin package dup is installed")) << r.output;
}

TEST_F(PackageCli, UnusablePackageNeedsForceAndIsMarked) {
    // A requirement this machine cannot meet, declared in a plugin.yaml template.
    std::ofstream(build_ / "plugin.yaml")
        << "description: needs a runtime that is not here\n"
           "requires:\n  - runtime: \"FakeRT >= 3\"\n    library: libgraft-no-such-runtime.so.3\n";
    ProcessResult r = graft("plugins pack " + shell_quote(build_.string()) + " -o dup.tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.output;

    r = graft("plugins install dup.tar.gz");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "not installing dup 1.0: needs FakeRT >= 3")) << r.output;
    EXPECT_TRUE(contains(r.output, "--force")) << r.output;
    EXPECT_FALSE(fs::exists(user_dir() / "dup"));
    if (fs::exists(user_dir()))
        for (const fs::directory_entry &e : fs::directory_iterator(user_dir()))
            ADD_FAILURE() << "left behind: " << e.path();

    r = graft("plugins install --force dup.tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "present, not usable here: needs FakeRT >= 3")) << r.output;
    r = graft("plugins list");
    EXPECT_TRUE(contains(r.output, "refused: present, not usable here: needs FakeRT >= 3"))
        << r.output;
    r = graft("plugins info dup");
    EXPECT_TRUE(contains(r.output, "requires FakeRT >= 3: NOT met")) << r.output;
    EXPECT_TRUE(contains(r.output, "about: needs a runtime that is not here")) << r.output;
}

TEST_F(PackageCli, DamagedPackagesAreRefused) {
    ProcessResult r = graft("plugins pack " + shell_quote(build_.string()) + " -o dup.tar.gz");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_EQ(run_process("cd " + shell_quote(tmp_.string()) +
                          " && mkdir x && tar xzf dup.tar.gz -C x && echo junk >> "
                          "x/dup-1.0/graft-dup.so && tar czf bad.tar.gz -C x dup-1.0")
                  .exit_code,
              0);
    r = graft("plugins install --force bad.tar.gz");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "\"graft-dup.so\" does not match its sha256")) << r.output;
    EXPECT_FALSE(fs::exists(user_dir() / "dup"));

    // A directory package installs the same way as an archive.
    ASSERT_EQ(
        run_process("cd " + shell_quote(tmp_.string()) + " && mkdir y && tar xzf dup.tar.gz -C y")
            .exit_code,
        0);
    r = graft("plugins install " + shell_quote((tmp_ / "y/dup-1.0").string()));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::is_regular_file(user_dir() / "dup" / "graft-dup.so"));
}

TEST_F(PackageCli, PackNeedsANameWhenNothingLoads) {
    fs::remove(build_ / "graft-dup.so");
    fs::copy_file(kPlugins / "bad" / "graft-init-fails.so", build_ / "graft-init-fails.so");
    ProcessResult r = graft("plugins pack " + shell_quote(build_.string()));
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "give --name and --version")) << r.output;
    r = graft("plugins pack " + shell_quote(build_.string()) +
              " --name init-fails --version 0.9 -o x.tar.gz");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(contains(r.output, "the fake driver is missing")) << r.output;
}

} // namespace
} // namespace graft::host_test
