/* Shared pieces of the loader's test plugins: do-nothing compute functions
 * and vtables, so each broken plugin states only what is broken about it. */
#ifndef SOMA_TEST_PLUGIN_COMMON_H
#define SOMA_TEST_PLUGIN_COMMON_H

#include <soma/plugin.h>

#define TP_UNUSED __attribute__((unused))

static inline int tp_fill(const soma_instance *self, const soma_ctx *ctx,
                          const soma_tview *out, const soma_fans *fans) {
    (void)self, (void)ctx, (void)fans;
    for (int64_t i = 0; i < soma_tview_numel(out); i++) out->data[i] = 1.0f;
    return SOMA_OK;
}
static inline int tp_forward(const soma_instance *self, const soma_ctx *ctx,
                             const soma_tview *yt, const soma_tview *yp, float *v) {
    (void)self, (void)ctx, (void)yt;
    for (int64_t r = 0; r < soma_tview_rows(yp); r++) v[r] = 0.0f;
    return SOMA_OK;
}
static inline int tp_backward(const soma_instance *self, const soma_ctx *ctx,
                              const soma_tview *yt, const soma_tview *yp,
                              const float *dv, float *dyp) {
    (void)self, (void)ctx, (void)yt, (void)dv;
    for (int64_t i = 0; i < soma_tview_numel(yp); i++) dyp[i] = 0.0f;
    return SOMA_OK;
}
static inline int tp_step(const soma_instance *self, const soma_ctx *ctx, float *param,
                          const float *grad, float *const *slots, size_t n,
                          const soma_step_info *info) {
    (void)self, (void)ctx, (void)slots;
    for (size_t i = 0; i < n; i++) param[i] -= (float)info->lr * grad[i];
    return SOMA_OK;
}

static const soma_init_vt tp_init_vt TP_UNUSED = {
    .size = sizeof(soma_init_vt), .name = "tp", .fill = tp_fill};
static const soma_loss_vt tp_loss_vt TP_UNUSED = {
    .size = sizeof(soma_loss_vt), .name = "tp", .forward = tp_forward,
    .backward = tp_backward};
static const soma_optim_vt tp_optim_vt TP_UNUSED = {
    .size = sizeof(soma_optim_vt), .name = "tp", .step = tp_step};

// An entry point returning a hand-made descriptor (for the broken ones that
// SOMA_PLUGIN_DEFINE cannot express).
#define TP_ENTRY(desc_)                                                         \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc *soma_plugin_entry(               \
        const soma_host *host);                                                 \
    SOMA_PLUGIN_EXPORT const soma_plugin_desc *soma_plugin_entry(               \
        const soma_host *host) {                                                \
        (void)host;                                                             \
        return (desc_);                                                         \
    }

#define TP_LOSS_ITEM(name_)                                                     \
    { .size = sizeof(soma_item), .kind = SOMA_KIND_LOSS, .name = (name_),       \
      .vtable = &tp_loss_vt }

#endif
