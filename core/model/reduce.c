// Loss reduction, sample weights and rank alignment: done here once for every
// loss (custom ones included), so a loss plugin only computes per-row values.
#include <math.h>
#include <string.h>
#include <strings.h>

#include "model/model.h"

int soma_reduction_parse(const char *name, soma_reduction *out) {
    if (!name || !*name || strcasecmp(name, "sum_over_batch_size") == 0 ||
        strcasecmp(name, "mean") == 0 || strcasecmp(name, "auto") == 0) {
        *out = SOMA_REDUCE_SUM_OVER_BATCH;
    } else if (strcasecmp(name, "sum") == 0) {
        *out = SOMA_REDUCE_SUM;
    } else if (strcasecmp(name, "none") == 0) {
        *out = SOMA_REDUCE_NONE;
    } else if (strcasecmp(name, "mean_with_sample_weight") == 0) {
        *out = SOMA_REDUCE_MEAN_WITH_SAMPLE_WEIGHT;
    } else {
        return soma_error_set(SOMA_E_NOT_FOUND,
                              "unknown reduction '%s' (known: sum_over_batch_size, mean, sum, none, "
                              "mean_with_sample_weight)",
                              name);
    }
    return SOMA_OK;
}

void soma_align_ranks(soma_tview *yt, soma_tview *yp) {
    // Only when the ranks differ by exactly one and the longer ends in 1.
    soma_tview *lo = yt->ndim < yp->ndim ? yt : yp;
    soma_tview *hi = yt->ndim < yp->ndim ? yp : yt;
    if (hi->ndim - lo->ndim != 1 || hi->dims[hi->ndim - 1] != 1) return;
    if (lo->ndim == 1 || hi->ndim == SOMA_MAX_DIMS) {
        lo->dims[lo->ndim++] = 1; // expand the shorter
    } else {
        hi->ndim--; // squeeze the longer
    }
}

double soma_reduce_ex(soma_reduction red, const float *values, const float *w, const float *mask,
                      int64_t rows, double w_given_sum, float *d_values) {
    // Keras' apply_mask: for the averaging reductions valid rows weigh
    // total/valid (so the mean runs over valid rows only; 0/0 gives 0), for
    // the others the mask is a plain 0/1 weight.
    double mscale = 1;
    if (mask && (red == SOMA_REDUCE_SUM_OVER_BATCH)) {
        double valid = 0;
        for (int64_t r = 0; r < rows; r++) valid += mask[r];
        mscale = valid > 0 ? (double)rows / valid : 0;
    }
    double sum = 0, wsum = 0;
    for (int64_t r = 0; r < rows; r++) {
        double wr = (w ? w[r] : 1.0) * (mask ? mask[r] * mscale : 1.0);
        sum += (double)values[r] * wr;
        wsum += wr;
    }
    // sum_over_batch_size divides by the element count, not by Σw: a zero
    // weight still counts (KERAS.md §2.2); mean_with_sample_weight divides by
    // the weights as given (the merged mask when there are none).
    double div = 1;
    if (red == SOMA_REDUCE_SUM_OVER_BATCH) div = (double)rows;
    else if (red == SOMA_REDUCE_MEAN_WITH_SAMPLE_WEIGHT)
        div = mask ? wsum : w ? w_given_sum : (double)rows; // with a mask: the merged weights
    double scale = div != 0 ? 1.0 / div : 0.0; // divide_no_nan
    if (d_values)
        for (int64_t r = 0; r < rows; r++)
            d_values[r] = (float)((w ? w[r] : 1.0) * (mask ? mask[r] * mscale : 1.0) * scale);
    return sum * scale;
}

int soma_weights_expand(const soma_tensor *sw, int64_t n_samples, int64_t rows, float *w) {
    if (sw->numel == 1) {
        for (int64_t r = 0; r < rows; r++) w[r] = sw->data[0];
    } else if (sw->numel == rows) {
        memcpy(w, sw->data, (size_t)rows * sizeof(float));
    } else if (n_samples > 0 && sw->numel == n_samples && rows % n_samples == 0) {
        int64_t per = rows / n_samples;
        for (int64_t r = 0; r < rows; r++) w[r] = sw->data[r / per];
    } else {
        return soma_error_set(SOMA_E_SHAPE,
                              "sample_weight has %lld elements; expected 1, %lld (one per sample) "
                              "or %lld (one per loss row)",
                              (long long)sw->numel, (long long)n_samples, (long long)rows);
    }
    for (int64_t r = 0; r < rows; r++)
        if (!isfinite(w[r]))
            return soma_error_set(SOMA_E_NUMERIC, "sample_weight[%lld] is not finite", (long long)r);
    return SOMA_OK;
}

SOMA_API int soma_loss_eval(const char *spec, const char *reduction, const soma_tensor *y_true,
                            const soma_tensor *y_pred, const soma_tensor *sample_weight,
                            double *value, soma_tensor **values_out, soma_tensor **grad_out) {
    if (values_out) *values_out = NULL;
    if (grad_out) *grad_out = NULL;
    if (!spec || !y_true || !y_pred)
        return soma_error_set(SOMA_E_INVALID, "soma_loss_eval: loss, y_true and y_pred are required");
    soma_reduction red;
    int rc = soma_reduction_parse(reduction, &red);
    if (rc) return rc;
    soma_obj *loss;
    rc = soma_obj_create(SOMA_KIND_LOSS, spec, &loss);
    if (rc) return rc;
    soma_tview yt = soma_tensor_view(y_true), yp = soma_tensor_view(y_pred);
    soma_align_ranks(&yt, &yp);
    int64_t rows = soma_tview_rows(&yp);
    int64_t n_samples = yp.ndim > 0 ? yp.dims[0] : 1;
    float *vals = soma_calloc((size_t)(rows > 0 ? rows : 1), sizeof(float));
    float *w = soma_calloc((size_t)(rows > 0 ? rows : 1), sizeof(float));
    float *dvals = soma_calloc((size_t)(rows > 0 ? rows : 1), sizeof(float));
    soma_ctx ctx = soma_ctx_make(NULL);
    const soma_loss_vt *vt = soma_obj_loss(loss);
    soma_tensor *grad = NULL, *vt_out = NULL;
    float *mask = NULL;
    if (!vals || !w || !dvals) {
        rc = SOMA_E_NOMEM;
        goto done;
    }
    if (sample_weight && (rc = soma_weights_expand(sample_weight, n_samples, rows, w))) goto done;
    rc = vt->forward(&loss->inst, &ctx, &yt, &yp, vals);
    if (rc) {
        soma_error_prefix("loss '%s'", loss->item->name);
        goto done;
    }
    if (SOMA_VT_OPTIONAL(vt, mask)) {
        if (!(mask = soma_calloc((size_t)(rows > 0 ? rows : 1), sizeof(float)))) {
            rc = SOMA_E_NOMEM;
            goto done;
        }
        rc = vt->mask(&loss->inst, &ctx, &yt, &yp, mask);
        if (rc == SOMA_NO_MASK) {
            soma_free(mask);
            mask = NULL;
            rc = SOMA_OK;
        } else if (rc) {
            soma_error_prefix("loss '%s' mask", loss->item->name);
            goto done;
        }
    }
    double given = NAN;
    if (sample_weight) {
        given = 0;
        for (int64_t i = 0; i < sample_weight->numel; i++) given += sample_weight->data[i];
    }
    double v = soma_reduce_ex(red, vals, sample_weight ? w : NULL, mask, rows, given, dvals);
    if (value) *value = v;
    if (values_out) {
        // "none": the weighted per-row values, shaped like y_pred without its last axis.
        int64_t dims[SOMA_MAX_DIMS];
        int nd = yp.ndim > 0 ? yp.ndim - 1 : 0;
        for (int i = 0; i < nd; i++) dims[i] = yp.dims[i];
        if ((rc = soma_tensor_create(&vt_out, nd, dims, NULL))) goto done;
        for (int64_t r = 0; r < rows; r++)
            vt_out->data[r] = vals[r] * (sample_weight ? w[r] : 1.0f) * (mask ? mask[r] : 1.0f);
    }
    if (grad_out) {
        if (red == SOMA_REDUCE_NONE)
            for (int64_t r = 0; r < rows; r++) dvals[r] = (sample_weight ? w[r] : 1.0f) * (mask ? mask[r] : 1.0f);
        if ((rc = soma_tensor_create(&grad, y_pred->ndim, y_pred->dims, NULL))) goto done;
        rc = vt->backward(&loss->inst, &ctx, &yt, &yp, dvals, grad->data);
        if (rc) {
            soma_error_prefix("loss '%s'", loss->item->name);
            goto done;
        }
    }
done:
    if (rc) {
        soma_tensor_free(grad);
        soma_tensor_free(vt_out);
    } else {
        if (grad_out) *grad_out = grad;
        if (values_out) *values_out = vt_out;
    }
    soma_free(vals);
    soma_free(w);
    soma_free(dvals);
    soma_free(mask);
    soma_obj_free(loss);
    return rc;
}
