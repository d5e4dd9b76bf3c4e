// Discovery against purpose-built plugins (tests/host/broken): every refusal, shadowing,
// ISA variants, the no-device policy, the host's log callback and the registry lookups.
#include <graft/host/registry.h>

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <unistd.h>

namespace graft::host {
namespace {

namespace fs = std::filesystem;

const fs::path kPlugins = HOST_TEST_PLUGIN_DIR;

Registry discover_test_plugins() {
    return Registry::discover({kPlugins / "first", kPlugins / "second", kPlugins / "bad"});
}

const PluginRecord *find_file(const Registry &registry, const fs::path &file) {
    for (const PluginRecord &record : registry.plugins())
        if (record.file == file)
            return &record;
    return nullptr;
}

bool contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

// Each refusal: the file is listed, Refused, with a reason that names the fault, and
// nothing of it is usable.
void expect_refused(const Registry &registry, const std::string &file_name,
                    const std::string &reason_part) {
    SCOPED_TRACE(file_name);
    const PluginRecord *record = find_file(registry, kPlugins / "bad" / file_name);
    ASSERT_NE(record, nullptr) << "not listed";
    EXPECT_EQ(record->status, PluginStatus::Refused);
    EXPECT_TRUE(contains(record->reason, reason_part)) << record->reason;
    EXPECT_EQ(status_text(*record), "refused: " + record->reason);
    EXPECT_EQ(record->api, nullptr);
    EXPECT_TRUE(record->devices.empty());
    EXPECT_TRUE(record->kernels.empty());
    EXPECT_EQ(registry.plugin(record->name), nullptr);
}

TEST(RegistryRefuses, ALibraryWithoutTheInitSymbol) {
    const Registry registry = discover_test_plugins();
    expect_refused(registry, "graft-not-a-plugin.so", "no graft_plugin_init");
    EXPECT_EQ(find_file(registry, kPlugins / "bad" / "graft-not-a-plugin.so")->name,
              "not-a-plugin");
}

TEST(RegistryRefuses, ATextFileNamedSo) {
    expect_refused(discover_test_plugins(), "graft-text.so", "no ELF header");
}

TEST(RegistryRefuses, AnotherAbiVersion) {
    expect_refused(discover_test_plugins(), "graft-wrong-abi.so", "ABI version 2");
}

TEST(RegistryRefuses, ATableSmallerThanVersionOne) {
    expect_refused(discover_test_plugins(), "graft-small-table.so",
                   "plugin table of 24 bytes is smaller");
}

TEST(RegistryRefuses, ScoreZero) {
    const Registry registry = discover_test_plugins();
    expect_refused(registry, "graft-score-zero.so", "cannot run on this CPU");
    const PluginRecord *record = find_file(registry, kPlugins / "bad" / "graft-score-zero.so");
    ASSERT_NE(record, nullptr);
    EXPECT_TRUE(record->has_score);
    EXPECT_EQ(record->score, 0u);
}

TEST(RegistryRefuses, AFailedInitWithItsMessage) {
    const Registry registry = discover_test_plugins();
    expect_refused(registry, "graft-init-fails.so", "init failed");
    EXPECT_EQ(find_file(registry, kPlugins / "bad" / "graft-init-fails.so")->reason,
              "init failed: the fake driver is missing");
}

TEST(RegistryRefuses, AKernelWithoutRun) {
    expect_refused(discover_test_plugins(), "graft-null-run.so",
                   "kernel add/fake-add: run is NULL");
}

TEST(Registry, DescribesALoadedPlugin) {
    const Registry registry = discover_test_plugins();
    const PluginRecord *dup = registry.plugin("dup");
    ASSERT_NE(dup, nullptr);
    EXPECT_EQ(dup->file, kPlugins / "first" / "graft-dup.so");
    EXPECT_EQ(dup->status, PluginStatus::Loaded);
    EXPECT_EQ(status_text(*dup), "loaded");
    EXPECT_EQ(dup->version, "1.0");
    EXPECT_EQ(dup->vendor, "graft tests");
    EXPECT_EQ(dup->device_prefix, "fake");
    EXPECT_FALSE(dup->has_score);
    ASSERT_NE(dup->api, nullptr);
    ASSERT_EQ(dup->devices.size(), 1u);
    const DeviceRecord &device = dup->devices[0];
    EXPECT_EQ(device.name, "fake:0");
    EXPECT_EQ(device.kind, GRAFT_DEVICE_GPU);
    EXPECT_EQ(device.description, "fake accelerator");
    EXPECT_EQ(device.memory_total, 8ull << 30);
    EXPECT_EQ(device.memory_free, 6ull << 30);
    EXPECT_EQ(device.caps, GRAFT_CAP_FP16 | GRAFT_CAP_BF16);
    EXPECT_EQ(device.capabilities, "fake_sm");
    EXPECT_EQ(device.index, 0u);
    ASSERT_EQ(dup->kernels.size(), 2u);
    const KernelRecord &linear = dup->kernels[1];
    EXPECT_EQ(linear.full_name(), "dup/fake-linear");
    EXPECT_EQ(linear.op, "linear");
    EXPECT_TRUE(linear.takes(GRAFT_DTYPE_Q4_K));
    EXPECT_TRUE(linear.takes(GRAFT_DTYPE_F16));
    EXPECT_FALSE(linear.takes(GRAFT_DTYPE_F32));
    EXPECT_TRUE(linear.runs_on(GRAFT_DEVICE_GPU));
    EXPECT_FALSE(linear.runs_on(GRAFT_DEVICE_CPU));
    ASSERT_NE(linear.api, nullptr);
    EXPECT_NE(linear.api->run, nullptr);
}

TEST(Registry, LaterDuplicateIsShadowed) {
    const Registry registry = discover_test_plugins();
    const PluginRecord *later = find_file(registry, kPlugins / "second" / "graft-dup.so");
    ASSERT_NE(later, nullptr);
    EXPECT_EQ(later->status, PluginStatus::Shadowed);
    EXPECT_EQ(later->version, "2.0");
    EXPECT_EQ(later->reason, (kPlugins / "first" / "graft-dup.so").string());
    EXPECT_EQ(status_text(*later), "shadowed by " + (kPlugins / "first" / "graft-dup.so").string());
    EXPECT_EQ(later->api, nullptr);
    for (const KernelRecord &kernel : later->kernels)
        EXPECT_EQ(kernel.api, nullptr);
    // Reversing the path reverses the winner.
    const Registry reversed = Registry::discover({kPlugins / "second", kPlugins / "first"});
    ASSERT_NE(reversed.plugin("dup"), nullptr);
    EXPECT_EQ(reversed.plugin("dup")->version, "2.0");
}

TEST(Registry, HighestScoringVariantWinsWithinADirectory) {
    const Registry registry = discover_test_plugins();
    const PluginRecord *avx2 = find_file(registry, kPlugins / "first" / "graft-isa-avx2.so");
    const PluginRecord *avx512 = find_file(registry, kPlugins / "first" / "graft-isa-avx512.so");
    const PluginRecord *amx = find_file(registry, kPlugins / "second" / "graft-isa-amx.so");
    ASSERT_TRUE(avx2 && avx512 && amx);
    EXPECT_EQ(avx512->status, PluginStatus::Loaded);
    EXPECT_EQ(avx2->status, PluginStatus::Standby);
    EXPECT_TRUE(contains(avx2->reason, "graft-isa-avx512.so")) << avx2->reason;
    EXPECT_TRUE(contains(avx2->reason, "20 > 10")) << avx2->reason;
    EXPECT_EQ(status_text(*avx2), "standby: " + avx2->reason);
    EXPECT_EQ(avx2->api, nullptr);
    // A higher score later on the path does not beat an earlier directory's choice.
    EXPECT_EQ(amx->status, PluginStatus::Shadowed);
    EXPECT_EQ(amx->reason, avx512->file.string());
    ASSERT_NE(registry.plugin("isa"), nullptr);
    EXPECT_EQ(registry.plugin("isa")->version, "avx512");
}

TEST(Registry, PluginWithoutDeviceIsLoadedWithItsNote) {
    const Registry registry = discover_test_plugins();
    const PluginRecord *old = registry.plugin("old-table");
    ASSERT_NE(old, nullptr);
    EXPECT_EQ(old->status, PluginStatus::Loaded);
    EXPECT_TRUE(old->devices.empty());
    EXPECT_EQ(old->status_note, "no fake device: the fake driver reports none");
    // Its kernels stay known so that rules naming them can be checked.
    ASSERT_NE(registry.kernel("old-table/fake-linear"), nullptr);
    // Its table predates device_prefix (struct_size stops before it): not read.
    EXPECT_EQ(old->device_prefix, "");
}

TEST(Registry, Lookups) {
    const Registry registry = discover_test_plugins();
    const PluginRecord *dup = registry.plugin("dup");
    ASSERT_NE(dup, nullptr);
    const KernelRecord *add = registry.kernel("dup/fake-add");
    ASSERT_NE(add, nullptr);
    EXPECT_EQ(add->api, &dup->api->kernels[0]);
    EXPECT_EQ(registry.kernel("dup/no-such-impl"), nullptr);
    EXPECT_EQ(registry.kernel("dup"), nullptr);
    EXPECT_EQ(registry.kernel("null-run/fake-add"), nullptr);
    EXPECT_EQ(registry.plugin("null-run"), nullptr);

    const std::vector<DeviceRecord> devices = registry.devices();
    for (const char *name : {"fake:0", "fake:1"})
        EXPECT_EQ(std::count_if(devices.begin(), devices.end(),
                                [&](const DeviceRecord &d) { return d.name == name; }),
                  1)
            << name;
    const std::vector<DeviceOwner> owners = registry.device_owners("fake:1");
    ASSERT_EQ(owners.size(), 1u);
    EXPECT_EQ(owners[0].plugin, registry.plugin("isa"));
    EXPECT_EQ(owners[0].index, 0u);
    EXPECT_TRUE(registry.device_owners("cuda:7").empty());
}

TEST(Registry, ListsFilesInSearchOrderSortedByName) {
    const Registry registry = discover_test_plugins();
    std::vector<std::string> first;
    for (const PluginRecord &record : registry.plugins())
        if (record.file.parent_path() == kPlugins / "first")
            first.push_back(record.file.filename().string());
    EXPECT_EQ(first, (std::vector<std::string>{"graft-dup.so", "graft-isa-avx2.so",
                                               "graft-isa-avx512.so", "graft-old-table.so"}));
    ASSERT_FALSE(registry.plugins().empty());
    EXPECT_EQ(registry.plugins().front().file.parent_path(), kPlugins / "first");
    EXPECT_EQ(registry.plugins().back().file.parent_path(), kPlugins / "bad");
}

TEST(Registry, InitialisesEachFileOnce) {
    const Registry a = discover_test_plugins();
    const Registry b = discover_test_plugins();
    ASSERT_NE(a.plugin("dup"), nullptr);
    ASSERT_NE(b.plugin("dup"), nullptr);
    EXPECT_EQ(a.plugin("dup")->api, b.plugin("dup")->api);
    EXPECT_EQ(a.plugins().size(), b.plugins().size());
}

TEST(Registry, SameFileThroughASymlinkIsShadowed) {
    const fs::path dir =
        fs::temp_directory_path() / ("graft-host-link-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::create_symlink(kPlugins / "first" / "graft-dup.so", dir / "graft-dup.so");
    const Registry registry = Registry::discover({kPlugins / "first", dir});
    const PluginRecord *link = find_file(registry, dir / "graft-dup.so");
    ASSERT_NE(link, nullptr);
    EXPECT_EQ(link->status, PluginStatus::Shadowed);
    fs::remove_all(dir);
}

TEST(Registry, SkipsMissingDirectories) {
    const Registry registry =
        Registry::discover({kPlugins / "no-such-dir", kPlugins / "first" / "graft-dup.so"});
    EXPECT_TRUE(registry.plugins().empty());
}

TEST(Registry, PluginLogsReachTheHostLogger) {
    auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    auto previous = spdlog::default_logger();
    auto capture = std::make_shared<spdlog::logger>("capture", sink);
    capture->set_level(spdlog::level::debug);
    spdlog::set_default_logger(capture);
    const Registry registry = Registry::discover({kPlugins / "logging"});
    spdlog::set_default_logger(previous);
    ASSERT_NE(registry.plugin("logger"), nullptr);
    const std::vector<std::string> lines = sink->last_formatted();
    EXPECT_TRUE(std::any_of(lines.begin(), lines.end(),
                            [](const std::string &line) {
                                return contains(line,
                                                "[warning] [logger] hello from the fake plugin");
                            }))
        << "captured " << lines.size() << " lines";
}

} // namespace
} // namespace graft::host
