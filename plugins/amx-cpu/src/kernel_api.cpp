#include "kernel_api.h"

#include <string>

namespace graft::amx_cpu {

bool bad(const std::string &message) {
    sdk::fail(GRAFT_ERR_INVALID_ARGUMENT, message);
    return false;
}

std::string describe(const graft_tensor &t) {
    std::string s = sdk::dtype_name(t.dtype);
    s += " (";
    const uint32_t dims = t.n_dims >= 1 && t.n_dims <= GRAFT_MAX_DIMS ? t.n_dims : GRAFT_MAX_DIMS;
    for (uint32_t i = 0; i < dims; ++i) {
        if (i)
            s += ", ";
        s += std::to_string(t.ne[i]);
    }
    return s + ")";
}

namespace {

bool shape_sane(const graft_tensor &t) {
    for (int i = 0; i < GRAFT_MAX_DIMS; ++i)
        if (t.ne[i] < 1 || t.nb[i] < 0)
            return false;
    return true;
}

// Outer dimensions 1..3 collapse into rows of stride nb[1].
bool outer_collapsible(const graft_tensor &t) {
    for (int i = 2; i < GRAFT_MAX_DIMS; ++i)
        if (t.ne[i] > 1 && t.nb[i] != t.nb[i - 1] * t.ne[i - 1])
            return false;
    return true;
}

} // namespace

bool f32_rows(const char *op, const char *what, const graft_tensor &t, int64_t ne0, F32Rows &rows) {
    const std::string where = std::string(op) + ": " + what;
    if (t.dtype != GRAFT_DTYPE_F32)
        return bad(where + " must be F32, got " + describe(t));
    if (!t.data || !shape_sane(t))
        return bad(where + " has no data or a non-positive dimension: " + describe(t));
    if (ne0 >= 0 && t.ne[0] != ne0)
        return bad(where + " must have ne[0] = " + std::to_string(ne0) + ", got " + describe(t));
    const int64_t rows_n = sdk::n_rows(t);
    if (t.nb[0] != 4 || (rows_n > 1 && (t.nb[1] % 4 != 0 || t.nb[1] < 4 * t.ne[0])) ||
        !outer_collapsible(t))
        return bad(where +
                   " must have contiguous rows of floats with outer dimensions that "
                   "collapse into one: " +
                   describe(t));
    rows.data = static_cast<float *>(t.data);
    rows.n = t.ne[0];
    rows.rows = rows_n;
    rows.stride = rows_n > 1 ? t.nb[1] / 4 : t.ne[0];
    return true;
}

bool f32_heads(const char *op, const char *what, const graft_tensor &t, int64_t ne0, int64_t ne1,
               int64_t ne2, F32Heads &v) {
    const std::string where = std::string(op) + ": " + what;
    if (t.dtype != GRAFT_DTYPE_F32 || !t.data || !shape_sane(t))
        return bad(where + " must be F32 with data, got " + describe(t));
    const int64_t want[3] = {ne0, ne1, ne2};
    for (int i = 0; i < 3; ++i)
        if (want[i] >= 0 && t.ne[i] != want[i])
            return bad(where + " must have ne[" + std::to_string(i) +
                       "] = " + std::to_string(want[i]) + ", got " + describe(t));
    if (t.ne[3] != 1 || t.nb[0] != 4 || t.nb[1] % 4 != 0 || t.nb[2] % 4 != 0)
        return bad(where + " must be 3-D with float-aligned strides, got " + describe(t));
    v.data = static_cast<float *>(t.data);
    v.ne0 = t.ne[0];
    v.ne1 = t.ne[1];
    v.ne2 = t.ne[2];
    v.nb1 = t.nb[1] / 4;
    v.nb2 = t.nb[2] / 4;
    return true;
}

bool i32_vector(const char *op, const char *what, const graft_tensor &t, int64_t n,
                const int32_t *&data) {
    const std::string where = std::string(op) + ": " + what;
    if (t.dtype != GRAFT_DTYPE_I32 || !t.data || !shape_sane(t))
        return bad(where + " must be I32 with data, got " + describe(t));
    if (sdk::n_elements(t) != n)
        return bad(where + " must have " + std::to_string(n) + " elements, got " + describe(t));
    if (t.nb[0] != 4 || !sdk::is_contiguous(t))
        return bad(where + " must be contiguous: " + describe(t));
    data = static_cast<const int32_t *>(t.data);
    return true;
}

bool weight_matrix(const char *op, const char *what, const graft_tensor &t, Matrix &m) {
    const std::string where = std::string(op) + ": " + what;
    if (!is_linear_dtype(t.dtype))
        return bad(where + " has dtype " + sdk::dtype_name(t.dtype) +
                   ", which this kernel does "
                   "not take (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K)");
    if (!t.data || !shape_sane(t))
        return bad(where + " has no data or a non-positive dimension: " + describe(t));
    const uint64_t row = sdk::row_bytes(t.dtype, t.ne[0]);
    if (row == 0)
        return bad(where + ": ne[0] must be a multiple of " +
                   std::to_string(sdk::dtype_info(t.dtype).block_size) + " for " +
                   sdk::dtype_name(t.dtype) + ", got " + describe(t));
    if ((t.ne[1] > 1 && t.nb[1] < static_cast<int64_t>(row)) ||
        (t.ne[2] > 1 && t.nb[2] < t.nb[1] * t.ne[1]))
        return bad(where + " has overlapping rows: " + describe(t));
    m.data = static_cast<const uint8_t *>(t.data);
    m.dtype = t.dtype;
    m.n_in = t.ne[0];
    m.n_out = t.ne[1];
    m.row_stride = t.ne[1] > 1 ? t.nb[1] : static_cast<int64_t>(row);
    return true;
}

bool optional_f32_vector(const char *op, const char *what, const graft_kernel_config &config,
                         uint32_t index, int64_t n, const float *&data) {
    data = nullptr;
    if (index >= config.n_weights || !config.weights)
        return true;
    const graft_tensor &t = config.weights[index];
    if (t.dtype != GRAFT_DTYPE_F32 || !t.data || sdk::n_elements(t) != n || t.nb[0] != 4 ||
        !sdk::is_contiguous(t))
        return bad(std::string(op) + ": " + what + " must be F32 with " + std::to_string(n) +
                   " contiguous elements, got " + describe(t));
    data = static_cast<const float *>(t.data);
    return true;
}

bool arity(const char *op, const graft_kernel_call &call, uint32_t inputs, uint32_t outputs) {
    if (call.n_inputs < inputs || !call.inputs || call.n_outputs < outputs || !call.outputs)
        return bad(std::string(op) + ": needs " + std::to_string(inputs) + " inputs and " +
                   std::to_string(outputs) + " outputs, got " + std::to_string(call.n_inputs) +
                   " and " + std::to_string(call.n_outputs));
    return true;
}

} // namespace graft::amx_cpu
