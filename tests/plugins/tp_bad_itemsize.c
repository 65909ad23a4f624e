/* An item whose size is too small to hold its fields. */
#include "tp_common.h"

static const soma_item items[] = {{.size = 8, .kind = SOMA_KIND_LOSS, .name = "itemsize",
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, itemsize, items, 1)
