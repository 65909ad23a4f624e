/*
 * soma.h — the public API of soma, a Keras-style neural-network engine in C.
 *
 *   soma_model *m;
 *   soma_model_create(&m);
 *   int64_t in[] = {784};
 *   soma_model_add_input(m, 1, in);
 *   soma_model_add_dense(m, 128, "relu", "he_normal", "zeros");
 *   soma_model_add_dense(m, 64, "relu", "he_normal", "zeros");
 *   soma_model_add_dense(m, 10, "softmax", "glorot_uniform", "zeros");
 *   if (soma_model_compile(m, "adam", "sparse_categorical_crossentropy",
 *                          "accuracy") != SOMA_OK)
 *       fprintf(stderr, "%s\n", soma_last_error());
 *   soma_fit_config fc = soma_fit_defaults();   // epochs 1, batch 32, shuffle
 *   fc.epochs = 5;
 *   soma_model_fit(m, x_train, y_train, &fc);
 *   soma_logs res;
 *   soma_model_evaluate(m, x_test, y_test, 0, 0, &res);
 *   printf("%f\n", soma_logs_get(&res, "accuracy", -1));
 *   soma_model_free(m);
 *
 * Conventions
 * - Every function that can fail returns an int status: SOMA_OK (0) or a
 *   negative SOMA_E_* code. soma_last_error() then holds a message (per
 *   thread) that names what was wrong: the layer, the plugin and its file, the
 *   parameter, the line or byte offset of a data file.
 * - soma never calls exit() or abort() for anything a user or a file can cause,
 *   and never prints unless asked (fit's verbose, or a log callback).
 * - Initializers, losses and optimizers are plugins found at run time (see
 *   soma/plugin.h). They are named by spec strings in Keras' spelling, with
 *   optional parameters: "adam", "Adam", "adam(learning_rate=0.01)",
 *   "random_normal(mean=0, stddev=0.1)", "sparse_categorical_crossentropy(
 *   from_logits=true)". Names ignore case and underscores ("HeNormal").
 * - Handles are not thread-safe: use one model from one thread at a time.
 *   Different models may be used from different threads.
 */
#ifndef SOMA_SOMA_H
#define SOMA_SOMA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "soma/plugin.h" /* status codes, log levels, ABI version */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SOMA_API __attribute__((visibility("default")))
#else
#define SOMA_API
#endif

#define SOMA_VERSION_MAJOR 0
#define SOMA_VERSION_MINOR 1
#define SOMA_VERSION_PATCH 0

/* ---- Errors and logging ---------------------------------------------------- */
/* The message of the last failed call in this thread ("" if none). */
SOMA_API const char *soma_last_error(void);
/* The code of the last failed call in this thread (SOMA_OK if none). */
SOMA_API int soma_last_status(void);
/* "SOMA_E_SHAPE" etc. */
SOMA_API const char *soma_status_name(int status);
SOMA_API void soma_clear_error(void);

/* Log messages at or above min_level go to fn (NULL: silent, the default).
 * SOMA_LOG=debug|info|warn|error in the environment sends them to stderr. */
typedef void (*soma_log_fn)(int level, const char *message, void *user);
SOMA_API void soma_set_log(soma_log_fn fn, void *user, int min_level);

/* ---- Library-wide settings ------------------------------------------------- */
/* Worker threads for compute (0 = automatic: SOMA_NUM_THREADS, else one per
 * core this process may use: its affinity mask, capped by its cgroup CPU
 * quota). 1 runs everything on the calling thread and starts no thread (and
 * stops any running). Workers are pinned one per core unless SOMA_PIN=0; the
 * calling thread is never bound, and a worker whose core it is found on
 * moves to the core left free for it, so the two never share one (with
 * SOMA_PIN=0 the scheduler alone places them, and may leave a worker on the
 * caller's CPU for a while). Returns the previous value. */
SOMA_API int soma_set_num_threads(int n);
SOMA_API int soma_get_num_threads(void);
/* What `soma topology` prints: the packages, cores, PUs and caches hwloc sees
 * of the CPUs this process may use, its affinity mask and cgroup CPU quota,
 * the thread count and the rule that chose it, whether workers are pinned
 * and where each would go. Like snprintf: writes at most len bytes (always
 * NUL-terminated when len > 0) and returns the length of the whole text;
 * SOMA_E_INVALID when buf is NULL and len > 0. */
SOMA_API int soma_topology_describe(char *buf, size_t len);

/* ---- Plugins ----------------------------------------------------------------
 * Search order: files or directories given to soma_plugin_load, then the
 * directories in SOMA_PLUGIN_PATH (colon-separated, in order), then the
 * compiled-in plugin directory. The first provider of a name wins; a later
 * duplicate found by discovery is skipped with a warning naming both files,
 * while an explicit soma_plugin_load of a name already taken is an error.
 * Never the current directory implicitly. Discovery runs once, lazily, the
 * first time a name is looked up (or when soma_plugin_discover is called).
 * A file, its directory or a link's directory writable by group or others is
 * refused unless SOMA_PLUGIN_ALLOW_WRITABLE=1 (plugin.h, "How the host loads
 * plugins").
 */
/* Loads one plugin file or every soma-*.so in a directory. */
SOMA_API int soma_plugin_load(const char *path);
/* Runs discovery now (idempotent). Failures of single files do not fail it;
 * they are listed by soma_plugin_failure. */
SOMA_API int soma_plugin_discover(void);

typedef struct soma_plugin_info {
    int kind;                 /* SOMA_KIND_INIT / LOSS / OPTIM          */
    const char *name;         /* canonical name                         */
    const char *path;         /* the file it came from (real path)      */
    const char *doc;
    int abi_major, abi_minor;
    uint32_t n_params;
    const soma_param_spec *params;
    const char *const *aliases;
} soma_plugin_info;
/* Registered items, 0 ≤ index < soma_plugin_count(). */
SOMA_API int soma_plugin_count(void);
SOMA_API int soma_plugin_get(int index, soma_plugin_info *info);
/* Files that failed to load: path and message. */
SOMA_API int soma_plugin_failure_count(void);
SOMA_API int soma_plugin_failure(int index, const char **path,
                                 const char **message);
/* "init", "loss", "optim". */
SOMA_API const char *soma_kind_name(int kind);

/* ---- Tensors -------------------------------------------------------------------
 * float32, row-major, 64-byte aligned storage owned by the tensor. */
typedef struct soma_tensor soma_tensor;

/* data may be NULL (zeros); otherwise numel floats are copied. */
SOMA_API int soma_tensor_create(soma_tensor **out, int ndim, const int64_t *dims,
                                const float *data);
SOMA_API void soma_tensor_free(soma_tensor *t);
SOMA_API int soma_tensor_ndim(const soma_tensor *t);
SOMA_API int64_t soma_tensor_dim(const soma_tensor *t, int axis);
SOMA_API int64_t soma_tensor_numel(const soma_tensor *t);
SOMA_API float *soma_tensor_data(soma_tensor *t);
SOMA_API const float *soma_tensor_cdata(const soma_tensor *t);
/* Same data, new shape with the same element count. */
SOMA_API int soma_tensor_reshape(soma_tensor *t, int ndim, const int64_t *dims);

/* ---- Data ---------------------------------------------------------------------
 * IDX files (MNIST's format), raw or gzip-compressed (detected by content).
 * The header is validated (magic, type byte, rank, sizes against the file
 * length); any problem is SOMA_E_FORMAT naming the file and what was wrong. */
enum soma_idx_flags {
    SOMA_IDX_SCALE = 1,   /* divide values by 255 (pixels to [0, 1]) */
    SOMA_IDX_FLATTEN = 2  /* keep dim 0, flatten the rest: (N, 28, 28) → (N, 784) */
};
SOMA_API int soma_idx_load(const char *path, int flags, soma_tensor **out);

/* ---- Models ----------------------------------------------------------------------- */
typedef struct soma_model soma_model;

SOMA_API int soma_model_create(soma_model **out);
SOMA_API void soma_model_free(soma_model *m);
/* The input feature shape, without the batch axis (Keras' Input(shape=...)).
 * Optional: without it the model is built from the first data it sees. */
SOMA_API int soma_model_add_input(soma_model *m, int ndim, const int64_t *shape);
/* Dense(units, activation, kernel_initializer, bias_initializer) with a bias.
 * NULL picks Keras' defaults: "linear", "glorot_uniform", "zeros".
 * activation: any of Keras' activations with its parameters, e.g. "relu",
 * "relu(max_value=6)", "leaky_relu(negative_slope=0.1)", "elu(alpha=0.5)",
 * "gelu(approximate=true)", "selu", "silu", "softplus", "softmax",
 * "log_softmax", "hard_sigmoid", "exponential", "linear" (`soma activation
 * --help` lists them). */
SOMA_API int soma_model_add_dense(soma_model *m, int64_t units,
                                  const char *activation,
                                  const char *kernel_initializer,
                                  const char *bias_initializer);
/* Seed for weight initialisation and shuffling (default 0). Call before
 * compile to affect the initial weights. */
SOMA_API int soma_model_set_seed(soma_model *m, uint64_t seed);
/* fit, evaluate and predict compute with denormal floats flushed to zero
 * (x86 FTZ and DAZ, AArch64 FZ), as TensorFlow does: a denormal result
 * becomes 0 and a denormal input reads as 0. It is much faster — Adam's
 * moments of rarely active weights decay into the denormal range, where each
 * operation costs tens of cycles — and changes results only below 1.2e-38.
 * flush = 0 leaves the calling thread's state as it is (IEEE denormals
 * unless the host turned flushing on itself). Either way the thread's own
 * state is restored on return, fit's callback runs under it, and the pool's
 * workers compute under the caller's. Default 1. */
SOMA_API int soma_model_set_flush_denormals(soma_model *m, int flush);
/* optimizer and loss are plugin specs; metrics is a comma-separated list of
 * "accuracy"/"acc" (resolved from shapes as Keras does), or NULL. */
SOMA_API int soma_model_compile(soma_model *m, const char *optimizer,
                                const char *loss, const char *metrics);
/* Loss reduction: "sum_over_batch_size" (default), "sum", "none" is not
 * allowed for training. Call after compile. */
SOMA_API int soma_model_set_loss_reduction(soma_model *m, const char *reduction);

SOMA_API int soma_model_layer_count(const soma_model *m);
SOMA_API int64_t soma_model_param_count(const soma_model *m);
/* Writes a Keras-like summary table. */
SOMA_API int soma_model_summary(soma_model *m, FILE *out);
/* The weights of layer i (kernel (in, units) then bias (units)): pointers into
 * the model, valid until the model is freed. The model must be built. */
SOMA_API int soma_model_weights(soma_model *m, int layer, float **kernel,
                                int64_t *rows, int64_t *cols, float **bias);

/* Logs: the named numbers an epoch or an evaluation produced. */
#define SOMA_MAX_LOGS 16
typedef struct soma_logs {
    int count;
    struct {
        char name[48];
        double value;
    } entries[SOMA_MAX_LOGS];
} soma_logs;
/* Value of name in logs, or fallback when absent. */
SOMA_API double soma_logs_get(const soma_logs *logs, const char *name,
                              double fallback);

/* Called by fit after every batch (SOMA_FIT_BATCH_END, logs = the running
 * epoch means so far) and every epoch (SOMA_FIT_EPOCH_END, logs = the epoch's
 * history entry, val_* included). Return 0 to go on, non-zero to stop
 * training after this batch or epoch (Keras' model.stop_training): fit then
 * returns SOMA_OK with the history so far. Runs on the thread that called
 * fit; it may read the model's weights but MUST NOT call fit/evaluate/predict
 * on the same model. */
enum soma_fit_event { SOMA_FIT_BATCH_END = 1, SOMA_FIT_EPOCH_END = 2 };
typedef int (*soma_fit_callback)(void *user, int event, int epoch, int64_t step,
                                 const soma_logs *logs);

typedef struct soma_fit_config {
    int epochs;                    /* default 1                               */
    int64_t batch_size;            /* default 32                              */
    int shuffle;                   /* default 1: new permutation each epoch   */
    double validation_split;       /* default 0: last fraction held out       */
    int verbose;                   /* 0 silent, 1 progress bar (default), 2 one line per epoch */
    FILE *progress;                /* default NULL = stdout                   */
    const soma_tensor *sample_weight; /* NULL, or one weight per sample       */
    uint64_t seed;                 /* shuffling seed; default 0 = the model's */
    soma_fit_callback callback;    /* NULL, or called per batch and epoch     */
    void *callback_user;
} soma_fit_config;
SOMA_API soma_fit_config soma_fit_defaults(void);

/* Trains on x (N, features...) and y (N, ...). Stops with SOMA_E_NUMERIC and a
 * message naming the epoch and step when the loss becomes NaN or Inf. */
SOMA_API int soma_model_fit(soma_model *m, const soma_tensor *x,
                            const soma_tensor *y, const soma_fit_config *cfg);
/* Where the training steps of the last fit spent their time (wall clock,
 * summed over steps; validation not included). */
typedef struct soma_fit_timings {
    int64_t steps;
    double data_s;       /* gathering the batch's rows                    */
    double forward_s;    /* layers forward                                 */
    double loss_s;       /* loss forward, reduction, metrics, loss backward */
    double backward_s;   /* layers backward (weight and input gradients)   */
    double optimizer_s;  /* clipping, decay, the optimizer's step, EMA     */
} soma_fit_timings;
SOMA_API int soma_model_fit_timings(const soma_model *m, soma_fit_timings *out);

/* Per-epoch history of the last fit: loss, metrics, val_* entries. */
SOMA_API int soma_model_history_length(const soma_model *m);
SOMA_API const soma_logs *soma_model_history(const soma_model *m, int epoch);

/* Loss and metrics over (x, y). batch_size 0 means 32. */
SOMA_API int soma_model_evaluate(soma_model *m, const soma_tensor *x,
                                 const soma_tensor *y, int64_t batch_size,
                                 int verbose, soma_logs *out);
/* Model outputs for x; *out is a new tensor (N, units of the last layer). */
SOMA_API int soma_model_predict(soma_model *m, const soma_tensor *x,
                                int64_t batch_size, soma_tensor **out);

/* ---- Stand-alone plugin use (what `soma loss` does) ------------------------ */
/* Evaluates a loss spec on y_true / y_pred with a reduction
 * ("sum_over_batch_size", "sum", "none"). value gets the reduced loss, or for
 * "none" values gets rows floats. grad (may be NULL) gets d loss / d y_pred,
 * same shape as y_pred. sample_weight may be NULL. */
SOMA_API int soma_loss_eval(const char *loss_spec, const char *reduction,
                            const soma_tensor *y_true, const soma_tensor *y_pred,
                            const soma_tensor *sample_weight, double *value,
                            soma_tensor **values, soma_tensor **grad);

/* Applies an activation spec to x over its last axis, as a Dense layer does:
 * *y gets act(x); with dy given, *dx (may be NULL) gets dy ⊙ act'(x) (for
 * softmax-like activations the row-wise Jacobian-vector product). */
SOMA_API int soma_activation_eval(const char *activation_spec, const soma_tensor *x,
                                  soma_tensor **y, const soma_tensor *dy, soma_tensor **dx);

/* Runs an initializer spec on a new tensor of shape dims, as a Dense layer
 * would: Keras' fans of the shape, random numbers from (seed, stream 0), or
 * from the spec's own seed=... when given. *out gets the tensor. Fails with
 * SOMA_E_PLUGIN when the initializer leaves an element unwritten or not
 * finite. The same (spec, seed, shape) gives the same values everywhere. */
SOMA_API int soma_init_eval(const char *init_spec, uint64_t seed, int ndim,
                            const int64_t *dims, soma_tensor **out);

/* Runs an optimizer spec on one parameter tensor, updated in place, exactly
 * as fit applies it: slots zeroed and initialised once, then `steps` applies
 * with t = 1, 2, ..., the spec's learning rate (or schedule), clipping,
 * weight decay and EMA (left in its slot, as Keras' optimizer.apply leaves
 * it). soma_optim_eval takes the gradient of step i from
 * grads[i] (each shaped like param); soma_optim_run asks grad_fn for it, at
 * the current parameter values, so a loop can minimise a function.
 * trajectory (may be NULL) gets a (steps, numel) tensor: param after each
 * step. A grad_fn writes grad and returns SOMA_OK; any other value stops the
 * run, which returns it (SOMA_E_INVALID for a positive value). */
typedef int (*soma_grad_fn)(void *user, int step, const soma_tensor *param,
                            soma_tensor *grad);
SOMA_API int soma_optim_eval(const char *optim_spec, soma_tensor *param,
                             const soma_tensor *const *grads, int steps,
                             soma_tensor **trajectory);
SOMA_API int soma_optim_run(const char *optim_spec, soma_tensor *param,
                            soma_grad_fn grad_fn, void *user, int steps,
                            soma_tensor **trajectory);

#ifdef __cplusplus
}
#endif
#endif /* SOMA_SOMA_H */
