/* n_items 1 but no items array. */
#include "tp_common.h"

SOMA_PLUGIN_DEFINE(loss, itemsnull, NULL, 1)
