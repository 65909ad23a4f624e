/* identity — Keras' Identity(gain=1.0): gain · eye(rows, cols) for a rank-2
 * tensor; non-square shapes get ones on the leading diagonal only. */
#include <math.h>

#include <soma/plugin.h>

enum { P_GAIN };
static const soma_param_spec params[] = {
    { .name = "gain", .type = SOMA_PARAM_FLOAT, .def_num = 1.0,
      .doc = "value on the diagonal" },
};

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    *state = NULL;
    if (!isfinite(p[P_GAIN].num))
        return host->set_error(SOMA_E_INVALID, "gain must be finite, got %g",
                               p[P_GAIN].num);
    return SOMA_OK;
}

// Keras raises for any rank but 2 (a conv kernel has no single "identity"),
// so the shape is checked here, where it is first known.
static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)fans;
    if (out->ndim != 2)
        return ctx->host->set_error(SOMA_E_SHAPE, "needs a rank-2 tensor (a matrix), "
                                    "got rank %d", (int)out->ndim);
    int64_t rows = out->dims[0], cols = out->dims[1];
    float gain = (float)self->params[P_GAIN].num;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            out->data[i * cols + j] = i == j ? gain : 0.0f;
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "identity",
                                 .create = create, .fill = fill };
// Keras 3 also answers to the class name IdentityInitializer.
static const char *const aliases[] = { "identity_initializer", NULL };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "identity",
    .aliases = aliases, .doc = "gain times the identity matrix, rank 2 only (Keras Identity)",
    .params = params, .n_params = sizeof params / sizeof params[0], .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, identity, items, 1)
