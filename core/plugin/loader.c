/* core/plugin/loader.c — opening plugin files, validating their descriptors,
 * and discovery along the search path (DESIGN.md §2). */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "internal.h"

// Bytes a table must have for its fields up to and including `field`.
#define SOMA_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

// Reading abi_major needs this much of a descriptor; everything else of ABI
// 1.0 needs the full prefix up to n_items.
#define DESC_ABI_BYTES SOMA_END_OF(soma_plugin_desc, abi_minor)
#define DESC_BYTES SOMA_END_OF(soma_plugin_desc, n_items)
#define ITEM_BYTES SOMA_END_OF(soma_item, vtable)
// Sanity bounds on counts and strides a plugin declares: far above any real
// plugin, low enough that a garbage value fails validation instead of making
// the host walk through unrelated memory.
#define MAX_ITEM_STRIDE 4096u
#define MAX_ITEMS 4096u
#define MAX_PARAMS 1024u
#define MAX_ALIASES 256

// Messages name up to two files, so they get room for two paths.
#define MSG_CAP (2 * PATH_MAX + 512)

typedef struct load_msg {
    int status;
    char text[MSG_CAP];
} load_msg;

static int msg_set(load_msg *m, int status, const char *fmt, ...) SOMA_PRINTF(3, 4);
static int msg_set(load_msg *m, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->text, sizeof m->text, fmt, ap);
    va_end(ap);
    m->status = status;
    return status;
}

/* ---- descriptor validation -------------------------------------------------- */

static size_t vtable_bytes(soma_kind kind) {
    switch (kind) {
    case SOMA_KIND_INIT: return SOMA_END_OF(soma_init_vt, fill);
    case SOMA_KIND_LOSS: return SOMA_END_OF(soma_loss_vt, backward);
    case SOMA_KIND_OPTIM: return SOMA_END_OF(soma_optim_vt, step);
    }
    return 0;
}

static bool kind_known(int kind) {
    return kind == SOMA_KIND_INIT || kind == SOMA_KIND_LOSS || kind == SOMA_KIND_OPTIM;
}

// Why a name is not acceptable, or NULL when it is.
static const char *name_problem(const char *s) {
    if (!s) return "is missing (NULL)";
    if (!*s) return "is empty";
    if (strnlen(s, SOMA_NAME_MAX + 1) > SOMA_NAME_MAX) return "is longer than 63 bytes";
    if (!soma_name_valid(s)) return "is not lowercase snake_case ([a-z][a-z0-9_]*)";
    return NULL;
}

// k-th name of an item: 0 is the canonical name, then the aliases.
static int item_name_count(const soma_item *it) {
    int n = 1;
    if (it->aliases)
        while (it->aliases[n - 1]) n++;
    return n;
}
static const char *item_name_at(const soma_item *it, int k) {
    return k == 0 ? it->name : it->aliases[k - 1];
}

static const soma_item *item_at(const soma_plugin_desc *d, size_t stride, uint32_t i) {
    return (const soma_item *)(const void *)((const char *)d->items + (size_t)i * stride);
}

// "item 2 (loss 'foo')", counting from 1: where a bad-descriptor message points.
static void item_label(char *buf, size_t cap, const soma_item *it, uint32_t i,
                       bool readable) {
    if (!readable) {
        snprintf(buf, cap, "item %u", i + 1);
        return;
    }
    char kind[32];
    if (kind_known(it->kind))
        snprintf(kind, sizeof kind, "%s", soma_kind_name(it->kind));
    else
        snprintf(kind, sizeof kind, "kind %d", (int)it->kind);
    if (it->name)
        snprintf(buf, cap, "item %u (%s '%.64s')", i + 1, kind, it->name);
    else
        snprintf(buf, cap, "item %u (%s, no name)", i + 1, kind);
}

static int check_params(load_msg *m, const char *path, const char *label,
                        const soma_item *it) {
    if (it->n_params == 0) return SOMA_OK;
    if (it->n_params > MAX_PARAMS)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: n_params %u is implausible",
                       path, label, it->n_params);
    if (!it->params)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: n_params is %u but params is NULL",
                       path, label, it->n_params);
    for (uint32_t j = 0; j < it->n_params; j++) {
        const soma_param_spec *p = &it->params[j];
        if (!p->name)
            return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: parameter %u has no name",
                           path, label, j + 1);
        const char *why = name_problem(p->name);
        if (why)
            return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: parameter name '%.64s' %s",
                           path, label, p->name, why);
        if (p->type < SOMA_PARAM_FLOAT || p->type > SOMA_PARAM_STRING)
            return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: parameter '%s' has unknown type %d",
                           path, label, p->name, (int)p->type);
        for (uint32_t k = 0; k < j; k++)
            if (strcmp(it->params[k].name, p->name) == 0)
                return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: duplicate parameter name '%s'",
                               path, label, p->name);
        // A default the spec parser would refuse from a user is a plugin bug.
        if (p->type == SOMA_PARAM_INT &&
            !(isfinite(p->def_num) && p->def_num == floor(p->def_num)))
            return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: INT parameter '%s' has default %g, not an integer",
                           path, label, p->name, p->def_num);
        if (p->type == SOMA_PARAM_BOOL && p->def_num != 0 && p->def_num != 1)
            return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: BOOL parameter '%s' has default %g, not 0 or 1",
                           path, label, p->name, p->def_num);
    }
    return SOMA_OK;
}

static int check_vtable(load_msg *m, const char *path, const char *label,
                        const soma_item *it) {
    const char *kn = soma_kind_name(it->kind);
    if (!it->vtable)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: vtable is NULL", path, label);
    // Every vtable starts with uint32_t size.
    uint32_t size = *(const uint32_t *)it->vtable;
    size_t need = vtable_bytes(it->kind);
    if (size < need)
        return msg_set(m, SOMA_E_PLUGIN,
                       "bad descriptor in [%s]: %s: vtable size %u is smaller than the %zu bytes a %s vtable needs",
                       path, label, size, need, kn);
    const char *missing = NULL;
    switch (it->kind) {
    case SOMA_KIND_INIT: {
        const soma_init_vt *vt = it->vtable;
        if (!vt->fill) missing = "fill";
        break;
    }
    case SOMA_KIND_LOSS: {
        const soma_loss_vt *vt = it->vtable;
        if (!vt->forward) missing = "forward";
        else if (!vt->backward) missing = "backward";
        break;
    }
    case SOMA_KIND_OPTIM: {
        const soma_optim_vt *vt = it->vtable;
        if (!vt->step) missing = "step";
        break;
    }
    }
    if (missing)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: required function %s is NULL",
                       path, label, missing);
    return SOMA_OK;
}

static int check_item(load_msg *m, const char *path, const soma_plugin_desc *d,
                      size_t stride, uint32_t i) {
    const soma_item *it = item_at(d, stride, i);
    char label[160];
    if (it->size < ITEM_BYTES) {
        item_label(label, sizeof label, it, i, false);
        return msg_set(m, SOMA_E_PLUGIN,
                       "bad descriptor in [%s]: %s: size %u is smaller than the %zu bytes of an item",
                       path, label, it->size, (size_t)ITEM_BYTES);
    }
    item_label(label, sizeof label, it, i, true);
    // The items are one C array, so they share one size; a plugin built
    // against a newer minor ABI has bigger items and we step by its size.
    if (it->size != stride)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: size %u differs from item 1's %zu",
                       path, label, it->size, stride);
    if (!kind_known(it->kind))
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: unknown kind %d (known: 1 init, 2 loss, 3 optim)",
                       path, label, (int)it->kind);
    if (!it->name)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: name is missing (NULL)",
                       path, label);
    const char *why = name_problem(it->name);
    if (why)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: name '%.64s' %s", path,
                       label, it->name, why);
    if (it->aliases) {
        for (int k = 0; it->aliases[k]; k++) {
            if (k >= MAX_ALIASES)
                return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: more than %d aliases (missing NULL terminator?)",
                               path, label, MAX_ALIASES);
            why = name_problem(it->aliases[k]);
            if (why)
                return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: %s: alias '%.64s' %s",
                               path, label, it->aliases[k], why);
        }
    }
    int rc = check_vtable(m, path, label, it);
    if (rc) return rc;
    return check_params(m, path, label, it);
}

// Two items of one kind in one file must not answer to the same name, counting
// aliases and ignoring case and '_' as lookups do.
static int check_file_duplicates(load_msg *m, const char *path, const soma_plugin_desc *d,
                                 size_t stride) {
    for (uint32_t i = 0; i < d->n_items; i++) {
        const soma_item *a = item_at(d, stride, i);
        int na = item_name_count(a);
        for (int ka = 0; ka < na; ka++) {
            const char *an = item_name_at(a, ka);
            for (uint32_t j = 0; j <= i; j++) {
                const soma_item *b = item_at(d, stride, j);
                if (b->kind != a->kind) continue;
                int nb = j == i ? ka : item_name_count(b);
                for (int kb = 0; kb < nb; kb++) {
                    const char *bn = item_name_at(b, kb);
                    if (!soma_names_match(an, bn)) continue;
                    char label[160];
                    item_label(label, sizeof label, a, i, true);
                    return msg_set(m, SOMA_E_PLUGIN,
                                   "bad descriptor in [%s]: %s: name '%s' duplicates '%s' of item %u",
                                   path, label, an, bn, j + 1);
                }
            }
        }
    }
    return SOMA_OK;
}

// Everything about a descriptor is checked before anything is registered, so
// a bad file leaves no partial state behind.
static int check_descriptor(load_msg *m, const char *path, const soma_plugin_desc *d) {
    if (!d)
        return msg_set(m, SOMA_E_PLUGIN,
                       "bad descriptor in [%s]: entry point returned NULL (plugin not usable here)",
                       path);
    if (d->size < DESC_ABI_BYTES)
        return msg_set(m, SOMA_E_PLUGIN,
                       "bad descriptor in [%s]: size %u is smaller than the %zu bytes of a descriptor",
                       path, d->size, (size_t)DESC_BYTES);
    if (d->abi_major != SOMA_ABI_MAJOR)
        return msg_set(m, SOMA_E_ABI, "ABI mismatch in [%s]: plugin %u.%u, host %d.%d", path,
                       (unsigned)d->abi_major, (unsigned)d->abi_minor, SOMA_ABI_MAJOR,
                       SOMA_ABI_MINOR);
    if (d->size < DESC_BYTES)
        return msg_set(m, SOMA_E_PLUGIN,
                       "bad descriptor in [%s]: size %u is smaller than the %zu bytes of a descriptor",
                       path, d->size, (size_t)DESC_BYTES);
    if (d->n_items == 0)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: no items (n_items is 0)", path);
    if (!d->items)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: items is NULL (n_items %u)",
                       path, d->n_items);
    if (d->n_items > MAX_ITEMS)
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: n_items %u is implausible",
                       path, d->n_items);
    size_t stride = d->items[0].size;
    if (stride >= ITEM_BYTES &&
        (stride > MAX_ITEM_STRIDE || stride % _Alignof(soma_item) != 0))
        return msg_set(m, SOMA_E_PLUGIN, "bad descriptor in [%s]: item 1: size %zu is implausible",
                       path, stride);
    for (uint32_t i = 0; i < d->n_items; i++) {
        int rc = check_item(m, path, d, stride, i);
        if (rc) return rc;
    }
    return check_file_duplicates(m, path, d, stride);
}

/* ---- permissions ------------------------------------------------------------------ */

// Whoever can write a plugin, or the directory that holds it (and so can
// replace it), can make every program that uses soma run their code. So such
// files are refused, as ssh refuses a group-writable key, unless the user
// opts in. secure_getenv: a set-uid program must not be talked out of it.
static bool allow_writable(void) {
    const char *v = secure_getenv("SOMA_PLUGIN_ALLOW_WRITABLE");
    return v && strcmp(v, "1") == 0;
}

static const char *writers(mode_t mode) {
    if ((mode & S_IWGRP) && (mode & S_IWOTH)) return "its group and others";
    return (mode & S_IWGRP) ? "its group" : "others";
}

#define FILE_HINT                                                                        \
    "remove the write permission (chmod go-w) or set SOMA_PLUGIN_ALLOW_WRITABLE=1 to load it " \
    "anyway"
#define DIR_HINT                                                                         \
    "keep plugins in a directory only its owner can write (or chmod go-w it), or set "   \
    "SOMA_PLUGIN_ALLOW_WRITABLE=1 to load it anyway"

// Fails when directory `dir` is writable by group or others; `plugin` is
// the file that would have been loaded from it.
static int check_dir_mode(load_msg *m, const char *plugin, const char *dir) {
    struct stat ds;
    if (stat(dir, &ds) != 0)
        return msg_set(m, SOMA_E_IO, "cannot open [%s]: directory [%s]: %s", plugin, dir,
                       strerror(errno));
    if (!(ds.st_mode & (S_IWGRP | S_IWOTH))) return SOMA_OK;
    return msg_set(m, SOMA_E_PLUGIN,
                   "refusing [%s]: its directory [%s] is writable by %s (mode %04o); " DIR_HINT,
                   plugin, dir, writers(ds.st_mode), (unsigned)(ds.st_mode & 07777));
}

// The real file, its real directory and, when the path given went through
// a symbolic link, the directory that holds the link: any one of them
// writable by others would let them choose what gets loaded.
static int check_file_mode(load_msg *m, const char *given, const char *real,
                           const struct stat *st) {
    if (allow_writable()) return SOMA_OK;
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return msg_set(m, SOMA_E_PLUGIN,
                       "refusing [%s]: the file is writable by %s (mode %04o); " FILE_HINT, real,
                       writers(st->st_mode), (unsigned)(st->st_mode & 07777));
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    char *slash = strrchr(dir, '/'); // real is absolute: there is one
    if (slash == dir) dir[1] = '\0';
    else if (slash) *slash = '\0';
    int rc = check_dir_mode(m, real, dir);
    if (rc) return rc;

    char link_dir[PATH_MAX], real_link_dir[PATH_MAX];
    snprintf(link_dir, sizeof link_dir, "%s", given);
    slash = strrchr(link_dir, '/');
    if (!slash) snprintf(link_dir, sizeof link_dir, ".");
    else if (slash == link_dir) link_dir[1] = '\0';
    else *slash = '\0';
    if (!realpath(link_dir, real_link_dir) || strcmp(real_link_dir, dir) == 0) return SOMA_OK;
    return check_dir_mode(m, real, real_link_dir);
}

/* ---- loading one file ----------------------------------------------------------- */

// Records a failure and reports it: as this thread's error for an explicit
// load, as a warning during discovery (which goes on with the next file).
static int report(const load_msg *m, const char *path, bool strict) {
    soma_reg_add_failure(path, m->status, m->text);
    if (strict) return soma_error_set(m->status, "%s", m->text);
    soma_log(SOMA_LOG_WARN, "%s", m->text);
    return m->status;
}

// dlerror() usually starts with the file name; the message names it already.
static const char *strip_path(const char *err, const char *path) {
    size_t n = strlen(path);
    if (strncmp(err, path, n) == 0 && err[n] == ':') {
        err += n + 1;
        while (*err == ' ') err++;
    }
    return err;
}

// A text file or a truncated download is reported as such rather than with
// whatever the dynamic linker makes of it.
static bool looks_like_shared_object(const char *path, int *err) {
#if defined(__ELF__)
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = errno;
        return false;
    }
    unsigned char magic[4] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    *err = 0;
    return got == 4 && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
#else
    (void)path;
    *err = 0;
    return true;
#endif
}

static int load_file_locked(const char *given, bool strict) {
    load_msg m;
    char real[PATH_MAX];
    if (!realpath(given, real)) {
        int e = errno;
        soma_reg_forget_failures(given);
        msg_set(&m, SOMA_E_IO, "cannot open [%s]: %s", given, strerror(e));
        return report(&m, given, strict);
    }
    if (soma_reg_has_lib(real)) return SOMA_OK;
    soma_reg_forget_failures(real);

    struct stat st;
    if (stat(real, &st) != 0) {
        msg_set(&m, SOMA_E_IO, "cannot open [%s]: %s", real, strerror(errno));
        return report(&m, real, strict);
    }
    if (!S_ISREG(st.st_mode)) {
        msg_set(&m, SOMA_E_IO, "cannot open [%s]: not a regular file", real);
        return report(&m, real, strict);
    }
    if (check_file_mode(&m, given, real, &st) != SOMA_OK) return report(&m, real, strict);
    int oerr = 0;
    if (!looks_like_shared_object(real, &oerr)) {
        if (oerr)
            msg_set(&m, SOMA_E_IO, "cannot open [%s]: %s", real, strerror(oerr));
        else
            msg_set(&m, SOMA_E_PLUGIN, "cannot open [%s]: not a shared object (no ELF header)",
                    real);
        return report(&m, real, strict);
    }

    dlerror();
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        msg_set(&m, SOMA_E_PLUGIN, "cannot open [%s]: %s", real,
                e ? strip_path(e, real) : "unknown dlopen error");
        return report(&m, real, strict);
    }
    dlerror();
    void *sym = dlsym(h, SOMA_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        dlclose(h);
        msg_set(&m, SOMA_E_PLUGIN, "no entry point [%s] in [%s]", SOMA_PLUGIN_ENTRY_SYMBOL, real);
        return report(&m, real, strict);
    }
    soma_plugin_entry_fn entry;
    // POSIX guarantees dlsym's object pointer converts to a function pointer.
    memcpy(&entry, &sym, sizeof entry);
    const soma_plugin_desc *d = entry(soma_host_table());
    if (check_descriptor(&m, real, d) != SOMA_OK) {
        dlclose(h);
        return report(&m, real, strict);
    }

    size_t stride = d->items[0].size;
    const soma_item **keep = malloc(d->n_items * sizeof *keep);
    if (!keep) {
        dlclose(h);
        return soma_error_set(SOMA_E_NOMEM, "out of memory loading %s", real);
    }
    int n_keep = 0, rc = SOMA_OK;
    for (uint32_t i = 0; i < d->n_items; i++) {
        const soma_item *it = item_at(d, stride, i);
        const char *opath = NULL, *oname = NULL;
        if (!soma_reg_conflict(it, &opath, &oname)) {
            keep[n_keep++] = it;
            continue;
        }
        const char *kn = soma_kind_name(it->kind);
        if (strict) {
            // An explicit load asked for exactly this file: refuse all of it.
            msg_set(&m, SOMA_E_PLUGIN, "duplicate %s '%s' in [%s]: '%s' is already provided by [%s]",
                    kn, it->name, real, oname, opath);
            n_keep = 0;
            rc = report(&m, real, true);
            break;
        }
        msg_set(&m, SOMA_E_PLUGIN,
                "duplicate %s '%s' in [%s] skipped: '%s' is already provided by [%s]", kn,
                it->name, real, oname, opath);
        report(&m, real, false);
    }
    if (n_keep > 0) {
        rc = soma_reg_add(real, h, d, keep, n_keep);
        if (rc != SOMA_OK) dlclose(h);
    } else {
        dlclose(h);
    }
    free(keep);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool plugin_file_name(const char *name) {
    size_t n = strlen(name);
    return n > 8 && strncmp(name, "soma-", 5) == 0 && strcmp(name + n - 3, ".so") == 0;
}

// Loads every soma-*.so of dir in byte order (never locale order, so every
// machine agrees on who comes first). A strict load returns the first
// file's error and leaves that as this thread's message.
static int load_dir_locked(const char *dir, bool strict) {
    load_msg m;
    DIR *dh = opendir(dir);
    if (!dh) {
        int e = errno;
        if (!strict && (e == ENOENT || e == ENOTDIR)) {
            soma_log(SOMA_LOG_DEBUG, "plugin directory %s: %s", dir, strerror(e));
            return SOMA_OK;
        }
        msg_set(&m, SOMA_E_IO, "cannot open [%s]: %s", dir, strerror(e));
        return report(&m, dir, strict);
    }
    // One message for a whole writable directory rather than one per file.
    struct stat ds;
    if (!allow_writable() && fstat(dirfd(dh), &ds) == 0 && (ds.st_mode & (S_IWGRP | S_IWOTH))) {
        char real_dir[PATH_MAX];
        const char *shown = realpath(dir, real_dir) ? real_dir : dir;
        closedir(dh);
        soma_reg_forget_failures(shown);
        msg_set(&m, SOMA_E_PLUGIN,
                "refusing plugin directory [%s]: it is writable by %s (mode %04o); " DIR_HINT,
                shown, writers(ds.st_mode), (unsigned)(ds.st_mode & 07777));
        return report(&m, shown, strict);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = SOMA_OK;
    struct dirent *de;
    while ((de = readdir(dh)) != NULL) {
        if (!plugin_file_name(de->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **p = realloc(names, nc * sizeof *p);
            if (!p) {
                rc = SOMA_E_NOMEM;
                break;
            }
            names = p;
            cap = nc;
        }
        if (!(names[n] = soma_strdup(de->d_name))) {
            rc = SOMA_E_NOMEM;
            break;
        }
        n++;
    }
    closedir(dh);
    if (rc != SOMA_OK) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        return soma_error_set(SOMA_E_NOMEM, "out of memory listing %s", dir);
    }
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);

    int first = SOMA_OK;
    char *first_msg = NULL;
    char path[PATH_MAX];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (len < 0 || (size_t)len >= sizeof path) {
            msg_set(&m, SOMA_E_IO, "cannot open [%s/%s]: path too long", dir, names[i]);
            rc = report(&m, names[i], strict);
        } else {
            rc = load_file_locked(path, strict);
        }
        if (rc != SOMA_OK && first == SOMA_OK && strict) {
            first = rc;
            first_msg = soma_strdup(soma_last_error());
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (first != SOMA_OK) {
        soma_error_set(first, "%s", first_msg ? first_msg : "plugin load failed");
        free(first_msg);
    }
    return strict ? first : SOMA_OK;
}

/* ---- search path ---------------------------------------------------------------- */

// <directory of libsoma>/soma/plugins, so a build tree or an install finds
// its own plugins without configuration. When the library is linked
// statically, "the library" is the program itself, and DESIGN.md §2 rules
// out the executable's directory, so there is none.
static bool self_plugin_dir(char *out, size_t cap) {
#if defined(__GLIBC__)
    Dl_info info;
    struct link_map *self = NULL;
    if (!dladdr1((void *)&soma_plugin_discover, &info, (void **)&self, RTLD_DL_LINKMAP) ||
        !self)
        return false;
    struct link_map *main_map = NULL;
    void *main_h = dlopen(NULL, RTLD_LAZY);
    if (main_h) {
        if (dlinfo(main_h, RTLD_DI_LINKMAP, &main_map) != 0) main_map = NULL;
        dlclose(main_h);
    }
    if (!main_map || self == main_map) return false;
    // A relative name would be resolved against the current directory.
    if (!info.dli_fname || info.dli_fname[0] != '/') return false;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real)) return false;
    char *slash = strrchr(real, '/');
    if (!slash) return false;
    *slash = '\0';
    int len = snprintf(out, cap, "%s/soma/plugins", real);
    return len > 0 && (size_t)len < cap;
#else
    (void)out;
    (void)cap;
    return false;
#endif
}

void soma_loader_discover_locked(void) {
    if (soma_reg_discovered()) return;
    soma_reg_set_discovered();

    // secure_getenv: a setuid program must not load code named by its caller.
    const char *env = secure_getenv("SOMA_PLUGIN_PATH");
    if (env && *env) {
        char *copy = soma_strdup(env);
        if (copy) {
            char *save = NULL;
            for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                // Empty entries (skipped by strtok_r) and relative ones would
                // both mean the current directory, which is never searched.
                if (dir[0] != '/') {
                    soma_log(SOMA_LOG_WARN,
                             "SOMA_PLUGIN_PATH entry '%s' is not an absolute path; ignored", dir);
                    continue;
                }
                load_dir_locked(dir, false);
            }
            free(copy);
        } else {
            soma_log(SOMA_LOG_ERROR, "out of memory reading SOMA_PLUGIN_PATH");
        }
    }
    if (!soma_reg_default_dirs()) return;
    char self[PATH_MAX];
    if (self_plugin_dir(self, sizeof self)) load_dir_locked(self, false);
#ifdef SOMA_PLUGIN_DIR
    load_dir_locked(SOMA_PLUGIN_DIR, false);
#endif
}

/* ---- public API -------------------------------------------------------------------- */

SOMA_API int soma_plugin_load(const char *path) {
    if (!path || !*path)
        return soma_error_set(SOMA_E_INVALID, "soma_plugin_load: empty path");
    soma_reg_lock();
    struct stat st;
    int rc;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = load_dir_locked(path, true);
    else
        rc = load_file_locked(path, true);
    soma_reg_unlock();
    return rc;
}

SOMA_API int soma_plugin_discover(void) {
    soma_reg_lock();
    soma_loader_discover_locked();
    soma_reg_unlock();
    return SOMA_OK;
}
