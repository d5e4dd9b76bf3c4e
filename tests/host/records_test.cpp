// The registry's lookups over hand-made records (no loading): devices merged by name
// across plugins, device owners, and which statuses count.
#include <graft/host/registry.h>

#include <gtest/gtest.h>

namespace graft::host {
namespace {

DeviceRecord device(const std::string &name, const std::string &description, uint32_t index) {
    DeviceRecord d;
    d.name = name;
    d.description = description;
    d.index = index;
    return d;
}

PluginRecord plugin(const std::string &name, PluginStatus status, std::vector<DeviceRecord> devices,
                    std::vector<std::string> impls) {
    PluginRecord p;
    p.name = name;
    p.status = status;
    p.file = "/plugins/graft-" + name + ".so";
    p.devices = std::move(devices);
    for (const std::string &impl : impls) {
        KernelRecord k;
        k.plugin = name;
        k.op = impl;
        k.impl = impl;
        p.kernels.push_back(k);
    }
    return p;
}

Registry sample() {
    std::vector<PluginRecord> records;
    records.push_back(
        plugin("amx-cpu", PluginStatus::Loaded, {device("cpu", "AMX CPU", 0)}, {"moe", "linear"}));
    records.push_back(plugin("example", PluginStatus::Loaded,
                             {device("npu:0", "example NPU", 0), device("cpu", "plain", 1)},
                             {"add"}));
    records.push_back(plugin("cuda", PluginStatus::Refused, {}, {"linear"}));
    records.push_back(plugin("example", PluginStatus::Shadowed, {device("gpu:9", "", 0)}, {"x"}));
    return Registry::from_records(std::move(records));
}

TEST(RegistryRecords, DevicesAreMergedByNameFirstPluginWins) {
    const std::vector<DeviceRecord> devices = sample().devices();
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0].name, "cpu");
    EXPECT_EQ(devices[0].description, "AMX CPU");
    EXPECT_EQ(devices[1].name, "npu:0");
}

TEST(RegistryRecords, DeviceOwnersGivePluginLocalIndices) {
    const Registry registry = sample();
    const std::vector<DeviceOwner> owners = registry.device_owners("cpu");
    ASSERT_EQ(owners.size(), 2u);
    EXPECT_EQ(owners[0].plugin->name, "amx-cpu");
    EXPECT_EQ(owners[0].index, 0u);
    EXPECT_EQ(owners[1].plugin->name, "example");
    EXPECT_EQ(owners[1].index, 1u);
    EXPECT_TRUE(registry.device_owners("gpu:9").empty()); // its plugin is shadowed
}

TEST(RegistryRecords, OnlyLoadedPluginsAnswerLookups) {
    const Registry registry = sample();
    EXPECT_EQ(registry.plugins().size(), 4u);
    EXPECT_EQ(registry.plugin("cuda"), nullptr);
    ASSERT_NE(registry.plugin("example"), nullptr);
    EXPECT_EQ(registry.plugin("example")->status, PluginStatus::Loaded);
    EXPECT_EQ(registry.kernel("cuda/linear"), nullptr);
    EXPECT_EQ(registry.kernel("example/x"), nullptr);
    ASSERT_NE(registry.kernel("amx-cpu/linear"), nullptr);
    EXPECT_EQ(registry.kernel("amx-cpu/linear")->full_name(), "amx-cpu/linear");
    EXPECT_EQ(registry.kernel("/linear"), nullptr);
    EXPECT_EQ(registry.kernel("amx-cpu/"), nullptr);
}

TEST(RegistryRecords, StatusText) {
    PluginRecord record;
    record.status = PluginStatus::Refused;
    record.reason = "init failed: no driver";
    EXPECT_EQ(status_text(record), "refused: init failed: no driver");
    record.status = PluginStatus::Shadowed;
    record.reason = "/a/graft-x.so";
    EXPECT_EQ(status_text(record), "shadowed by /a/graft-x.so");
    record.status = PluginStatus::Standby;
    record.reason = "variant graft-x-avx512.so is preferred (score 3 > 2)";
    EXPECT_EQ(status_text(record), "standby: variant graft-x-avx512.so is preferred (score 3 > 2)");
    record.status = PluginStatus::Loaded;
    record.reason.clear();
    EXPECT_EQ(status_text(record), "loaded");
}

TEST(RegistryRecords, CapsText) {
    EXPECT_EQ(caps_text(0), "");
    EXPECT_EQ(caps_text(GRAFT_CAP_AVX2 | GRAFT_CAP_HOST_MEMORY), "avx2 host-memory");
    EXPECT_EQ(caps_text(GRAFT_CAP_AMX_INT8 | (1ull << 40)), "amx-int8 bit 40");
    EXPECT_STREQ(device_kind_name(GRAFT_DEVICE_NPU), "npu");
    EXPECT_STREQ(abi_status_name(GRAFT_ERR_NO_DEVICE), "no device");
}

} // namespace
} // namespace graft::host
