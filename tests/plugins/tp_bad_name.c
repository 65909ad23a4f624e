/* Item 1 is fine, item 2 has a bad name: the file must register nothing. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("test_partial_ok"), TP_LOSS_ITEM("Bad-Name")};
SOMA_PLUGIN_DEFINE(loss, name, items, 2)
