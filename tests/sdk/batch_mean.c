/* batch_mean.c — a deliberately wrong loss for `soma plugin check`: it
 * writes the mean squared error of the whole batch into every row, so the
 * host's reduction averages over rows a second time. Its backward matches
 * its forward, so only the per-row check can catch it (tests/test_sdk.c). */
#include <soma/plugin.h>

static double batch_mse(const soma_tview *yt, const soma_tview *yp) {
    int64_t n = soma_tview_numel(yp);
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)yp->data[i] - yt->data[i];
        s += e * e;
    }
    return n ? s / (double)n : 0;
}

static int fwd(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
               const soma_tview *yp, float *values) {
    (void)self;
    if (soma_tview_numel(yt) != soma_tview_numel(yp))
        return ctx->host->set_error(SOMA_E_SHAPE, "y_true and y_pred differ in size");
    double m = batch_mse(yt, yp); // the bug: every row gets the batch's value
    for (int64_t r = 0; r < soma_tview_rows(yp); r++) values[r] = (float)m;
    return SOMA_OK;
}

static int bwd(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
               const soma_tview *yp, const float *d_values, float *d_y_pred) {
    (void)self;
    if (soma_tview_numel(yt) != soma_tview_numel(yp))
        return ctx->host->set_error(SOMA_E_SHAPE, "y_true and y_pred differ in size");
    int64_t n = soma_tview_numel(yp);
    double dsum = 0;
    for (int64_t r = 0; r < soma_tview_rows(yp); r++) dsum += d_values[r];
    for (int64_t i = 0; i < n; i++)
        d_y_pred[i] = (float)(dsum * 2.0 * ((double)yp->data[i] - yt->data[i]) / (double)n);
    return SOMA_OK;
}

static const soma_loss_vt vt = {.size = sizeof vt, .name = "batch_mean", .forward = fwd,
                                .backward = bwd};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "batch_mean", .vtable = &vt,
                                   .doc = "mean squared error of the whole batch in every row"}};
SOMA_PLUGIN_DEFINE(loss, batch_mean, items, 1)
