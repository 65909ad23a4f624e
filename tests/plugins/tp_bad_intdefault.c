/* An INT parameter whose default is not an integer. */
#include "tp_common.h"

static const soma_param_spec params[] = {{.name = "count", .type = SOMA_PARAM_INT, .def_num = 2.5}};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_INIT,
                                   .name = "intdefault", .params = params, .n_params = 1,
                                   .vtable = &tp_init_vt}};
SOMA_PLUGIN_DEFINE(init, intdefault, items, 1)
