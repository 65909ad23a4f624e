/* core/model/optimizer — what Keras' base optimizer does once for every
 * optimizer, around a plugin's step: learning-rate schedules, gradient
 * clipping, decoupled weight decay, the weights' moving average (EMA) and the
 * iteration count (KERAS.md §3.2). Used by fit and by soma_optim_eval. */
#ifndef SOMA_CORE_OPTIMIZER_H
#define SOMA_CORE_OPTIMIZER_H

#include "base/base.h"
#include "plugin/registry.h"

/* One trainable tensor as the optimizer sees it. */
typedef struct soma_ptensor {
    float *value, *grad;
    int64_t numel;
    float **slots;        /* soma_optimizer_slot_count() buffers of numel */
    const char *name;
} soma_ptensor;

typedef struct soma_optimizer {
    soma_obj *obj;            /* the plugin instance                       */
    soma_obj *schedule;       /* learning_rate=schedule(...), or NULL      */
    double lr;                /* constant learning rate when no schedule   */
    double weight_decay, clipnorm, clipvalue, global_clipnorm;
    bool has_wd, has_clipnorm, has_clipvalue, has_global_clipnorm;
    bool use_ema;
    double ema_momentum;
    int64_t ema_frequency;    /* 0: never overwrite                         */
    uint32_t plugin_slots;    /* what the plugin asked for                  */
    int64_t iterations;       /* Keras' optimizer.iterations                */
} soma_optimizer;

int soma_optimizer_create(const char *spec, soma_optimizer **out);
void soma_optimizer_free(soma_optimizer *o);
/* Slots per tensor: the plugin's, plus one for the EMA. */
uint32_t soma_optimizer_slot_count(const soma_optimizer *o);
/* Call once per tensor after zeroing its slots. */
int soma_optimizer_init_slots(soma_optimizer *o, soma_ptensor *t);
/* The learning rate the next apply uses (the schedule at `iterations`). */
double soma_optimizer_lr(const soma_optimizer *o);
/* One apply over all tensors: clip, decay, step, EMA, iterations += 1.
 * Gradients may be modified (clipping). Non-finite learning rate → error. */
int soma_optimizer_apply(soma_optimizer *o, soma_ptensor *t, int n);
/* End of fit: with use_ema, the weights take their moving averages. */
void soma_optimizer_finalize(soma_optimizer *o, soma_ptensor *t, int n);

/* ---- learning-rate schedules (schedule.c) ---- */
int soma_schedule_create(const char *spec, soma_obj **out);
/* Keras' schedule(step); step is the optimizer's iterations. */
double soma_schedule_eval(const soma_obj *s, int64_t step);

#endif
