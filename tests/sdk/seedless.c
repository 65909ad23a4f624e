/* seedless.c — a deliberately wrong initializer for `soma plugin check`: it
 * draws uniform numbers from a generator of its own with a fixed seed
 * instead of ctx->rng, so every seed gives the same "random" weights. The
 * check must fail it for ignoring the seed (tests/test_sdk.c). */
#include <soma/plugin.h>

static int fill(const soma_instance *self, const soma_ctx *ctx, const soma_tview *out,
                const soma_fans *fans) {
    (void)self, (void)ctx, (void)fans;
    uint64_t s = 12345; // the bug: a private, fixed generator
    for (int64_t i = 0; i < soma_tview_numel(out); i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        out->data[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 0.1 - 0.05);
    }
    return SOMA_OK;
}

static const soma_init_vt vt = {.size = sizeof vt, .name = "seedless", .fill = fill};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_INIT,
                                   .name = "seedless", .vtable = &vt,
                                   .doc = "U(-0.05, 0.05) from a private fixed-seed generator"}};
SOMA_PLUGIN_DEFINE(init, seedless, items, 1)
