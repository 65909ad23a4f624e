// Sequential model: layers, build (shapes → one planned block each for
// parameters, gradients and optimizer slots), compile, summary.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/model.h"

#define FLOAT_ALIGN 16 // floats per 64 bytes: every tensor starts on a cache line

static size_t round_up(size_t n) { return (n + FLOAT_ALIGN - 1) / FLOAT_ALIGN * FLOAT_ALIGN; }

SOMA_API int soma_model_create(soma_model **out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_model_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    (*out)->reduction = SOMA_REDUCE_SUM_OVER_BATCH;
    return SOMA_OK;
}

static void free_plan(soma_model *m) {
    for (int i = 0; i < m->n_layers; i++) m->layers[i]->z = NULL;
    soma_free(m->act_block);
    free(m->acts);
    free(m->dacts);
    m->act_block = NULL;
    m->acts = m->dacts = NULL;
    m->plan_batch = 0;
}

SOMA_API void soma_model_free(soma_model *m) {
    if (!m) return;
    free_plan(m); // before the layers: it clears their pointers into the plan
    for (int i = 0; i < m->n_layers; i++) m->layers[i]->vt->destroy(m->layers[i]);
    free(m->layers);
    soma_free(m->param_block);
    soma_free(m->grad_block);
    soma_free(m->slot_block);
    free(m->slot_ptrs);
    free(m->ptensors);
    soma_optimizer_free(m->optim);
    soma_obj_free(m->loss);
    for (int i = 0; i < m->n_metrics; i++) soma_metric_free(&m->metrics[i]);
    free(m->history);
    free(m);
}

SOMA_API int soma_model_set_seed(soma_model *m, uint64_t seed) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    m->seed = seed;
    return SOMA_OK;
}

SOMA_API int soma_model_add_input(soma_model *m, int ndim, const int64_t *shape) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    if (m->n_layers > 0 || m->input_ndim > 0)
        return soma_error_set(SOMA_E_STATE, "the input must be added first, and once");
    if (ndim < 1 || ndim > SOMA_MAX_DIMS - 1)
        return soma_error_set(SOMA_E_SHAPE, "input rank %d is outside 1..%d", ndim, SOMA_MAX_DIMS - 1);
    int64_t n;
    int rc = soma_shape_numel(ndim, shape, &n);
    if (rc) return rc;
    if (n <= 0) return soma_error_set(SOMA_E_SHAPE, "input shape has no elements");
    m->input_ndim = ndim;
    memcpy(m->input_shape, shape, (size_t)ndim * sizeof *shape);
    m->in_features = n;
    return SOMA_OK;
}

SOMA_API int soma_model_add_dense(soma_model *m, int64_t units, const char *activation,
                                  const char *kernel_init, const char *bias_init) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    if (m->built)
        return soma_error_set(SOMA_E_STATE, "cannot add a layer to a model that is already built");
    soma_layer *l;
    int rc = soma_dense_create(&l, units, activation, kernel_init, bias_init);
    if (rc) return soma_error_prefix("layer %d (Dense)", m->n_layers);
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        soma_layer **nl = realloc(m->layers, (size_t)cap * sizeof *nl);
        if (!nl) {
            l->vt->destroy(l);
            return soma_error_set(SOMA_E_NOMEM, "out of memory");
        }
        m->layers = nl;
        m->cap_layers = cap;
    }
    m->layers[m->n_layers++] = l;
    return SOMA_OK;
}

SOMA_API int soma_model_layer_count(const soma_model *m) { return m ? m->n_layers : 0; }

int64_t soma_model_out_features(const soma_model *m) {
    return m->n_layers ? m->layers[m->n_layers - 1]->out : m->in_features;
}

// Slots for every parameter tensor, zeroed, then handed to init_slots.
static int alloc_slots(soma_model *m) {
    m->n_slots = soma_optimizer_slot_count(m->optim);
    if (m->n_slots == 0) return SOMA_OK;
    size_t floats;
    if (!soma_mul_size(m->param_floats, m->n_slots, &floats))
        return soma_error_set(SOMA_E_NOMEM, "optimizer slots overflow");
    m->slot_block = soma_calloc(floats, sizeof(float));
    m->slot_ptrs = calloc((size_t)m->n_ptensors * m->n_slots, sizeof(float *));
    if (!m->slot_block || !m->slot_ptrs) return soma_error_set(SOMA_E_NOMEM, "out of memory for optimizer slots");
    size_t off = 0;
    for (int t = 0; t < m->n_ptensors; t++) {
        soma_ptensor *pt = &m->ptensors[t];
        pt->slots = m->slot_ptrs + (size_t)t * m->n_slots;
        for (uint32_t s = 0; s < m->n_slots; s++) {
            pt->slots[s] = m->slot_block + off;
            off += round_up((size_t)pt->numel);
        }
        int rc = soma_optimizer_init_slots(m->optim, pt);
        if (rc) return rc;
    }
    return SOMA_OK;
}

int soma_model_build(soma_model *m, int64_t in_features) {
    if (m->built) return SOMA_OK;
    if (m->n_layers == 0) return soma_error_set(SOMA_E_STATE, "the model has no layers");
    if (m->in_features == 0) m->in_features = in_features;
    int64_t in = m->in_features;
    size_t total = 0;
    int n_pt = 0;
    for (int i = 0; i < m->n_layers; i++) {
        soma_layer *l = m->layers[i];
        int rc = l->vt->build(l, in);
        if (rc) return soma_error_prefix("layer %d (%s)", i, l->vt->name);
        size_t w, sz;
        if (!soma_mul_size((size_t)l->in, (size_t)l->out, &w) ||
            !soma_add_size(total, round_up(w) + round_up((size_t)l->out), &sz))
            return soma_error_set(SOMA_E_NOMEM, "layer %d: parameter count overflows", i);
        total = sz;
        n_pt += 2;
        in = l->out;
    }
    m->param_floats = total;
    m->param_block = soma_calloc(total, sizeof(float));
    m->grad_block = soma_calloc(total, sizeof(float));
    m->ptensors = calloc((size_t)n_pt, sizeof *m->ptensors);
    if (!m->param_block || !m->grad_block || !m->ptensors)
        return soma_error_set(SOMA_E_NOMEM, "out of memory for %zu parameters", total);
    size_t off = 0;
    m->n_ptensors = 0;
    for (int i = 0; i < m->n_layers; i++) {
        soma_layer *l = m->layers[i];
        size_t w = (size_t)(l->in * l->out);
        l->w = m->param_block + off;
        l->dw = m->grad_block + off;
        off += round_up(w);
        l->b = m->param_block + off;
        l->db = m->grad_block + off;
        off += round_up((size_t)l->out);
        soma_param p[2];
        int np = l->vt->params(l, p, 2);
        for (int k = 0; k < np; k++)
            m->ptensors[m->n_ptensors++] = (soma_ptensor){.value = p[k].value, .grad = p[k].grad,
                                                          .numel = p[k].numel, .name = p[k].name};
        int rc = l->vt->init(l, m->seed, i);
        if (rc) return soma_error_prefix("layer %d (%s)", i, l->vt->name);
    }
    m->built = true;
    if (m->compiled) return alloc_slots(m);
    return SOMA_OK;
}

// Softmax output layer feeding a crossentropy on probabilities: fuse the two
// gradients (see model.h). Only for the built-in losses whose formula the core
// knows; a custom loss keeps its own backward.
static void detect_softmax_ce(soma_model *m) {
    soma_layer *last = m->layers[m->n_layers - 1];
    const char *name = m->loss->item->name;
    bool sparse = strcmp(name, "sparse_categorical_crossentropy") == 0;
    bool dense = strcmp(name, "categorical_crossentropy") == 0;
    double from_logits = 1, axis = 0, ls = 0;
    m->fuse_softmax_ce = false;
    last->fused_act_grad = false;
    if (last->act.kind != SOMA_ACT_SOFTMAX || (!sparse && !dense)) return;
    if (!soma_obj_param(m->loss, "from_logits", &from_logits) || from_logits != 0) return;
    if (soma_obj_param(m->loss, "axis", &axis) && axis != -1) return;
    if (dense) soma_obj_param(m->loss, "label_smoothing", &ls);
    m->fuse_softmax_ce = true;
    m->ce_sparse = sparse;
    m->ce_smoothing = ls;
    last->fused_act_grad = true;
}

SOMA_API int soma_model_compile(soma_model *m, const char *optimizer, const char *loss,
                                const char *metrics) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    if (m->compiled) return soma_error_set(SOMA_E_STATE, "the model is already compiled");
    if (m->n_layers == 0) return soma_error_set(SOMA_E_STATE, "compile: the model has no layers");
    // Keras' defaults where a string is missing: rmsprop in Keras; soma ships
    // adam in this version, so the optimizer and the loss are required.
    if (!optimizer || !*optimizer) return soma_error_set(SOMA_E_INVALID, "compile: no optimizer given");
    if (!loss || !*loss) return soma_error_set(SOMA_E_INVALID, "compile: no loss given");
    // A SOMA_CPU the machine cannot honour is the user's to hear about now,
    // not a silent fall-back to the portable kernels.
    int rc = soma_cpu_init();
    if (rc) return rc;
    rc = soma_optimizer_create(optimizer, &m->optim);
    if (rc) return rc;
    rc = soma_obj_create(SOMA_KIND_LOSS, loss, &m->loss);
    if (rc) goto fail;
    m->n_metrics = 0;
    if (metrics && *metrics) {
        // Split at top-level commas: "accuracy, top_k_categorical_accuracy(k=3)".
        const char *p = metrics;
        while (*p) {
            while (*p == ' ' || *p == ',') p++;
            if (!*p) break;
            const char *q = p;
            int depth = 0;
            while (*q && !(depth == 0 && *q == ',')) depth += (*q == '(') - (*q == ')'), q++;
            char one[256];
            snprintf(one, sizeof one, "%.*s", (int)(q - p), p);
            if (m->n_metrics == SOMA_MAX_METRICS) {
                rc = soma_error_set(SOMA_E_INVALID, "compile: at most %d metrics", SOMA_MAX_METRICS);
                goto fail;
            }
            if ((rc = soma_metric_create(one, &m->metrics[m->n_metrics]))) goto fail;
            m->n_metrics++;
            p = q;
        }
    }
    detect_softmax_ce(m);
    m->compiled = true;
    // With a known input shape the model is built now, as Keras builds it.
    if (!m->built && m->in_features > 0) rc = soma_model_build(m, m->in_features);
    else if (m->built) rc = alloc_slots(m);
    if (rc) {
        m->compiled = false;
        goto fail;
    }
    return SOMA_OK;
fail:
    for (int i = 0; i < m->n_metrics; i++) soma_metric_free(&m->metrics[i]);
    m->n_metrics = 0;
    soma_optimizer_free(m->optim);
    soma_obj_free(m->loss);
    m->optim = NULL;
    m->loss = NULL;
    return rc;
}

SOMA_API int soma_model_set_loss_reduction(soma_model *m, const char *reduction) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    soma_reduction r;
    int rc = soma_reduction_parse(reduction, &r);
    if (rc) return rc;
    if (r == SOMA_REDUCE_NONE)
        return soma_error_set(SOMA_E_INVALID, "reduction 'none' gives no scalar to train on");
    if (!m->compiled) return soma_error_set(SOMA_E_STATE, "set the loss reduction after compile");
    m->reduction = r;
    return SOMA_OK;
}

int soma_model_plan(soma_model *m, int64_t batch, int64_t y_cols) {
    if (m->plan_batch >= batch && m->y_cols >= y_cols && m->act_block) return SOMA_OK;
    free_plan(m);
    size_t total = round_up((size_t)(batch * m->in_features)); // x_batch
    for (int i = 0; i < m->n_layers; i++)
        total += (soma_activation_needs_input(&m->layers[i]->act) ? 3 : 2) *
                 round_up((size_t)(batch * m->layers[i]->out));
    total += round_up((size_t)(batch * y_cols)) + 5 * round_up((size_t)batch);
    m->act_block = soma_calloc(total, sizeof(float));
    m->acts = calloc((size_t)m->n_layers, sizeof(float *));
    m->dacts = calloc((size_t)m->n_layers, sizeof(float *));
    if (!m->act_block || !m->acts || !m->dacts) {
        free_plan(m);
        return soma_error_set(SOMA_E_NOMEM, "out of memory planning activations for batch %lld",
                              (long long)batch);
    }
    float *p = m->act_block;
    m->x_batch = p;
    p += round_up((size_t)(batch * m->in_features));
    for (int i = 0; i < m->n_layers; i++) {
        m->acts[i] = p;
        p += round_up((size_t)(batch * m->layers[i]->out));
        m->dacts[i] = p;
        p += round_up((size_t)(batch * m->layers[i]->out));
        m->layers[i]->z = NULL;
        if (soma_activation_needs_input(&m->layers[i]->act)) {
            m->layers[i]->z = p;
            p += round_up((size_t)(batch * m->layers[i]->out));
        }
    }
    m->y_batch = p;
    p += round_up((size_t)(batch * y_cols));
    m->loss_values = p;
    p += round_up((size_t)batch);
    m->d_values = p;
    p += round_up((size_t)batch);
    m->w_batch = p;
    p += round_up((size_t)batch);
    m->metric_scratch = p;
    p += round_up((size_t)batch);
    m->mask_batch = p;
    m->plan_batch = batch;
    m->y_cols = y_cols;
    return SOMA_OK;
}

float *soma_model_forward(soma_model *m, const float *x, int64_t batch) {
    for (int i = 0; i < m->n_layers; i++) {
        soma_layer *l = m->layers[i];
        l->vt->forward(l, i == 0 ? x : m->acts[i - 1], m->acts[i], batch);
    }
    return m->acts[m->n_layers - 1];
}

SOMA_API int64_t soma_model_param_count(const soma_model *m) {
    if (!m || !m->built) return 0;
    int64_t n = 0;
    for (int t = 0; t < m->n_ptensors; t++) n += m->ptensors[t].numel;
    return n;
}

SOMA_API int soma_model_weights(soma_model *m, int layer, float **kernel, int64_t *rows,
                                int64_t *cols, float **bias) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    if (layer < 0 || layer >= m->n_layers)
        return soma_error_set(SOMA_E_RANGE, "layer %d does not exist (the model has %d)", layer,
                              m->n_layers);
    if (!m->built) {
        if (m->in_features == 0)
            return soma_error_set(SOMA_E_STATE, "the model is not built: add an input or fit first");
        int rc = soma_model_build(m, m->in_features);
        if (rc) return rc;
    }
    soma_layer *l = m->layers[layer];
    if (kernel) *kernel = l->w;
    if (rows) *rows = l->in;
    if (cols) *cols = l->out;
    if (bias) *bias = l->b;
    return SOMA_OK;
}

SOMA_API int soma_model_summary(soma_model *m, FILE *out) {
    if (!m) return soma_error_set(SOMA_E_INVALID, "model is NULL");
    if (!out) out = stdout;
    if (!m->built && m->in_features > 0) {
        int rc = soma_model_build(m, m->in_features);
        if (rc) return rc;
    }
    fprintf(out, "Model: \"sequential\"\n");
    fprintf(out, "%-32s %-24s %13s\n", "Layer (type)", "Output Shape", "Param #");
    fprintf(out, "%.*s\n", 71, "=======================================================================");
    int64_t total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        soma_layer *l = m->layers[i];
        char name[64], shape[48], params[32];
        snprintf(name, sizeof name, "dense%s%.0d (%s, %s)", i ? "_" : "", i, l->vt->name,
                 soma_activation_name(&l->act));
        snprintf(shape, sizeof shape, "(None, %lld)", (long long)l->out);
        int64_t np = m->built ? l->in * l->out + l->out : -1;
        if (np >= 0) {
            snprintf(params, sizeof params, "%lld", (long long)np);
            total += np;
        } else {
            snprintf(params, sizeof params, "? (unbuilt)");
        }
        fprintf(out, "%-32s %-24s %13s\n", name, shape, params);
    }
    fprintf(out, "%.*s\n", 71, "=======================================================================");
    if (m->built)
        fprintf(out, " Total params: %lld (%.2f KB)\n", (long long)total, (double)total * 4 / 1024);
    return SOMA_OK;
}

SOMA_API int soma_model_history_length(const soma_model *m) { return m ? m->history_len : 0; }

SOMA_API const soma_logs *soma_model_history(const soma_model *m, int epoch) {
    if (!m || epoch < 0 || epoch >= m->history_len) return NULL;
    return &m->history[epoch];
}
