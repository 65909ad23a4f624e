// Keras' learning-rate schedules (keras.optimizers.schedules), evaluated at the
// optimizer's iteration count before the update, as Keras does. They are the
// core's own items, parsed with the plugin spec grammar:
//   adam(learning_rate=cosine_decay(initial_learning_rate=0.1, decay_steps=1000))
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/optimizer.h"

enum sched_id { EXPONENTIAL, PIECEWISE, POLYNOMIAL, INVERSE_TIME, COSINE, COSINE_RESTARTS };

#define P_FLOAT(n, d, doc_) {.name = n, .type = SOMA_PARAM_FLOAT, .def_num = d, .doc = doc_}
#define P_BOOL(n, d, doc_) {.name = n, .type = SOMA_PARAM_BOOL, .def_num = d, .doc = doc_}
#define P_STR(n, doc_) {.name = n, .type = SOMA_PARAM_STRING, .def_str = NULL, .doc = doc_}
// NAN default = required (Keras has no default for these).
#define REQ NAN

static const soma_param_spec exp_params[] = {
    P_FLOAT("initial_learning_rate", REQ, "learning rate at step 0"),
    P_FLOAT("decay_steps", REQ, "steps per decay period (> 0)"),
    P_FLOAT("decay_rate", REQ, "factor per period"),
    P_BOOL("staircase", 0, "decay in whole periods"),
};
static const soma_param_spec piecewise_params[] = {
    P_STR("boundaries", "increasing steps, e.g. '100,200'"),
    P_STR("values", "one more value than boundaries, e.g. '1.0,0.5,0.1'"),
};
static const soma_param_spec poly_params[] = {
    P_FLOAT("initial_learning_rate", REQ, "learning rate at step 0"),
    P_FLOAT("decay_steps", REQ, "steps to reach end_learning_rate (> 0)"),
    P_FLOAT("end_learning_rate", 0.0001, "final learning rate"),
    P_FLOAT("power", 1.0, "power of the polynomial"),
    P_BOOL("cycle", 0, "restart after decay_steps with a longer period"),
};
static const soma_param_spec inv_params[] = {
    P_FLOAT("initial_learning_rate", REQ, "learning rate at step 0"),
    P_FLOAT("decay_steps", REQ, "steps per decay period (> 0)"),
    P_FLOAT("decay_rate", REQ, "decay rate"),
    P_BOOL("staircase", 0, "decay in whole periods"),
};
static const soma_param_spec cos_params[] = {
    P_FLOAT("initial_learning_rate", REQ, "learning rate at step 0"),
    P_FLOAT("decay_steps", REQ, "steps to decay over (> 0)"),
    P_FLOAT("alpha", 0.0, "final learning rate as a fraction"),
    P_FLOAT("warmup_target", NAN, "warm up linearly to this rate first (None: no warmup)"),
    P_FLOAT("warmup_steps", 0, "steps of warmup"),
};
static const soma_param_spec restart_params[] = {
    P_FLOAT("initial_learning_rate", REQ, "learning rate at step 0"),
    P_FLOAT("first_decay_steps", REQ, "steps of the first period (> 0)"),
    P_FLOAT("t_mul", 2.0, "each period is t_mul times longer"),
    P_FLOAT("m_mul", 1.0, "each restart starts at m_mul times the last start"),
    P_FLOAT("alpha", 0.0, "minimum learning rate as a fraction"),
};

#define ITEM(id, n, ps, d) [id] = {.size = sizeof(soma_item), .kind = SOMA_KIND_SCHEDULE, .name = n, \
                                   .doc = d, .params = ps, .n_params = sizeof ps / sizeof ps[0]}
static const soma_item schedules[] = {
    ITEM(EXPONENTIAL, "exponential_decay", exp_params, "lr0 * rate^(step/decay_steps)"),
    ITEM(PIECEWISE, "piecewise_constant_decay", piecewise_params, "constant between boundaries"),
    ITEM(POLYNOMIAL, "polynomial_decay", poly_params, "polynomial from lr0 to end_learning_rate"),
    ITEM(INVERSE_TIME, "inverse_time_decay", inv_params, "lr0 / (1 + rate*step/decay_steps)"),
    ITEM(COSINE, "cosine_decay", cos_params, "cosine decay with optional linear warmup"),
    ITEM(COSINE_RESTARTS, "cosine_decay_restarts", restart_params, "cosine decay with warm restarts"),
};
#define N_SCHED ((int)(sizeof schedules / sizeof schedules[0]))

static int sched_id(const soma_obj *s) { return (int)(s->item - schedules); }
static double P(const soma_obj *s, int i) { return s->values[i].num; }

// Parses "1, 2.5, 3" (commas or spaces) into at most cap doubles.
static int parse_list(const char *text, double *out, int cap, int *n) {
    *n = 0;
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || *n >= cap) return -1;
        out[(*n)++] = v;
        p = end;
    }
    return 0;
}

#define MAX_PIECES 64

int soma_schedule_create(const char *spec, soma_obj **out) {
    int rc = soma_obj_create_static(SOMA_KIND_SCHEDULE, spec, schedules, N_SCHED, out);
    if (rc) return rc;
    soma_obj *s = *out;
    const char *name = s->item->name;
    for (uint32_t i = 0; i < s->item->n_params; i++)
        if (s->item->params[i].type == SOMA_PARAM_FLOAT && isnan(s->values[i].num) &&
            strcmp(s->item->params[i].name, "warmup_target") != 0) {
            rc = soma_error_set(SOMA_E_INVALID, "schedule '%s': parameter '%s' is required", name,
                                s->item->params[i].name);
            goto fail;
        }
    int id = sched_id(s);
    if (id == PIECEWISE) {
        double b[MAX_PIECES], v[MAX_PIECES + 1];
        int nb, nv;
        if (!s->values[0].str || !s->values[1].str || parse_list(s->values[0].str, b, MAX_PIECES, &nb) ||
            parse_list(s->values[1].str, v, MAX_PIECES + 1, &nv) || nb == 0) {
            rc = soma_error_set(SOMA_E_INVALID, "schedule '%s': boundaries and values must be lists of "
                                "numbers such as boundaries='100,200' values='1,0.5,0.1'", name);
            goto fail;
        }
        if (nv != nb + 1) {
            rc = soma_error_set(SOMA_E_INVALID, "schedule '%s': %d boundaries need %d values, got %d",
                                name, nb, nb + 1, nv);
            goto fail;
        }
        for (int i = 1; i < nb; i++)
            if (!(b[i] > b[i - 1])) {
                rc = soma_error_set(SOMA_E_INVALID, "schedule '%s': boundaries must increase", name);
                goto fail;
            }
    } else if (P(s, 1) <= 0) {
        rc = soma_error_set(SOMA_E_INVALID, "schedule '%s': %s must be > 0, got %g", name,
                            s->item->params[1].name, P(s, 1));
        goto fail;
    }
    return SOMA_OK;
fail:
    soma_obj_free(s);
    *out = NULL;
    return rc;
}

double soma_schedule_eval(const soma_obj *s, int64_t step_i) {
    double step = (double)step_i;
    switch (sched_id(s)) {
    case EXPONENTIAL: {
        double p = step / P(s, 1);
        if (P(s, 3)) p = floor(p);
        return P(s, 0) * pow(P(s, 2), p);
    }
    case PIECEWISE: {
        double b[MAX_PIECES], v[MAX_PIECES + 1];
        int nb, nv;
        parse_list(s->values[0].str, b, MAX_PIECES, &nb);
        parse_list(s->values[1].str, v, MAX_PIECES + 1, &nv);
        int i = 0;
        while (i < nb && step > b[i]) i++; // values[i] for b[i-1] < step <= b[i]
        return v[i];
    }
    case POLYNOMIAL: {
        double decay = P(s, 1);
        if (P(s, 4)) {
            decay *= step == 0 ? 1.0 : ceil(step / P(s, 1));
        } else {
            step = fmin(step, decay);
        }
        return (P(s, 0) - P(s, 2)) * pow(1 - step / decay, P(s, 3)) + P(s, 2);
    }
    case INVERSE_TIME: {
        double p = step / P(s, 1);
        if (P(s, 3)) p = floor(p);
        return P(s, 0) / (1 + P(s, 2) * p);
    }
    case COSINE: {
        double lr0 = P(s, 0), decay = P(s, 1), alpha = P(s, 2), target = P(s, 3), warm = P(s, 4);
        if (isnan(target)) {
            step = fmin(step, decay);
            return lr0 * ((1 - alpha) * 0.5 * (1 + cos(M_PI * step / decay)) + alpha);
        }
        step = fmin(step, decay + warm);
        if (step < warm) return (target - lr0) * (step / warm) + lr0;
        return target * ((1 - alpha) * 0.5 * (1 + cos(M_PI * (step - warm) / decay)) + alpha);
    }
    case COSINE_RESTARTS: {
        double lr0 = P(s, 0), first = P(s, 1), t_mul = P(s, 2), m_mul = P(s, 3), alpha = P(s, 4);
        double frac = step / first, i_restart;
        if (t_mul == 1.0) {
            i_restart = floor(frac);
            frac -= i_restart;
        } else {
            i_restart = floor(log(1 - frac * (1 - t_mul)) / log(t_mul));
            double sum_r = (1 - pow(t_mul, i_restart)) / (1 - t_mul);
            frac = (frac - sum_r) / pow(t_mul, i_restart);
        }
        double cosine = 0.5 * pow(m_mul, i_restart) * (1 + cos(M_PI * frac));
        return lr0 * ((1 - alpha) * cosine + alpha);
    }
    }
    return NAN;
}
