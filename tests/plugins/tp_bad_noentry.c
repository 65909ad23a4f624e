/* Exports no soma_plugin_entry (the uniquely named entry only). */
#define SOMA_PLUGIN_STATIC
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("noentry")};
SOMA_PLUGIN_DEFINE(loss, noentry, items, 1)
