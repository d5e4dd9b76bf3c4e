// Tensors, weights and guarded memory for `graft plugins check` (see plugin_check_data.h).
#include "plugin_check_data.h"

#include <graft/host/registry.h>
#include <graft/plugin.hpp>
#include <graft/quants.h>
#include <graft/util/error.h>

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace graft::cli::check {
namespace {

constexpr uint64_t kAlign = 64;      // where data starts inside a guarded buffer
constexpr uint64_t kDevicePad = 256; // canary bytes on each side of a device buffer

uint8_t canary_byte(uint64_t i) {
    return static_cast<uint8_t>((i * 131u + 0x5au) & 0xffu);
}

uint64_t page_size() {
    static const uint64_t size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

// ---------------------------------------------------------------- fault handler table

constexpr int kMaxGuards = 512;
struct GuardSlot {
    volatile sig_atomic_t used = 0;
    uintptr_t front_lo = 0, front_hi = 0, back_lo = 0, back_hi = 0;
    char role[32] = {}; // "output 0"
};
GuardSlot g_guards[kMaxGuards];

int register_guard(uintptr_t front_lo, uintptr_t back_lo, uint64_t page, BufferRole role) {
    for (int i = 0; i < kMaxGuards; ++i) {
        if (g_guards[i].used)
            continue;
        GuardSlot &slot = g_guards[i];
        slot.front_lo = front_lo;
        slot.front_hi = front_lo + page;
        slot.back_lo = back_lo;
        slot.back_hi = back_lo + page;
        std::snprintf(slot.role, sizeof slot.role, "%s %u", role.kind, role.index);
        slot.used = 1;
        return i;
    }
    return -1; // no room: the buffer is still guarded, faults are then reported as crashes
}

// Appends s to buf at *n (async-signal-safe: no library calls).
void append(char *buf, size_t cap, size_t *n, const char *s) {
    while (*s && *n + 1 < cap)
        buf[(*n)++] = *s++;
}

void on_fault(int sig, siginfo_t *info, void *context) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    bool write = true;
#if defined(__x86_64__)
    // Bit 1 of the page-fault error code: the access was a write.
    if (context)
        write = (static_cast<ucontext_t *>(context)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)context;
#endif
    for (int i = 0; i < kMaxGuards; ++i) {
        const GuardSlot &slot = g_guards[i];
        if (!slot.used)
            continue;
        const bool back = addr >= slot.back_lo && addr < slot.back_hi;
        const bool front = addr >= slot.front_lo && addr < slot.front_hi;
        if (!back && !front)
            continue;
        char line[256];
        size_t n = 0;
        append(line, sizeof line, &n, "{\"kind\":\"fault\",\"what\":\"");
        append(line, sizeof line, &n, write ? "wrote " : "read ");
        append(line, sizeof line, &n, back ? "past the end of " : "before the start of ");
        append(line, sizeof line, &n, slot.role);
        append(line, sizeof line, &n, " (hit a guard page)\"}\n");
        (void)!::write(STDOUT_FILENO, line, n);
        break;
    }
    // Back to the default action: returning re-executes the access, which now kills the
    // process with this signal, so the parent sees the signal as well as the line.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(sig, &dfl, nullptr);
}

} // namespace

// ---------------------------------------------------------------- host tensors

HostTensor::HostTensor(graft_dtype dtype, std::vector<int64_t> ne) {
    desc.dtype = dtype;
    desc.n_dims = static_cast<uint32_t>(ne.size());
    for (int d = 0; d < GRAFT_MAX_DIMS; ++d)
        desc.ne[d] = d < static_cast<int>(ne.size()) ? ne[static_cast<size_t>(d)] : 1;
    sdk::set_contiguous_strides(desc);
    bytes.assign(sdk::n_bytes(desc), 0);
    desc.data = bytes.data();
}

HostTensor::HostTensor(const HostTensor &other) : desc(other.desc), bytes(other.bytes) {
    desc.data = bytes.data();
}

HostTensor &HostTensor::operator=(const HostTensor &other) {
    if (this != &other) {
        desc = other.desc;
        bytes = other.bytes;
        desc.data = bytes.data();
    }
    return *this;
}

int64_t HostTensor::elements() const {
    return sdk::n_elements(desc);
}

std::vector<float> HostTensor::values() const {
    std::vector<float> out(static_cast<size_t>(elements()));
    if (desc.dtype == GRAFT_DTYPE_I32) {
        for (size_t i = 0; i < out.size(); ++i)
            out[i] = static_cast<float>(i32()[i]);
        return out;
    }
    const int64_t rows = sdk::n_rows(desc), n = desc.ne[0];
    for (int64_t r = 0; r < rows; ++r)
        if (!quants::dequantize_row(desc.dtype, bytes.data() + r * desc.nb[1], out.data() + r * n,
                                    n))
            throw Error(std::string("cannot read values of dtype ") + sdk::dtype_name(desc.dtype));
    return out;
}

void fill_normal(HostTensor &t, std::mt19937_64 &rng, float sigma) {
    std::normal_distribution<float> dist(0.0f, sigma);
    for (int64_t i = 0; i < t.elements(); ++i)
        t.f32()[i] = dist(rng);
}

void fill_ints(HostTensor &t, std::mt19937_64 &rng, int32_t lo, int32_t hi) {
    std::uniform_int_distribution<int32_t> dist(lo, hi);
    for (int64_t i = 0; i < t.elements(); ++i)
        t.i32()[i] = dist(rng);
}

bool can_make_weight(graft_dtype dtype) {
    return quants::can_dequantize(dtype);
}

namespace {

// Random bytes for a block type, then its fp16 scale fields set to sane positive values
// (a random fp16 might be inf or NaN). `fields` are byte offsets of the fp16 scales and
// `scale` their typical size.
template <typename Block>
void random_blocks(uint8_t *row, int64_t n_blocks, std::mt19937_64 &rng,
                   std::initializer_list<size_t> fields, float scale) {
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> factor(0.5f, 1.5f);
    for (int64_t b = 0; b < n_blocks; ++b) {
        uint8_t *block = row + b * static_cast<int64_t>(sizeof(Block));
        for (size_t i = 0; i < sizeof(Block); ++i)
            block[i] = static_cast<uint8_t>(byte(rng));
        for (size_t offset : fields) {
            const uint16_t h = sdk::fp32_to_fp16(scale * factor(rng));
            std::memcpy(block + offset, &h, 2);
        }
    }
}

} // namespace

HostTensor random_weight(graft_dtype dtype, std::vector<int64_t> ne, std::mt19937_64 &rng) {
    using namespace quants;
    HostTensor t(dtype, std::move(ne));
    const int64_t n = t.desc.ne[0], rows = sdk::n_rows(t.desc);
    if (t.bytes.empty() && n * rows > 0)
        throw Error(std::string("cannot make ") + sdk::dtype_name(dtype) + " weights with ne[0] " +
                    std::to_string(n));
    std::normal_distribution<float> dist(0.0f, 0.5f);
    std::vector<float> values(static_cast<size_t>(n));
    const int64_t nb = n / std::max<int64_t>(1, sdk::dtype_info(dtype).block_size);
    for (int64_t r = 0; r < rows; ++r) {
        uint8_t *row = t.bytes.data() + r * t.desc.nb[1];
        for (float &v : values)
            v = dist(rng);
        switch (dtype) {
        case GRAFT_DTYPE_F32:
            std::memcpy(row, values.data(), values.size() * 4);
            break;
        case GRAFT_DTYPE_F16:
        case GRAFT_DTYPE_BF16:
            for (int64_t i = 0; i < n; ++i) {
                const uint16_t h = dtype == GRAFT_DTYPE_F16 ? sdk::fp32_to_fp16(values[i])
                                                            : sdk::fp32_to_bf16(values[i]);
                std::memcpy(row + 2 * i, &h, 2);
            }
            break;
        case GRAFT_DTYPE_Q8_0:
            quantize_row_q8_0(values.data(), reinterpret_cast<BlockQ8_0 *>(row), n);
            break;
        case GRAFT_DTYPE_Q4_0:
            quantize_row_q4_0(values.data(), reinterpret_cast<BlockQ4_0 *>(row), n);
            break;
        case GRAFT_DTYPE_Q8_K:
            quantize_row_q8_k(values.data(), reinterpret_cast<BlockQ8_K *>(row), n);
            break;
        case GRAFT_DTYPE_Q4_1:
            random_blocks<BlockQ4_1>(row, nb, rng, {offsetof(BlockQ4_1, d)}, 0.06f);
            // m, the block minimum, is negative so that values centre near zero.
            for (int64_t b = 0; b < nb; ++b) {
                const uint16_t m = sdk::fp32_to_fp16(-0.45f);
                std::memcpy(row + b * 20 + offsetof(BlockQ4_1, m), &m, 2);
            }
            break;
        case GRAFT_DTYPE_Q5_0:
            random_blocks<BlockQ5_0>(row, nb, rng, {offsetof(BlockQ5_0, d)}, 0.03f);
            break;
        case GRAFT_DTYPE_Q5_1:
            random_blocks<BlockQ5_1>(row, nb, rng, {offsetof(BlockQ5_1, d)}, 0.03f);
            for (int64_t b = 0; b < nb; ++b) {
                const uint16_t m = sdk::fp32_to_fp16(-0.45f);
                std::memcpy(row + b * 24 + offsetof(BlockQ5_1, m), &m, 2);
            }
            break;
        case GRAFT_DTYPE_Q2_K:
            random_blocks<BlockQ2_K>(row, nb, rng,
                                     {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}, 0.02f);
            break;
        case GRAFT_DTYPE_Q3_K:
            random_blocks<BlockQ3_K>(row, nb, rng, {offsetof(BlockQ3_K, d)}, 0.005f);
            break;
        case GRAFT_DTYPE_Q4_K:
            random_blocks<BlockQ4_K>(row, nb, rng,
                                     {offsetof(BlockQ4_K, d), offsetof(BlockQ4_K, dmin)}, 0.002f);
            break;
        case GRAFT_DTYPE_Q5_K:
            random_blocks<BlockQ5_K>(row, nb, rng,
                                     {offsetof(BlockQ5_K, d), offsetof(BlockQ5_K, dmin)}, 0.001f);
            break;
        case GRAFT_DTYPE_Q6_K:
            random_blocks<BlockQ6_K>(row, nb, rng, {offsetof(BlockQ6_K, d)}, 0.0005f);
            break;
        default:
            throw Error(std::string("cannot make weights of dtype ") + sdk::dtype_name(dtype));
        }
    }
    return t;
}

// ---------------------------------------------------------------- guarded host memory

void install_guard_fault_handler() {
    static bool installed = false;
    if (installed)
        return;
    installed = true;
    // An alternate stack, so that a kernel that overflows its own stack is still reported.
    static std::vector<char> alt_stack(1 << 16);
    stack_t ss{};
    ss.ss_sp = alt_stack.data();
    ss.ss_size = alt_stack.size();
    ::sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGSEGV, &sa, nullptr);
    ::sigaction(SIGBUS, &sa, nullptr);
}

GuardedBuffer::GuardedBuffer(uint64_t bytes, BufferRole role) : bytes_(bytes), role_(role) {
    const uint64_t page = page_size();
    const uint64_t padded = (std::max<uint64_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
    // At least kAlign canary bytes before the data, on the body's first page.
    body_bytes_ = (padded + kAlign + page - 1) / page * page;
    map_bytes_ = body_bytes_ + 2 * page;
    void *map =
        ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        throw Error("cannot map " + std::to_string(map_bytes_) + " bytes for " + role.kind);
    base_ = static_cast<uint8_t *>(map);
    body_ = base_ + page;
    ::mprotect(base_, page, PROT_NONE);
    ::mprotect(body_ + body_bytes_, page, PROT_NONE);
    data_ = body_ + body_bytes_ - padded;
    for (uint64_t i = 0; i < body_bytes_; ++i)
        body_[i] = canary_byte(i);
    slot_ = register_guard(reinterpret_cast<uintptr_t>(base_),
                           reinterpret_cast<uintptr_t>(body_ + body_bytes_), page, role);
}

GuardedBuffer::~GuardedBuffer() {
    if (slot_ >= 0)
        g_guards[slot_].used = 0;
    if (base_)
        ::munmap(base_, map_bytes_);
}

std::string GuardedBuffer::canary_damage() const {
    const uint64_t start = static_cast<uint64_t>(data_ - body_);
    const std::string who = std::string(role_.kind) + " " + std::to_string(role_.index);
    for (uint64_t i = start + bytes_; i < body_bytes_; ++i)
        if (body_[i] != canary_byte(i))
            return "wrote past the end of " + who + " (byte " + std::to_string(i - start) + " of " +
                   std::to_string(bytes_) + ")";
    for (uint64_t i = 0; i < start; ++i)
        if (body_[i] != canary_byte(i))
            return "wrote before the start of " + who + " (" + std::to_string(start - i) +
                   " bytes before)";
    return "";
}

// ---------------------------------------------------------------- device memory

struct DeviceMemory::Allocation {
    std::unique_ptr<GuardedBuffer> host; // host-memory devices
    std::vector<uint8_t> plain;          // unguarded host memory
    void *device = nullptr;              // device allocations: pad + bytes + pad
    uint64_t bytes = 0;
    BufferRole role{"buffer", 0};
    uint8_t *data() {
        if (host)
            return host->data();
        return device ? static_cast<uint8_t *>(device) + kDevicePad : plain.data();
    }
};

DeviceMemory::DeviceMemory(const graft_memory_api *memory, uint32_t device, bool host_memory,
                           bool guarded)
    : memory_(memory), device_(device), host_(host_memory || !memory), guarded_(guarded) {}

DeviceMemory::~DeviceMemory() {
    for (auto &a : allocations_)
        if (a->device && memory_)
            memory_->free(device_, a->device);
}

DeviceMemory::Allocation &DeviceMemory::allocate(uint64_t bytes, BufferRole role) {
    auto a = std::make_unique<Allocation>();
    a->bytes = bytes;
    a->role = role;
    if (host_ && guarded_) {
        a->host = std::make_unique<GuardedBuffer>(bytes, role);
    } else if (host_) {
        a->plain.resize(std::max<uint64_t>(bytes, 1));
    } else {
        const uint64_t total = bytes + 2 * kDevicePad;
        if (memory_->alloc(device_, 0, total, &a->device) != GRAFT_OK || !a->device)
            throw Error("the plugin's memory alloc of " + std::to_string(total) + " bytes failed");
        std::vector<uint8_t> pattern(total);
        for (uint64_t i = 0; i < total; ++i)
            pattern[i] = canary_byte(i);
        if (memory_->copy_to_device(device_, a->device, pattern.data(), total, nullptr) != GRAFT_OK)
            throw Error("the plugin's copy_to_device failed");
    }
    allocations_.push_back(std::move(a));
    return *allocations_.back();
}

graft_tensor DeviceMemory::upload(const HostTensor &t, BufferRole role) {
    Allocation &a = allocate(t.bytes.size(), role);
    graft_tensor d = t.desc;
    d.data = a.data();
    if (host_)
        std::memcpy(a.data(), t.bytes.data(), t.bytes.size());
    else if (!t.bytes.empty() && memory_->copy_to_device(device_, a.data(), t.bytes.data(),
                                                         t.bytes.size(), nullptr) != GRAFT_OK)
        throw Error("the plugin's copy_to_device failed");
    return d;
}

graft_tensor DeviceMemory::output_like(const HostTensor &t, BufferRole role) {
    HostTensor unset = t;
    std::fill(unset.bytes.begin(), unset.bytes.end(), uint8_t{0xff});
    return upload(unset, role);
}

void DeviceMemory::download(const graft_tensor &device_tensor, HostTensor &t) {
    if (host_) {
        std::memcpy(t.bytes.data(), device_tensor.data, t.bytes.size());
        return;
    }
    if (!t.bytes.empty() && memory_->copy_to_host(device_, t.bytes.data(), device_tensor.data,
                                                  t.bytes.size(), nullptr) != GRAFT_OK)
        throw Error("the plugin's copy_to_host failed");
}

void DeviceMemory::synchronize() {
    if (memory_ && memory_->synchronize(device_, nullptr) != GRAFT_OK)
        throw Error("the plugin's synchronize failed");
}

std::string DeviceMemory::canary_damage() {
    for (auto &a : allocations_) {
        if (!a->device) {
            if (!a->host)
                continue;
            if (std::string damage = a->host->canary_damage(); !damage.empty())
                return damage;
            continue;
        }
        const uint64_t total = a->bytes + 2 * kDevicePad;
        std::vector<uint8_t> back(total);
        if (memory_->copy_to_host(device_, back.data(), a->device, total, nullptr) != GRAFT_OK)
            return "copy_to_host failed while reading the canaries";
        const std::string who = std::string(a->role.kind) + " " + std::to_string(a->role.index);
        for (uint64_t i = kDevicePad + a->bytes; i < total; ++i)
            if (back[i] != canary_byte(i))
                return "wrote past the end of " + who + " (byte " + std::to_string(i - kDevicePad) +
                       " of " + std::to_string(a->bytes) + ")";
        for (uint64_t i = 0; i < kDevicePad; ++i)
            if (back[i] != canary_byte(i))
                return "wrote before the start of " + who;
    }
    return "";
}

std::string plugin_error(const graft_plugin &plugin, graft_status status) {
    std::string text = host::abi_status_name(status);
    const char *message = plugin.last_error ? plugin.last_error() : nullptr;
    if (message && *message)
        text += ": " + std::string(message);
    return text;
}

} // namespace graft::cli::check
