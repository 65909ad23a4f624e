/* An initializer without fill. */
#include "tp_common.h"

static const soma_init_vt vt = {.size = sizeof vt, .name = "nofill"};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_INIT,
                                   .name = "nofill", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(init, nofill, items, 1)
