/* A parameter of an unknown type. */
#include "tp_common.h"

static const soma_param_spec params[] = {
    {.name = "rate", .type = SOMA_PARAM_FLOAT, .def_num = 1},
    {.name = "shape", .type = (soma_param_type)7},
};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "paramtype", .params = params, .n_params = 2,
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, paramtype, items, 1)
