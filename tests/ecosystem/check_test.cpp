// `graft plugins check` against the example plugin (which must pass) and against plugins
// broken on purpose (tests/ecosystem/bad): each fault is named, and the checker goes on
// to the plugin's other kernels.
#include "process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace graft::host_test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

const fs::path kPlugins = ECO_PLUGIN_DIR;

// The CLI with nothing from the environment or the user's home on its search path: the
// references come from the build tree's amx-cpu.
std::string graft(const std::string &arguments) {
    return "env -u GRAFT_PLUGIN_PATH HOME=" + shell_quote((kPlugins / "no-home").string()) + " " +
           shell_quote(GRAFT_CLI) + " " + arguments;
}

struct CheckRun {
    int exit_code = -1;
    json::object doc;
    std::string output;
};

CheckRun check_json(const fs::path &plugin, const std::string &extra = "") {
    CheckRun run;
    const ProcessResult result =
        run_process(graft("plugins check --json " + shell_quote(plugin.string()) + " " + extra));
    run.exit_code = result.exit_code;
    run.output = result.output;
    try {
        run.doc = json::parse(result.output).as_object();
    } catch (const std::exception &) {
    }
    return run;
}

std::string str(const json::value &v) {
    return v.is_string() ? std::string(v.as_string()) : json::serialize(v);
}

// The report of one kernel ("plugin/impl"), or an empty object.
json::object kernel(const CheckRun &run, const std::string &name) {
    if (const json::value *kernels = run.doc.if_contains("kernels"))
        for (const json::value &k : kernels->as_array())
            if (str(k.at("kernel")) == name)
                return k.as_object();
    return {};
}

// All failure messages of a kernel report, joined.
std::string failures(const json::object &k) {
    std::string text = k.contains("reason") ? str(k.at("reason")) : "";
    if (const json::value *v = k.if_contains("varieties"))
        for (const json::value &variety : v->as_array())
            for (const json::value &f : variety.at("failures").as_array())
                text += "\n" + str(f);
    return text;
}

bool reference_available() {
    const ProcessResult r = run_process(graft("plugins list --json"));
    return r.output.find("\"amx-cpu/linear_ref\"") != std::string::npos;
}

class PluginsCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!reference_available())
            GTEST_SKIP() << "amx-cpu (the reference kernels) is not built for this CPU";
    }
};

TEST_F(PluginsCheck, ExamplePluginPasses) {
    const CheckRun run = check_json(kPlugins / "good" / "graft-example.so");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(str(run.doc.at("plugin")), "example");
    for (const char *name : {"example/add", "example/swiglu", "example/linear"}) {
        const json::object k = kernel(run, name);
        ASSERT_FALSE(k.empty()) << name << "\n" << run.output;
        EXPECT_EQ(str(k.at("status")), "pass") << name << failures(k);
        EXPECT_EQ(str(k.at("reference")), std::string("amx-cpu/") + str(k.at("op")) + "_ref");
        const json::array &varieties = k.at("varieties").as_array();
        ASSERT_FALSE(varieties.empty());
        EXPECT_GE(varieties[0].at("cases").to_number<int>(), 3) << name;
    }
    EXPECT_EQ(str(kernel(run, "example/linear").at("varieties").as_array()[0].at("variety")),
              "F32");
}

TEST_F(PluginsCheck, ControlPluginPassesOnHostAndDeviceMemory) {
    for (const char *file : {"graft-bad-good.so", "graft-bad-devmem.so"}) {
        const CheckRun run = check_json(kPlugins / "bad" / file);
        EXPECT_EQ(run.exit_code, 0) << file << "\n" << run.output;
    }
    const CheckRun dev = check_json(kPlugins / "bad" / "graft-bad-devmem.so", "--op add");
    const json::object add = kernel(dev, "bad-devmem/add");
    ASSERT_FALSE(add.empty()) << dev.output;
    EXPECT_EQ(str(add.at("device")), "fakegpu:0");
    EXPECT_NE(str(add.at("device_memory")).find("memory API"), std::string::npos);
}

TEST_F(PluginsCheck, WrongResultsAreReported) {
    const CheckRun run = check_json(kPlugins / "bad" / "graft-bad-wrong.so");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    const json::object add = kernel(run, "bad-wrong/add");
    ASSERT_FALSE(add.empty()) << run.output;
    EXPECT_EQ(str(add.at("status")), "fail");
    EXPECT_NE(failures(add).find("results differ from the reference"), std::string::npos)
        << failures(add);
    EXPECT_EQ(str(kernel(run, "bad-wrong/linear").at("status")), "pass");
}

TEST_F(PluginsCheck, WritesPastTheOutputAreReported) {
    for (const char *file : {"graft-bad-overrun.so", "graft-bad-devmem-overrun.so"}) {
        const CheckRun run = check_json(kPlugins / "bad" / file, "--op add");
        EXPECT_EQ(run.exit_code, 1) << file << "\n" << run.output;
        const json::value *kernels = run.doc.if_contains("kernels");
        ASSERT_TRUE(kernels && kernels->as_array().size() == 1) << run.output;
        const json::object add = kernels->as_array()[0].as_object();
        EXPECT_EQ(str(add.at("status")), "fail") << file;
        EXPECT_NE(failures(add).find("wrote past the end of output 0"), std::string::npos)
            << file << ": " << failures(add);
    }
}

TEST_F(PluginsCheck, CrashInRunIsReportedAndTheCheckerGoesOn) {
    const CheckRun run = check_json(kPlugins / "bad" / "graft-bad-crash.so");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    const json::object add = kernel(run, "bad-crash/add");
    ASSERT_FALSE(add.empty()) << run.output;
    EXPECT_EQ(str(add.at("status")), "fail");
    const std::string why = str(add.at("reason"));
    EXPECT_NE(why.find("crashed in case \"add F32"), std::string::npos) << why;
    EXPECT_NE(why.find("SIGSEGV"), std::string::npos) << why;
    EXPECT_EQ(str(kernel(run, "bad-crash/linear").at("status")), "pass");
}

TEST_F(PluginsCheck, HangIsReportedAfterTheTimeout) {
    const CheckRun run = check_json(kPlugins / "bad" / "graft-bad-hang.so", "--timeout 2");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    const json::object add = kernel(run, "bad-hang/add");
    ASSERT_FALSE(add.empty()) << run.output;
    EXPECT_NE(str(add.at("reason")).find("hung: no progress for 2 s in case \"add F32"),
              std::string::npos)
        << str(add.at("reason"));
    EXPECT_EQ(str(kernel(run, "bad-hang/linear").at("status")), "pass");
}

TEST_F(PluginsCheck, NullRunIsReportedAsTheHostRefusesIt) {
    const CheckRun run = check_json(kPlugins / "bad" / "graft-bad-null-run.so");
    EXPECT_EQ(run.exit_code, 1) << run.output;
    EXPECT_EQ(str(run.doc.at("load")), "refused");
    EXPECT_EQ(str(run.doc.at("load_reason")), "kernel add/add: run is NULL");
    EXPECT_TRUE(run.doc.at("kernels").as_array().empty());
}

TEST_F(PluginsCheck, TextReportNamesFailuresAndOpFilterWorks) {
    const ProcessResult result =
        run_process(graft("plugins check --op add " +
                          shell_quote((kPlugins / "bad" / "graft-bad-overrun.so").string())));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("bad-overrun/add (add) on cpu: FAIL"), std::string::npos)
        << result.output;
    EXPECT_EQ(result.output.find("bad-overrun/linear"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("1 kernel: 0 passed, 1 failed, 0 skipped"), std::string::npos)
        << result.output;
}

TEST_F(PluginsCheck, PerfReportsMediansBesideTheReferenceAndTheFastKernel) {
    const CheckRun run = check_json(kPlugins / "good" / "graft-example.so", "--op add --perf");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const json::object add = kernel(run, "example/add");
    ASSERT_FALSE(add.empty()) << run.output;
    const json::array &perf = add.at("varieties").as_array()[0].at("perf").as_array();
    ASSERT_EQ(perf.size(), 1u) << run.output;
    const json::object &p = perf[0].as_object();
    EXPECT_GT(p.at("plugin_ms").to_number<double>(), 0.0);
    EXPECT_GT(p.at("reference_ms").to_number<double>(), 0.0);
    EXPECT_EQ(str(p.at("reference")), "amx-cpu/add_ref");
    EXPECT_EQ(str(p.at("fast")), "amx-cpu/add");
    EXPECT_GE(p.at("repetitions").to_number<int>(), 5);
}

TEST_F(PluginsCheck, AmxCpuPassesAgainstItsOwnReferences) {
    // The fast kernels of the plugin the references come from are held to the same
    // tolerances; a failure here means a tolerance or a kernel is wrong.
    const ProcessResult list = run_process(graft("plugins list --json"));
    // The parsed document outlives the loop: the array is a part of it.
    const json::value listing = json::parse(list.output);
    std::string file;
    for (const json::value &p : listing.at("plugins").as_array())
        if (str(p.at("name")) == "amx-cpu" && str(p.at("status")) == "loaded")
            file = str(p.at("file"));
    ASSERT_FALSE(file.empty());
    // The plain kernels of these ops and their references (amx-cpu also has kernels of op
    // linear with other conventions, e.g. per-head weights, that the grid does not fit).
    std::string kernels;
    for (const char *impl : {"linear", "rmsnorm", "add"})
        kernels += std::string(" --kernel ") + impl + " --kernel " + impl + "_ref";
    const CheckRun run = check_json(file, kernels);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_EQ(run.doc.at("kernels").as_array().size(), 6u) << run.output;
}

} // namespace
} // namespace graft::host_test
