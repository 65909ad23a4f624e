/* Needs a symbol nothing provides, so dlopen(RTLD_NOW) refuses it. */
#include "tp_common.h"

extern int tp_missing_symbol(void);
static int fill(const soma_instance *self, const soma_ctx *ctx, const soma_tview *out,
                const soma_fans *fans) {
    (void)self, (void)ctx, (void)out, (void)fans;
    return tp_missing_symbol();
}
static const soma_init_vt vt = {.size = sizeof vt, .name = "undef", .fill = fill};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_INIT,
                                   .name = "undef", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(init, undef, items, 1)
