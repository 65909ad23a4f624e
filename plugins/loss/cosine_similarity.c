/* cosine_similarity — Keras' CosineSimilarity: per row
 * -Σ l2n(y)·l2n(p), l2n(x) = x · rsqrt(max(Σx², eps²)). Identical directions
 * give -1, opposite +1, a zero vector 0. */
#include <soma/plugin.h>

#include <math.h>

enum { P_AXIS };

static const soma_param_spec params[] = {
    {.name = "axis", .type = SOMA_PARAM_INT, .def_num = -1,
     .doc = "axis along which the similarity is computed (only -1)"},
};

// Keras' backend epsilon; its square is the floor of the squared norm.
static const double EPS = 1e-7;

static int cos_create(const soma_host *host, const soma_param_value *pv,
                      void **state) {
    *state = NULL;
    if (pv[P_AXIS].num != -1)
        return host->set_error(SOMA_E_UNSUPPORTED,
                               "axis=%g is not supported: only axis=-1 (the "
                               "last axis) is implemented",
                               pv[P_AXIS].num);
    return SOMA_OK;
}

static int check_shapes(const soma_ctx *ctx, const soma_tview *yt,
                        const soma_tview *yp) {
    if (soma_tview_numel(yt) == soma_tview_numel(yp) &&
        soma_tview_cols(yt) == soma_tview_cols(yp))
        return SOMA_OK;
    return ctx->host->set_error(
        SOMA_E_SHAPE,
        "y_true (%lld elements, last dim %lld) does not match y_pred "
        "(%lld elements, last dim %lld)",
        (long long)soma_tview_numel(yt), (long long)soma_tview_cols(yt),
        (long long)soma_tview_numel(yp), (long long)soma_tview_cols(yp));
}

// 1/max(‖x‖, eps), and whether the eps floor is what decided it (then the
// factor is a constant and does not contribute to the gradient).
static double inv_norm(const float *x, int64_t n, double *sq, int *floored) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    *sq = s;
    // Keras compares in float32, where eps² rounds to 1e-14f.
    double floor_sq = (double)(float)(EPS * EPS);
    *floored = !(s > floor_sq);
    return 1.0 / sqrt(*floored ? floor_sq : s);
}

static int cos_forward(const soma_instance *self, const soma_ctx *ctx,
                       const soma_tview *yt, const soma_tview *yp,
                       float *values) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        double sq_t, sq_p;
        int ft, fp;
        double it = inv_norm(t, cols, &sq_t, &ft);
        double ip = inv_norm(p, cols, &sq_p, &fp);
        double dot = 0;
        for (int64_t c = 0; c < cols; c++) dot += (double)t[c] * p[c];
        values[r] = (float)(-dot * it * ip);
    }
    return SOMA_OK;
}

/* With u = y/‖y‖ (floored) and s = Σp²: when s is above the floor,
 * ∂(-u·p/√s)/∂p_k = -(u_k - (u·p̂) p̂_k)/√s with p̂ = p/√s; when the floor is
 * active the normaliser is the constant 1/eps and the derivative is -u_k/eps. */
static int cos_backward(const soma_instance *self, const soma_ctx *ctx,
                        const soma_tview *yt, const soma_tview *yp,
                        const float *dv, float *dyp) {
    (void)self;
    int rc = check_shapes(ctx, yt, yp);
    if (rc) return rc;
    int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt->data + r * cols, *p = yp->data + r * cols;
        float *g = dyp + r * cols;
        double sq_t, sq_p;
        int ft, fp;
        double it = inv_norm(t, cols, &sq_t, &ft);
        double ip = inv_norm(p, cols, &sq_p, &fp);
        double up = 0; // u · p̂
        for (int64_t c = 0; c < cols; c++) up += (double)t[c] * it * p[c] * ip;
        for (int64_t c = 0; c < cols; c++) {
            double u = (double)t[c] * it;
            double d = fp ? -u * ip : -(u - up * (double)p[c] * ip) * ip;
            g[c] = (float)(dv[r] * d);
        }
    }
    return SOMA_OK;
}

static const soma_loss_vt cos_vt = {
    .size = sizeof(soma_loss_vt),
    .name = "cosine_similarity",
    .create = cos_create,
    .forward = cos_forward,
    .backward = cos_backward,
};

static const soma_item items[] = {{
    .size = sizeof(soma_item),
    .kind = SOMA_KIND_LOSS,
    .name = "cosine_similarity",
    .doc = "negative cosine similarity along the last axis (-1 best, +1 worst)",
    .params = params,
    .n_params = 1,
    .vtable = &cos_vt,
}};

SOMA_PLUGIN_DEFINE(loss, cosine_similarity, items, 1)
