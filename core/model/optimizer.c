// Keras' base-optimizer apply, once for every optimizer plugin (KERAS.md
// §3.2): clip → decoupled weight decay → the plugin's step → EMA →
// iterations += 1. A custom optimizer gets all of it by declaring nothing.
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/optimizer.h"
#include "thread/pool.h"

// Below this many elements (all tensors together) the step runs on the
// calling thread: the hand-off to the workers costs more than the arithmetic
// it would share.
#define PARALLEL_STEP_MIN 32768

static const char *opt_name(const soma_optimizer *o) { return o->obj->item->name; }

int soma_optimizer_create(const char *spec, soma_optimizer **out) {
    *out = NULL;
    soma_optimizer *o = calloc(1, sizeof *o);
    if (!o) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    int rc = soma_obj_create(SOMA_KIND_OPTIM, spec, &o->obj);
    if (rc) {
        free(o);
        return rc;
    }
    const char *name = opt_name(o);
    if (o->obj->lr_schedule) {
        if ((rc = soma_schedule_create(o->obj->lr_schedule, &o->schedule))) {
            soma_error_prefix("optimizer '%s': learning_rate", name);
            goto fail;
        }
    } else if (soma_obj_param(o->obj, "learning_rate", &o->lr)) {
        if (!(o->lr >= 0) || !isfinite(o->lr)) {
            rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': learning_rate must be >= 0, got %g",
                                name, o->lr);
            goto fail;
        }
    } else {
        soma_log(SOMA_LOG_WARN, "optimizer '%s' declares no learning_rate; passing 0", name);
    }
    o->has_wd = soma_obj_option(o->obj, "weight_decay", &o->weight_decay);
    o->has_clipnorm = soma_obj_option(o->obj, "clipnorm", &o->clipnorm);
    o->has_clipvalue = soma_obj_option(o->obj, "clipvalue", &o->clipvalue);
    o->has_global_clipnorm = soma_obj_option(o->obj, "global_clipnorm", &o->global_clipnorm);
    double v = 0;
    o->use_ema = soma_obj_option(o->obj, "use_ema", &v) && v != 0;
    soma_obj_option(o->obj, "ema_momentum", &o->ema_momentum);
    if (soma_obj_option(o->obj, "ema_overwrite_frequency", &v)) o->ema_frequency = (int64_t)v;
    // Keras' own checks: at most one clipping option; each one positive.
    if (o->has_clipnorm + o->has_clipvalue + o->has_global_clipnorm > 1) {
        rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': only one of clipnorm, clipvalue and "
                            "global_clipnorm can be set", name);
        goto fail;
    }
    if ((o->has_clipnorm && !(o->clipnorm > 0)) || (o->has_clipvalue && !(o->clipvalue > 0)) ||
        (o->has_global_clipnorm && !(o->global_clipnorm > 0))) {
        rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': clipping thresholds must be > 0", name);
        goto fail;
    }
    if (o->has_wd && !(o->weight_decay >= 0 && isfinite(o->weight_decay))) {
        rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': weight_decay must be >= 0, got %g", name,
                            o->weight_decay);
        goto fail;
    }
    if (o->use_ema && !(o->ema_momentum >= 0 && o->ema_momentum <= 1)) {
        rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': ema_momentum must be in [0, 1], got %g",
                            name, o->ema_momentum);
        goto fail;
    }
    if (o->ema_frequency < 0) {
        rc = soma_error_set(SOMA_E_INVALID, "optimizer '%s': ema_overwrite_frequency must be > 0", name);
        goto fail;
    }
    const soma_optim_vt *vt = soma_obj_optim(o->obj);
    o->plugin_slots = vt->slot_count ? vt->slot_count(&o->obj->inst) : 0;
    if (o->plugin_slots > 32) {
        rc = soma_error_set(SOMA_E_PLUGIN, "optimizer '%s' asks for %u slots per parameter", name,
                            o->plugin_slots);
        goto fail;
    }
    *out = o;
    return SOMA_OK;
fail:
    soma_optimizer_free(o);
    return rc;
}

void soma_optimizer_free(soma_optimizer *o) {
    if (!o) return;
    soma_obj_free(o->obj);
    soma_obj_free(o->schedule);
    free(o);
}

uint32_t soma_optimizer_slot_count(const soma_optimizer *o) {
    return o->plugin_slots + (o->use_ema ? 1u : 0u);
}

int soma_optimizer_init_slots(soma_optimizer *o, soma_ptensor *t) {
    const soma_optim_vt *vt = soma_obj_optim(o->obj);
    if (vt->init_slots && o->plugin_slots) {
        soma_ctx ctx = soma_ctx_make(NULL);
        if (vt->init_slots(&o->obj->inst, &ctx, t->slots, (size_t)t->numel))
            return soma_error_prefix("optimizer '%s' init_slots", opt_name(o));
    }
    return SOMA_OK;
}

double soma_optimizer_lr(const soma_optimizer *o) {
    return o->schedule ? soma_schedule_eval(o->schedule, o->iterations) : o->lr;
}

static double sq_norm(const float *g, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

static void scale(float *g, int64_t n, float f) {
    for (int64_t i = 0; i < n; i++) g[i] *= f;
}

// The plugin's step over every tensor at once: the tensors' elements laid
// end to end in one index space that the pool splits, so small tensors (the
// biases, a last layer) share the threads too and one hand-off serves them
// all. step is elementwise (plugin.h): any split gives the same bits.
typedef struct step_job {
    soma_optimizer *o;
    soma_ptensor *t;
    int n;
    const soma_step_info *info;
    _Atomic int rc;
    char msg[512]; // the first failure's message (errors are per thread)...
    const char *where; // ...and its tensor
} step_job;

static void step_range(void *arg, int64_t begin, int64_t end, int thread_index) {
    step_job *job = arg;
    soma_ctx ctx = soma_ctx_make(NULL);
    ctx.thread_index = thread_index;
    const soma_optim_vt *vt = soma_obj_optim(job->o->obj);
    int64_t base = 0;
    for (int i = 0; i < job->n && base < end; base += job->t[i].numel, i++) {
        const soma_ptensor *t = &job->t[i];
        const int64_t lo = begin > base ? begin - base : 0;
        const int64_t hi = end - base < t->numel ? end - base : t->numel;
        if (lo >= hi) continue;
        float *slots[32];
        for (uint32_t s = 0; s < job->o->plugin_slots; s++) slots[s] = t->slots[s] + lo;
        int rc = vt->step(&job->o->obj->inst, &ctx, t->value + lo, t->grad + lo, slots,
                          (size_t)(hi - lo), job->info);
        if (rc) {
            int ok = SOMA_OK;
            if (atomic_compare_exchange_strong(&job->rc, &ok, rc)) {
                snprintf(job->msg, sizeof job->msg, "%s", soma_last_error());
                job->where = t->name ? t->name : "a tensor";
            }
            return;
        }
    }
}

int soma_optimizer_apply(soma_optimizer *o, soma_ptensor *t, int n) {
    const soma_optim_vt *vt = soma_obj_optim(o->obj);
    double lr = soma_optimizer_lr(o);
    if (!isfinite(lr))
        return soma_error_set(SOMA_E_NUMERIC, "optimizer '%s': learning rate is %g at iteration %lld",
                              opt_name(o), lr, (long long)o->iterations);
    // 1. clipping
    if (o->has_clipnorm) {
        for (int i = 0; i < n; i++) {
            double norm = sqrt(sq_norm(t[i].grad, t[i].numel));
            if (norm > o->clipnorm) scale(t[i].grad, t[i].numel, (float)(o->clipnorm / norm));
        }
    } else if (o->has_clipvalue) {
        float c = (float)o->clipvalue;
        for (int i = 0; i < n; i++)
            for (int64_t k = 0; k < t[i].numel; k++)
                t[i].grad[k] = fminf(fmaxf(t[i].grad[k], -c), c);
    } else if (o->has_global_clipnorm) {
        double total = 0;
        for (int i = 0; i < n; i++) total += sq_norm(t[i].grad, t[i].numel);
        double g = sqrt(total);
        // Keras: g·c·min(1/G, 1/c); a non-finite G makes every gradient NaN.
        float f = isfinite(g) ? (float)(o->global_clipnorm * fmin(1.0 / g, 1.0 / o->global_clipnorm)) : NAN;
        for (int i = 0; i < n; i++) scale(t[i].grad, t[i].numel, f);
    }
    // 2. decoupled weight decay on the pre-step weights
    if (o->has_wd && o->weight_decay > 0) {
        // Keras' float32 order: x -= (x·wd)·lr.
        float wd = (float)o->weight_decay, flr = (float)lr;
        for (int i = 0; i < n; i++)
            for (int64_t k = 0; k < t[i].numel; k++) t[i].value[k] -= (t[i].value[k] * wd) * flr;
    }
    // 3. the plugin's update
    soma_step_info info = {.size = sizeof info, .t = o->iterations + 1, .lr = lr};
    soma_ctx ctx = soma_ctx_make(NULL);
    if (vt->begin_step && vt->begin_step(&o->obj->inst, &ctx, &info))
        return soma_error_prefix("optimizer '%s'", opt_name(o));
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += t[i].numel;
    step_job job = {.o = o, .t = t, .n = n, .info = &info, .rc = SOMA_OK};
    if (total >= PARALLEL_STEP_MIN && soma_pool_threads() > 1) soma_parallel_for(&ctx, total, step_range, &job);
    else step_range(&job, 0, total, 0);
    int rc = atomic_load(&job.rc);
    if (rc) {
        soma_error_set(rc, "%s", job.msg);
        return soma_error_prefix("optimizer '%s' on %s", opt_name(o), job.where);
    }
    // 4. moving average of the weights; its first value is the first updated weights
    if (o->use_ema) {
        float mu = o->iterations == 0 ? 0.0f : (float)o->ema_momentum;
        bool overwrite = o->ema_frequency > 0 && (o->iterations + 1) % o->ema_frequency == 0;
        for (int i = 0; i < n; i++) {
            float *avg = t[i].slots[o->plugin_slots];
            for (int64_t k = 0; k < t[i].numel; k++) {
                avg[k] = mu * avg[k] + (1 - mu) * t[i].value[k];
                if (overwrite) t[i].value[k] = avg[k];
            }
        }
    }
    o->iterations++;
    return SOMA_OK;
}

void soma_optimizer_finalize(soma_optimizer *o, soma_ptensor *t, int n) {
    if (!o->use_ema || o->iterations == 0) return;
    for (int i = 0; i < n; i++)
        memcpy(t[i].value, t[i].slots[o->plugin_slots], (size_t)t[i].numel * sizeof(float));
}
