/* A good loss for the loader and spec tests: scale · mean((y_true - y_pred)²)
 * per row, with one parameter of every type and a create/destroy pair whose
 * balance the tests read through tp_good_loss_live. */
#include "tp_common.h"

enum { P_SCALE, P_REPS, P_FLAG, P_MODE, P_NOTE, N_PARAMS };
static const soma_param_spec params[N_PARAMS] = {
    [P_SCALE] = {.name = "scale", .type = SOMA_PARAM_FLOAT, .def_num = 1.0, .doc = "factor > 0"},
    [P_REPS] = {.name = "reps", .type = SOMA_PARAM_INT, .def_num = 3, .doc = "an integer"},
    [P_FLAG] = {.name = "flag", .type = SOMA_PARAM_BOOL, .def_num = 0, .doc = "a switch"},
    [P_MODE] = {.name = "mode", .type = SOMA_PARAM_STRING, .def_str = "mean", .doc = "a word"},
    [P_NOTE] = {.name = "note", .type = SOMA_PARAM_STRING, .def_str = NULL, .doc = "unset"},
};

// Live states: create adds one, destroy takes one away.
SOMA_PLUGIN_EXPORT int tp_good_loss_live;

static int create(const soma_host *host, const soma_param_value *p, void **state) {
    double scale = p[P_SCALE].num;
    if (!(scale > 0)) return host->set_error(SOMA_E_INVALID, "scale must be > 0, got %g", scale);
    // Test hooks: a create that forgets set_error, and one returning junk.
    if (p[P_REPS].num == 99) return SOMA_E_INVALID;
    if (p[P_REPS].num == 98) return 1;
    double *s = host->alloc(sizeof *s, 0);
    if (!s) return host->set_error(SOMA_E_NOMEM, "no memory");
    *s = scale;
    *state = s;
    tp_good_loss_live++;
    return SOMA_OK;
}

static void destroy(const soma_host *host, void *state) {
    host->free(state);
    tp_good_loss_live--;
}

static int forward(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
                   const soma_tview *yp, float *out) {
    (void)ctx;
    double scale = *(const double *)self->state;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double e = (double)yt->data[r * cols + c] - yp->data[r * cols + c];
            s += e * e;
        }
        out[r] = (float)(scale * s / (double)cols);
    }
    return SOMA_OK;
}

static int backward(const soma_instance *self, const soma_ctx *ctx, const soma_tview *yt,
                    const soma_tview *yp, const float *dv, float *dyp) {
    (void)ctx;
    double scale = *(const double *)self->state;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            int64_t i = r * cols + c;
            dyp[i] = (float)(dv[r] * scale * 2.0 * ((double)yp->data[i] - yt->data[i]) / (double)cols);
        }
    return SOMA_OK;
}

static const soma_loss_vt vt = {.size = sizeof vt, .name = "test_mse", .create = create,
                                 .destroy = destroy, .forward = forward, .backward = backward};
static const char *const aliases[] = {"tmse", NULL};
static const soma_item items[] = {{.size = sizeof(soma_item), .kind = SOMA_KIND_LOSS,
                                   .name = "test_mse", .aliases = aliases,
                                   .doc = "scaled mean squared error", .params = params,
                                   .n_params = N_PARAMS, .vtable = &vt}};
SOMA_PLUGIN_DEFINE(loss, test_mse, items, 1)
