// Tensors: float32, row-major, one 64-byte aligned block each.
#include <stdio.h>
#include <string.h>

#include "base/base.h"

int soma_shape_numel(int ndim, const int64_t *dims, int64_t *numel) {
    if (ndim < 0 || ndim > SOMA_MAX_DIMS)
        return soma_error_set(SOMA_E_SHAPE, "rank %d is outside 0..%d", ndim,
                              SOMA_MAX_DIMS);
    if (ndim > 0 && !dims) return soma_error_set(SOMA_E_INVALID, "dims is NULL");
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return soma_error_set(SOMA_E_SHAPE, "dimension %d is negative (%lld)", i,
                                  (long long)dims[i]);
        if (__builtin_mul_overflow(n, dims[i], &n) || n > (INT64_MAX / 8))
            return soma_error_set(SOMA_E_NOMEM, "shape too large: element count overflows");
    }
    *numel = n;
    return SOMA_OK;
}

const char *soma_shape_str(int ndim, const int64_t *dims, char *buf, size_t len) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "(");
    for (int i = 0; i < ndim; i++)
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%lld", i ? ", " : "",
                              (long long)dims[i]);
    if (ndim == 1) o += (size_t)snprintf(buf + o, o < len ? len - o : 0, ",");
    snprintf(buf + o, o < len ? len - o : 0, ")");
    return buf;
}

SOMA_API int soma_tensor_create(soma_tensor **out, int ndim, const int64_t *dims,
                                const float *data) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_tensor_create: out is NULL");
    *out = NULL;
    int64_t numel;
    int rc = soma_shape_numel(ndim, dims, &numel);
    if (rc) return rc;
    soma_tensor *t = soma_calloc(1, sizeof *t);
    if (!t) return SOMA_E_NOMEM;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->numel = numel;
    if (numel > 0) {
        t->data = soma_calloc((size_t)numel, sizeof(float));
        if (!t->data) {
            soma_free(t);
            return SOMA_E_NOMEM;
        }
        if (data) memcpy(t->data, data, (size_t)numel * sizeof(float));
    }
    *out = t;
    return SOMA_OK;
}

SOMA_API void soma_tensor_free(soma_tensor *t) {
    if (!t) return;
    soma_free(t->data);
    soma_free(t);
}

SOMA_API int soma_tensor_ndim(const soma_tensor *t) { return t ? t->ndim : -1; }

SOMA_API int64_t soma_tensor_dim(const soma_tensor *t, int axis) {
    if (!t) return -1;
    if (axis < 0) axis += t->ndim;
    if (axis < 0 || axis >= t->ndim) return -1;
    return t->dims[axis];
}

SOMA_API int64_t soma_tensor_numel(const soma_tensor *t) { return t ? t->numel : -1; }
SOMA_API float *soma_tensor_data(soma_tensor *t) { return t ? t->data : NULL; }
SOMA_API const float *soma_tensor_cdata(const soma_tensor *t) { return t ? t->data : NULL; }

SOMA_API int soma_tensor_reshape(soma_tensor *t, int ndim, const int64_t *dims) {
    if (!t) return soma_error_set(SOMA_E_INVALID, "soma_tensor_reshape: tensor is NULL");
    int64_t numel;
    int rc = soma_shape_numel(ndim, dims, &numel);
    if (rc) return rc;
    if (numel != t->numel) {
        char a[128], b[128];
        return soma_error_set(SOMA_E_SHAPE, "cannot reshape %s (%lld elements) to %s",
                              soma_shape_str(t->ndim, t->dims, a, sizeof a),
                              (long long)t->numel, soma_shape_str(ndim, dims, b, sizeof b));
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    return SOMA_OK;
}

soma_tview soma_tensor_view(const soma_tensor *t) {
    soma_tview v = {0};
    v.data = t->data;
    v.ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) v.dims[i] = t->dims[i];
    return v;
}
