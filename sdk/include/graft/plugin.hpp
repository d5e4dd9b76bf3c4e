// graft plugin SDK: header-only C++ helpers over the C ABI of graft/plugin.h.
//
// Nothing here crosses the ABI: these are conveniences compiled into each plugin (and
// used by the host for the same facts, so both sides agree on dtype sizes). A plugin
// that prefers plain C can ignore this header.
#pragma once

#include <graft/plugin.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <new>
#include <string>

namespace graft::sdk {

// ------------------------------------------------------------------ dtypes

// Byte layout of a dtype: block_size elements take block_bytes bytes.
// block_size == 0 marks ids that GGUF does not define.
struct DtypeInfo {
    const char *name;
    int64_t block_size;
    uint64_t block_bytes;
};

inline const DtypeInfo &dtype_info(uint32_t id) {
    // Indexed by GGUF tensor type id; sizes as in ggml's type traits.
    static const DtypeInfo table[GRAFT_DTYPE_COUNT] = {
        {"F32", 1, 4},        {"F16", 1, 2},       {"Q4_0", 32, 18},    {"Q4_1", 32, 20},
        {"(4)", 0, 0},        {"(5)", 0, 0},       {"Q5_0", 32, 22},    {"Q5_1", 32, 24},
        {"Q8_0", 32, 34},     {"Q8_1", 32, 36},    {"Q2_K", 256, 84},   {"Q3_K", 256, 110},
        {"Q4_K", 256, 144},   {"Q5_K", 256, 176},  {"Q6_K", 256, 210},  {"Q8_K", 256, 292},
        {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
        {"IQ4_NL", 32, 18},   {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82},  {"IQ4_XS", 256, 136},
        {"I8", 1, 1},         {"I16", 1, 2},       {"I32", 1, 4},       {"I64", 1, 8},
        {"F64", 1, 8},        {"IQ1_M", 256, 56},  {"BF16", 1, 2},      {"(31)", 0, 0},
        {"(32)", 0, 0},       {"(33)", 0, 0},      {"TQ1_0", 256, 54},  {"TQ2_0", 256, 66},
        {"(36)", 0, 0},       {"(37)", 0, 0},      {"(38)", 0, 0},      {"MXFP4", 32, 17},
        {"NVFP4", 64, 36},    {"Q1_0", 128, 18},   {"Q2_0", 64, 18},
    };
    static const DtypeInfo unknown = {"unknown", 0, 0};
    return id < GRAFT_DTYPE_COUNT ? table[id] : unknown;
}

inline bool dtype_known(uint32_t id) { return dtype_info(id).block_size != 0; }
inline const char *dtype_name(graft_dtype d) { return dtype_info(d).name; }

// Bytes of one row of ne0 elements; 0 when ne0 is not a multiple of the block size or the
// dtype is unknown (callers treat 0 as invalid).
inline uint64_t row_bytes(graft_dtype d, int64_t ne0) {
    const DtypeInfo &t = dtype_info(d);
    if (t.block_size == 0 || ne0 < 0 || ne0 % t.block_size != 0)
        return 0;
    return static_cast<uint64_t>(ne0 / t.block_size) * t.block_bytes;
}

// ------------------------------------------------------------------ half floats

inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even, as the F16C instruction does.
inline uint16_t fp32_to_fp16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) // inf or nan
        return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u) // rounds to >= 65520: overflow to inf
        return static_cast<uint16_t>(sign | 0x7c00u);
    if (abs < 0x38800000u) { // below the smallest normal half: subnormal or zero
        if (abs < 0x33000000u)
            return static_cast<uint16_t>(sign);
        // value = m * 2^(e - 150); the half subnormal unit is 2^-24: shift right by 126 - e
        const uint32_t e = abs >> 23;
        const uint32_t m = (abs & 0x7fffffu) | 0x800000u;
        const uint32_t s = 126 - e; // 14..24
        uint32_t r = m >> s;
        const uint32_t rem = m & ((1u << s) - 1);
        const uint32_t halfway = 1u << (s - 1);
        if (rem > halfway || (rem == halfway && (r & 1u)))
            ++r;
        return static_cast<uint16_t>(sign | r);
    }
    uint32_t r = abs - 0x38000000u; // rebias exponent 127 -> 15
    const uint32_t rem = r & 0x1fffu;
    r >>= 13;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u)))
        ++r;
    return static_cast<uint16_t>(sign | r);
}

inline float bf16_to_fp32(uint16_t h) {
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even; NaN stays NaN.
inline uint16_t fp32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return static_cast<uint16_t>((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return static_cast<uint16_t>(x >> 16);
}

// ------------------------------------------------------------------ tensors

inline int64_t n_elements(const graft_tensor &t) { return t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]; }
inline int64_t n_rows(const graft_tensor &t) { return t.ne[1] * t.ne[2] * t.ne[3]; }

// Sets nb for a contiguous tensor of t.dtype and t.ne.
inline void set_contiguous_strides(graft_tensor &t) {
    t.nb[0] = static_cast<int64_t>(dtype_info(t.dtype).block_bytes);
    t.nb[1] = static_cast<int64_t>(row_bytes(t.dtype, t.ne[0]));
    for (int i = 2; i < GRAFT_MAX_DIMS; ++i)
        t.nb[i] = t.nb[i - 1] * t.ne[i - 1];
}

inline bool is_contiguous(const graft_tensor &t) {
    if (t.nb[1] != static_cast<int64_t>(row_bytes(t.dtype, t.ne[0])))
        return false;
    for (int i = 2; i < GRAFT_MAX_DIMS; ++i)
        if (t.ne[i] > 1 && t.nb[i] != t.nb[i - 1] * t.ne[i - 1])
            return false;
    return true;
}

inline uint64_t n_bytes(const graft_tensor &t) {
    return row_bytes(t.dtype, t.ne[0]) * static_cast<uint64_t>(n_rows(t));
}

// ------------------------------------------------------------------ params

inline const graft_param *find_param(const graft_param *params, uint32_t n, const char *key) {
    for (uint32_t i = 0; params && i < n; ++i)
        if (params[i].key && std::strcmp(params[i].key, key) == 0)
            return &params[i];
    return nullptr;
}

inline int64_t param_int(const graft_param *params, uint32_t n, const char *key,
                         int64_t fallback) {
    const graft_param *p = find_param(params, n, key);
    if (!p)
        return fallback;
    return p->type == GRAFT_PARAM_FLOAT ? static_cast<int64_t>(p->f) : p->i;
}

inline double param_float(const graft_param *params, uint32_t n, const char *key,
                          double fallback) {
    const graft_param *p = find_param(params, n, key);
    if (!p)
        return fallback;
    return p->type == GRAFT_PARAM_INT ? static_cast<double>(p->i) : p->f;
}

inline const char *param_string(const graft_param *params, uint32_t n, const char *key,
                                const char *fallback) {
    const graft_param *p = find_param(params, n, key);
    return p && p->type == GRAFT_PARAM_STRING && p->s ? p->s : fallback;
}

inline graft_param make_int_param(const char *key, int64_t v) {
    return graft_param{key, GRAFT_PARAM_INT, v, static_cast<double>(v), nullptr};
}
inline graft_param make_float_param(const char *key, double v) {
    return graft_param{key, GRAFT_PARAM_FLOAT, static_cast<int64_t>(v), v, nullptr};
}
inline graft_param make_string_param(const char *key, const char *v) {
    return graft_param{key, GRAFT_PARAM_STRING, 0, 0.0, v};
}

// ------------------------------------------------------------------ errors

// The calling thread's last error message inside this plugin. Each plugin is its own
// shared library with hidden visibility, so each has its own copy of this storage.
inline std::string &last_error_storage() {
    static thread_local std::string message;
    return message;
}

// Hook for graft_plugin.last_error.
inline const char *last_error() { return last_error_storage().c_str(); }

// Records a message and returns the status: `return sdk::fail(GRAFT_ERR_..., "why");`
inline graft_status fail(graft_status status, const std::string &message) {
    last_error_storage() = message;
    return status;
}

// Runs fn (returning graft_status) and turns escaping C++ exceptions into statuses, so
// none crosses the C boundary.
template <typename Fn> graft_status guard(Fn &&fn) noexcept {
    try {
        return fn();
    } catch (const std::bad_alloc &) {
        return fail(GRAFT_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return fail(GRAFT_ERR_INTERNAL, e.what());
    } catch (...) {
        return fail(GRAFT_ERR_INTERNAL, "unknown C++ exception");
    }
}

// Initialises a versioned table: zero it, then set abi_version and struct_size.
template <typename T> T versioned() {
    T t;
    std::memset(&t, 0, sizeof t);
    t.abi_version = GRAFT_ABI_VERSION;
    t.struct_size = static_cast<uint32_t>(sizeof(T));
    return t;
}

// True when a table handed over by the other side is large enough to hold `member`.
#define GRAFT_HAS_MEMBER(ptr, type, member)                                                    \
    ((ptr)->struct_size >= offsetof(type, member) + sizeof(((type *)nullptr)->member))

} // namespace graft::sdk
