/* A 64-byte name, one more than allowed. */
#include "tp_common.h"

static const soma_item items[] = {
    TP_LOSS_ITEM("a123456789012345678901234567890123456789012345678901234567890123")};
SOMA_PLUGIN_DEFINE(loss, longname, items, 1)
