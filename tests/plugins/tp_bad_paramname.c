/* A parameter name that is not snake_case. */
#include "tp_common.h"

static const soma_param_spec params[] = {{.name = "learningRate", .type = SOMA_PARAM_FLOAT}};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM,
                                   .name = "paramname", .params = params, .n_params = 1,
                                   .vtable = &tp_optim_vt}};
SOMA_PLUGIN_DEFINE(optim, paramname, items, 1)
