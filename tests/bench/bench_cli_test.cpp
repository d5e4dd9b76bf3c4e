// `graft bench`, run as the real binary: the JSON of a model benchmark has its fields with
// sane values, --profile accounts for the kernels a forward pass calls, and --memory
// measures a bandwidth that a later benchmark reports against. No timing is asserted.
#include <graft/testing/process.h>
#include <graft/testing/skip.h>
#include <graft/testing/synth.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using graft::testing::ProcessResult;
using graft::testing::SynthSpec;
using graft::testing::TempDir;

// A small llama with graft-synth's own vocabulary.
SynthSpec tiny_llama() {
    SynthSpec s;
    s.family = "llama";
    s.preset = "tiny";
    s.vocab = "";
    s.dtype = "F32";
    return s;
}

// The CLI with a private HOME (so the bandwidth cache and user plugins are the test's own)
// and nothing from the plugin environment.
ProcessResult graft_cli(const TempDir &home, const std::vector<std::string> &args) {
    std::vector<std::string> argv = {
        "-u",     "GRAFT_PLUGIN_PATH", "-u", "XDG_CACHE_HOME", "HOME=" + home.path().string(),
        GRAFT_CLI};
    argv.insert(argv.end(), args.begin(), args.end());
    return graft::testing::run_process("/usr/bin/env", argv, std::chrono::seconds(300));
}

json::object parse_object(const ProcessResult &r) {
    json::value v;
    try {
        v = json::parse(r.out);
    } catch (const std::exception &e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "): " << r.out;
        return {};
    }
    if (!v.is_object()) {
        ADD_FAILURE() << "not a JSON object: " << r.out;
        return {};
    }
    return v.as_object();
}

double number(const json::object &o, const char *key) {
    const json::value *v = o.if_contains(key);
    if (!v || !v->is_number()) {
        ADD_FAILURE() << key << " is missing or not a number in " << json::serialize(o);
        return std::nan("");
    }
    return v->to_number<double>();
}

bool positive_finite(double v) {
    return std::isfinite(v) && v > 0;
}

class BenchCli : public ::testing::Test {
  protected:
    void SetUp() override {
        GRAFT_REQUIRE_SYNTH();
        model_ = graft::testing::synth_model(tiny_llama());
    }
    fs::path model_;
    TempDir home_;
};

TEST_F(BenchCli, JsonHasTheFieldsWithSaneValues) {
    const ProcessResult r = graft_cli(
        home_, {"bench", model_.string(), "-p", "24", "-n", "6", "-r", "3", "-t", "2", "--json"});
    ASSERT_TRUE(r.ok()) << r.describe();
    const json::object o = parse_object(r);
    for (const char *key : {"pp_tps", "tg_tps", "tg_gbps", "n_params", "model_size", "weight_bytes",
                            "decode_weight_bytes", "load_seconds"})
        EXPECT_TRUE(positive_finite(number(o, key))) << key << " in " << r.out;
    for (const char *key : {"pp_sd", "tg_sd"}) {
        const double sd = number(o, key);
        EXPECT_TRUE(std::isfinite(sd) && sd >= 0) << key << " in " << r.out;
    }
    for (const char *key : {"pp_runs", "tg_runs"}) {
        ASSERT_TRUE(o.contains(key) && o.at(key).is_array()) << key << " in " << r.out;
        const json::array &runs = o.at(key).as_array();
        ASSERT_EQ(runs.size(), 3u) << key;
        double sum = 0;
        for (const json::value &v : runs) {
            ASSERT_TRUE(v.is_number());
            EXPECT_TRUE(positive_finite(v.to_number<double>())) << key;
            sum += v.to_number<double>();
        }
        // The mean is the mean of the repetitions it reports.
        const std::string mean_key = std::string(key).substr(0, 2) + "_tps";
        EXPECT_NEAR(number(o, mean_key.c_str()), sum / 3, 1e-6 * sum) << key;
    }
    EXPECT_EQ(number(o, "threads"), 2);
    EXPECT_EQ(number(o, "n_prompt"), 24);
    EXPECT_EQ(number(o, "n_gen"), 6);
    EXPECT_EQ(o.at("engine").as_string(), "graft");
    EXPECT_EQ(o.at("arch").as_string(), "llama");
    // A decode step reads one embedding row, not the table, so less than all the weights.
    EXPECT_LT(number(o, "decode_weight_bytes"), number(o, "weight_bytes"));
    // tg_gbps is the weight bytes of a step times the steps per second.
    EXPECT_NEAR(number(o, "tg_gbps"), number(o, "decode_weight_bytes") * number(o, "tg_tps") / 1e9,
                1e-6 * number(o, "tg_gbps"));
    // The private HOME has no measured bandwidth yet.
    ASSERT_TRUE(o.contains("measured_gbps"));
    EXPECT_TRUE(o.at("measured_gbps").is_null()) << r.out;
    EXPECT_FALSE(o.contains("profile")) << "profiling is off unless asked for";
}

TEST_F(BenchCli, ProfileCountsTheKernelsOfEachStep) {
    const ProcessResult r = graft_cli(home_, {"bench", model_.string(), "-p", "16", "-n", "4", "-r",
                                              "2", "-t", "2", "--profile", "--json"});
    ASSERT_TRUE(r.ok()) << r.describe();
    const json::object o = parse_object(r);
    ASSERT_TRUE(o.contains("profile")) << r.out;
    const double n_layer = number(o, "n_layer");
    ASSERT_GT(n_layer, 0);
    for (const char *phase : {"decode", "prefill"}) {
        SCOPED_TRACE(phase);
        const json::object &p = o.at("profile").at(phase).as_object();
        std::map<std::string, double> calls;
        double pct = 0;
        for (const json::value &v : p.at("ops").as_array()) {
            const json::object &op = v.as_object();
            const std::string name(op.at("op").as_string());
            calls[name] += number(op, "calls_per_step");
            EXPECT_GE(number(op, "ms_per_step"), 0) << name;
            pct += number(op, "pct_of_step");
            if (name == "linear")
                EXPECT_TRUE(positive_finite(number(op, "gbps"))) << json::serialize(op);
            else
                EXPECT_TRUE(op.at("gbps").is_null()) << json::serialize(op);
        }
        // One pass of a dense llama: q, k, v, o, gate, up, down per layer and the head.
        EXPECT_EQ(calls["linear"], 7 * n_layer + 1);
        EXPECT_EQ(calls["attention"], n_layer);
        EXPECT_EQ(calls["rmsnorm"], 2 * n_layer + 1);
        EXPECT_EQ(calls["embedding"], 1);
        EXPECT_GT(calls["rope"], 0);
        EXPECT_GT(calls["swiglu"], 0);
        // Kernel time is part of the step's wall time.
        EXPECT_LE(pct, 100.0 + 1e-6);
        EXPECT_GE(number(p, "outside_kernels_ms"), 0);
    }
}

TEST_F(BenchCli, ProfileTableListsTheOps) {
    const ProcessResult r = graft_cli(
        home_, {"bench", model_.string(), "-p", "8", "-n", "2", "-r", "1", "-t", "1", "--profile"});
    ASSERT_TRUE(r.ok()) << r.describe();
    for (const char *text : {"decode profile", "prefill profile", "linear", "attention", "rmsnorm",
                             "embedding", "GB/s", "| pp8", "| tg2"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text << " missing from:\n" << r.out;
}

TEST_F(BenchCli, MemoryBandwidthIsMeasuredCachedAndReportedAgainst) {
    const ProcessResult mem = graft_cli(
        home_, {"bench", "--memory", "--json", "-t", "2", "-r", "3", "--memory-size", "64"});
    ASSERT_TRUE(mem.ok()) << mem.describe();
    const json::object m = parse_object(mem);
    const double gbps = number(m, "gbps");
    EXPECT_TRUE(positive_finite(gbps)) << mem.out;
    EXPECT_EQ(number(m, "threads"), 2);
    ASSERT_TRUE(m.contains("runs") && m.at("runs").is_array());
    EXPECT_EQ(m.at("runs").as_array().size(), 3u);
    for (const json::value &v : m.at("runs").as_array())
        EXPECT_TRUE(positive_finite(v.to_number<double>()));
    const fs::path cache = home_.path() / ".cache" / "graft" / "bandwidth.json";
    EXPECT_TRUE(fs::exists(cache)) << cache;

    const ProcessResult r = graft_cli(
        home_, {"bench", model_.string(), "-p", "8", "-n", "4", "-r", "1", "-t", "2", "--json"});
    ASSERT_TRUE(r.ok()) << r.describe();
    const json::object o = parse_object(r);
    EXPECT_DOUBLE_EQ(number(o, "measured_gbps"), gbps);
    EXPECT_EQ(number(o, "measured_threads"), 2);
    EXPECT_NEAR(number(o, "tg_pct_of_measured"), number(o, "tg_gbps") / gbps * 100,
                1e-6 * number(o, "tg_pct_of_measured"));
}

TEST_F(BenchCli, RefusesWhatItCannotMeasure) {
    const ProcessResult both = graft_cli(home_, {"bench", model_.string(), "--memory"});
    EXPECT_FALSE(both.ok());
    EXPECT_NE(both.err.find("--memory"), std::string::npos) << both.err;
    const ProcessResult nothing =
        graft_cli(home_, {"bench", model_.string(), "-p", "0", "-n", "0"});
    EXPECT_FALSE(nothing.ok());
    EXPECT_NE(nothing.err.find("nothing to measure"), std::string::npos) << nothing.err;
}

TEST_F(BenchCli, KernelComparesImplementationsOnTheModelsShapes) {
    const ProcessResult r =
        graft_cli(home_, {"bench", model_.string(), "--kernel", "linear", "--impl",
                          "linear_ref,amx-cpu/linear", "-p", "5", "-r", "2", "-t", "2", "--json"});
    ASSERT_TRUE(r.ok()) << r.describe();
    const json::object o = parse_object(r);
    ASSERT_TRUE(o.contains("rows") && o.at("rows").is_array()) << r.out;
    const json::array &rows = o.at("rows").as_array();
    // Per distinct weight shape: two implementations, one token and five.
    ASSERT_FALSE(rows.empty());
    ASSERT_EQ(rows.size() % 4, 0u) << r.out;
    std::set<std::string> shapes;
    for (size_t i = 0; i < rows.size(); ++i) {
        const json::object &row = rows[i].as_object();
        const bool first = i % 2 == 0;
        EXPECT_EQ(row.at("kernel").as_string(), first ? "amx-cpu/linear_ref" : "amx-cpu/linear");
        EXPECT_EQ(number(row, "tokens"), (i / 2) % 2 == 0 ? 1 : 5);
        EXPECT_TRUE(positive_finite(number(row, "ms")));
        EXPECT_TRUE(positive_finite(number(row, "count")));
        shapes.insert(std::to_string(number(row, "n_in")) + "x" +
                      std::to_string(number(row, "n_out")));
        // F32 weights: the fast kernel and the reference differ in summation order only.
        if (first)
            EXPECT_TRUE(row.at("diff").is_null());
        else
            EXPECT_LT(number(row, "diff"), 1e-4) << json::serialize(row);
    }
    EXPECT_EQ(shapes.size(), rows.size() / 4) << "each shape once";

    const ProcessResult unknown = graft_cli(
        home_, {"bench", model_.string(), "--kernel", "linear", "--impl", "linear,no_such"});
    EXPECT_FALSE(unknown.ok());
    EXPECT_NE(unknown.err.find("amx-cpu/linear_ref"), std::string::npos)
        << "the error lists the known implementations: " << unknown.err;
    const ProcessResult other_op =
        graft_cli(home_, {"bench", model_.string(), "--kernel", "rmsnorm", "--impl", "rmsnorm"});
    EXPECT_FALSE(other_op.ok());
    EXPECT_NE(other_op.err.find("--kernel"), std::string::npos) << other_op.err;
}

} // namespace
