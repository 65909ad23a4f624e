/* Good on its own; its 'test_m_s_e' is tp_good_loss's 'test_mse' once names
 * are normalised, so loading both is a duplicate. 'test_other' is not. */
#include "tp_common.h"

static const soma_item items[] = {TP_LOSS_ITEM("test_m_s_e"), TP_LOSS_ITEM("test_other")};
SOMA_PLUGIN_DEFINE(loss, test_dup, items, 2)
