/* A good file with three items of two kinds; its init 'test_mse' shares a
 * name with tp_good_loss's loss, which is allowed across kinds. */
#include "tp_common.h"

static const soma_param_spec sgd_params[] = {
    {.name = "learning_rate", .type = SOMA_PARAM_FLOAT, .def_num = 0.01, .doc = "step"},
    {.name = "momentum", .type = SOMA_PARAM_FLOAT, .def_num = 0.0, .doc = "momentum"},
    {.name = "nesterov", .type = SOMA_PARAM_BOOL, .def_num = 0, .doc = "Nesterov"},
    {.name = "name", .type = SOMA_PARAM_STRING, .def_str = "SGD", .doc = "label"},
};
static const char *const ones_aliases[] = {"unit_fill", "all_ones", NULL};
static const soma_item items[] = {
    {.size = sizeof(soma_item), .kind = SOMA_KIND_OPTIM, .name = "test_sgd",
     .doc = "plain SGD", .params = sgd_params, .n_params = 4, .vtable = &tp_optim_vt},
    {.size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "test_ones",
     .aliases = ones_aliases, .doc = "ones", .vtable = &tp_init_vt},
    {.size = sizeof(soma_item), .kind = SOMA_KIND_INIT, .name = "test_mse",
     .doc = "an init sharing a loss's name", .vtable = &tp_init_vt},
};
SOMA_PLUGIN_DEFINE(optim, test_multi, items, 3)
