/* Tests of core/plugin's loader and registry: every error path of a plugin
 * file, discovery, the search order, duplicates, symlinks, lookup by Keras
 * names, and the host table. The plugins come from tests/plugins (built to
 * $SOMA_TEST_PLUGIN_DIR); each test builds its own search directories in a
 * fresh temporary directory, so nothing depends on what else is installed. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "plugin/registry.h"
#include "thread/pool.h"
#include "soma/soma.h"

// Short enough that every path built from it fits in PATH_MAX.
static char g_tmp[256];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void) {
    soma_registry_set_default_dirs(false);
    soma_registry_reset();
    soma_clear_error();
    const char *base = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/soma-loader-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(g_tmp), "mkdtemp failed");
    // Discovery sees only what a test puts on the path.
    setenv("SOMA_PLUGIN_PATH", g_tmp, 1);
}

static void teardown(void) {
    soma_set_log(NULL, NULL, SOMA_LOG_WARN);
    soma_registry_reset();
    nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(loader, .init = setup, .fini = teardown);

/* ---- helpers ---------------------------------------------------------------------- */

// Path of a test plugin, e.g. tp("tp_bad_abi"). Several may be live at once.
static const char *tp(const char *name) {
    static char bufs[8][PATH_MAX];
    static int next;
    const char *dir = getenv("SOMA_TEST_PLUGIN_DIR");
    cr_assert_not_null(dir, "SOMA_TEST_PLUGIN_DIR is not set (run through ctest)");
    char *b = bufs[next++ % 8];
    snprintf(b, PATH_MAX, "%s/%s.so", dir, name);
    return b;
}

static const char *real(const char *path) {
    static char bufs[8][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 8];
    cr_assert_not_null(realpath(path, b), "realpath(%s) failed", path);
    return b;
}

// <tmp>/<sub>, created.
static const char *subdir(const char *sub) {
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", g_tmp, sub);
    cr_assert_eq(mkdir(b, 0755), 0, "mkdir %s", b);
    return b;
}

static void link_in(const char *dir, const char *name, const char *target) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(symlink(target, p), 0, "symlink %s", p);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

// Checks the status and that the message contains each word (NULL-ended).
static void expect_words(int rc, int code, va_list ap) {
    cr_assert_eq(rc, code, "status %s, expected %s; message: %s", soma_status_name(rc),
                 soma_status_name(code), soma_last_error());
    for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
        cr_assert_not_null(strstr(soma_last_error(), w), "message \"%s\" lacks \"%s\"",
                           soma_last_error(), w);
}
static void expect_err_(int rc, int code, ...) {
    va_list ap;
    va_start(ap, code);
    expect_words(rc, code, ap);
    va_end(ap);
}
#define EXPECT_ERR(...) expect_err_(__VA_ARGS__, (const char *)NULL)

// Loads a broken test plugin and checks the status, the words of the message,
// that nothing got registered, and that the failure is listed with the same
// message under the file's real path.
static void expect_bad_(const char *name, int code, ...) {
    const char *path = tp(name);
    int rc = soma_plugin_load(path);
    va_list ap;
    va_start(ap, code);
    expect_words(rc, code, ap);
    va_end(ap);
    cr_assert_eq(soma_plugin_count(), 0, "%s registered something", name);
    cr_assert_eq(soma_plugin_failure_count(), 1);
    const char *fp, *fm;
    cr_assert_eq(soma_plugin_failure(0, &fp, &fm), SOMA_OK);
    cr_assert_str_eq(fp, real(path));
    cr_assert_str_eq(fm, soma_last_error());
}
#define EXPECT_BAD(...) expect_bad_(__VA_ARGS__, (const char *)NULL)

static const char *find_path(soma_kind kind, const char *name) {
    const soma_item *it = NULL;
    const char *path = NULL;
    int rc = soma_registry_find(kind, name, &it, &path);
    cr_assert_eq(rc, SOMA_OK, "find %s: %s", name, soma_last_error());
    return path;
}

/* ---- good files ---------------------------------------------------------------------- */

Test(loader, loads_a_good_file_and_reports_its_items) {
    const char *path = tp("tp_good_loss");
    cr_assert_eq(soma_plugin_load(path), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_count(), 1);
    cr_assert_eq(soma_plugin_failure_count(), 0);
    soma_plugin_info info;
    cr_assert_eq(soma_plugin_get(0, &info), SOMA_OK);
    cr_assert_eq(info.kind, SOMA_KIND_LOSS);
    cr_assert_str_eq(info.name, "test_mse");
    cr_assert_str_eq(info.path, real(path));
    cr_assert_str_eq(info.doc, "scaled mean squared error");
    cr_assert_eq(info.abi_major, SOMA_ABI_MAJOR);
    cr_assert_eq(info.abi_minor, SOMA_ABI_MINOR);
    cr_assert_eq(info.n_params, 5);
    cr_assert_str_eq(info.params[1].name, "reps");
    cr_assert_str_eq(info.aliases[0], "tmse");
    cr_assert_null(info.aliases[1]);
}

Test(loader, lookup_ignores_case_and_underscores_and_knows_aliases) {
    cr_assert_eq(soma_plugin_load(tp("tp_good_loss")), SOMA_OK, "%s", soma_last_error());
    const soma_item *it = NULL;
    const char *spellings[] = {"test_mse", "TestMse", "TEST_MSE", "testmse", "tmse", "TMSE", "t_m_s_e"};
    for (size_t i = 0; i < sizeof spellings / sizeof *spellings; i++) {
        it = NULL;
        cr_assert_eq(soma_registry_find(SOMA_KIND_LOSS, spellings[i], &it, NULL), SOMA_OK,
                     "%s: %s", spellings[i], soma_last_error());
        cr_assert_str_eq(it->name, "test_mse", "%s", spellings[i]);
    }
    // Near misses stay misses.
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "test_ms", &it, NULL), SOMA_E_NOT_FOUND,
               "unknown loss 'test_ms'", "(known: test_mse)");
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "test-mse", &it, NULL), SOMA_E_NOT_FOUND);
    // The kind is part of the key.
    EXPECT_ERR(soma_registry_find(SOMA_KIND_INIT, "test_mse", &it, NULL), SOMA_E_NOT_FOUND,
               "unknown init 'test_mse'", "no init plugins found");
}

Test(loader, same_name_in_two_kinds_is_not_a_duplicate) {
    cr_assert_eq(soma_plugin_load(tp("tp_good_loss")), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_load(tp("tp_good_multi")), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_count(), 4);
    const soma_item *a, *b;
    cr_assert_eq(soma_registry_find(SOMA_KIND_LOSS, "test_mse", &a, NULL), SOMA_OK);
    cr_assert_eq(soma_registry_find(SOMA_KIND_INIT, "test_mse", &b, NULL), SOMA_OK);
    cr_assert_eq(a->kind, SOMA_KIND_LOSS);
    cr_assert_eq(b->kind, SOMA_KIND_INIT);
    cr_assert_eq(soma_registry_find(SOMA_KIND_INIT, "AllOnes", &b, NULL), SOMA_OK);
    cr_assert_str_eq(b->name, "test_ones");
}

Test(loader, unknown_name_lists_known_names_sorted) {
    cr_assert_eq(soma_plugin_load(tp("tp_good_dup")), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_load(tp("tp_good_aliasdup")), SOMA_OK, "%s", soma_last_error());
    int rc = soma_registry_find(SOMA_KIND_LOSS, "nope", NULL, NULL);
    EXPECT_ERR(rc, SOMA_E_NOT_FOUND);
    cr_assert_str_eq(soma_last_error(),
                     "unknown loss 'nope' (known: test_m_s_e, test_other, totally_new)");
}

/* ---- every error path of one file --------------------------------------------------- */

Test(loader, missing_file) {
    int rc = soma_plugin_load("/nonexistent-soma-dir/soma-loss-x.so");
    EXPECT_ERR(rc, SOMA_E_IO, "cannot open [/nonexistent-soma-dir/soma-loss-x.so]:",
               "No such file");
    cr_assert_eq(soma_plugin_failure_count(), 1);
}

Test(loader, text_file_is_not_a_shared_object) {
    write_text(g_tmp, "soma-loss-fake.so", "this is not a plugin\n");
    char p[PATH_MAX], msg[2 * PATH_MAX];
    snprintf(p, sizeof p, "%s/soma-loss-fake.so", g_tmp);
    snprintf(msg, sizeof msg, "cannot open [%s]: not a shared object", real(p));
    EXPECT_ERR(soma_plugin_load(p), SOMA_E_PLUGIN, msg);
}

Test(loader, empty_file_is_not_a_shared_object) {
    write_text(g_tmp, "soma-loss-empty.so", "");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/soma-loss-empty.so", g_tmp);
    EXPECT_ERR(soma_plugin_load(p), SOMA_E_PLUGIN, "not a shared object");
}

Test(loader, dlopen_failure_passes_dlerror_on) {
    EXPECT_BAD("tp_bad_undef", SOMA_E_PLUGIN, "cannot open [", "tp_bad_undef.so]:",
               "undefined symbol", "tp_missing_symbol");
}

Test(loader, no_entry_point) {
    char msg[2 * PATH_MAX];
    snprintf(msg, sizeof msg, "no entry point [soma_plugin_entry] in [%s]",
             real(tp("tp_bad_noentry")));
    EXPECT_BAD("tp_bad_noentry", SOMA_E_PLUGIN, msg);
    cr_assert_str_eq(soma_last_error(), msg);
}

Test(loader, entry_returns_null) {
    EXPECT_BAD("tp_bad_null", SOMA_E_PLUGIN, "bad descriptor in [", "returned NULL");
}

Test(loader, descriptor_size_too_small) {
    EXPECT_BAD("tp_bad_descsize", SOMA_E_PLUGIN, "bad descriptor in [", "size 4 is smaller");
}

Test(loader, abi_major_mismatch) {
    char msg[2 * PATH_MAX];
    snprintf(msg, sizeof msg, "ABI mismatch in [%s]: plugin 2.0, host %d.%d",
             real(tp("tp_bad_abi")), SOMA_ABI_MAJOR, SOMA_ABI_MINOR);
    EXPECT_BAD("tp_bad_abi", SOMA_E_ABI, msg);
    cr_assert_str_eq(soma_last_error(), msg);
}

Test(loader, no_items) {
    EXPECT_BAD("tp_bad_noitems", SOMA_E_PLUGIN, "bad descriptor in [", "no items");
}

Test(loader, items_null) {
    EXPECT_BAD("tp_bad_itemsnull", SOMA_E_PLUGIN, "bad descriptor in [", "items is NULL");
}

Test(loader, item_size_too_small) {
    EXPECT_BAD("tp_bad_itemsize", SOMA_E_PLUGIN, "bad descriptor in [", "item 1: size 8");
}

Test(loader, unknown_kind) {
    EXPECT_BAD("tp_bad_kind", SOMA_E_PLUGIN, "item 1 (kind 9 'weird')", "unknown kind 9");
}

// The one message checked character for character: the house style of
// DESIGN.md §2, and proof that item 1, though valid, was not registered.
Test(loader, bad_name_in_item_2_registers_nothing) {
    char msg[2 * PATH_MAX];
    snprintf(msg, sizeof msg,
             "bad descriptor in [%s]: item 2 (loss 'Bad-Name'): name 'Bad-Name' is not "
             "lowercase snake_case ([a-z][a-z0-9_]*)",
             real(tp("tp_bad_name")));
    EXPECT_BAD("tp_bad_name", SOMA_E_PLUGIN, msg);
    cr_assert_str_eq(soma_last_error(), msg);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "test_partial_ok", NULL, NULL),
               SOMA_E_NOT_FOUND, "unknown loss 'test_partial_ok'",
               "1 plugin file failed to load, see `soma plugins`");
}

Test(loader, name_too_long) {
    EXPECT_BAD("tp_bad_longname", SOMA_E_PLUGIN, "item 1 (loss 'a1234", "longer than 63 bytes");
}

Test(loader, name_null) {
    EXPECT_BAD("tp_bad_nullname", SOMA_E_PLUGIN, "item 1 (loss, no name)", "name is missing");
}

Test(loader, bad_alias) {
    EXPECT_BAD("tp_bad_alias", SOMA_E_PLUGIN, "(loss 'aliased')", "alias 'BadAlias' is not lowercase");
}

Test(loader, vtable_null) {
    EXPECT_BAD("tp_bad_novt", SOMA_E_PLUGIN, "(optim 'novt')", "vtable is NULL");
}

Test(loader, vtable_size_too_small) {
    EXPECT_BAD("tp_bad_vtsize", SOMA_E_PLUGIN, "(loss 'vtsize')", "vtable size 8 is smaller",
               "loss vtable");
}

Test(loader, init_without_fill) {
    EXPECT_BAD("tp_bad_nofill", SOMA_E_PLUGIN, "(init 'nofill')", "required function fill is NULL");
}

Test(loader, loss_without_forward) {
    EXPECT_BAD("tp_bad_noforward", SOMA_E_PLUGIN, "(loss 'noforward')",
               "required function forward is NULL");
}

Test(loader, loss_without_backward) {
    EXPECT_BAD("tp_bad_nobackward", SOMA_E_PLUGIN, "(loss 'nobackward')",
               "required function backward is NULL");
}

Test(loader, optim_without_step) {
    EXPECT_BAD("tp_bad_nostep", SOMA_E_PLUGIN, "(optim 'nostep')", "required function step is NULL");
}

Test(loader, param_of_unknown_type) {
    EXPECT_BAD("tp_bad_paramtype", SOMA_E_PLUGIN, "(loss 'paramtype')",
               "parameter 'shape' has unknown type 7");
}

Test(loader, param_declared_twice) {
    EXPECT_BAD("tp_bad_paramdup", SOMA_E_PLUGIN, "(loss 'paramdup')", "duplicate parameter name 'rate'");
}

Test(loader, param_without_name) {
    EXPECT_BAD("tp_bad_paramnull", SOMA_E_PLUGIN, "(loss 'paramnull')", "parameter 2 has no name");
}

Test(loader, params_null_with_count) {
    EXPECT_BAD("tp_bad_paramsnull", SOMA_E_PLUGIN, "(loss 'paramsnull')",
               "n_params is 2 but params is NULL");
}

Test(loader, param_name_not_snake_case) {
    EXPECT_BAD("tp_bad_paramname", SOMA_E_PLUGIN, "(optim 'paramname')",
               "parameter name 'learningRate' is not lowercase");
}

Test(loader, int_param_with_fractional_default) {
    EXPECT_BAD("tp_bad_intdefault", SOMA_E_PLUGIN, "(init 'intdefault')", "'count'", "2.5",
               "not an integer");
}

Test(loader, duplicate_names_within_one_file) {
    EXPECT_BAD("tp_bad_filedup", SOMA_E_PLUGIN, "item 2 (loss 'f_oo')",
               "name 'f_oo' duplicates 'foo' of item 1");
}

Test(loader, directory_entry_that_is_not_a_file) {
    const char *d = subdir("soma-loss-dir.so");
    cr_assert_eq(soma_plugin_load(d), SOMA_OK); // a directory: loads its (no) plugins
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/soma-loss-dir.so", g_tmp);
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    cr_assert_eq(soma_plugin_failure_count(), 1);
    const char *fm;
    soma_plugin_failure(0, NULL, &fm);
    cr_assert_not_null(strstr(fm, "not a regular file"), "%s", fm);
}

Test(loader, null_or_empty_path) {
    EXPECT_ERR(soma_plugin_load(NULL), SOMA_E_INVALID);
    EXPECT_ERR(soma_plugin_load(""), SOMA_E_INVALID);
}

/* ---- discovery ------------------------------------------------------------------------ */

static int count_items_of(int kind) {
    int n = 0;
    soma_plugin_info info;
    for (int i = 0; i < soma_plugin_count(); i++)
        if (soma_plugin_get(i, &info) == SOMA_OK && info.kind == kind) n++;
    return n;
}

Test(loader, discovery_loads_good_files_and_lists_bad_ones) {
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    link_in(g_tmp, "soma-optim-b.so", tp("tp_good_multi"));
    link_in(g_tmp, "soma-loss-c.so", tp("tp_bad_abi"));
    link_in(g_tmp, "soma-loss-d.so", tp("tp_bad_noentry"));
    write_text(g_tmp, "soma-loss-fake.so", "not ELF\n");
    // Not soma-*.so: never looked at, though broken.
    link_in(g_tmp, "other.so", tp("tp_bad_null"));
    link_in(g_tmp, "soma-loss-e.so.old", tp("tp_bad_null"));
    link_in(g_tmp, "libsoma-loss-f.so", tp("tp_bad_null"));

    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    cr_assert_eq(soma_plugin_count(), 4);
    cr_assert_eq(count_items_of(SOMA_KIND_INIT), 2);
    cr_assert_eq(count_items_of(SOMA_KIND_OPTIM), 1);
    cr_assert_eq(count_items_of(SOMA_KIND_LOSS), 1);

    // In file-name order: c, d, fake.
    cr_assert_eq(soma_plugin_failure_count(), 3);
    const char *fp, *fm;
    char fake[PATH_MAX];
    snprintf(fake, sizeof fake, "%s/soma-loss-fake.so", g_tmp);
    const char *want_path[] = {real(tp("tp_bad_abi")), real(tp("tp_bad_noentry")), real(fake)};
    const char *want_msg[] = {"ABI mismatch in [", "no entry point [soma_plugin_entry] in [",
                              "not a shared object"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(soma_plugin_failure(i, &fp, &fm), SOMA_OK);
        cr_assert_str_eq(fp, want_path[i]);
        cr_assert_not_null(strstr(fm, want_msg[i]), "failure %d: %s", i, fm);
        cr_assert_not_null(strstr(fm, want_path[i]), "failure %d: %s", i, fm);
    }
    // Idempotent.
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    cr_assert_eq(soma_plugin_count(), 4);
    cr_assert_eq(soma_plugin_failure_count(), 3);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "nope", NULL, NULL), SOMA_E_NOT_FOUND,
               "unknown loss 'nope' (known: test_mse); 3 plugin files failed to load, "
               "see `soma plugins`");
}

Test(loader, lookup_runs_discovery_lazily_once) {
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    cr_assert_eq(soma_plugin_count(), 0);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_loss")));
    cr_assert_eq(soma_plugin_count(), 1);
    // A file added after discovery is not seen until a reset.
    link_in(g_tmp, "soma-optim-b.so", tp("tp_good_multi"));
    EXPECT_ERR(soma_registry_find(SOMA_KIND_OPTIM, "test_sgd", NULL, NULL), SOMA_E_NOT_FOUND);
    soma_registry_reset();
    cr_assert_eq(soma_plugin_count(), 0);
    find_path(SOMA_KIND_OPTIM, "test_sgd");
    cr_assert_eq(soma_plugin_count(), 4);
}

typedef struct capture {
    int n;
    char last[2048];
} capture;
static void capture_log(int level, const char *message, void *user) {
    capture *c = user;
    if (level >= SOMA_LOG_WARN) {
        c->n++;
        snprintf(c->last, sizeof c->last, "%s", message);
    }
}

Test(loader, discovery_skips_a_later_duplicate_with_a_warning) {
    capture cap = {0};
    soma_set_log(capture_log, &cap, SOMA_LOG_WARN);
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    link_in(g_tmp, "soma-loss-b.so", tp("tp_good_dup"));
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    const char *first = real(tp("tp_good_loss")), *second = real(tp("tp_good_dup"));

    // The warning names both files and the duplicate.
    cr_assert_eq(cap.n, 1, "%d warnings, last: %s", cap.n, cap.last);
    cr_assert_not_null(strstr(cap.last, "duplicate loss 'test_m_s_e'"), "%s", cap.last);
    cr_assert_not_null(strstr(cap.last, first), "%s", cap.last);
    cr_assert_not_null(strstr(cap.last, second), "%s", cap.last);
    // And so does the failure list `soma plugins` prints.
    cr_assert_eq(soma_plugin_failure_count(), 1);
    const char *fp, *fm;
    soma_plugin_failure(0, &fp, &fm);
    cr_assert_str_eq(fp, second);
    cr_assert_str_eq(fm, cap.last);

    // The first provider answers to both spellings; the rest of the second
    // file is still registered.
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_m_s_e"), first);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_other"), second);
    cr_assert_eq(soma_plugin_count(), 2);
}

static void querying_log(int level, const char *message, void *user) {
    (void)level, (void)message;
    int *calls = user;
    // Runs inside discovery, which holds the registry lock.
    (*calls)++;
    soma_plugin_count();
    soma_plugin_failure_count();
    soma_registry_find(SOMA_KIND_LOSS, "test_mse", NULL, NULL);
}

Test(loader, a_log_callback_may_query_the_registry, .timeout = 20) {
    int calls = 0;
    soma_set_log(querying_log, &calls, SOMA_LOG_WARN);
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    link_in(g_tmp, "soma-loss-b.so", tp("tp_bad_abi"));
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    cr_assert_eq(calls, 1);
    cr_assert_eq(soma_plugin_count(), 1);
}

Test(loader, explicit_load_of_a_taken_name_is_an_error) {
    const char *first = real(tp("tp_good_loss")), *second = real(tp("tp_good_dup"));
    cr_assert_eq(soma_plugin_load(tp("tp_good_loss")), SOMA_OK);
    EXPECT_ERR(soma_plugin_load(tp("tp_good_dup")), SOMA_E_PLUGIN, "duplicate loss 'test_m_s_e'",
               "'test_mse' is already provided by", first, second);
    // All or nothing: test_other did not come in either.
    cr_assert_eq(soma_plugin_count(), 1);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "test_other", NULL, NULL), SOMA_E_NOT_FOUND);
    // Aliases collide as well.
    EXPECT_ERR(soma_plugin_load(tp("tp_good_aliasdup")), SOMA_E_PLUGIN,
               "duplicate loss 'totally_new'", "'tmse' is already provided by", first);
}

Test(loader, explicit_loads_come_before_discovery) {
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    cr_assert_eq(soma_plugin_load(tp("tp_good_dup")), SOMA_OK, "%s", soma_last_error());
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_dup")));
    // Discovery's copy was the later duplicate, skipped and listed.
    cr_assert_eq(soma_plugin_failure_count(), 1);
    const char *fp;
    soma_plugin_failure(0, &fp, NULL);
    cr_assert_str_eq(fp, real(tp("tp_good_loss")));
}

Test(loader, same_real_path_twice_is_a_no_op) {
    link_in(g_tmp, "soma-loss-link.so", tp("tp_good_loss"));
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/soma-loss-link.so", g_tmp);
    cr_assert_eq(soma_plugin_load(tp("tp_good_loss")), SOMA_OK);
    cr_assert_eq(soma_plugin_load(tp("tp_good_loss")), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_load(link), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    cr_assert_eq(soma_plugin_count(), 1);
    cr_assert_eq(soma_plugin_failure_count(), 0);
}

Test(loader, symlink_is_recorded_by_real_path) {
    link_in(g_tmp, "soma-loss-link.so", tp("tp_good_loss"));
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/soma-loss-link.so", g_tmp);
    cr_assert_eq(soma_plugin_load(link), SOMA_OK, "%s", soma_last_error());
    soma_plugin_info info;
    soma_plugin_get(0, &info);
    cr_assert_str_eq(info.path, real(tp("tp_good_loss")));
    cr_assert_str_neq(info.path, link);
    // Failures too: the broken target is named, not the link.
    link_in(g_tmp, "soma-loss-bad.so", tp("tp_bad_abi"));
    snprintf(link, sizeof link, "%s/soma-loss-bad.so", g_tmp);
    EXPECT_ERR(soma_plugin_load(link), SOMA_E_ABI, real(tp("tp_bad_abi")));
}

Test(loader, plugin_path_directories_are_searched_in_order) {
    // dir1's file sorts after dir2's, so only the directory order can make it win.
    const char *d1 = subdir("one"), *d2 = subdir("two");
    link_in(d1, "soma-loss-z.so", tp("tp_good_dup"));
    link_in(d2, "soma-loss-a.so", tp("tp_good_loss"));
    char path[2 * PATH_MAX + 2];
    snprintf(path, sizeof path, "%s:%s", d1, d2);
    setenv("SOMA_PLUGIN_PATH", path, 1);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_dup")));

    soma_registry_reset();
    snprintf(path, sizeof path, "%s:%s", d2, d1);
    setenv("SOMA_PLUGIN_PATH", path, 1);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_loss")));
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_other"), real(tp("tp_good_dup")));
}

Test(loader, files_in_a_directory_load_in_sorted_order) {
    const char *d1 = subdir("one"), *d2 = subdir("two");
    link_in(d1, "soma-loss-a.so", tp("tp_good_dup"));
    link_in(d1, "soma-loss-b.so", tp("tp_good_loss"));
    link_in(d2, "soma-loss-b.so", tp("tp_good_dup"));
    link_in(d2, "soma-loss-a.so", tp("tp_good_loss"));
    setenv("SOMA_PLUGIN_PATH", d1, 1);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_dup")));
    soma_registry_reset();
    setenv("SOMA_PLUGIN_PATH", d2, 1);
    cr_assert_str_eq(find_path(SOMA_KIND_LOSS, "test_mse"), real(tp("tp_good_loss")));
}

Test(loader, never_the_current_directory) {
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    char old[PATH_MAX];
    cr_assert_not_null(getcwd(old, sizeof old));
    cr_assert_eq(chdir(g_tmp), 0);
    // Empty entries, "." and relative names all would mean the current dir.
    setenv("SOMA_PLUGIN_PATH", "::.:./:soma-loss-a.so:", 1);
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    int n = soma_plugin_count();
    cr_assert_eq(chdir(old), 0);
    cr_assert_eq(n, 0);
}

Test(loader, unset_plugin_path_is_fine) {
    unsetenv("SOMA_PLUGIN_PATH");
    cr_assert_eq(soma_plugin_discover(), SOMA_OK);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "test_mse", NULL, NULL), SOMA_E_NOT_FOUND);
}

Test(loader, explicit_directory_load_returns_the_first_error) {
    const char *d = subdir("plugins");
    link_in(d, "soma-loss-a.so", tp("tp_good_loss"));
    link_in(d, "soma-loss-b.so", tp("tp_bad_kind"));
    link_in(d, "soma-loss-c.so", tp("tp_good_multi"));
    link_in(d, "soma-loss-d.so", tp("tp_bad_abi"));
    EXPECT_ERR(soma_plugin_load(d), SOMA_E_PLUGIN, "unknown kind 9", real(tp("tp_bad_kind")));
    // It went on past the bad file.
    cr_assert_eq(soma_plugin_count(), 4);
    cr_assert_eq(soma_plugin_failure_count(), 2);
    // An empty directory is fine; a missing one is not.
    cr_assert_eq(soma_plugin_load(subdir("empty")), SOMA_OK);
    EXPECT_ERR(soma_plugin_load("/nonexistent-soma-dir/"), SOMA_E_IO, "cannot open [");
}

Test(loader, a_failed_file_is_retried_and_listed_once) {
    EXPECT_ERR(soma_plugin_load(tp("tp_bad_abi")), SOMA_E_ABI);
    EXPECT_ERR(soma_plugin_load(tp("tp_bad_abi")), SOMA_E_ABI);
    link_in(g_tmp, "soma-loss-a.so", tp("tp_bad_abi"));
    soma_plugin_discover();
    cr_assert_eq(soma_plugin_failure_count(), 1);
}

Test(loader, keras_class_names_find_the_real_plugins) {
    const char *build = getenv("SOMA_BUILD_DIR");
    char dir[PATH_MAX], file[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/lib/soma/plugins", build ? build : ".");
    snprintf(file, sizeof file, "%s/soma-init-he_normal.so", dir);
    if (!build || access(file, R_OK) != 0) cr_skip_test("real plugins are not built (%s)", file);
    setenv("SOMA_PLUGIN_PATH", dir, 1);
    const soma_item *it;
    cr_assert_eq(soma_registry_find(SOMA_KIND_INIT, "HeNormal", &it, NULL), SOMA_OK, "%s",
                 soma_last_error());
    cr_assert_str_eq(it->name, "he_normal");
    // A real plugin set should load without a single failure.
    for (int i = 0; i < soma_plugin_failure_count(); i++) {
        const char *fp, *fm;
        soma_plugin_failure(i, &fp, &fm);
        cr_assert_fail("%s: %s", fp, fm);
    }
}

struct find_job {
    const soma_item *item;
    int rc;
};
static void *find_thread(void *arg) {
    struct find_job *j = arg;
    j->rc = soma_registry_find(SOMA_KIND_OPTIM, "TestSgd", &j->item, NULL);
    return NULL;
}

Test(loader, concurrent_lookups_share_one_discovery) {
    link_in(g_tmp, "soma-loss-a.so", tp("tp_good_loss"));
    link_in(g_tmp, "soma-optim-b.so", tp("tp_good_multi"));
    link_in(g_tmp, "soma-optim-c.so", tp("tp_bad_abi"));
    pthread_t th[6];
    struct find_job jobs[6] = {0};
    for (int i = 0; i < 6; i++) pthread_create(&th[i], NULL, find_thread, &jobs[i]);
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(jobs[i].rc, SOMA_OK);
        cr_assert_eq(jobs[i].item, jobs[0].item);
    }
    cr_assert_str_eq(jobs[0].item->name, "test_sgd");
    cr_assert_eq(soma_plugin_count(), 4);
    cr_assert_eq(soma_plugin_failure_count(), 1);
}

Test(loader, queries_check_their_arguments) {
    soma_plugin_info info;
    EXPECT_ERR(soma_plugin_get(0, &info), SOMA_E_RANGE);
    EXPECT_ERR(soma_plugin_get(-1, &info), SOMA_E_RANGE);
    EXPECT_ERR(soma_plugin_get(0, NULL), SOMA_E_INVALID);
    EXPECT_ERR(soma_plugin_failure(0, NULL, NULL), SOMA_E_RANGE);
    EXPECT_ERR(soma_registry_find((soma_kind)7, "x", NULL, NULL), SOMA_E_INVALID);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, "", NULL, NULL), SOMA_E_INVALID);
    EXPECT_ERR(soma_registry_find(SOMA_KIND_LOSS, NULL, NULL, NULL), SOMA_E_INVALID);
    cr_assert_str_eq(soma_kind_name(SOMA_KIND_INIT), "init");
    cr_assert_str_eq(soma_kind_name(SOMA_KIND_LOSS), "loss");
    cr_assert_str_eq(soma_kind_name(SOMA_KIND_OPTIM), "optim");
    cr_assert_str_eq(soma_kind_name(0), "unknown");
}

/* ---- host table and context ----------------------------------------------------------- */

Test(loader, host_table_is_complete_and_wired) {
    const soma_host *h = soma_host_table();
    cr_assert_eq(h->size, sizeof(soma_host));
    cr_assert_eq(h->abi_major, SOMA_ABI_MAJOR);
    cr_assert_eq(h->abi_minor, SOMA_ABI_MINOR);
    cr_assert(h->alloc && h->free && h->set_error && h->log && h->rng_u64 && h->rng_uniform &&
              h->rng_normal && h->rng_truncated_normal && h->sgemm && h->vexp && h->vlog &&
              h->parallel_for);

    float *p = h->alloc(100 * sizeof(float), 0);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 64, 0, "alloc(…, 0) must be 64-byte aligned");
    h->free(p);
    h->free(NULL);

    cr_assert_eq(h->set_error(SOMA_E_RANGE, "label %d of row %d", 7, 3), SOMA_E_RANGE);
    cr_assert_str_eq(soma_last_error(), "label 7 of row 3");
    cr_assert_eq(soma_last_status(), SOMA_E_RANGE);

    // 2×3 · 3×2 by hand: [[1,2,3],[4,5,6]]·[[1,0],[0,1],[1,1]] = [[4,5],[10,11]].
    float a[] = {1, 2, 3, 4, 5, 6}, b[] = {1, 0, 0, 1, 1, 1}, c[4];
    h->sgemm(0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2);
    cr_assert_float_eq(c[0], 4, 1e-6);
    cr_assert_float_eq(c[1], 5, 1e-6);
    cr_assert_float_eq(c[2], 10, 1e-6);
    cr_assert_float_eq(c[3], 11, 1e-6);

    float x[3] = {-1.0f, 0.0f, 2.5f}, y[3];
    h->vexp(y, x, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_float_eq(y[i], (float)exp((double)x[i]), 1e-6 * exp((double)x[i]));
    h->vlog(y, y, 3);
    for (int i = 0; i < 3; i++) cr_assert_float_eq(y[i], x[i], 1e-5);

    // The rng functions are the core's: same seed, same stream, same draws.
    soma_rng r1, r2;
    soma_rng_init(&r1, 42, 1);
    soma_rng_init(&r2, 42, 1);
    cr_assert_eq(h->rng_u64(&r1), soma_rng_u64(&r2));
}

Test(loader, ctx_make_fills_in_thread_zero) {
    soma_rng r;
    soma_rng_init(&r, 1, 0);
    soma_ctx ctx = soma_ctx_make(&r);
    cr_assert_eq(ctx.size, sizeof(soma_ctx));
    cr_assert_eq(ctx.host, soma_host_table());
    cr_assert_eq(ctx.rng, &r);
    cr_assert_eq(ctx.thread_index, 0);
    cr_assert_geq(ctx.thread_count, 1);
    cr_assert_eq(ctx.thread_count, soma_pool_threads());
}
