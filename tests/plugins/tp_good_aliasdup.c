/* Good on its own; its alias 't_mse' collides with tp_good_loss's alias
 * 'tmse'. */
#include "tp_common.h"

static const char *const aliases[] = {"t_mse", NULL};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "totally_new", .aliases = aliases,
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, totally_new, items, 1)
