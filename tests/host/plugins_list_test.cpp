// `graft plugins list`: runs the real binary over the test plugins and reads its output.
#include "process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace graft::host_test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kPlugins = HOST_TEST_PLUGIN_DIR;

std::string str(const json::value &value) {
    return value.is_string() ? json::value_to<std::string>(value) : json::serialize(value);
}

// The CLI with the test plugin directories first on its path, and nothing from the
// environment or the user's home.
std::string graft_command(const std::string &arguments) {
    return "env -u GRAFT_PLUGIN_PATH HOME=" + shell_quote((kPlugins / "no-home").string()) + " " +
           shell_quote(GRAFT_CLI) + " --plugin-path " +
           shell_quote((kPlugins / "first").string() + ":" + (kPlugins / "second").string()) +
           " --plugin-path " + shell_quote((kPlugins / "bad").string()) + " " + arguments;
}

TEST(PluginsList, JsonListsEveryTestPluginWithItsStatus) {
    const ProcessResult result = run_process(graft_command("plugins list --json"));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    json::value doc;
    ASSERT_NO_THROW(doc = json::parse(result.output)) << result.output;
    const json::array &plugins = doc.at("plugins").as_array();

    std::map<std::string, const json::object *> by_file;
    for (const json::value &plugin : plugins)
        by_file[json::value_to<std::string>(plugin.at("file"))] = &plugin.as_object();
    auto status_of = [&](const fs::path &file) -> std::string {
        auto it = by_file.find(file.string());
        return it == by_file.end() ? "(not listed)"
                                   : json::value_to<std::string>(it->second->at("status"));
    };
    const fs::path bad = kPlugins / "bad";
    for (const char *file :
         {"graft-not-a-plugin.so", "graft-text.so", "graft-wrong-abi.so", "graft-small-table.so",
          "graft-score-zero.so", "graft-init-fails.so", "graft-null-run.so"})
        EXPECT_EQ(status_of(bad / file), "refused") << file;
    EXPECT_EQ(status_of(kPlugins / "first" / "graft-dup.so"), "loaded");
    EXPECT_EQ(status_of(kPlugins / "second" / "graft-dup.so"), "shadowed");
    EXPECT_EQ(status_of(kPlugins / "first" / "graft-isa-avx2.so"), "standby");
    EXPECT_EQ(status_of(kPlugins / "first" / "graft-isa-avx512.so"), "loaded");

    const json::object &init_fails = *by_file.at((bad / "graft-init-fails.so").string());
    EXPECT_EQ(str(init_fails.at("status_text")),
              "refused: init failed: the fake driver is missing");
    const json::object &dup = *by_file.at((kPlugins / "first" / "graft-dup.so").string());
    EXPECT_EQ(str(dup.at("name")), "dup");
    EXPECT_EQ(str(dup.at("version")), "1.0");
    EXPECT_TRUE(dup.at("score").is_null());
    const json::array &devices = dup.at("devices").as_array();
    ASSERT_EQ(devices.size(), 1u);
    EXPECT_EQ(str(devices[0].at("name")), "fake:0");
    EXPECT_EQ(str(devices[0].at("kind")), "gpu");
    EXPECT_EQ(devices[0].at("memory_total").to_number<uint64_t>(), 8ull << 30);
    EXPECT_EQ(str(devices[0].at("caps")), R"(["fp16","bf16"])");
    const json::array &kernels = dup.at("kernels").as_array();
    ASSERT_EQ(kernels.size(), 2u);
    EXPECT_EQ(str(kernels[1].at("name")), "dup/fake-linear");
    EXPECT_EQ(str(kernels[1].at("weight_dtypes")), R"(["F16","Q4_K"])");
    const json::object &avx512 = *by_file.at((kPlugins / "first" / "graft-isa-avx512.so").string());
    EXPECT_EQ(avx512.at("score").to_number<uint32_t>(), 20u);

    const json::array &path = doc.at("search_path").as_array();
    ASSERT_GE(path.size(), 3u);
    EXPECT_EQ(str(path[0].at("dir")), (kPlugins / "first").string());
    EXPECT_EQ(str(path[0].at("origin")), "--plugin-path");
    EXPECT_EQ(str(path[2].at("dir")), bad.string());
}

TEST(PluginsList, TableNamesStatusesAndReasons) {
    const ProcessResult result = run_process(graft_command("plugins list"));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const std::vector<std::string> parts = {
        "refused: init failed: the fake driver is missing",
        "refused: not a shared library (no ELF header)",
        "shadowed by " + (kPlugins / "first" / "graft-dup.so").string(),
        "standby: variant graft-isa-avx512.so is preferred",
        "kernel dup/fake-linear  op linear  on gpu  weights F16,Q4_K",
        "device fake:0 (gpu): fake accelerator; memory 8.0 GiB total, 6.0 GiB free",
        "note: no fake device: the fake driver reports none"};
    for (const std::string &part : parts)
        EXPECT_NE(result.output.find(part), std::string::npos) << part << "\n" << result.output;
}

TEST(PluginsList, GlobalOptionsMayFollowTheSubcommand) {
    const ProcessResult result =
        run_process("env -u GRAFT_PLUGIN_PATH " + shell_quote(GRAFT_CLI) + " plugins list --json " +
                    "--plugin-path " + shell_quote((kPlugins / "first").string()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("graft-isa-avx512.so"), std::string::npos) << result.output;
}

} // namespace
} // namespace graft::host_test
