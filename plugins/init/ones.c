/* ones — Keras' Ones initializer: every element is 1. */
#include <soma/plugin.h>

static int fill(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans) {
    (void)self; (void)ctx; (void)fans;
    int64_t n = soma_tview_numel(out);
    for (int64_t i = 0; i < n; i++) out->data[i] = 1.0f;
    return SOMA_OK;
}

static const soma_init_vt vt = { .size = sizeof vt, .name = "ones", .fill = fill };
static const char *const aliases[] = { "one", NULL };
static const soma_item items[] = {{
    .size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "ones",
    .aliases = aliases, .doc = "all elements 1 (Keras Ones)",
    .params = NULL, .n_params = 0, .vtable = &vt,
}};
SOMA_PLUGIN_DEFINE(init, ones, items, 1)
