/* n_params says 2 but there is no schema. */
#include "tp_common.h"

static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "paramsnull", .params = NULL, .n_params = 2,
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, paramsnull, items, 1)
