/* An optimizer without step. */
#include "tp_common.h"

static const soma_optim_vt vt = {.size = sizeof vt, .name = "nostep"};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM,
                                   .name = "nostep", .vtable = &vt}};
SOMA_PLUGIN_DEFINE(optim, nostep, items, 1)
