/* An item without a name. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM(NULL)};
SOMA_PLUGIN_DEFINE(loss, nullname, items, 1)
