/* core/plugin/registry.c — the table of loaded files, registered items and
 * load failures, lookup by name, and the public read-only plugin queries. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "internal.h"

typedef struct reg_lib {
    char *path;                    /* real path */
    void *handle;
    const soma_plugin_desc *desc;
} reg_lib;

typedef struct reg_item {
    const soma_item *item;         /* lives in the plugin's static data */
    int lib;
} reg_item;

typedef struct reg_fail {
    char *path;
    char *message;
    int status;
} reg_fail;

// One registry per process; every field is guarded by g_mu. Discovery runs
// with the lock held, so two threads asking for a name at once see one
// discovery and both wait for it. The lock is recursive because discovery
// logs, and a user's log callback may well ask the registry something.
static pthread_mutex_t g_mu;
static pthread_once_t g_mu_once = PTHREAD_ONCE_INIT;
static struct {
    reg_lib *libs;
    int n_libs, cap_libs;
    reg_item *items;
    int n_items, cap_items;
    reg_fail *fails;
    int n_fails, cap_fails;
    bool discovered;
} g;
static bool g_default_dirs = true; // not cleared by reset, so also guarded by g_mu

static void init_mu(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&g_mu, &a);
    pthread_mutexattr_destroy(&a);
}

void soma_reg_lock(void) {
    pthread_once(&g_mu_once, init_mu);
    pthread_mutex_lock(&g_mu);
}
void soma_reg_unlock(void) { pthread_mutex_unlock(&g_mu); }
bool soma_reg_discovered(void) { return g.discovered; }
void soma_reg_set_discovered(void) { g.discovered = true; }
bool soma_reg_default_dirs(void) { return g_default_dirs; }

void soma_registry_set_default_dirs(bool on) {
    soma_reg_lock();
    g_default_dirs = on;
    soma_reg_unlock();
}

static char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool soma_names_match(const char *a, const char *b) {
    if (!a || !b) return false;
    for (;;) {
        while (*a == '_') a++;
        while (*b == '_') b++;
        if (!*a || !*b) return !*a && !*b;
        if (ascii_lower(*a) != ascii_lower(*b)) return false;
        a++;
        b++;
    }
}

bool soma_name_valid(const char *s) {
    if (!s || !(*s >= 'a' && *s <= 'z')) return false;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= SOMA_NAME_MAX) return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

// Grows *arr to hold at least need elements; false when out of memory.
static bool grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    size_t bytes;
    if (!soma_mul_size((size_t)nc, elem, &bytes)) return false;
    void *p = realloc(*arr, bytes);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

bool soma_reg_has_lib(const char *real_path) {
    for (int i = 0; i < g.n_libs; i++)
        if (strcmp(g.libs[i].path, real_path) == 0) return true;
    return false;
}

int soma_reg_add(const char *real_path, void *handle, const soma_plugin_desc *desc,
                 const soma_item *const *items, int n) {
    // Grow both arrays before touching either, so failure leaves no trace.
    if (!grow((void **)&g.libs, &g.cap_libs, g.n_libs + 1, sizeof *g.libs) ||
        !grow((void **)&g.items, &g.cap_items, g.n_items + n, sizeof *g.items))
        return soma_error_set(SOMA_E_NOMEM, "out of memory registering %s", real_path);
    char *p = soma_strdup(real_path);
    if (!p) return soma_error_set(SOMA_E_NOMEM, "out of memory registering %s", real_path);
    int lib = g.n_libs++;
    g.libs[lib] = (reg_lib){.path = p, .handle = handle, .desc = desc};
    for (int i = 0; i < n; i++)
        g.items[g.n_items++] = (reg_item){.item = items[i], .lib = lib};
    return SOMA_OK;
}

// Does any name of a (canonical or alias) match name?
static const char *item_answers(const soma_item *a, const char *name) {
    if (soma_names_match(a->name, name)) return a->name;
    if (a->aliases)
        for (const char *const *al = a->aliases; *al; al++)
            if (soma_names_match(*al, name)) return *al;
    return NULL;
}

static const reg_item *lookup(soma_kind kind, const char *name) {
    for (int i = 0; i < g.n_items; i++)
        if (g.items[i].item->kind == kind && item_answers(g.items[i].item, name))
            return &g.items[i];
    return NULL;
}

const soma_item *soma_reg_conflict(const soma_item *item, const char **other_path,
                                   const char **other_name) {
    for (int i = 0; i < g.n_items; i++) {
        const soma_item *have = g.items[i].item;
        if (have->kind != item->kind) continue;
        const char *hit = item_answers(have, item->name);
        if (!hit && item->aliases)
            for (const char *const *al = item->aliases; *al && !hit; al++)
                hit = item_answers(have, *al);
        if (hit) {
            if (other_path) *other_path = g.libs[g.items[i].lib].path;
            if (other_name) *other_name = hit;
            return have;
        }
    }
    return NULL;
}

int soma_reg_add_failure(const char *path, int status, const char *message) {
    if (!grow((void **)&g.fails, &g.cap_fails, g.n_fails + 1, sizeof *g.fails))
        return SOMA_E_NOMEM;
    char *p = soma_strdup(path), *m = soma_strdup(message);
    if (!p || !m) {
        free(p);
        free(m);
        return SOMA_E_NOMEM;
    }
    g.fails[g.n_fails++] = (reg_fail){.path = p, .message = m, .status = status};
    return SOMA_OK;
}

void soma_reg_forget_failures(const char *path) {
    int j = 0;
    for (int i = 0; i < g.n_fails; i++) {
        if (strcmp(g.fails[i].path, path) == 0) {
            free(g.fails[i].path);
            free(g.fails[i].message);
        } else {
            g.fails[j++] = g.fails[i];
        }
    }
    g.n_fails = j;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// The "unknown loss 'foo' (known: ...)" message. Built on the heap because
// the list of names has no useful bound; the error module truncates.
static int not_found(soma_kind kind, const char *name) {
    const char *kn = soma_kind_name(kind);
    const char **names = NULL;
    int n = 0;
    size_t len = 0;
    if (g.n_items > 0) names = malloc((size_t)g.n_items * sizeof *names);
    if (names)
        for (int i = 0; i < g.n_items; i++)
            if (g.items[i].item->kind == kind) {
                names[n++] = g.items[i].item->name;
                len += strlen(g.items[i].item->name) + 2;
            }
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    char *list = malloc(len + 1);
    if (list) {
        list[0] = '\0';
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            size_t l = strlen(names[i]);
            if (i) {
                memcpy(list + at, ", ", 2);
                at += 2;
            }
            memcpy(list + at, names[i], l + 1);
            at += l;
        }
    }
    char hint[96] = "";
    if (g.n_fails > 0)
        snprintf(hint, sizeof hint,
                 "; %d plugin file%s failed to load, see `soma plugins`",
                 g.n_fails, g.n_fails == 1 ? "" : "s");
    int rc;
    if (n > 0 && list)
        rc = soma_error_set(SOMA_E_NOT_FOUND, "unknown %s '%.80s' (known: %s)%s",
                            kn, name, list, hint);
    else
        rc = soma_error_set(SOMA_E_NOT_FOUND,
                            "unknown %s '%.80s' (no %s plugins found; "
                            "see SOMA_PLUGIN_PATH)%s",
                            kn, name, kn, hint);
    free(list);
    free(names);
    return rc;
}

int soma_registry_find(soma_kind kind, const char *name, const soma_item **item,
                       const char **path) {
    if (kind != SOMA_KIND_INIT && kind != SOMA_KIND_LOSS && kind != SOMA_KIND_OPTIM)
        return soma_error_set(SOMA_E_INVALID, "unknown plugin kind %d", (int)kind);
    if (!name || !*name)
        return soma_error_set(SOMA_E_INVALID, "empty %s name", soma_kind_name(kind));
    soma_reg_lock();
    soma_loader_discover_locked();
    const reg_item *hit = lookup(kind, name);
    int rc = SOMA_OK;
    if (hit) {
        if (item) *item = hit->item;
        if (path) *path = g.libs[hit->lib].path;
    } else {
        rc = not_found(kind, name);
    }
    soma_reg_unlock();
    return rc;
}

SOMA_API int soma_plugin_count(void) {
    soma_reg_lock();
    int n = g.n_items;
    soma_reg_unlock();
    return n;
}

SOMA_API int soma_plugin_get(int index, soma_plugin_info *info) {
    if (!info) return soma_error_set(SOMA_E_INVALID, "soma_plugin_get: info is NULL");
    soma_reg_lock();
    if (index < 0 || index >= g.n_items) {
        int n = g.n_items;
        soma_reg_unlock();
        return soma_error_set(SOMA_E_RANGE, "plugin index %d out of range (%d registered)",
                              index, n);
    }
    const reg_item *r = &g.items[index];
    const reg_lib *lib = &g.libs[r->lib];
    *info = (soma_plugin_info){
        .kind = r->item->kind,
        .name = r->item->name,
        .path = lib->path,
        .doc = r->item->doc,
        .abi_major = lib->desc->abi_major,
        .abi_minor = lib->desc->abi_minor,
        .n_params = r->item->n_params,
        .params = r->item->params,
        .aliases = r->item->aliases,
    };
    soma_reg_unlock();
    return SOMA_OK;
}

SOMA_API int soma_plugin_failure_count(void) {
    soma_reg_lock();
    int n = g.n_fails;
    soma_reg_unlock();
    return n;
}

SOMA_API int soma_plugin_failure(int index, const char **path, const char **message) {
    soma_reg_lock();
    if (index < 0 || index >= g.n_fails) {
        int n = g.n_fails;
        soma_reg_unlock();
        return soma_error_set(SOMA_E_RANGE,
                              "plugin failure index %d out of range (%d recorded)",
                              index, n);
    }
    if (path) *path = g.fails[index].path;
    if (message) *message = g.fails[index].message;
    soma_reg_unlock();
    return SOMA_OK;
}

SOMA_API const char *soma_kind_name(int kind) {
    switch (kind) {
    case SOMA_KIND_INIT: return "init";
    case SOMA_KIND_LOSS: return "loss";
    case SOMA_KIND_OPTIM: return "optim";
    case SOMA_KIND_SCHEDULE: return "schedule";
    case SOMA_KIND_ACTIVATION: return "activation";
    case SOMA_KIND_METRIC: return "metric";
    default: return "unknown";
    }
}

void soma_registry_reset(void) {
    soma_reg_lock();
    // Items point into the libraries' data, so they go before the handles.
    free(g.items);
    g.items = NULL;
    g.n_items = g.cap_items = 0;
    for (int i = g.n_libs - 1; i >= 0; i--) {
        dlclose(g.libs[i].handle);
        free(g.libs[i].path);
    }
    free(g.libs);
    g.libs = NULL;
    g.n_libs = g.cap_libs = 0;
    for (int i = 0; i < g.n_fails; i++) {
        free(g.fails[i].path);
        free(g.fails[i].message);
    }
    free(g.fails);
    g.fails = NULL;
    g.n_fails = g.cap_fails = 0;
    g.discovered = false;
    soma_reg_unlock();
}
