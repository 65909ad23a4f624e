/* Descriptor size too small to hold even the ABI version. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("descsize")};
static const soma_plugin_desc desc = {.size = 4, .abi_major = SOMA_ABI_MAJOR,
                                      .items = items, .n_items = 1};
TP_ENTRY(&desc)
