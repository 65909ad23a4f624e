/* A loss vtable whose size does not reach backward. */
#include "tp_common.h"

static const soma_loss_vt vt = {.size = 8, .name = "vtsize", .forward = tp_forward,
                                .backward = tp_backward};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "vtsize", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(loss, vtsize, items, 1)
