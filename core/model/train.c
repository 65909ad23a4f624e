// fit / evaluate / predict. One training step walks the layers down and back
// once over planned buffers: no allocation, no file access, no threads started.
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/fpenv.h"
#include "model/model.h"
#include "thread/pool.h"

// Stream ids for shuffling sit above the ones layers use for initial weights
// (2·layer, 2·layer + 1), so the two never share random numbers.
#define SHUFFLE_STREAM_BASE (UINT64_C(1) << 40)

SOMA_API soma_fit_config soma_fit_defaults(void) {
    return (soma_fit_config){.epochs = 1, .batch_size = 32, .shuffle = 1,
                             .validation_split = 0.0, .verbose = 1};
}

// The index of the first float in [first, end) that is not finite, or end.
// Blocks are tested with integer operations on the exponent bits, which the
// compiler vectorizes (isfinite with an early exit it does not); only a bad
// block is searched.
static int64_t first_nonfinite(const float *data, int64_t first, int64_t end) {
    enum { BLOCK = 1024 };
    for (int64_t b = first; b < end; b += BLOCK) {
        int64_t e = end - b < BLOCK ? end - b : BLOCK;
        uint32_t bad = 0;
        for (int64_t i = 0; i < e; i++) {
            uint32_t u;
            memcpy(&u, data + b + i, sizeof u);
            bad |= (u & 0x7f800000u) == 0x7f800000u;
        }
        if (!bad) continue;
        for (int64_t i = b; i < b + e; i++)
            if (!isfinite(data[i])) return i;
    }
    return end;
}

// Above this many floats the scan is shared by the threads, each taking the
// rows the GEMMs that follow give it (both split rows evenly), so the data
// comes from memory into the cache of the core that reads it next.
#define PARALLEL_CHECK_MIN 65536
typedef struct check_job {
    const float *data;
    int64_t first, width;
    _Atomic int64_t bad; // the smallest index found
} check_job;
static void check_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    check_job *j = arg;
    int64_t lo = j->first + begin * j->width, hi = j->first + end * j->width;
    int64_t i = first_nonfinite(j->data, lo, hi);
    if (i == hi) return;
    int64_t cur = atomic_load(&j->bad);
    while (i < cur && !atomic_compare_exchange_weak(&j->bad, &cur, i)) {
    }
}

// Floats [first, end) of data, whole rows of `width`, must be finite; the
// first that is not is named by sample and position.
static int check_finite(const float *data, int64_t first, int64_t end, int64_t width, const char *what,
                        const char *name, const char *col) {
    int64_t i;
    if (end - first >= PARALLEL_CHECK_MIN && soma_pool_threads() > 1) {
        check_job j = {.data = data, .first = first, .width = width, .bad = end};
        soma_parallel_for(NULL, (end - first) / width, check_range, &j);
        i = atomic_load(&j.bad);
    } else {
        i = first_nonfinite(data, first, end);
    }
    if (i == end) return SOMA_OK;
    return soma_error_set(SOMA_E_NUMERIC, "%s: %s[sample %lld, %s%s%lld] is %s", what, name,
                          (long long)(i / width), col, *col ? " " : "", (long long)(i % width),
                          isnan(data[i]) ? "NaN" : "infinite");
}

// Checks x/y against the model and each other; builds the model if needed.
// check_x = false leaves x's values to the caller (predict checks each batch
// just before it reads it, so the data comes from memory once).
static int check_data(soma_model *m, const soma_tensor *x, const soma_tensor *y, const char *what,
                      bool check_x) {
    if (!x) return soma_error_set(SOMA_E_INVALID, "%s: x is NULL", what);
    if (x->ndim < 1) return soma_error_set(SOMA_E_SHAPE, "%s: x must have a batch axis", what);
    int64_t n = x->dims[0];
    if (n <= 0) return soma_error_set(SOMA_E_SHAPE, "%s: x has no samples", what);
    int64_t feat = x->numel / n;
    if (m->in_features && feat != m->in_features) {
        char a[96], b[96];
        return soma_error_set(SOMA_E_SHAPE, "%s: x has shape %s (%lld features per sample) but the "
                              "model's input has %lld features %s", what,
                              soma_shape_str(x->ndim, x->dims, a, sizeof a), (long long)feat,
                              (long long)m->in_features,
                              m->input_ndim ? soma_shape_str(m->input_ndim, m->input_shape, b, sizeof b) : "");
    }
    if (!m->built) {
        int rc = soma_model_build(m, feat);
        if (rc) return rc;
    }
    if (check_x) {
        int rc = check_finite(x->data, 0, x->numel, feat, what, "x", "feature");
        if (rc) return rc;
    }
    if (y) {
        if (y->ndim < 1 || y->dims[0] != n)
            return soma_error_set(SOMA_E_SHAPE, "%s: x has %lld samples but y has %lld", what,
                                  (long long)n, (long long)(y->ndim ? y->dims[0] : 0));
        int rc = check_finite(y->data, 0, y->numel, y->numel / n, what, "y", "");
        if (rc) return rc;
    }
    return SOMA_OK;
}

typedef struct batch_stats {
    double loss_sum;      // Σ batch loss × batch rows
    int64_t rows;         // rows seen
    double metric_sum[SOMA_MAX_METRICS]; // Σ per-sample metric values
} batch_stats;

static void add_logs(const soma_model *m, const batch_stats *s, soma_logs *logs, const char *prefix) {
    char name[48];
    snprintf(name, sizeof name, "%sloss", prefix);
    soma_logs_set(logs, name, s->rows ? s->loss_sum / (double)s->rows : 0);
    for (int i = 0; i < m->n_metrics; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, m->metrics[i].name);
        soma_logs_set(logs, name, s->rows ? s->metric_sum[i] / (double)s->rows : 0);
    }
}

// dL/dlogits of softmax + crossentropy in one stable step: d_values[r]·(p·Σy − y)
// per row (Σy = 1 for one-hot or sparse labels), y label-smoothed for CCE as
// Keras does (y(1−ls) + ls/C). Masked rows get 0. The forward pass already
// validated the labels.
static void softmax_ce_grad(const soma_model *m, const soma_tview *yt, const float *p, const float *dv,
                            const float *mask, float *dz, int64_t rows, int64_t classes) {
    float ls = (float)m->ce_smoothing, off = ls / (float)classes;
    for (int64_t r = 0; r < rows; r++) {
        const float *pr = p + r * classes;
        float *g = dz + r * classes;
        float d = dv[r];
        if ((mask && mask[r] == 0) || d == 0) {
            memset(g, 0, (size_t)classes * sizeof(float));
            continue;
        }
        if (m->ce_sparse) {
            int64_t k = (int64_t)yt->data[r];
            for (int64_t c = 0; c < classes; c++) g[c] = d * pr[c];
            g[k] -= d;
        } else {
            const float *y = yt->data + r * classes;
            float sum = 0;
            for (int64_t c = 0; c < classes; c++) sum += y[c] * (1 - ls) + off;
            for (int64_t c = 0; c < classes; c++) g[c] = d * (pr[c] * sum - (y[c] * (1 - ls) + off));
        }
    }
}

// Rows of a shuffled batch are scattered over the whole data set, far out of
// cache: each row's cache lines are requested a few rows ahead so that
// several rows are in flight from memory at once instead of one.
#define GATHER_AHEAD 4
static void gather_rows(float *dst, const float *src, int64_t width, const int64_t *idx, int64_t b) {
    const size_t bytes = (size_t)width * sizeof(float);
    for (int64_t r = -GATHER_AHEAD; r < b; r++) {
        if (r + GATHER_AHEAD < b) {
            const char *ahead = (const char *)(src + idx[r + GATHER_AHEAD] * width);
            for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(ahead + o);
        }
        if (r >= 0) memcpy(dst + r * width, src + idx[r] * width, bytes);
    }
}

// Threads gather rows side by side from this many floats (a batch of 32
// images and more): each keeps its own rows in flight from memory.
#define PARALLEL_GATHER_MIN 16384
typedef struct gather_job {
    float *dst;
    const float *src;
    int64_t width;
    const int64_t *idx;
} gather_job;
static void gather_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    (void)thread_index;
    const gather_job *g = arg;
    gather_rows(g->dst + begin * g->width, g->src, g->width, g->idx + begin, end - begin);
}

// One batch: gather rows idx[0..b), forward, loss, and when training backward
// and one optimizer step.
static int run_batch(soma_model *m, const soma_tensor *x, const soma_tensor *y,
                     const soma_tensor *sw, const int64_t *idx, int64_t b, bool train,
                     batch_stats *st) {
    int64_t feat = m->in_features, yc = y->numel / y->dims[0];
    double t0 = train ? soma_now() : 0;
    if (b * feat >= PARALLEL_GATHER_MIN && soma_pool_threads() > 1) {
        gather_job job = {m->x_batch, x->data, feat, idx};
        soma_parallel_for(NULL, b, gather_range, &job);
    } else {
        gather_rows(m->x_batch, x->data, feat, idx, b);
    }
    gather_rows(m->y_batch, y->data, yc, idx, b);
    double t1 = train ? soma_now() : 0;
    float *out = soma_model_forward(m, m->x_batch, b);
    double t2 = train ? soma_now() : 0;
    int64_t classes = soma_model_out_features(m);
    soma_tview yp = {.data = out, .ndim = 2, .dims = {b, classes}};
    soma_tview yt = {.data = m->y_batch, .ndim = y->ndim};
    yt.dims[0] = b;
    for (int i = 1; i < y->ndim; i++) yt.dims[i] = y->dims[i];
    soma_align_ranks(&yt, &yp);
    int64_t rows = soma_tview_rows(&yp);
    if (sw)
        for (int64_t r = 0; r < b; r++) m->w_batch[r] = sw->data[idx[r]];
    const soma_loss_vt *lvt = soma_obj_loss(m->loss);
    soma_ctx ctx = soma_ctx_make(NULL);
    int rc = lvt->forward(&m->loss->inst, &ctx, &yt, &yp, m->loss_values);
    if (rc) return soma_error_prefix("loss '%s'", m->loss->item->name);
    float *mask = NULL;
    if (SOMA_VT_OPTIONAL(lvt, mask)) {
        mask = m->mask_batch;
        rc = lvt->mask(&m->loss->inst, &ctx, &yt, &yp, mask);
        if (rc == SOMA_NO_MASK) {
            mask = NULL;
            rc = SOMA_OK;
        } else if (rc) {
            return soma_error_prefix("loss '%s' mask", m->loss->item->name);
        }
    }
    double wsum = NAN;
    if (sw) {
        wsum = 0;
        for (int64_t r = 0; r < b; r++) wsum += m->w_batch[r];
    }
    double loss = soma_reduce_ex(m->reduction, m->loss_values, sw ? m->w_batch : NULL, mask, rows, wsum,
                                 m->d_values);
    if (!isfinite(loss))
        return soma_error_set(SOMA_E_NUMERIC, "loss is %s", isnan(loss) ? "NaN" : "infinite");
    st->loss_sum += loss * (double)b;
    st->rows += b;
    for (int i = 0; i < m->n_metrics; i++)
        if ((rc = soma_metric_update(&m->metrics[i], &yt, &yp, m->metric_scratch, &st->metric_sum[i])))
            return rc;
    if (!train) return SOMA_OK;
    float *dout = m->dacts[m->n_layers - 1];
    if (m->fuse_softmax_ce) {
        softmax_ce_grad(m, &yt, out, m->d_values, mask, dout, b, classes);
    } else {
        rc = lvt->backward(&m->loss->inst, &ctx, &yt, &yp, m->d_values, dout);
        if (rc) return soma_error_prefix("loss '%s' backward", m->loss->item->name);
    }
    double t3 = soma_now();
    for (int i = m->n_layers - 1; i >= 0; i--) {
        soma_layer *l = m->layers[i];
        l->vt->backward(l, i ? m->acts[i - 1] : m->x_batch, m->acts[i], m->dacts[i],
                        i ? m->dacts[i - 1] : NULL, b);
    }
    double t4 = soma_now();
    rc = soma_optimizer_apply(m->optim, m->ptensors, m->n_ptensors);
    double t5 = soma_now();
    soma_fit_timings *tm = &m->timings;
    tm->data_s += t1 - t0;
    tm->forward_s += t2 - t1;
    tm->loss_s += t3 - t2;
    tm->backward_s += t4 - t3;
    tm->optimizer_s += t5 - t4;
    tm->steps++;
    return rc;
}

static int evaluate_range(soma_model *m, const soma_tensor *x, const soma_tensor *y, int64_t first,
                          int64_t count, int64_t batch, int64_t *idx, batch_stats *st) {
    for (int64_t s = 0; s < count; s += batch) {
        int64_t b = count - s < batch ? count - s : batch;
        for (int64_t r = 0; r < b; r++) idx[r] = first + s + r;
        int rc = run_batch(m, x, y, NULL, idx, b, false, st);
        if (rc) return soma_error_prefix("samples %lld..%lld", (long long)(first + s),
                                         (long long)(first + s + b - 1));
    }
    return SOMA_OK;
}

static int push_history(soma_model *m, const soma_logs *logs) {
    if (m->history_len == m->history_cap) {
        int cap = m->history_cap ? 2 * m->history_cap : 16;
        soma_logs *h = realloc(m->history, (size_t)cap * sizeof *h);
        if (!h) return soma_error_set(SOMA_E_NOMEM, "out of memory for history");
        m->history = h;
        m->history_cap = cap;
    }
    m->history[m->history_len++] = *logs;
    return SOMA_OK;
}

// The callback is the user's code: it runs under the user's floating-point
// state, not the one fit computes under.
static int call_back(const soma_fit_config *cfg, soma_fpenv user, int event, int epoch, int64_t step,
                     const soma_logs *logs) {
    soma_fpenv ours = soma_fpenv_get();
    soma_fpenv_set(user);
    int r = cfg->callback(cfg->callback_user, event, epoch, step, logs);
    soma_fpenv_set(ours);
    return r;
}

static int fit(soma_model *m, const soma_tensor *x, const soma_tensor *y,
               const soma_fit_config *cfg_in, soma_fpenv user_fpenv) {
    if (!m->compiled) return soma_error_set(SOMA_E_STATE, "fit: compile the model first");
    soma_fit_config cfg = cfg_in ? *cfg_in : soma_fit_defaults();
    if (cfg.epochs < 0) return soma_error_set(SOMA_E_INVALID, "fit: epochs must be >= 0, got %d", cfg.epochs);
    if (cfg.batch_size <= 0) cfg.batch_size = 32;
    if (!y) return soma_error_set(SOMA_E_INVALID, "fit: y is NULL");
    int rc = check_data(m, x, y, "fit", true);
    if (rc) return rc;
    int64_t n = x->dims[0];
    if (cfg.sample_weight) {
        if (cfg.sample_weight->numel != n)
            return soma_error_set(SOMA_E_SHAPE, "fit: sample_weight has %lld elements, expected one per "
                                  "sample (%lld)", (long long)cfg.sample_weight->numel, (long long)n);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(cfg.sample_weight->data[i]))
                return soma_error_set(SOMA_E_NUMERIC, "fit: sample_weight[%lld] is not finite", (long long)i);
    }
    // validation_split takes the tail, before any shuffling (Keras).
    int64_t n_train = n, n_val = 0;
    if (cfg.validation_split != 0) {
        if (!(cfg.validation_split > 0 && cfg.validation_split < 1))
            return soma_error_set(SOMA_E_INVALID, "fit: validation_split must be in [0, 1), got %g",
                                  cfg.validation_split);
        n_train = (int64_t)floor((double)n * (1.0 - cfg.validation_split));
        n_val = n - n_train;
        if (n_train == 0 || n_val == 0)
            return soma_error_set(SOMA_E_INVALID, "fit: validation_split %g of %lld samples leaves an "
                                  "empty %s set", cfg.validation_split, (long long)n,
                                  n_train == 0 ? "training" : "validation");
    }
    int64_t batch = cfg.batch_size < n ? cfg.batch_size : n;
    if ((rc = soma_model_plan(m, batch, y->numel / n))) return rc;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    m->history_len = 0;
    memset(&m->timings, 0, sizeof m->timings);
    uint64_t shuffle_seed = cfg.seed ? cfg.seed : m->seed;
    int64_t steps = (n_train + batch - 1) / batch;
    bool stop = false;
    for (int epoch = 0; epoch < cfg.epochs && !rc; epoch++) {
        int64_t steps_done = steps;
        for (int64_t i = 0; i < n_train; i++) perm[i] = i;
        if (cfg.shuffle) {
            soma_rng r;
            soma_rng_init(&r, shuffle_seed, SHUFFLE_STREAM_BASE + (uint64_t)epoch);
            soma_rng_permutation(&r, perm, n_train);
        }
        if (cfg.verbose > 0 && cfg.epochs > 1)
            fprintf(cfg.progress ? cfg.progress : stdout, "Epoch %d/%d\n", epoch + 1, cfg.epochs);
        soma_progress bar;
        soma_progress_begin(&bar, cfg.progress, cfg.verbose, steps);
        batch_stats st = {0};
        soma_logs logs = {0};
        for (int64_t s = 0; s < steps; s++) {
            int64_t first = s * batch, b = n_train - first < batch ? n_train - first : batch;
            rc = run_batch(m, x, y, cfg.sample_weight, perm + first, b, true, &st);
            if (rc) {
                soma_error_prefix("fit: epoch %d, step %lld", epoch + 1, (long long)(s + 1));
                break;
            }
            add_logs(m, &st, &logs, "");
            soma_progress_update(&bar, s + 1, &logs, false);
            if (cfg.callback && call_back(&cfg, user_fpenv, SOMA_FIT_BATCH_END, epoch, s, &logs)) {
                stop = true;
                steps_done = s + 1;
                break;
            }
        }
        if (rc) break;
        if (n_val > 0) {
            batch_stats vs = {0};
            if ((rc = evaluate_range(m, x, y, n_train, n_val, batch, perm, &vs))) {
                soma_error_prefix("fit: validation after epoch %d", epoch + 1);
                break;
            }
            add_logs(m, &vs, &logs, "val_");
        }
        soma_progress_update(&bar, steps_done, &logs, true);
        if ((rc = push_history(m, &logs))) break;
        if (stop || (cfg.callback && call_back(&cfg, user_fpenv, SOMA_FIT_EPOCH_END, epoch,
                                               steps_done - 1, &m->history[m->history_len - 1])))
            break;
    }
    free(perm);
    // Keras' finalize_variable_values: with use_ema the weights become their averages.
    if (!rc) soma_optimizer_finalize(m->optim, m->ptensors, m->n_ptensors);
    return rc;
}

static int evaluate(soma_model *m, const soma_tensor *x, const soma_tensor *y, int64_t batch_size,
                    int verbose, soma_logs *out) {
    if (!m->compiled) return soma_error_set(SOMA_E_STATE, "evaluate: compile the model first");
    if (!y) return soma_error_set(SOMA_E_INVALID, "evaluate: y is NULL");
    int rc = check_data(m, x, y, "evaluate", true);
    if (rc) return rc;
    int64_t n = x->dims[0];
    int64_t batch = batch_size > 0 ? batch_size : 32;
    if (batch > n) batch = n;
    if ((rc = soma_model_plan(m, batch, y->numel / n))) return rc;
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    if (!idx) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    soma_progress bar;
    soma_progress_begin(&bar, NULL, verbose, (n + batch - 1) / batch);
    batch_stats st = {0};
    rc = evaluate_range(m, x, y, 0, n, batch, idx, &st);
    free(idx);
    if (rc) return soma_error_prefix("evaluate");
    soma_logs logs = {0};
    add_logs(m, &st, &logs, "");
    soma_progress_update(&bar, bar.target, &logs, true);
    if (out) *out = logs;
    return SOMA_OK;
}

static int predict(soma_model *m, const soma_tensor *x, int64_t batch_size, soma_tensor **out) {
    int rc = check_data(m, x, NULL, "predict", false);
    if (rc) return rc;
    int64_t n = x->dims[0], batch = batch_size > 0 ? batch_size : 32;
    if (batch > n) batch = n;
    if ((rc = soma_model_plan(m, batch, m->y_cols > 0 ? m->y_cols : 1))) return rc;
    int64_t classes = soma_model_out_features(m), dims[2] = {n, classes};
    soma_tensor *t;
    if ((rc = soma_tensor_create(&t, 2, dims, NULL))) return rc;
    for (int64_t s = 0; s < n; s += batch) {
        int64_t b = n - s < batch ? n - s : batch;
        if ((rc = check_finite(x->data, s * m->in_features, (s + b) * m->in_features, m->in_features,
                               "predict", "x", "feature"))) {
            soma_tensor_free(t);
            return rc;
        }
        // Rows are contiguous in x, so forward reads them in place.
        const float *res = soma_model_forward(m, x->data + s * m->in_features, b);
        memcpy(t->data + s * classes, res, (size_t)(b * classes) * sizeof(float));
    }
    *out = t;
    return SOMA_OK;
}

// fit, evaluate and predict compute with denormals flushed to zero unless the
// model keeps them (cpu/fpenv.h), and give the thread its own state back.
static soma_fpenv enter(const soma_model *m) {
    soma_fpenv user = soma_fpenv_get();
    if (!m->keep_denormals) soma_fpenv_adopt(soma_fpenv_flushing(user));
    return user;
}

SOMA_API int soma_model_fit(soma_model *m, const soma_tensor *x, const soma_tensor *y,
                            const soma_fit_config *cfg) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    soma_fpenv user = enter(m);
    int rc = fit(m, x, y, cfg, user);
    soma_fpenv_set(user);
    return rc;
}

SOMA_API int soma_model_evaluate(soma_model *m, const soma_tensor *x, const soma_tensor *y,
                                 int64_t batch_size, int verbose, soma_logs *out) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    soma_fpenv user = enter(m);
    int rc = evaluate(m, x, y, batch_size, verbose, out);
    soma_fpenv_set(user);
    return rc;
}

SOMA_API int soma_model_predict(soma_model *m, const soma_tensor *x, int64_t batch_size,
                                soma_tensor **out) {
    if (!m || !out) return soma_error_set(SOMA_E_INVALID, "predict: model and out are required");
    *out = NULL;
    soma_fpenv user = enter(m);
    int rc = predict(m, x, batch_size, out);
    soma_fpenv_set(user);
    return rc;
}

SOMA_API int soma_model_set_flush_denormals(soma_model *m, int flush) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    m->keep_denormals = !flush;
    return SOMA_OK;
}

SOMA_API int soma_model_fit_timings(const soma_model *m, soma_fit_timings *out) {
    if (!m || !out) return soma_error_set(SOMA_E_INVALID, "soma_model_fit_timings: model and out are required");
    *out = m->timings;
    return SOMA_OK;
}
