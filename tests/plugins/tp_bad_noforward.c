/* A loss without forward. */
#include "tp_common.h"

static const soma_loss_vt vt = {.size = sizeof vt, .name = "noforward",
                                .backward = tp_backward};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "noforward", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(loss, noforward, items, 1)
