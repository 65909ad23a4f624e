/* A loss without backward. */
#include "tp_common.h"

static const soma_loss_vt vt = {.size = sizeof vt, .name = "nobackward",
                                .forward = tp_forward};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "nobackward", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(loss, nobackward, items, 1)
