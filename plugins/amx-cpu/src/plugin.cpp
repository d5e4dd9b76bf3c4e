// The plugin table: one cpu device, the fast kernels first (the planner takes the first
// kernel of an op as the device's default), then the "_ref" references.
#include "cpu_features.h"
#include "kernels.h"
#include "thread_pool.h"

#include <graft/plugin.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

namespace graft::amx_cpu {

namespace {

constexpr Variant kVariant = static_cast<Variant>(GRAFT_AMX_CPU_VARIANT);

struct PluginState {
    std::vector<graft_kernel> kernels;
    std::string description;
    std::string capabilities;
    uint64_t caps = GRAFT_CAP_HOST_MEMORY;
    graft_plugin table{};
};

std::string feature_words(const IsaFeatures &f) {
    std::string s;
    auto add = [&](bool on, const char *word) {
        if (on)
            s += s.empty() ? word : std::string(" ") + word;
    };
    add(f.avx2, "avx2");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx512f, "avx512f");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512dq, "avx512dq");
    add(f.avx512_vnni, "avx512vnni");
    add(f.avx512_bf16, "avx512bf16");
    add(f.avx_vnni, "avxvnni");
    add(f.amx_tile, "amx-tile");
    add(f.amx_int8, "amx-int8");
    add(f.amx_bf16, "amx-bf16");
    return s;
}

graft_status device_info(uint32_t index, graft_device_info *out);
graft_status configure(const graft_param *params, uint32_t n_params);

PluginState &state() {
    static PluginState s = [] {
        PluginState p;
        KernelLists lists;
        add_embedding_kernels(lists);
        add_rmsnorm_kernels(lists);
        add_rope_kernels(lists);
        add_linear_kernels(lists);
        add_attention_kernels(lists);
        add_attention_mla_kernels(lists);
        add_router_kernels(lists);
        add_moe_kernels(lists);
        add_elementwise_kernels(lists);
        p.kernels = lists.fast;
        p.kernels.insert(p.kernels.end(), lists.ref.begin(), lists.ref.end());

        const IsaFeatures &f = cpu_isa();
        p.caps |= (f.avx2 ? GRAFT_CAP_AVX2 : 0) | (f.avx512f ? GRAFT_CAP_AVX512F : 0) |
                  (f.avx512_vnni ? GRAFT_CAP_AVX512_VNNI : 0) |
                  (f.avx512_bf16 ? GRAFT_CAP_AVX512_BF16 : 0) |
                  (f.amx_tile ? GRAFT_CAP_AMX_TILE : 0) | (f.amx_int8 ? GRAFT_CAP_AMX_INT8 : 0) |
                  (f.amx_bf16 ? GRAFT_CAP_AMX_BF16 : 0) | (f.avx_vnni ? GRAFT_CAP_AVX_VNNI : 0);
        p.description = cpu_brand() + " (" + variant_name(kVariant) + ")";
        p.capabilities = feature_words(f) + "; kernels built for " + variant_name(kVariant);

        graft_plugin &t = p.table;
        std::memset(&t, 0, sizeof t);
        t.abi_version = GRAFT_ABI_VERSION;
        t.struct_size = sizeof(graft_plugin);
        t.name = "amx-cpu";
        t.version = "0.1.0";
        t.vendor = "graft";
        switch (kVariant) {
        case Variant::avx2:
            t.description = "CPU kernels for AVX2/FMA/F16C (Haswell and later, Zen)";
            break;
        case Variant::avx512:
            t.description = "CPU kernels for AVX-512 with VNNI (Cascade Lake, Ice Lake, Zen 4)";
            break;
        case Variant::amx:
            t.description = "CPU kernels for AMX and AVX512-BF16 (Sapphire Rapids and later)";
            break;
        }
        t.n_devices = 1;
        t.device_info = device_info;
        t.memory = nullptr; // host memory only
        t.kernels = p.kernels.data();
        t.n_kernels = static_cast<uint32_t>(p.kernels.size());
        t.last_error = sdk::last_error;
        t.configure = configure;
        t.device_prefix = "cpu";
        return p;
    }();
    return s;
}

graft_status device_info(uint32_t index, graft_device_info *out) {
    if (!out || index != 0)
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                         "device_info: amx-cpu has one device (index 0)");
    if (out->struct_size < offsetof(graft_device_info, kind))
        return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, "device_info: struct_size too small");
    const PluginState &s = state();
    graft_device_info info = sdk::versioned<graft_device_info>();
    info.kind = GRAFT_DEVICE_CPU;
    info.name = "cpu";
    info.description = s.description.c_str();
    host_memory(info.memory_total, info.memory_free);
    info.caps = s.caps;
    info.capabilities = s.capabilities.c_str();
    // Fill what the caller's (possibly older, smaller) struct has room for.
    const uint32_t keep_abi = out->abi_version, keep_size = out->struct_size;
    std::memcpy(out, &info, std::min<size_t>(keep_size, sizeof info));
    out->abi_version = keep_abi;
    out->struct_size = keep_size;
    return GRAFT_OK;
}

graft_status configure(const graft_param *params, uint32_t n_params) {
    return sdk::guard([&] {
        const int64_t threads = sdk::param_int(params, n_params, "threads", 0);
        const int64_t spin_us = sdk::param_int(params, n_params, "spin_us", -1);
        if (threads < 0 || threads > 4096)
            return sdk::fail(
                GRAFT_ERR_INVALID_ARGUMENT,
                "configure: threads must be between 1 and 4096 (0 = physical cores), got " +
                    std::to_string(threads));
        if (spin_us > 1000000)
            return sdk::fail(GRAFT_ERR_INVALID_ARGUMENT,
                             "configure: spin_us must be at most 1000000, got " +
                                 std::to_string(spin_us));
        ThreadPool::configure(static_cast<int>(threads), static_cast<int>(spin_us));
        return GRAFT_OK;
    });
}

} // namespace

graft_status plugin_table(const graft_host_api * /*host*/, const graft_plugin **out,
                          const char **error) {
    try {
        *out = &state().table;
        return GRAFT_OK;
    } catch (...) {
        if (error)
            *error = "amx-cpu: out of memory while building the kernel table";
        return GRAFT_ERR_OUT_OF_MEMORY;
    }
}

} // namespace graft::amx_cpu
