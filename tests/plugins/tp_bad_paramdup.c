/* The same parameter declared twice. */
#include "tp_common.h"

static const soma_param_spec params[] = {
    {.name = "rate", .type = SOMA_PARAM_FLOAT, .def_num = 1},
    {.name = "other", .type = SOMA_PARAM_INT, .def_num = 1},
    {.name = "rate", .type = SOMA_PARAM_FLOAT, .def_num = 2},
};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "paramdup", .params = params, .n_params = 3,
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, paramdup, items, 1)
