// Initializers and optimizers used alone, outside a model: what `soma plugin
// check` runs, and what `soma init` / `soma optimize` print. Each goes through
// a plugin exactly as a model does, so what they show is what training gets.
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "model/optimizer.h"
#include "plugin/registry.h"

// Keras' compute_fans(shape), as plugin.h documents it for fill().
static soma_fans keras_fans(int ndim, const int64_t *dims) {
    if (ndim == 0) return (soma_fans){1, 1};
    if (ndim == 1) return (soma_fans){(double)dims[0], (double)dims[0]};
    if (ndim == 2) return (soma_fans){(double)dims[0], (double)dims[1]};
    double receptive = 1;
    for (int i = 0; i < ndim - 2; i++) receptive *= (double)dims[i];
    return (soma_fans){(double)dims[ndim - 2] * receptive, (double)dims[ndim - 1] * receptive};
}

SOMA_API int soma_init_eval(const char *spec, uint64_t seed, int ndim, const int64_t *dims,
                            soma_tensor **out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_init_eval: out is NULL");
    *out = NULL;
    if (!spec || !*spec) return soma_error_set(SOMA_E_INVALID, "soma_init_eval: no initializer given");
    soma_tensor *t;
    int rc = soma_tensor_create(&t, ndim, dims, NULL);
    if (rc) return soma_error_prefix("soma_init_eval");
    soma_obj *init;
    if ((rc = soma_obj_create(SOMA_KIND_INIT, spec, &init))) {
        soma_tensor_free(t);
        return rc;
    }
    // A seed=... in the spec wins over the caller's, as it does in a Dense
    // layer, so both draw the same numbers.
    for (uint32_t i = 0; i < init->item->n_params; i++)
        if (strcmp(init->item->params[i].name, "seed") == 0 && init->values[i].is_set)
            seed = (uint64_t)(int64_t)init->values[i].num;
    // NaN in every element first: fill MUST write them all, and one it skips
    // then shows up as non-finite instead of passing as a zero.
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = NAN;
    soma_rng rng;
    soma_rng_init(&rng, seed, 0);
    soma_ctx ctx = soma_ctx_make(&rng);
    soma_tview v = soma_tensor_view(t);
    soma_fans fans = keras_fans(ndim, t->dims);
    rc = soma_obj_init(init)->fill(&init->inst, &ctx, &v, &fans);
    if (rc) {
        soma_error_prefix("initializer '%s'", init->item->name);
    } else {
        for (int64_t i = 0; i < t->numel; i++) {
            if (isfinite(t->data[i])) continue;
            char shape[160];
            rc = soma_error_set(SOMA_E_PLUGIN,
                                "initializer '%s' left element %lld of %s %s", init->item->name,
                                (long long)i, soma_shape_str(t->ndim, t->dims, shape, sizeof shape),
                                isnan(t->data[i]) ? "unwritten or NaN" : "infinite");
            break;
        }
    }
    soma_obj_free(init);
    if (rc) {
        soma_tensor_free(t);
        return rc;
    }
    *out = t;
    return SOMA_OK;
}

/* ---- optimizers -------------------------------------------------------------- */

// One tensor through the core's optimizer, as fit drives it: the same slots,
// learning rate (or schedule), clipping, weight decay, EMA and iteration
// count, so what this shows is what training does. Like Keras'
// optimizer.apply, it leaves the EMA in its slot (fit copies it into the
// weights at the end; a step-by-step caller sees the raw weights).
SOMA_API int soma_optim_run(const char *spec, soma_tensor *param, soma_grad_fn grad_fn,
                            void *user, int steps, soma_tensor **trajectory) {
    if (trajectory) *trajectory = NULL;
    if (!spec || !*spec) return soma_error_set(SOMA_E_INVALID, "soma_optim_run: no optimizer given");
    if (!param || !grad_fn)
        return soma_error_set(SOMA_E_INVALID, "soma_optim_run: param and grad_fn are required");
    if (steps < 0) return soma_error_set(SOMA_E_INVALID, "soma_optim_run: steps must be >= 0, got %d", steps);
    int64_t numel = param->numel;
    soma_tensor *grad = NULL, *traj = NULL;
    float *slot_block = NULL, *slots[64] = {0};
    soma_optimizer *o;
    int rc = soma_optimizer_create(spec, &o);
    if (rc) return rc;
    uint32_t n_slots = soma_optimizer_slot_count(o);
    soma_ptensor pt = {.value = param->data, .numel = numel, .slots = slots, .name = "param"};
    if (n_slots > sizeof slots / sizeof *slots) {
        rc = soma_error_set(SOMA_E_PLUGIN, "optimizer '%s' asks for %u slots per parameter",
                            o->obj->item->name, n_slots);
        goto done;
    }
    if (n_slots > 0 && numel > 0) {
        size_t floats;
        if (!soma_mul_size((size_t)numel, n_slots, &floats)) {
            rc = soma_error_set(SOMA_E_NOMEM, "optimizer slots overflow");
            goto done;
        }
        if (!(slot_block = soma_calloc(floats, sizeof(float)))) {
            rc = soma_error_set(SOMA_E_NOMEM, "out of memory for optimizer slots");
            goto done;
        }
        for (uint32_t s = 0; s < n_slots; s++) slots[s] = slot_block + (size_t)s * (size_t)numel;
    }
    if ((rc = soma_optimizer_init_slots(o, &pt))) goto done;
    if ((rc = soma_tensor_create(&grad, param->ndim, param->dims, NULL))) goto done;
    pt.grad = grad->data;
    if (trajectory) {
        int64_t dims[2] = {steps, numel};
        if ((rc = soma_tensor_create(&traj, 2, dims, NULL))) goto done;
    }
    for (int s = 0; s < steps; s++) {
        if (numel > 0) memset(grad->data, 0, (size_t)numel * sizeof(float));
        int g = grad_fn(user, s, param, grad);
        if (g != SOMA_OK) {
            rc = g < 0 ? g : SOMA_E_INVALID;
            soma_error_set(rc, "soma_optim_run: the gradient function failed at step %d (%s)", s + 1,
                           soma_status_name(rc));
            goto done;
        }
        if ((rc = soma_optimizer_apply(o, &pt, 1))) {
            soma_error_prefix("step %d", s + 1);
            goto done;
        }
        if (traj && numel > 0)
            memcpy(traj->data + (size_t)s * (size_t)numel, param->data, (size_t)numel * sizeof(float));
    }
done:
    soma_optimizer_free(o);
    soma_free(slot_block);
    soma_tensor_free(grad);
    if (rc) {
        soma_tensor_free(traj);
        return rc;
    }
    if (trajectory) *trajectory = traj;
    return SOMA_OK;
}

typedef struct fixed_grads {
    const soma_tensor *const *grads;
} fixed_grads;

static int copy_grad(void *user, int step, const soma_tensor *param, soma_tensor *grad) {
    (void)param;
    const soma_tensor *g = ((const fixed_grads *)user)->grads[step];
    if (g->numel > 0) memcpy(grad->data, g->data, (size_t)g->numel * sizeof(float));
    return SOMA_OK;
}

SOMA_API int soma_optim_eval(const char *spec, soma_tensor *param, const soma_tensor *const *grads,
                             int steps, soma_tensor **trajectory) {
    if (trajectory) *trajectory = NULL;
    if (!param) return soma_error_set(SOMA_E_INVALID, "soma_optim_eval: param is NULL");
    if (steps > 0 && !grads) return soma_error_set(SOMA_E_INVALID, "soma_optim_eval: grads is NULL");
    // All shapes are checked before the first step, so a bad gradient never
    // leaves param half updated.
    for (int s = 0; s < steps; s++) {
        if (!grads[s]) return soma_error_set(SOMA_E_INVALID, "soma_optim_eval: grads[%d] is NULL", s);
        if (grads[s]->numel != param->numel) {
            char a[160], b[160];
            return soma_error_set(SOMA_E_SHAPE, "soma_optim_eval: grads[%d] has shape %s, param %s", s,
                                  soma_shape_str(grads[s]->ndim, grads[s]->dims, a, sizeof a),
                                  soma_shape_str(param->ndim, param->dims, b, sizeof b));
        }
    }
    fixed_grads fg = {grads};
    return soma_optim_run(spec, param, copy_grad, &fg, steps, trajectory);
}
