/* core/plugin — loader, registry, spec parsing and the host services table.
 * Internal to libsoma. */
#ifndef SOMA_CORE_REGISTRY_H
#define SOMA_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "soma/plugin.h"
#include "soma/soma.h"

/* The host table handed to every plugin (static, lives for the process). */
const soma_host *soma_host_table(void);
/* A context for calls made on the current thread: thread 0 of
 * soma_pool_threads(), with the given rng (may be NULL). */
soma_ctx soma_ctx_make(soma_rng *rng);

/* Finds a registered item by kind and name, running discovery first if it
 * has not run. Names match ignoring case and '_' (so "HeNormal" finds
 * "he_normal"), canonical names and aliases alike. On failure returns
 * SOMA_E_NOT_FOUND with a message such as
 *   unknown loss 'foo' (known: binary_crossentropy, mean_squared_error, ...)
 * and, when files failed to load, a hint to run `soma plugins`. */
int soma_registry_find(soma_kind kind, const char *name, const soma_item **item,
                       const char **path);

/* An instance of a plugin item made from a spec string:
 *   name | name(key=value, key=value, ...)
 * values: numbers (1, -0.5, 1e-7), true/false, bare words or 'quoted' /
 * "quoted" strings. Unknown keys, duplicate keys, ill-typed values and syntax
 * errors fail with SOMA_E_NOT_FOUND / SOMA_E_INVALID / SOMA_E_FORMAT naming
 * the item, the key and the position. */
/* Not plugin kinds: the core's own named things (learning-rate schedules,
 * activations, metrics), parsed with the same spec grammar from static item
 * lists (soma_obj_create_static). */
#define SOMA_KIND_SCHEDULE ((soma_kind)100)
#define SOMA_KIND_ACTIVATION ((soma_kind)101)
#define SOMA_KIND_METRIC ((soma_kind)102)

/* Options every optimizer accepts because the core implements them once for
 * all (Keras' base optimizer): weight_decay, clipnorm, clipvalue,
 * global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency. A plugin
 * that declares one of these names itself (adamw: weight_decay) supplies its
 * default; the core still does the work. */
extern const soma_param_spec soma_optim_options[];
extern const uint32_t soma_optim_n_options;

typedef struct soma_obj {
    soma_kind kind;
    const soma_item *item;
    const char *path;              /* file the item came from             */
    const void *vt;                /* item->vtable, typed by kind          */
    soma_param_value *values;      /* item->n_params entries               */
    soma_instance inst;            /* { values, state from create() }      */
    char *strings;                 /* storage for string values            */
    soma_param_value *options;     /* OPTIM: soma_optim_n_options values   */
    const char *lr_schedule;       /* OPTIM: "learning_rate=name(...)" text, or NULL */
} soma_obj;

int soma_obj_create(soma_kind kind, const char *spec, soma_obj **out);
void soma_obj_free(soma_obj *obj);
/* Value of a declared FLOAT/INT/BOOL parameter by name; false if absent. */
bool soma_obj_param(const soma_obj *obj, const char *key, double *value);
/* An optimizer option: the plugin's own parameter of that name if it declares
 * one (set or default), else the host option when the user set it or it has a
 * default. false when neither applies ("None"). */
bool soma_obj_option(const soma_obj *obj, const char *key, double *value);
/* Parses a spec against a static list of items instead of the registry (the
 * core's schedules). what names the family in messages ("schedule"). The
 * object has no vtable and no state. */
int soma_obj_create_static(soma_kind kind, const char *spec, const soma_item *items,
                           int n_items, soma_obj **out);
/* Index of the item answering to name (canonical or alias, ignoring case and
 * '_'), or -1. */
int soma_static_find(const char *name, const soma_item *items, int n_items);
static inline const soma_init_vt *soma_obj_init(const soma_obj *o) {
    return (const soma_init_vt *)o->vt;
}
static inline const soma_loss_vt *soma_obj_loss(const soma_obj *o) {
    return (const soma_loss_vt *)o->vt;
}
/* An optional vtable field, read only when the plugin's vt->size covers it
 * (the ABI's append-only rule). */
#define SOMA_VT_OPTIONAL(vt, field) \
    ((vt)->size >= offsetof(__typeof__(*(vt)), field) + sizeof((vt)->field) ? (vt)->field : NULL)
static inline const soma_optim_vt *soma_obj_optim(const soma_obj *o) {
    return (const soma_optim_vt *)o->vt;
}

/* Unloads everything and forgets discovery (tests use it to start over). */
void soma_registry_reset(void);
/* Whether discovery searches, after SOMA_PLUGIN_PATH, libsoma's own
 * <dir>/soma/plugins and the compiled-in plugin directory (default: on).
 * Tests turn it off so an installed soma cannot change what they see.
 * soma_registry_reset leaves it as it is. */
void soma_registry_set_default_dirs(bool on);

#endif
