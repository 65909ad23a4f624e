/*
 * soma/plugin.h — the plugin ABI of soma. The ONLY header a plugin needs.
 *
 * A plugin is a shared object (soma-<kind>-<name>.so) that provides one or more
 * items: initializers, losses or optimizers. It never links libsoma: every
 * service it needs (memory, errors, logging, random numbers, GEMM, vector math)
 * comes through the host table it is handed.
 *
 * ---------------------------------------------------------------------------
 * Write a loss plugin in 30 lines (build: cc -O2 -shared -fPIC
 *   -fvisibility=hidden -I<soma>/include pinball.c -o soma-loss-pinball.so,
 *   or with soma installed: $(pkg-config --cflags soma) for the -I)
 * ---------------------------------------------------------------------------
 *
 *   #include <soma/plugin.h>
 *
 *   enum { P_TAU };                                  // index into params[]
 *   static const soma_param_spec params[] = {
 *       { .name = "tau", .type = SOMA_PARAM_FLOAT, .def_num = 0.5,
 *         .doc = "quantile in (0, 1)" },
 *   };
 *   static int fwd(const soma_instance *self, const soma_ctx *ctx,
 *                  const soma_tview *yt, const soma_tview *yp, float *out) {
 *       float tau = (float)self->params[P_TAU].num;
 *       int64_t rows = soma_tview_rows(yp), cols = soma_tview_cols(yp);
 *       if (soma_tview_numel(yt) != rows * cols)
 *           return ctx->host->set_error(SOMA_E_SHAPE, "y_true and y_pred differ");
 *       for (int64_t r = 0; r < rows; r++) {
 *           double s = 0;
 *           for (int64_t c = 0; c < cols; c++) {
 *               float e = yt->data[r * cols + c] - yp->data[r * cols + c];
 *               s += e >= 0 ? tau * e : (tau - 1) * e;
 *           }
 *           out[r] = (float)(s / cols);
 *       }
 *       return SOMA_OK;
 *   }
 *   static int bwd(const soma_instance *self, const soma_ctx *ctx,
 *                  const soma_tview *yt, const soma_tview *yp,
 *                  const float *dout, float *dyp) { ... dL/dy_pred ... }
 *   static const soma_loss_vt vt = { .size = sizeof vt, .name = "pinball",
 *                                    .forward = fwd, .backward = bwd };
 *   static const soma_item items[] = {{ .size = sizeof(soma_item),
 *       .kind = SOMA_KIND_LOSS, .name = "pinball", .vtable = &vt,
 *       .params = params, .n_params = 1, .doc = "quantile (pinball) loss" }};
 *   SOMA_PLUGIN_DEFINE(loss, pinball, items, 1)
 *
 * Then: SOMA_PLUGIN_PATH=$PWD soma train --loss 'pinball(tau=0.9)' ...
 *
 * ---------------------------------------------------------------------------
 * ABI policy
 * ---------------------------------------------------------------------------
 * - SOMA_ABI_MAJOR changes when anything already published changes meaning or
 *   layout. The loader refuses a plugin whose abi_major differs from the host's.
 * - SOMA_ABI_MINOR grows when a field is appended to a table. Every table
 *   (descriptor, item, vtable, host table, context) starts with `uint32_t size`
 *   and fields are only ever appended, each marked "since ABI 1.N". A reader
 *   reads an appended field only when `size` covers it. So a plugin built
 *   against 1.N loads in any host 1.M: an older host ignores fields it does not
 *   know; a newer host treats missing optional fields as NULL.
 * - Enums are append-only.
 * - What a bump means for a plugin author:
 *   minor (1.N → 1.N+1): nothing to do. Existing plugins keep loading and
 *     working unchanged; nothing published is removed, reordered, resized or
 *     given another meaning, and no function's signature or contract changes.
 *     To use a host function added in 1.N+1, check host->size (or
 *     host->abi_minor) first: a plugin may be loaded by an older 1.x host.
 *   major (1.x → 2.0): every plugin must be rebuilt against the new header
 *     (and usually edited); the loader refuses the old ones with
 *     "ABI mismatch in [path]: plugin 1.3, host 2.0".
 * - The plugin ABI is versioned apart from the library: libsoma's SONAME
 *   (libsoma.so.MAJOR) is for host programs. A plugin never links libsoma, so
 *   it keeps working across library releases with the same ABI major.
 *
 * ---------------------------------------------------------------------------
 * How the host loads plugins
 * ---------------------------------------------------------------------------
 * - Search order (soma.h): soma_plugin_load() paths, then SOMA_PLUGIN_PATH
 *   (absolute directories only, colon-separated; ignored in set-uid/set-gid
 *   processes), then <libdir>/soma/plugins. Never the current directory.
 * - Symbolic links are resolved; messages and `soma plugins` show real paths.
 * - A plugin file, its directory, or the directory holding a link to it that
 *   is writable by group or others is refused with a message naming the path
 *   and its mode: whoever can write there could make soma run their code.
 *   Fix the permissions (chmod go-w), or set SOMA_PLUGIN_ALLOW_WRITABLE=1 in
 *   the environment to load such files anyway (also ignored in set-uid/set-gid
 *   processes).
 * - `soma plugin check FILE.so` loads one file and tests its items (loss
 *   gradients against finite differences, initializer determinism, optimizer
 *   descent); `soma plugin new KIND NAME` writes a plugin that passes it.
 *
 * ---------------------------------------------------------------------------
 * Rules for every plugin
 * ---------------------------------------------------------------------------
 * - Export exactly one entry point through SOMA_PLUGIN_DEFINE. Build with
 *   -fvisibility=hidden; the host loads with dlopen(RTLD_NOW | RTLD_LOCAL).
 * - The descriptor, items, schemas and vtables MUST be static const data that
 *   lives as long as the shared object. The entry point MUST NOT allocate,
 *   register callbacks or keep the host pointer for later use by other threads
 *   beyond what the host table allows (it stays valid until unload).
 * - Names are lowercase snake_case: [a-z][a-z0-9_]*, at most 63 bytes. The host
 *   matches names ignoring case and underscores, so "he_normal" also answers
 *   to "HeNormal" (Keras' class names) without listing it as an alias.
 * - Compute functions (fill, forward, backward, step) MUST NOT allocate, block,
 *   open files or start threads. Allocate in create() through host->alloc.
 * - Report errors by returning host->set_error(SOMA_E_..., "fmt", ...): it
 *   records a message for soma_last_error() and returns the code. The host
 *   prefixes the item's kind and name, so say only what was wrong.
 * - Never call exit() or abort(); never write to stdout/stderr (use host->log).
 */
#ifndef SOMA_PLUGIN_H
#define SOMA_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOMA_ABI_MAJOR 1
#define SOMA_ABI_MINOR 0

#if defined(_WIN32)
#define SOMA_PLUGIN_EXPORT __declspec(dllexport)
#else
#define SOMA_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#if defined(__GNUC__)
#define SOMA_PRINTF(fmt_idx, first) __attribute__((format(printf, fmt_idx, first)))
#else
#define SOMA_PRINTF(fmt_idx, first)
#endif

/* SOMA_VECTORIZE on a compute function (a step, forward, backward) asks the
 * compiler for extra AVX-512F and AVX2 copies of it, the best one the CPU (and
 * OS) supports chosen at load time (GCC/clang target_clones, x86-64 only;
 * nothing elsewhere). Plugins are built for the baseline ISA, so their loops
 * otherwise run 4 floats wide; Adam's step over the tutorial model's 109k
 * weights takes 25 us as AVX2 and 15 us as AVX-512 on Zen 5. Neither target
 * enables FMA, so every copy computes the same bits. Define SOMA_NO_CLONES to
 * turn it off. */
#if defined(__x86_64__) && defined(__has_attribute) && !defined(SOMA_NO_CLONES)
#if __has_attribute(target_clones)
#define SOMA_VECTORIZE __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef SOMA_VECTORIZE
#define SOMA_VECTORIZE
#endif

/* ---- Status codes (shared with soma.h). 0 is success, errors are < 0. ---- */
#ifndef SOMA_STATUS_DEFINED
#define SOMA_STATUS_DEFINED
enum soma_status {
    SOMA_OK = 0,
    SOMA_E_INVALID = -1,     /* bad argument or parameter value            */
    SOMA_E_NOMEM = -2,       /* allocation failed or size overflow         */
    SOMA_E_IO = -3,          /* cannot open / read / write a file          */
    SOMA_E_FORMAT = -4,      /* malformed file or string                   */
    SOMA_E_SHAPE = -5,       /* tensor shapes do not fit together          */
    SOMA_E_NOT_FOUND = -6,   /* unknown plugin, parameter or name          */
    SOMA_E_PLUGIN = -7,      /* a plugin could not be loaded or misbehaved */
    SOMA_E_ABI = -8,         /* plugin built for another ABI major         */
    SOMA_E_NUMERIC = -9,     /* NaN or Inf where a finite value is needed  */
    SOMA_E_STATE = -10,      /* call made in the wrong order               */
    SOMA_E_RANGE = -11,      /* value out of range (e.g. a class label)    */
    SOMA_E_UNSUPPORTED = -12 /* valid request this build cannot do        */
};
#endif

/* A loss's mask() returns this (a positive value, not an error) for "no mask
 * in this call". */
#define SOMA_NO_MASK 1

/* ---- Tensor views ---------------------------------------------------------
 * A view of float32 data owned by the host. In ABI 1.x every view handed to a
 * plugin is C-contiguous (row-major, no gaps), so element (i, j) of a rank-2
 * view is data[i * dims[1] + j]. A plugin MUST NOT keep a view after the call.
 */
#define SOMA_MAX_DIMS 8
typedef struct soma_tview {
    float *data;
    int32_t ndim;                 /* 0..SOMA_MAX_DIMS                         */
    int64_t dims[SOMA_MAX_DIMS];  /* dims[0] is the batch axis where there is one */
} soma_tview;

static inline int64_t soma_tview_numel(const soma_tview *v) {
    int64_t n = 1;
    for (int32_t i = 0; i < v->ndim; i++) n *= v->dims[i];
    return n;
}
/* Size of the last axis (1 for a scalar). Losses reduce over it. */
static inline int64_t soma_tview_cols(const soma_tview *v) {
    return v->ndim > 0 ? v->dims[v->ndim - 1] : 1;
}
/* Number of last-axis rows: numel / cols (0 when the view is empty). */
static inline int64_t soma_tview_rows(const soma_tview *v) {
    int64_t c = soma_tview_cols(v);
    return c > 0 ? soma_tview_numel(v) / c : 0;
}

/* ---- Parameters -----------------------------------------------------------
 * Each item declares its parameters. The host parses a user's spec such as
 * "adam(learning_rate=0.01, amsgrad=true)", rejects unknown keys and ill-typed
 * values with a message naming the item and the key, fills defaults, and hands
 * the item an array of values in schema order: params[i] belongs to schema[i].
 */
typedef enum soma_param_type {
    SOMA_PARAM_FLOAT = 1,  /* value in .num                                   */
    SOMA_PARAM_INT = 2,    /* integral value in .num (|v| < 2^53)             */
    SOMA_PARAM_BOOL = 3,   /* 0 or 1 in .num; accepts true/false/1/0          */
    SOMA_PARAM_STRING = 4  /* value in .str (NUL-terminated, host-owned)      */
} soma_param_type;

typedef struct soma_param_spec {
    const char *name;      /* [a-z][a-z0-9_]*                                 */
    soma_param_type type;
    double def_num;        /* default for FLOAT / INT / BOOL                  */
    const char *def_str;   /* default for STRING (NULL means "none")          */
    const char *doc;       /* one line, shown by `soma plugins`               */
} soma_param_spec;

typedef struct soma_param_value {
    double num;            /* FLOAT, INT, BOOL                                */
    const char *str;       /* STRING; valid as long as the instance           */
    int32_t is_set;        /* 1 when the user gave it, 0 when defaulted       */
} soma_param_value;

/* An item instance as the host created it: the validated parameter values,
 * and whatever create() stored in *state (NULL when create is NULL). */
typedef struct soma_instance {
    const soma_param_value *params;
    void *state;
} soma_instance;

/* ---- Random numbers -------------------------------------------------------
 * A counter-based stream owned by the host. Same seed ⇒ same numbers, on every
 * machine and thread count. Plugins draw only through the host functions.
 */
typedef struct soma_rng soma_rng;

/* ---- Work splitting ------------------------------------------------------- */
struct soma_ctx;
/* Called for a sub-range [begin, end) of [0, n). */
typedef void (*soma_range_fn)(void *arg, int64_t begin, int64_t end,
                              int thread_index);

/* ---- Log levels ----------------------------------------------------------- */
enum soma_log_level { SOMA_LOG_DEBUG = 0, SOMA_LOG_INFO = 1, SOMA_LOG_WARN = 2,
                      SOMA_LOG_ERROR = 3 };

/* ---- Host services table ----------------------------------------------------
 * Owned by the host, valid from the entry call until the plugin is unloaded.
 * Every function is thread-safe unless it says otherwise.
 */
typedef struct soma_host {
    uint32_t size;                 /* sizeof(soma_host) as the host built it  */
    uint16_t abi_major, abi_minor;

    /* Memory. align is a power of two (0 means 64). Returns NULL on failure or
     * when size is 0. free(NULL) is a no-op. */
    void *(*alloc)(size_t size, size_t align);
    void (*free)(void *ptr);

    /* Diagnostics. set_error records the message for soma_last_error() in the
     * calling thread and returns code, so `return host->set_error(...)`. */
    int (*set_error)(int code, const char *fmt, ...) SOMA_PRINTF(2, 3);
    void (*log)(int level, const char *fmt, ...) SOMA_PRINTF(2, 3);

    /* Random numbers from ctx->rng. Each call consumes the stream. */
    uint64_t (*rng_u64)(soma_rng *rng);
    /* U[lo, hi) in float32. */
    void (*rng_uniform)(soma_rng *rng, float *out, size_t n, float lo, float hi);
    /* N(mean, std). */
    void (*rng_normal)(soma_rng *rng, float *out, size_t n, float mean, float std);
    /* N(mean, std) re-drawn until within mean ± 2·std (Keras' truncation). */
    void (*rng_truncated_normal)(soma_rng *rng, float *out, size_t n,
                                 float mean, float std);

    /* Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, where
     * op(X) is X or Xᵀ (trans != 0), op(A) is m×k, op(B) is k×n. beta = 0
     * ignores what C held (NaN included). */
    void (*sgemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const float *a, int64_t lda, const float *b,
                  int64_t ldb, float beta, float *c, int64_t ldc);

    /* Vector math, out may alias in. */
    void (*vexp)(float *out, const float *in, size_t n);
    void (*vlog)(float *out, const float *in, size_t n);

    /* Runs fn over [0, n) split into ranges on the host's workers; returns
     * when all ranges are done. fn MUST NOT call parallel_for itself. */
    void (*parallel_for)(const struct soma_ctx *ctx, int64_t n, soma_range_fn fn,
                         void *arg);
} soma_host;

/* ---- Call context: passed to every compute function. ---- */
typedef struct soma_ctx {
    uint32_t size;
    const soma_host *host;
    soma_rng *rng;                 /* the stream for this call; may be shared */
    int32_t thread_index;          /* 0 when called outside parallel_for      */
    int32_t thread_count;          /* workers the host may use                */
} soma_ctx;

/* ---- Item kinds ---- */
typedef enum soma_kind {
    SOMA_KIND_INIT = 1,    /* initializer  → soma_init_vt   */
    SOMA_KIND_LOSS = 2,    /* loss         → soma_loss_vt   */
    SOMA_KIND_OPTIM = 3    /* optimizer    → soma_optim_vt  */
} soma_kind;

/* Common lifetime functions, optional in every vtable (NULL = no state).
 * create: called once per use (e.g. per layer for an initializer) with the
 *   validated parameters. It MAY validate them (return set_error(SOMA_E_INVALID,
 *   "momentum must be in [0, 1], got %g", v)) and MAY allocate *state through
 *   host->alloc. destroy: frees what create made. */
typedef int (*soma_create_fn)(const soma_host *host,
                              const soma_param_value *params, void **state);
typedef void (*soma_destroy_fn)(const soma_host *host, void *state);

/* ---- Initializer ----------------------------------------------------------
 * fill writes every element of out (the tensor being initialised, e.g. a Dense
 * kernel of shape (in, out)). fans are Keras' compute_fans(shape): rank 2 →
 * (dims[0], dims[1]); rank ≥ 3 → receptive field × the last two dims; rank 1 →
 * (dims[0], dims[0]); rank 0 → (1, 1). All randomness MUST come from ctx->rng.
 */
typedef struct soma_fans { double fan_in, fan_out; } soma_fans;

typedef struct soma_init_vt {
    uint32_t size;
    const char *name;
    soma_create_fn create;          /* optional */
    soma_destroy_fn destroy;        /* optional */
    int (*fill)(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *out, const soma_fans *fans);  /* required */
} soma_init_vt;

/* ---- Loss -----------------------------------------------------------------
 * The host aligns ranks as Keras does (y_true (N,) with y_pred (N,1) → both
 * (N,1)), then calls the loss on a whole batch.
 * forward writes one value per last-axis row of y_pred into values
 *   (soma_tview_rows(y_pred) floats): Keras' per-sample loss.
 * backward writes d_y_pred (same shape as y_pred) = Σ_r d_values[r] · ∂values[r]/∂y_pred.
 * The host applies the reduction (sum_over_batch_size, sum, none), sample
 * weights and masks once for every loss, so a loss MUST NOT reduce over rows.
 * A loss validates y_true against y_pred (shape, label range) and returns
 * SOMA_E_SHAPE / SOMA_E_RANGE with a message naming the row when they disagree.
 */
typedef struct soma_loss_vt {
    uint32_t size;
    const char *name;
    soma_create_fn create;          /* optional */
    soma_destroy_fn destroy;        /* optional */
    int (*forward)(const soma_instance *self, const soma_ctx *ctx,
                   const soma_tview *y_true, const soma_tview *y_pred,
                   float *values);                              /* required */
    int (*backward)(const soma_instance *self, const soma_ctx *ctx,
                    const soma_tview *y_true, const soma_tview *y_pred,
                    const float *d_values, float *d_y_pred);    /* required */
    /* Optional: rows to leave out (Keras' mask, e.g. SCCE's ignore_class).
     * Writes mask[r] = 1 to keep row r, 0 to ignore it. The host then
     * averages over kept rows only (sum_over_batch_size / mean) or uses the
     * mask as a 0/1 weight (other reductions). forward and backward MUST
     * give 0 for ignored rows. Returning SOMA_NO_MASK instead (writing
     * nothing) says this call has no mask at all, which is not the same as an
     * all-ones mask for mean_with_sample_weight (Keras divides by the weights
     * as given only without a mask). NULL: never a mask. */
    int (*mask)(const soma_instance *self, const soma_ctx *ctx,
                const soma_tview *y_true, const soma_tview *y_pred,
                float *mask);                                    /* optional */
} soma_loss_vt;

/* ---- Optimizer ------------------------------------------------------------
 * The host owns one parameter tensor at a time, its gradient (already scaled,
 * clipped and, where asked, weight-decayed by the host) and the optimizer's
 * slots: slot_count() float buffers the size of the parameter, zeroed, then
 * passed once to init_slots. step updates param in place; it MUST be
 * elementwise over [0, n), because the host may split one tensor into ranges
 * and run them on several threads.
 * An optimizer SHOULD declare a FLOAT parameter named "learning_rate"; the
 * host reads it (and later applies schedules) and passes the value to use in
 * info->lr.
 */
typedef struct soma_step_info {
    uint32_t size;
    int64_t t;       /* 1-based step count: Keras' iterations + 1 */
    double lr;       /* learning rate for this step               */
} soma_step_info;

typedef struct soma_optim_vt {
    uint32_t size;
    const char *name;
    soma_create_fn create;          /* optional */
    soma_destroy_fn destroy;        /* optional */
    uint32_t (*slot_count)(const soma_instance *self);     /* optional: 0 */
    int (*init_slots)(const soma_instance *self, const soma_ctx *ctx,
                      float *const *slots, size_t n);        /* optional */
    /* Once per apply, before the per-tensor steps (e.g. Nadam's schedule). */
    int (*begin_step)(const soma_instance *self, const soma_ctx *ctx,
                      const soma_step_info *info);            /* optional */
    int (*step)(const soma_instance *self, const soma_ctx *ctx, float *param,
                const float *grad, float *const *slots, size_t n,
                const soma_step_info *info);                  /* required */
} soma_optim_vt;

/* ---- Descriptor ------------------------------------------------------------ */
typedef struct soma_item {
    uint32_t size;                  /* sizeof(soma_item)                       */
    soma_kind kind;
    const char *name;               /* canonical Keras name, e.g. "he_normal"  */
    const char *const *aliases;     /* NULL-terminated extra names, or NULL    */
    const char *doc;                /* one line                                */
    const soma_param_spec *params;  /* n_params entries, or NULL               */
    uint32_t n_params;
    const void *vtable;             /* soma_init_vt / soma_loss_vt / soma_optim_vt */
} soma_item;

typedef struct soma_plugin_desc {
    uint32_t size;                  /* sizeof(soma_plugin_desc)                */
    uint16_t abi_major, abi_minor;  /* SOMA_ABI_MAJOR / SOMA_ABI_MINOR          */
    const char *name;               /* plugin name, e.g. "he_normal"           */
    const char *version;            /* free text, may be NULL                  */
    const soma_item *items;
    uint32_t n_items;
} soma_plugin_desc;

/* The one entry point the loader looks up. It MAY return NULL to say "not
 * usable here" (the loader reports that). */
#define SOMA_PLUGIN_ENTRY_SYMBOL "soma_plugin_entry"
typedef const soma_plugin_desc *(*soma_plugin_entry_fn)(const soma_host *host);

/* SOMA_PLUGIN_DEFINE(kind, name, items, n_items) defines the descriptor and
 * the entry point. It always emits a uniquely named
 * soma_plugin_<kind>_<name>_entry (so several plugins can link statically into
 * one program) and, unless SOMA_PLUGIN_STATIC is defined, the dynamic
 * soma_plugin_entry. */
#ifdef SOMA_PLUGIN_STATIC
#define SOMA_PLUGIN_DYNAMIC_ENTRY_(kind_, name_)
#else
#define SOMA_PLUGIN_DYNAMIC_ENTRY_(kind_, name_)                                \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc *soma_plugin_entry(               \
        const soma_host *host);                                                 \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc *soma_plugin_entry(               \
        const soma_host *host) {                                                \
        return soma_plugin_##kind_##_##name_##_entry(host);                     \
    }
#endif

/* (Macro parameters end in '_' so they never capture a designator such as
 * .name in the initializer below.) */
#define SOMA_PLUGIN_DEFINE(kind_, name_, items_, n_items_)                      \
    static const soma_plugin_desc soma_plugin_desc_##kind_##_##name_ = {        \
        .size = sizeof(soma_plugin_desc),                                       \
        .abi_major = SOMA_ABI_MAJOR,                                            \
        .abi_minor = SOMA_ABI_MINOR,                                            \
        .name = #name_,                                                         \
        .version = NULL,                                                        \
        .items = (items_),                                                      \
        .n_items = (n_items_),                                                  \
    };                                                                          \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc                                   \
        *soma_plugin_##kind_##_##name_##_entry(const soma_host *host);          \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc                                   \
        *soma_plugin_##kind_##_##name_##_entry(const soma_host *host) {         \
        (void)host;                                                             \
        return &soma_plugin_desc_##kind_##_##name_;                             \
    }                                                                           \
    SOMA_PLUGIN_DYNAMIC_ENTRY_(kind_, name_)

#ifdef __cplusplus
}
#endif
#endif /* SOMA_PLUGIN_H */
