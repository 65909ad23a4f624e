/* core/plugin — what loader.c, registry.c and spec.c share. Not part of
 * registry.h because nothing outside core/plugin needs it. */
#ifndef SOMA_CORE_PLUGIN_INTERNAL_H
#define SOMA_CORE_PLUGIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "registry.h"

/* Longest name (item, alias, parameter) in bytes, without the NUL. */
#define SOMA_NAME_MAX 63

/* Names are compared ignoring ASCII case and '_' ("HeNormal" == "he_normal"). */
bool soma_names_match(const char *a, const char *b);
/* Is s a valid plugin name: [a-z][a-z0-9_]*, at most SOMA_NAME_MAX bytes? */
bool soma_name_valid(const char *s);

/* ---- registry state (registry.c). Every soma_reg_* call below requires the
 * registry lock, taken with soma_reg_lock(). ---- */
void soma_reg_lock(void);
void soma_reg_unlock(void);

bool soma_reg_discovered(void);
void soma_reg_set_discovered(void);
bool soma_reg_default_dirs(void);

/* Is a file with this real path loaded? */
bool soma_reg_has_lib(const char *real_path);
/* Keeps a loaded file and registers items[0..n) from it, all or nothing:
 * on SOMA_E_NOMEM nothing changed. The registry takes ownership of handle
 * (dlclose on reset) only on success. */
int soma_reg_add(const char *real_path, void *handle, const soma_plugin_desc *desc,
                 const soma_item *const *items, int n);
/* The registered item of `kind` answering to any of the names of `item`
 * (canonical or alias), or NULL. *other_path gets its file, *other_name the
 * registered name that matched. */
const soma_item *soma_reg_conflict(const soma_item *item, const char **other_path,
                                   const char **other_name);
/* Failures are kept per real path (or the given path when it does not
 * resolve); a new attempt on a path forgets what earlier attempts recorded. */
int soma_reg_add_failure(const char *path, int status, const char *message);
void soma_reg_forget_failures(const char *path);

/* ---- loader (loader.c) ---- */
/* Runs discovery unless it has run. Requires the registry lock. */
void soma_loader_discover_locked(void);

#endif
