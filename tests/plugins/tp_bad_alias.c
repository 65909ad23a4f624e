/* A CamelCase alias: the host matches those itself, plugins list snake_case. */
#include "tp_common.h"

static const char *const aliases[] = {"fine_alias", "BadAlias", NULL};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "aliased", .aliases = aliases,
                                   .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, alias, items, 1)
