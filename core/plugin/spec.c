/* core/plugin/spec.c — "name(key=value, ...)" strings to plugin instances.
 *
 * Grammar (whitespace allowed between tokens):
 *   spec  := name [ '(' [ param { ',' param } [ ',' ] ] ')' ]
 *   name  := [A-Za-z_][A-Za-z0-9_]*
 *   param := name '=' value
 *   value := number | true | false | True | False | None | none
 *          | word | 'text' | "text"
 *   number:= [+-] digits [. digits] [(e|E) [+-] digits]   (or .5, 5.)
 *   word  := [A-Za-z_][A-Za-z0-9_.-/]*
 * In quoted text a backslash takes the next character literally. None means
 * "not set": the parameter keeps its default and is_set stays 0.
 * Positions in messages count characters from 1.
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "internal.h"

typedef enum vkind { V_NUM, V_BOOL, V_WORD, V_STR, V_NONE, V_CALL } vkind;

// NAN marks "None" defaults of the host options below.
const soma_param_spec soma_optim_options[] = {
    {.name = "weight_decay", .type = SOMA_PARAM_FLOAT, .def_num = NAN,
     .doc = "decoupled weight decay: x -= lr*weight_decay*x before each step"},
    {.name = "clipnorm", .type = SOMA_PARAM_FLOAT, .def_num = NAN,
     .doc = "clip each gradient tensor to this L2 norm"},
    {.name = "clipvalue", .type = SOMA_PARAM_FLOAT, .def_num = NAN,
     .doc = "clip each gradient element to [-clipvalue, clipvalue]"},
    {.name = "global_clipnorm", .type = SOMA_PARAM_FLOAT, .def_num = NAN,
     .doc = "clip all gradients together to this global L2 norm"},
    {.name = "use_ema", .type = SOMA_PARAM_BOOL, .def_num = 0,
     .doc = "keep an exponential moving average of the weights"},
    {.name = "ema_momentum", .type = SOMA_PARAM_FLOAT, .def_num = 0.99,
     .doc = "momentum of the weights' moving average"},
    {.name = "ema_overwrite_frequency", .type = SOMA_PARAM_INT, .def_num = NAN,
     .doc = "every this many steps, overwrite the weights with their average"},
};
const uint32_t soma_optim_n_options = sizeof soma_optim_options / sizeof soma_optim_options[0];

typedef struct spec_kv {
    const char *key;
    size_t key_len, key_pos;
    vkind kind;
    double num;                  /* V_NUM, V_BOOL */
    const char *raw;             /* the value as written (quotes included) */
    size_t raw_len, pos;
} spec_kv;

typedef struct spec_parsed {
    char *name;
    spec_kv *kvs;
    int n;
} spec_parsed;

// Numbers are read in the C locale whatever the host program set, so "0.5"
// means the same under a locale whose decimal separator is ','.
static locale_t g_c_locale;
static pthread_once_t g_locale_once = PTHREAD_ONCE_INIT;
static void make_c_locale(void) { g_c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0); }

static double parse_double(const char *s) {
    pthread_once(&g_locale_once, make_c_locale);
    if (g_c_locale) return strtod_l(s, NULL, g_c_locale);
    return strtod(s, NULL);
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident(char c) { return is_alpha(c) || is_digit(c); }
static bool is_word(char c) { return is_ident(c) || c == '.' || c == '-' || c == '/'; }

// "'x'" for a printable character, "byte 0x07" otherwise.
static const char *show_char(char c, char *buf, size_t cap) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f)
        snprintf(buf, cap, "'%c'", c);
    else
        snprintf(buf, cap, "byte 0x%02x", u);
    return buf;
}

static int spec_fail(int code, soma_kind kind, const char *spec, size_t pos,
                     const char *fmt, ...) SOMA_PRINTF(5, 6);
static int spec_fail(int code, soma_kind kind, const char *spec, size_t pos,
                     const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return soma_error_set(code, "%s spec '%.200s': %s at position %zu", soma_kind_name(kind),
                          spec, what, pos + 1);
}

static size_t skip_ws(const char *s, size_t i) {
    while (is_ws(s[i])) i++;
    return i;
}

static int parse_value(soma_kind kind, const char *s, size_t *pi, spec_kv *kv) {
    size_t i = *pi;
    char c = s[i], cb[16];
    kv->pos = i;
    kv->raw = s + i;
    if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (s[j] && s[j] != c) j += (s[j] == '\\' && s[j + 1]) ? 2 : 1;
        if (!s[j])
            return spec_fail(SOMA_E_FORMAT, kind, s, i, "unterminated string");
        kv->kind = V_STR;
        i = j + 1;
    } else if (is_digit(c) || c == '+' || c == '-' || c == '.') {
        size_t j = i, digits = 0;
        if (s[j] == '+' || s[j] == '-') j++;
        while (is_digit(s[j])) j++, digits++;
        if (s[j] == '.') {
            j++;
            while (is_digit(s[j])) j++, digits++;
        }
        if (digits == 0)
            return spec_fail(SOMA_E_FORMAT, kind, s, i, "malformed number");
        if (s[j] == 'e' || s[j] == 'E') {
            size_t k = j + 1;
            if (s[k] == '+' || s[k] == '-') k++;
            if (!is_digit(s[k]))
                return spec_fail(SOMA_E_FORMAT, kind, s, k, "malformed exponent");
            while (is_digit(s[k])) k++;
            j = k;
        }
        char *tok = malloc(j - i + 1);
        if (!tok) return soma_error_set(SOMA_E_NOMEM, "out of memory parsing a spec");
        memcpy(tok, s + i, j - i);
        tok[j - i] = '\0';
        kv->num = parse_double(tok);
        free(tok);
        if (!isfinite(kv->num))
            return spec_fail(SOMA_E_INVALID, kind, s, i, "number '%.*s' is out of range",
                             (int)(j - i), s + i);
        kv->kind = V_NUM;
        i = j;
    } else if (is_alpha(c)) {
        size_t j = i;
        while (is_word(s[j])) j++;
        size_t n = j - i;
        const char *w = s + i;
        if ((n == 4 && (!strncmp(w, "true", 4) || !strncmp(w, "True", 4)))) {
            kv->kind = V_BOOL;
            kv->num = 1;
        } else if (n == 5 && (!strncmp(w, "false", 5) || !strncmp(w, "False", 5))) {
            kv->kind = V_BOOL;
            kv->num = 0;
        } else if (n == 4 && (!strncmp(w, "None", 4) || !strncmp(w, "none", 4))) {
            kv->kind = V_NONE;
        } else {
            kv->kind = V_WORD;
        }
        i = j;
        size_t k = skip_ws(s, i);
        if (kv->kind == V_WORD && s[k] == '(') {
            // A nested spec such as learning_rate=cosine_decay(...): keep its
            // text whole; the one who uses it parses it.
            int depth = 0;
            char quote = 0;
            for (; s[k]; k++) {
                if (quote) {
                    if (s[k] == '\\' && s[k + 1]) k++;
                    else if (s[k] == quote) quote = 0;
                } else if (s[k] == '\'' || s[k] == '"') {
                    quote = s[k];
                } else if (s[k] == '(') {
                    depth++;
                } else if (s[k] == ')' && --depth == 0) {
                    break;
                }
            }
            if (!s[k]) return spec_fail(SOMA_E_FORMAT, kind, s, i, "missing ')'");
            kv->kind = V_CALL;
            i = k + 1;
        }
    } else if (!c) {
        return spec_fail(SOMA_E_FORMAT, kind, s, i, "missing value for '%.*s'",
                         (int)kv->key_len, kv->key);
    } else {
        return spec_fail(SOMA_E_FORMAT, kind, s, i, "expected a value for '%.*s', found %s",
                         (int)kv->key_len, kv->key, show_char(c, cb, sizeof cb));
    }
    kv->raw_len = i - kv->pos;
    *pi = i;
    return SOMA_OK;
}

static void parsed_free(spec_parsed *p) {
    free(p->name);
    free(p->kvs);
}

static int parse_spec(soma_kind kind, const char *s, spec_parsed *out) {
    *out = (spec_parsed){0};
    char cb[16];
    size_t i = skip_ws(s, 0);
    if (!s[i]) return soma_error_set(SOMA_E_INVALID, "empty %s spec", soma_kind_name(kind));
    if (!is_alpha(s[i]))
        return spec_fail(SOMA_E_FORMAT, kind, s, i, "expected a name, found %s",
                         show_char(s[i], cb, sizeof cb));
    size_t name_at = i;
    while (is_ident(s[i])) i++;
    size_t name_len = i - name_at;

    // Each parameter has an '=', so this bounds how many there can be.
    size_t cap = 1;
    for (const char *q = s; *q; q++) cap += *q == '=';
    out->name = malloc(name_len + 1);
    out->kvs = malloc(cap * sizeof *out->kvs);
    if (!out->name || !out->kvs) {
        parsed_free(out);
        return soma_error_set(SOMA_E_NOMEM, "out of memory parsing a spec");
    }
    memcpy(out->name, s + name_at, name_len);
    out->name[name_len] = '\0';

    int rc = SOMA_OK;
    i = skip_ws(s, i);
    if (!s[i]) return SOMA_OK;
    if (s[i] != '(') {
        rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "unexpected %s after the name (expected '(' or the end)",
                       show_char(s[i], cb, sizeof cb));
        goto fail;
    }
    i = skip_ws(s, i + 1);
    if (s[i] == ')') {
        i++;
    } else {
        for (;;) {
            i = skip_ws(s, i);
            if (!is_alpha(s[i])) {
                if (!s[i])
                    rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "missing ')'");
                else
                    rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "expected a parameter name, found %s",
                                   show_char(s[i], cb, sizeof cb));
                goto fail;
            }
            spec_kv *kv = &out->kvs[out->n];
            *kv = (spec_kv){.key = s + i, .key_pos = i};
            while (is_ident(s[i])) i++;
            kv->key_len = (size_t)(s + i - kv->key);
            i = skip_ws(s, i);
            if (s[i] != '=') {
                rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "expected '=' after '%.*s'",
                               (int)kv->key_len, kv->key);
                goto fail;
            }
            i = skip_ws(s, i + 1);
            if ((rc = parse_value(kind, s, &i, kv)) != SOMA_OK) goto fail;
            out->n++;
            i = skip_ws(s, i);
            if (s[i] == ',') {
                i = skip_ws(s, i + 1);
                if (s[i] == ')') {
                    i++;
                    break;
                }
                continue;
            }
            if (s[i] == ')') {
                i++;
                break;
            }
            if (!s[i])
                rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "missing ')'");
            else
                rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "unexpected %s (expected ',' or ')')",
                               show_char(s[i], cb, sizeof cb));
            goto fail;
        }
    }
    i = skip_ws(s, i);
    if (s[i]) {
        rc = spec_fail(SOMA_E_FORMAT, kind, s, i, "unexpected %s after ')'",
                       show_char(s[i], cb, sizeof cb));
        goto fail;
    }
    return SOMA_OK;
fail:
    parsed_free(out);
    return rc;
}

static const char *type_word(soma_param_type t) {
    switch (t) {
    case SOMA_PARAM_FLOAT: return "a number";
    case SOMA_PARAM_INT: return "an integer";
    case SOMA_PARAM_BOOL: return "true or false";
    case SOMA_PARAM_STRING: return "a string";
    }
    return "?";
}

static int unknown_param(const soma_item *item, const spec_kv *kv) {
    size_t len = 1;
    for (uint32_t i = 0; i < item->n_params; i++) len += strlen(item->params[i].name) + 2;
    char *list = malloc(len);
    if (!list) return soma_error_set(SOMA_E_NOMEM, "out of memory");
    list[0] = '\0';
    for (uint32_t i = 0; i < item->n_params; i++) {
        if (i) strcat(list, ", ");
        strcat(list, item->params[i].name);
    }
    int rc;
    if (item->kind == SOMA_KIND_OPTIM)
        rc = soma_error_set(SOMA_E_NOT_FOUND, "%s: unknown parameter '%.*s' (parameters: %s; every "
                            "optimizer also takes weight_decay, clipnorm, clipvalue, global_clipnorm, "
                            "use_ema, ema_momentum, ema_overwrite_frequency)",
                            item->name, (int)kv->key_len, kv->key, list);
    else if (item->n_params)
        rc = soma_error_set(SOMA_E_NOT_FOUND, "%s: unknown parameter '%.*s' (parameters: %s)",
                            item->name, (int)kv->key_len, kv->key, list);
    else
        rc = soma_error_set(SOMA_E_NOT_FOUND, "%s: unknown parameter '%.*s' (%s takes no parameters)",
                            item->name, (int)kv->key_len, kv->key, item->name);
    free(list);
    return rc;
}

// Copies a value's text into the object's string storage at *at; quoted
// text loses its quotes and escapes.
static const char *store_text(const spec_kv *kv, char *strings, size_t *at) {
    char *dst = strings + *at, *w = dst;
    if (kv->kind == V_STR) {
        for (size_t j = 1; j + 1 < kv->raw_len; j++) {
            if (kv->raw[j] == '\\' && j + 2 < kv->raw_len) j++;
            *w++ = kv->raw[j];
        }
    } else {
        memcpy(w, kv->raw, kv->raw_len);
        w += kv->raw_len;
    }
    *w++ = '\0';
    *at += (size_t)(w - dst);
    return dst;
}

// Checks each given value against the schema and stores it.
static int apply_params(soma_kind kind, const char *spec, const spec_parsed *p, soma_obj *o) {
    const soma_item *item = o->item;
    bool *seen = NULL, seen_opt[16] = {0};
    if (item->n_params && !(seen = calloc(item->n_params, sizeof *seen)))
        return soma_error_set(SOMA_E_NOMEM, "out of memory");
    size_t at = 0;
    int rc = SOMA_OK;
    for (int k = 0; k < p->n && rc == SOMA_OK; k++) {
        const spec_kv *kv = &p->kvs[k];
        uint32_t idx = 0;
        while (idx < item->n_params &&
               !(strlen(item->params[idx].name) == kv->key_len &&
                 strncmp(item->params[idx].name, kv->key, kv->key_len) == 0))
            idx++;
        const soma_param_spec *ps;
        soma_param_value *v;
        bool *seenp;
        if (idx < item->n_params) {
            ps = &item->params[idx];
            v = &o->values[idx];
            seenp = &seen[idx];
        } else {
            uint32_t h = 0;
            while (o->options && h < soma_optim_n_options &&
                   !(strlen(soma_optim_options[h].name) == kv->key_len &&
                     strncmp(soma_optim_options[h].name, kv->key, kv->key_len) == 0))
                h++;
            if (!o->options || h == soma_optim_n_options) {
                rc = unknown_param(item, kv);
                break;
            }
            ps = &soma_optim_options[h];
            v = &o->options[h];
            seenp = &seen_opt[h];
        }
        if (*seenp) {
            rc = spec_fail(SOMA_E_FORMAT, kind, spec, kv->key_pos, "%s: parameter '%s' given twice",
                           item->name, ps->name);
            break;
        }
        *seenp = true;
        if (kv->kind == V_NONE) continue;
        if (kv->kind == V_CALL) {
            if (kind != SOMA_KIND_OPTIM || strcmp(ps->name, "learning_rate") != 0) {
                rc = soma_error_set(SOMA_E_INVALID, "%s: parameter '%s' expects %s, got %.*s", item->name,
                                    ps->name, type_word(ps->type), (int)kv->raw_len, kv->raw);
                break;
            }
            o->lr_schedule = store_text(kv, o->strings, &at);
            continue;
        }
        bool ok = true;
        switch (ps->type) {
        case SOMA_PARAM_FLOAT:
            ok = kv->kind == V_NUM;
            if (ok) v->num = kv->num;
            break;
        case SOMA_PARAM_INT:
            ok = kv->kind == V_NUM && kv->num == floor(kv->num) && fabs(kv->num) < 9007199254740992.0;
            if (ok) v->num = kv->num;
            break;
        case SOMA_PARAM_BOOL:
            ok = kv->kind == V_BOOL || (kv->kind == V_NUM && (kv->num == 0 || kv->num == 1));
            if (ok) v->num = kv->num;
            break;
        case SOMA_PARAM_STRING:
            v->str = store_text(kv, o->strings, &at);
            break;
        }
        if (!ok) {
            // Bare words are quoted so "got 'fast'" reads as a value; numbers
            // and quoted strings are shown as written.
            const char *q = (kv->kind == V_WORD || kv->kind == V_BOOL) ? "'" : "";
            rc = soma_error_set(SOMA_E_INVALID, "%s: parameter '%s' expects %s, got %s%.*s%s",
                                item->name, ps->name, type_word(ps->type), q,
                                (int)kv->raw_len, kv->raw, q);
            break;
        }
        v->is_set = 1;
    }
    free(seen);
    return rc;
}

static soma_create_fn vt_create(const soma_obj *o) {
    switch (o->kind) {
    case SOMA_KIND_INIT: return soma_obj_init(o)->create;
    case SOMA_KIND_LOSS: return soma_obj_loss(o)->create;
    case SOMA_KIND_OPTIM: return soma_obj_optim(o)->create;
    }
    return NULL;
}

static soma_destroy_fn vt_destroy(const soma_obj *o) {
    switch (o->kind) {
    case SOMA_KIND_INIT: return soma_obj_init(o)->destroy;
    case SOMA_KIND_LOSS: return soma_obj_loss(o)->destroy;
    case SOMA_KIND_OPTIM: return soma_obj_optim(o)->destroy;
    }
    return NULL;
}

static void obj_release(soma_obj *o) {
    free(o->values);
    free(o->options);
    free(o->strings);
    free(o);
}

// A new object for item with defaults filled and p's values applied; frees p.
static int obj_make(soma_kind kind, const char *spec, spec_parsed *p, const soma_item *item,
                    const char *path, soma_obj **out) {
    *out = NULL;
    soma_obj *o = calloc(1, sizeof *o);
    uint32_t np = item->n_params;
    bool opts = kind == SOMA_KIND_OPTIM;
    if (o && np) o->values = calloc(np, sizeof *o->values);
    if (o && opts) o->options = calloc(soma_optim_n_options, sizeof *o->options);
    // Every stored string is a piece of the spec plus a NUL.
    if (o && p->n) o->strings = malloc(strlen(spec) + (size_t)p->n + 1);
    if (!o || (np && !o->values) || (opts && !o->options) || (p->n && !o->strings)) {
        if (o) obj_release(o);
        parsed_free(p);
        return soma_error_set(SOMA_E_NOMEM, "out of memory creating %s '%s'",
                              soma_kind_name(kind), item->name);
    }
    o->kind = kind;
    o->item = item;
    o->path = path;
    o->vt = item->vtable;
    for (uint32_t i = 0; i < np; i++) {
        const soma_param_spec *ps = &item->params[i];
        o->values[i].num = ps->type == SOMA_PARAM_STRING ? 0 : ps->def_num;
        o->values[i].str = ps->type == SOMA_PARAM_STRING ? ps->def_str : NULL;
        o->values[i].is_set = 0;
    }
    for (uint32_t i = 0; opts && i < soma_optim_n_options; i++)
        o->options[i] = (soma_param_value){.num = soma_optim_options[i].def_num};
    int rc = apply_params(kind, spec, p, o);
    parsed_free(p);
    o->inst = (soma_instance){.params = o->values, .state = NULL};
    if (rc != SOMA_OK) {
        obj_release(o);
        return rc;
    }
    *out = o;
    return SOMA_OK;
}

int soma_static_find(const char *name, const soma_item *items, int n_items) {
    for (int i = 0; i < n_items; i++) {
        bool hit = soma_names_match(items[i].name, name);
        for (const char *const *a = items[i].aliases; a && *a && !hit; a++) hit = soma_names_match(*a, name);
        if (hit) return i;
    }
    return -1;
}

int soma_obj_create_static(soma_kind kind, const char *spec, const soma_item *items, int n_items,
                           soma_obj **out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_obj_create_static: out is NULL");
    *out = NULL;
    if (!spec) return soma_error_set(SOMA_E_INVALID, "empty %s spec", soma_kind_name(kind));
    spec_parsed p;
    int rc = parse_spec(kind, spec, &p);
    if (rc != SOMA_OK) return rc;
    int found = soma_static_find(p.name, items, n_items);
    if (found >= 0) return obj_make(kind, spec, &p, &items[found], "(built in)", out);
    char known[512] = "";
    for (int i = 0; i < n_items; i++) {
        size_t l = strlen(known);
        snprintf(known + l, sizeof known - l, "%s%s", i ? ", " : "", items[i].name);
    }
    rc = soma_error_set(SOMA_E_NOT_FOUND, "unknown %s '%s' (known: %s)", soma_kind_name(kind),
                        p.name, known);
    parsed_free(&p);
    return rc;
}

int soma_obj_create(soma_kind kind, const char *spec, soma_obj **out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_obj_create: out is NULL");
    *out = NULL;
    if (!spec) return soma_error_set(SOMA_E_INVALID, "empty %s spec", soma_kind_name(kind));
    spec_parsed p;
    int rc = parse_spec(kind, spec, &p);
    if (rc != SOMA_OK) return rc;

    const soma_item *item = NULL;
    const char *path = NULL;
    if ((rc = soma_registry_find(kind, p.name, &item, &path)) != SOMA_OK) {
        parsed_free(&p);
        return rc;
    }
    soma_obj *o;
    if ((rc = obj_make(kind, spec, &p, item, path, &o)) != SOMA_OK) return rc;

    soma_create_fn create = vt_create(o);
    if (create) {
        soma_clear_error();
        void *state = NULL;
        int crc = create(soma_host_table(), o->values, &state);
        if (crc != SOMA_OK) {
            // The host, not the plugin, names the item (plugin.h's rule), and
            // a plugin that forgot set_error still yields a message.
            if (crc > 0)
                crc = soma_error_set(SOMA_E_PLUGIN, "create returned %d, not a SOMA_E_* code", crc);
            else if (soma_last_status() == SOMA_OK)
                soma_error_set(crc, "create failed (%s) without a message", soma_status_name(crc));
            soma_error_prefix("%s '%s'", soma_kind_name(kind), item->name);
            obj_release(o);
            return crc;
        }
        o->inst.state = state;
    }
    *out = o;
    return SOMA_OK;
}

void soma_obj_free(soma_obj *obj) {
    if (!obj) return;
    // destroy pairs with a create that ran; an item without create has no state.
    soma_destroy_fn destroy = vt_destroy(obj);
    if (destroy && vt_create(obj)) destroy(soma_host_table(), obj->inst.state);
    obj_release(obj);
}

bool soma_obj_option(const soma_obj *obj, const char *key, double *value) {
    if (soma_obj_param(obj, key, value)) return true;
    if (!obj || !obj->options) return false;
    for (uint32_t i = 0; i < soma_optim_n_options; i++)
        if (strcmp(soma_optim_options[i].name, key) == 0) {
            if (!obj->options[i].is_set && isnan(soma_optim_options[i].def_num)) return false;
            if (value) *value = obj->options[i].num;
            return true;
        }
    return false;
}

bool soma_obj_param(const soma_obj *obj, const char *key, double *value) {
    if (!obj || !key) return false;
    for (uint32_t i = 0; i < obj->item->n_params; i++) {
        const soma_param_spec *ps = &obj->item->params[i];
        if (ps->type != SOMA_PARAM_STRING && strcmp(ps->name, key) == 0) {
            if (value) *value = obj->values[i].num;
            return true;
        }
    }
    return false;
}
