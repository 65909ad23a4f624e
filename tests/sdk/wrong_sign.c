/* wrong_sign.c — a deliberately wrong loss for `soma plugin check`: mean
 * squared error whose backward returns minus the derivative. The check must
 * fail it on the gradient and say the sign is wrong (tests/test_sdk.c). */
#include <soma/plugin.h>

static int fwd(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
               const soma_tview *yp, float *values) {
    (void)self;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    if (soma_tview_numel(yt) != rows * cols)
        return ctx->host->set_error(SOMA_E_SHAPE, "y_true and y_pred differ in size");
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double e = (double)yp->data[r * cols + c] - yt->data[r * cols + c];
            s += e * e;
        }
        values[r] = (float)(s / (double)cols);
    }
    return SOMA_OK;
}

static int bwd(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
               const soma_tview *yp, const float *d_values, float *d_y_pred) {
    (void)self;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    if (soma_tview_numel(yt) != rows * cols)
        return ctx->host->set_error(SOMA_E_SHAPE, "y_true and y_pred differ in size");
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            // The bug: y_true - y_pred instead of y_pred - y_true.
            d_y_pred[i] = (float)(d_values[r] * 2.0 * ((double)yt->data[i] - yp->data[i]) /
                                  (double)cols);
        }
    return SOMA_OK;
}

static const soma_loss_vt vt = {.size = sizeof vt, .name = "wrong_sign", .forward = fwd,
                                .backward = bwd};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "wrong_sign", .vtable = &vt,
                                   .doc = "mean squared error with a sign error in backward"}};
SOMA_PLUGIN_DEFINE(loss, wrong_sign, items, 1)
