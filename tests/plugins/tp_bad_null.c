/* The entry point says "not usable here" by returning NULL. */
#include "tp_common.h"

TP_ENTRY(NULL)
