/* A descriptor with no items. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("noitems")};
SOMA_PLUGIN_DEFINE(loss, noitems, items, 0)
