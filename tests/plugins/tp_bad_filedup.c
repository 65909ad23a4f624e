/* Two losses in one file that answer to the same name once normalised. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("foo"), TP_LOSS_ITEM("f_oo")};
SOMA_PLUGIN_DEFINE(loss, filedup, items, 2)
