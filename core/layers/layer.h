/* core/layers — the layer vtable. Layers are core-only (not plugins): they own
 * no memory; the model plans one block for all parameters, one for their
 * gradients, and one for activations, and points each layer into them. */
#ifndef SOMA_CORE_LAYER_H
#define SOMA_CORE_LAYER_H

#include "base/base.h"
#include "cpu/cpu.h"
#include "plugin/registry.h"

typedef struct soma_layer soma_layer;

/* One trainable tensor of a layer, as the optimizer sees it. */
typedef struct soma_param {
    float *value, *grad;      /* into the model's blocks                */
    int64_t numel;
    int ndim;
    int64_t dims[2];
    const char *name;         /* "kernel" / "bias"                       */
} soma_param;

typedef struct soma_layer_vt {
    uint32_t size;
    const char *name;         /* Keras' class name, e.g. "Dense"          */
    /* Fixes shapes from the input features; fills l->out. */
    int (*build)(soma_layer *l, int64_t in_features);
    /* Trainable tensors (after build): at most 2 here. */
    int (*params)(soma_layer *l, soma_param *out, int max);
    /* Draws initial values into the (already pointed) parameters. */
    int (*init)(soma_layer *l, uint64_t seed, int layer_index);
    /* y (batch × out) = layer(x (batch × in)). */
    void (*forward)(soma_layer *l, const float *x, float *y, int64_t batch);
    /* dy holds dL/dy on entry and is overwritten. Accumulates nothing:
     * parameter gradients are written, dx (may be NULL) is written. */
    void (*backward)(soma_layer *l, const float *x, const float *y, float *dy,
                     float *dx, int64_t batch);
    void (*destroy)(soma_layer *l);
} soma_layer_vt;

struct soma_layer {
    const soma_layer_vt *vt;
    int64_t in, out;          /* features                                */
    soma_activation act;
    bool fused_act_grad;      /* the loss gives dL/dz directly (softmax +
                                 crossentropy): backward skips act'      */
    float *z;                 /* pre-activation (batch × out) when the
                                 activation's backward needs it, else NULL;
                                 planned by the model                     */
    soma_obj *kernel_init, *bias_init;
    float *w, *b, *dw, *db;   /* set by the model after planning         */
};

int soma_dense_create(soma_layer **out, int64_t units, const char *activation,
                      const char *kernel_init, const char *bias_init);

#endif
