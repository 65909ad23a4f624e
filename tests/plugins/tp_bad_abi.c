/* Built for a future ABI major. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("abi")};
static const soma_plugin_desc desc = {.size = sizeof desc, .abi_major = 2, .abi_minor = 0,
                                      .items = items, .n_items = 1};
TP_ENTRY(&desc)
