// Metrics as Keras computes them (KERAS.md §4): accuracy resolved from
// shapes, the explicit accuracies, top-k, and any loss used as a metric. Each
// gives one value per sample; the caller keeps the running mean (unweighted:
// compile's metrics= never see sample weights).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

soma_acc_kind soma_accuracy_resolve(const soma_tview *yt, const soma_tview *yp) {
    int64_t pc = soma_tview_cols(yp), tc = soma_tview_cols(yt);
    if (pc == 1) return SOMA_ACC_BINARY;
    if (yt->ndim < yp->ndim || (tc == 1 && pc > 1)) return SOMA_ACC_SPARSE;
    return SOMA_ACC_CATEGORICAL;
}

// First index of the maximum (ties resolve to the first, as argmax does).
static int64_t argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

// TF's in_top_k: the target is in the top k when fewer than k classes score
// strictly higher (ties at the boundary count as in), and never for a
// non-finite score.
static bool in_top_k(const float *p, int64_t n, int64_t target, int64_t k) {
    if (target < 0 || target >= n || !isfinite(p[target])) return false;
    int64_t higher = 0;
    for (int64_t j = 0; j < n; j++) higher += p[j] > p[target];
    return higher < k;
}

static int64_t label_of(float v) { return v == floorf(v) && fabsf(v) < 1e9f ? (int64_t)v : -1; }

// Per-row values of an accuracy kind into out (rows floats).
static void accuracy_rows(soma_acc_kind kind, const soma_tview *yt, const soma_tview *yp, int64_t k,
                          double threshold, float *out) {
    int64_t rows = soma_tview_rows(yp), pc = soma_tview_cols(yp), tc = soma_tview_cols(yt);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = yp->data + r * pc;
        const float *t = yt->data + r * tc;
        switch (kind) {
        case SOMA_ACC_BINARY: {
            // Strictly greater: 0.5 counts as class 0; mean over the last axis.
            double c = 0;
            for (int64_t j = 0; j < pc; j++) c += t[j] == (p[j] > threshold ? 1.0f : 0.0f);
            out[r] = (float)(c / (double)pc);
            break;
        }
        case SOMA_ACC_SPARSE: out[r] = label_of(yt->data[r]) == argmax(p, pc); break;
        case SOMA_ACC_CATEGORICAL: out[r] = argmax(t, tc) == argmax(p, pc); break;
        case SOMA_ACC_TOP_K: out[r] = in_top_k(p, pc, argmax(t, tc), k); break;
        case SOMA_ACC_SPARSE_TOP_K: out[r] = in_top_k(p, pc, label_of(yt->data[r]), k); break;
        default: out[r] = 0; break;
        }
    }
}

// ---- metric specs ----------------------------------------------------------------

static const soma_param_spec threshold_p[] = {
    {.name = "threshold", .type = SOMA_PARAM_FLOAT, .def_num = 0.5, .doc = "predictions > threshold are 1"}};
static const soma_param_spec k_p[] = {
    {.name = "k", .type = SOMA_PARAM_INT, .def_num = 5, .doc = "how many top predictions count"}};
static const char *const acc_alias[] = {"acc", NULL};

#define MITEM(n, al, ps, np, d) {.size = sizeof(soma_item), .kind = SOMA_KIND_METRIC, .name = n, \
                                 .aliases = al, .doc = d, .params = ps, .n_params = np}
static const soma_item metric_items[] = {
    [SOMA_ACC_UNRESOLVED] = MITEM("accuracy", acc_alias, NULL, 0, "resolved from shapes as Keras does"),
    [SOMA_ACC_BINARY] = MITEM("binary_accuracy", NULL, threshold_p, 1, "y_true == (y_pred > threshold)"),
    [SOMA_ACC_SPARSE] = MITEM("sparse_categorical_accuracy", NULL, NULL, 0, "y_true == argmax(y_pred)"),
    [SOMA_ACC_CATEGORICAL] = MITEM("categorical_accuracy", NULL, NULL, 0, "argmax(y_true) == argmax(y_pred)"),
    [SOMA_ACC_TOP_K] = MITEM("top_k_categorical_accuracy", NULL, k_p, 1, "argmax(y_true) in the top k"),
    [SOMA_ACC_SPARSE_TOP_K] = MITEM("sparse_top_k_categorical_accuracy", NULL, k_p, 1, "y_true in the top k"),
};
#define N_METRIC_ITEMS ((int)(sizeof metric_items / sizeof metric_items[0]))

int soma_metric_create(const char *spec, soma_metric *out) {
    memset(out, 0, sizeof *out);
    // The display name is the name as written, without parameters (Keras
    // keeps the user's 'acc' or 'accuracy').
    size_t n = strcspn(spec, "( ");
    snprintf(out->name, sizeof out->name, "%.*s", (int)(n < sizeof out->name ? n : sizeof out->name - 1), spec);
    // One of the core's metric names, or else any loss (mse, mae, ...): the
    // mean of its per-sample values.
    const soma_item *loss_item;
    if (soma_static_find(out->name, metric_items, N_METRIC_ITEMS) < 0) {
        if (soma_registry_find(SOMA_KIND_LOSS, out->name, &loss_item, NULL) != SOMA_OK) {
            char known[512] = "";
            for (int i = 0; i < N_METRIC_ITEMS; i++) {
                size_t l = strlen(known);
                snprintf(known + l, sizeof known - l, "%s, ", metric_items[i].name);
            }
            return soma_error_set(SOMA_E_NOT_FOUND, "unknown metric '%s' (known: %sacc, or any loss name)",
                                  out->name, known);
        }
        int rc = soma_obj_create(SOMA_KIND_LOSS, spec, &out->loss);
        if (rc) return soma_error_prefix("metric '%s'", out->name);
        out->kind = SOMA_ACC_LOSS;
        return SOMA_OK;
    }
    soma_obj *o = NULL;
    int rc = soma_obj_create_static(SOMA_KIND_METRIC, spec, metric_items, N_METRIC_ITEMS, &o);
    if (rc) return rc;
    out->kind = (soma_acc_kind)(o->item - metric_items);
    out->threshold = 0.5;
    out->k = 5;
    if (o->item->params == threshold_p) out->threshold = o->values[0].num;
    if (o->item->params == k_p) out->k = (int64_t)o->values[0].num;
    soma_obj_free(o);
    if (out->k < 1) return soma_error_set(SOMA_E_INVALID, "metric '%s': k must be >= 1", out->name);
    return SOMA_OK;
}

void soma_metric_free(soma_metric *m) {
    soma_obj_free(m->loss);
    m->loss = NULL;
}

int soma_metric_update(soma_metric *m, const soma_tview *yt, const soma_tview *yp, float *scratch,
                       double *sum) {
    int64_t rows = soma_tview_rows(yp);
    if (m->kind == SOMA_ACC_LOSS) {
        soma_ctx ctx = soma_ctx_make(NULL);
        int rc = soma_obj_loss(m->loss)->forward(&m->loss->inst, &ctx, yt, yp, scratch);
        if (rc) return soma_error_prefix("metric '%s'", m->name);
    } else {
        soma_acc_kind k = m->kind;
        if (k == SOMA_ACC_UNRESOLVED) {
            if (m->resolved == SOMA_ACC_UNRESOLVED) m->resolved = soma_accuracy_resolve(yt, yp);
            k = m->resolved;
        }
        if ((k == SOMA_ACC_SPARSE || k == SOMA_ACC_SPARSE_TOP_K) && soma_tview_numel(yt) != rows)
            return soma_error_set(SOMA_E_SHAPE, "metric '%s' needs one label per sample, y has %lld values for %lld samples",
                                  m->name, (long long)soma_tview_numel(yt), (long long)rows);
        if ((k == SOMA_ACC_CATEGORICAL || k == SOMA_ACC_TOP_K || k == SOMA_ACC_BINARY) &&
            soma_tview_numel(yt) != soma_tview_numel(yp))
            return soma_error_set(SOMA_E_SHAPE, "metric '%s' needs y_true shaped like y_pred (%lld vs %lld values)",
                                  m->name, (long long)soma_tview_numel(yt), (long long)soma_tview_numel(yp));
        accuracy_rows(k, yt, yp, m->k, m->threshold, scratch);
    }
    double s = 0;
    for (int64_t r = 0; r < rows; r++) s += scratch[r];
    *sum += s;
    return SOMA_OK;
}
