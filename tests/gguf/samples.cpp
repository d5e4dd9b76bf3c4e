#include "samples.h"

#include <limits>
#include <random>
#include <string>

namespace graft::gguf::testing {

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> v(n);
    for (auto &b : v)
        b = static_cast<std::byte>(rng());
    return v;
}

Writer writer_with_every_value_type() {
    using L8 = std::numeric_limits<int8_t>;
    using L16 = std::numeric_limits<int16_t>;
    using L32 = std::numeric_limits<int32_t>;
    using L64 = std::numeric_limits<int64_t>;
    Writer w;
    w.set_value("u8", Value::make_uint(ValueType::UINT8, 255));
    w.set_value("i8", Value::make_int(ValueType::INT8, L8::min()));
    w.set_value("u16", Value::make_uint(ValueType::UINT16, 65535));
    w.set_value("i16", Value::make_int(ValueType::INT16, L16::min()));
    w.set_uint32("u32", std::numeric_limits<uint32_t>::max());
    w.set_int32("i32", L32::min());
    w.set_float32("f32", 0.1f);
    w.set_bool("bool", true);
    w.set_string("string", "h\xc3\xa9llo\nworld");
    w.set_uint64("u64", std::numeric_limits<uint64_t>::max());
    w.set_int64("i64", L64::min());
    w.set_float64("f64", -1e300);
    w.set_value("a.u8", Value::make_int_array(ValueType::UINT8, {0, 1, 255}));
    w.set_value("a.i8", Value::make_int_array(ValueType::INT8, {L8::min(), -1, L8::max()}));
    w.set_value("a.u16", Value::make_int_array(ValueType::UINT16, {0, 65535}));
    w.set_value("a.i16", Value::make_int_array(ValueType::INT16, {L16::min(), L16::max()}));
    w.set_value("a.u32", Value::make_int_array(ValueType::UINT32, {0, 4294967295}));
    w.set_array_int32("a.i32", {L32::min(), 0, L32::max()});
    w.set_array_float32("a.f32", {-0.5f, 1e30f, std::numeric_limits<float>::infinity()});
    w.set_value("a.bool", Value::make_int_array(ValueType::BOOL, {1, 0, 1}));
    w.set_array_string("a.string", {"", "a", std::string("nul\0inside", 10), "<0x0A>"});
    // UINT64 elements above INT64_MAX are kept bit-for-bit in `ints`
    w.set_value("a.u64", Value::make_int_array(ValueType::UINT64, {-1, 0, L64::max()}));
    w.set_value("a.i64", Value::make_int_array(ValueType::INT64, {L64::min(), L64::max()}));
    w.set_value("a.f64", Value::make_float_array(ValueType::FLOAT64, {1e-300, -2.5}));
    w.set_value("a.empty", Value::make_int_array(ValueType::INT32, {}));
    return w;
}

std::vector<SampleTensor> sample_tensors() {
    std::vector<SampleTensor> tensors = {
        {GRAFT_DTYPE_F32, {7, 3}, {}},
        {GRAFT_DTYPE_F16, {5}, {}},
        {GRAFT_DTYPE_BF16, {3, 2, 2}, {}},
        {GRAFT_DTYPE_Q4_0, {64, 3}, {}},
        {GRAFT_DTYPE_Q8_0, {32, 1, 1, 2}, {}},
        {GRAFT_DTYPE_Q4_K, {256, 2}, {}},
        {GRAFT_DTYPE_Q6_K, {512}, {}},
        {GRAFT_DTYPE_IQ4_NL, {32, 5}, {}},
        {GRAFT_DTYPE_I8, {9}, {}},
        {GRAFT_DTYPE_I32, {1}, {}},
        {GRAFT_DTYPE_MXFP4, {32, 2}, {}},
        {GRAFT_DTYPE_F64, {2, 2}, {}},
    };
    for (size_t i = 0; i < tensors.size(); ++i) {
        SampleTensor &t = tensors[i];
        uint64_t rows = 1;
        for (size_t d = 1; d < t.ne.size(); ++d)
            rows *= static_cast<uint64_t>(t.ne[d]);
        t.data = random_bytes(row_bytes(t.dtype, t.ne[0]) * rows, static_cast<uint32_t>(i));
    }
    return tensors;
}

std::vector<SampleTensor> add_sample_tensors(Writer &w) {
    std::vector<SampleTensor> tensors = sample_tensors();
    for (size_t i = 0; i < tensors.size(); ++i)
        w.add_tensor("t" + std::to_string(i), tensors[i].dtype, tensors[i].ne, tensors[i].data);
    return tensors;
}

} // namespace graft::gguf::testing
