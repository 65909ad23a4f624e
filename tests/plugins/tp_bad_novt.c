/* An item without a vtable. */
#include "tp_common.h"

static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM,
                                   .name = "novt", .vtable = NULL}};
SOMA_PLUGIN_DEFINE(optim, novt, items, 1)
