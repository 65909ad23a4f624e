/* zeros — Keras' Zeros initializer: every element is 0. */
#include <soma/plugin.h>

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)self; (void)ctx; (void)fans;
    int64_t n = soma_tview_numel(out);
    for (int64_t i = 0; i < n; i++) out->data[i] = 0.0f;
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "zeros", .fill = fill };
static const char *const aliases[] = { "zero", NULL };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "zeros",
    .aliases = aliases, .doc = "all elements 0 (Keras Zeros)",
    .params = NULL, .n_params = 0, .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, zeros, items, 1)
