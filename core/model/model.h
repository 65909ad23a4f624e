/* core/model — Sequential model: build, compile, fit, evaluate, predict. */
#ifndef SOMA_CORE_MODEL_H
#define SOMA_CORE_MODEL_H

#include "base/base.h"
#include "layers/layer.h"
#include "model/optimizer.h"
#include "plugin/registry.h"

/* ---- loss reduction (reduce.c): once in the core, for every loss ---- */
typedef enum soma_reduction {
    SOMA_REDUCE_SUM_OVER_BATCH = 0, /* Keras' default; "mean" is the same */
    SOMA_REDUCE_SUM,
    SOMA_REDUCE_NONE,
    SOMA_REDUCE_MEAN_WITH_SAMPLE_WEIGHT  /* Σ(v·w) / Σw as given            */
} soma_reduction;
int soma_reduction_parse(const char *name, soma_reduction *out);
/* Keras' squeeze_or_expand_to_same_rank on contiguous views. */
void soma_align_ranks(soma_tview *y_true, soma_tview *y_pred);
/* Reduced loss of per-row values with optional per-row weights w (NULL = 1)
 * and d_values[r] = ∂loss/∂values[r] (d_values may be NULL); for NONE the
 * weighted sum (callers read the values themselves). mask is a 0/1 row mask
 * (NULL: none) merged as Keras' apply_mask does, and w_given_sum = Σ of the weights as the user gave them (a scalar
 * weight counts once; NAN when there are no weights), the divisor of
 * mean_with_sample_weight. */
double soma_reduce_ex(soma_reduction red, const float *values, const float *w,
                      const float *mask, int64_t rows, double w_given_sum, float *d_values);
/* Expands a sample_weight tensor to one weight per loss row: a scalar, one per
 * row, or one per sample (dims[0] == n_samples) repeated over the rows of that
 * sample. */
int soma_weights_expand(const soma_tensor *sw, int64_t n_samples, int64_t rows,
                        float *w_out);

/* ---- metrics (metrics.c) ---- */
typedef enum soma_acc_kind {
    SOMA_ACC_UNRESOLVED = 0,  /* 'accuracy': resolved from shapes at the first batch */
    SOMA_ACC_BINARY,
    SOMA_ACC_SPARSE,
    SOMA_ACC_CATEGORICAL,
    SOMA_ACC_TOP_K,
    SOMA_ACC_SPARSE_TOP_K,
    SOMA_ACC_LOSS             /* a loss used as a metric                   */
} soma_acc_kind;
/* Keras' compile-time resolution of 'accuracy' from shapes (KERAS.md §4.2). */
soma_acc_kind soma_accuracy_resolve(const soma_tview *y_true, const soma_tview *y_pred);

#define SOMA_MAX_METRICS 6
typedef struct soma_metric {
    soma_acc_kind kind, resolved;
    char name[40];            /* as the user wrote it, shown in logs       */
    double threshold;
    int64_t k;
    soma_obj *loss;           /* SOMA_ACC_LOSS                              */
} soma_metric;
/* "accuracy", "acc", "binary_accuracy(threshold=0.7)", "top_k_categorical_accuracy(k=3)",
 * or any loss spec ("mse"). */
int soma_metric_create(const char *spec, soma_metric *out);
void soma_metric_free(soma_metric *m);
/* Adds the batch's per-sample values to *sum (scratch: rows floats). */
int soma_metric_update(soma_metric *m, const soma_tview *y_true, const soma_tview *y_pred,
                       float *scratch, double *sum);

/* ---- progress (progress.c): Keras-style bar on a terminal, lines otherwise ---- */
typedef struct soma_progress {
    FILE *out;
    int verbose;          /* 1 bar, 2 one line per epoch                 */
    bool tty;
    int64_t target;       /* steps                                       */
    double start, last_draw;
} soma_progress;
void soma_progress_begin(soma_progress *p, FILE *out, int verbose, int64_t target);
void soma_progress_update(soma_progress *p, int64_t step, const soma_logs *logs, bool done);
double soma_now(void);
void soma_logs_set(soma_logs *logs, const char *name, double value);

/* ---- the model ---- */
struct soma_model {
    soma_layer **layers;
    int n_layers, cap_layers;
    int input_ndim;
    int64_t input_shape[SOMA_MAX_DIMS];
    int64_t in_features;   /* 0 until known                               */
    bool built, compiled;
    bool keep_denormals;   /* soma_model_set_flush_denormals(m, 0)      */
    uint64_t seed;

    /* parameters, gradients and optimizer slots: one block each */
    float *param_block, *grad_block, *slot_block;
    size_t param_floats;
    soma_ptensor *ptensors;
    int n_ptensors;
    float **slot_ptrs;
    uint32_t n_slots;

    soma_optimizer *optim;
    soma_obj *loss;
    /* softmax output + (sparse) categorical crossentropy on probabilities:
     * the gradient w.r.t. the logits is p − y, computed in one stable step
     * (what Keras on TensorFlow does through its logits shortcut). */
    bool fuse_softmax_ce, ce_sparse;
    double ce_smoothing;
    soma_reduction reduction;
    soma_metric metrics[SOMA_MAX_METRICS];
    int n_metrics;

    /* activations for batches of up to plan_batch rows: one block */
    int64_t plan_batch;
    float *act_block;
    float *x_batch;        /* gathered inputs, plan_batch × in_features  */
    float **acts;          /* n_layers outputs                           */
    float **dacts;         /* n_layers gradients w.r.t. outputs          */
    float *y_batch;        /* gathered targets                           */
    int64_t y_cols;        /* floats per target sample planned           */
    float *loss_values, *d_values, *w_batch, *metric_scratch, *mask_batch;

    soma_logs *history;
    int history_len, history_cap;
    soma_fit_timings timings;
};

int soma_model_build(soma_model *m, int64_t in_features);
/* Plans activation buffers for batches of up to batch rows and y_cols floats
 * of target per sample. Reuses the plan when it is big enough. */
int soma_model_plan(soma_model *m, int64_t batch, int64_t y_cols);
/* Forward of rows [x] (batch × in) through every layer; returns the output. */
float *soma_model_forward(soma_model *m, const float *x, int64_t batch);
int64_t soma_model_out_features(const soma_model *m);

#endif
