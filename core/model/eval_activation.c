// soma_activation_eval: an activation spec on literal data, as Dense applies
// it (what `soma activation` prints, and what the Keras oracle compares).
#include <string.h>

#include "base/base.h"
#include "cpu/act.h"

SOMA_API int soma_activation_eval(const char *spec, const soma_tensor *x, soma_tensor **y,
                                  const soma_tensor *dy, soma_tensor **dx) {
    if (y) *y = NULL;
    if (dx) *dx = NULL;
    if (!x || !y) return soma_error_set(SOMA_E_INVALID, "soma_activation_eval: x and y are required");
    if (dx && !dy) return soma_error_set(SOMA_E_INVALID, "soma_activation_eval: dx needs dy");
    if (dy && (dy->ndim != x->ndim || dy->numel != x->numel ||
               memcmp(dy->dims, x->dims, (size_t)x->ndim * sizeof *x->dims) != 0))
        return soma_error_set(SOMA_E_SHAPE, "soma_activation_eval: dy must have the shape of x");
    soma_activation a;
    int rc = soma_activation_parse(spec, &a);
    if (rc) return rc;
    // The last axis is the one softmax-like activations normalise over.
    int64_t cols = x->ndim > 0 ? x->dims[x->ndim - 1] : 1;
    int64_t rows = cols > 0 ? x->numel / cols : 0;
    soma_tensor *out = NULL, *grad = NULL;
    if ((rc = soma_tensor_create(&out, x->ndim, x->dims, NULL))) return rc;
    soma_activation_forward(&a, out->data, x->data, rows, cols);
    if (dx) {
        if ((rc = soma_tensor_create(&grad, x->ndim, x->dims, NULL))) {
            soma_tensor_free(out);
            return rc;
        }
        soma_activation_backward(&a, grad->data, x->data, out->data, dy->data, rows, cols);
        *dx = grad;
    }
    *y = out;
    return SOMA_OK;
}
