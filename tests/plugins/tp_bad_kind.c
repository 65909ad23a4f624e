/* An item of a kind the host does not know. */
#include "tp_common.h"

static const soma_item items[] = {{.size = sizeof(soma_item), .kind = (soma_kind)9,
                                   .name = "weird", .vtable = &tp_loss_vt}};
SOMA_PLUGIN_DEFINE(loss, kind, items, 1)
