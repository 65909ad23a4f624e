/* Tests of core/plugin/spec.c: "name(key=value, ...)" strings to plugin
 * instances, against the test plugins tp_good_loss (test_mse: scale FLOAT 1,
 * reps INT 3, flag BOOL 0, mode STRING "mean", note STRING none) and
 * tp_good_multi (test_sgd: learning_rate FLOAT 0.01, momentum FLOAT 0,
 * nesterov BOOL 0, name STRING "SGD"; test_ones without parameters). */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <limits.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "plugin/registry.h"
#include "soma/soma.h"

static char g_loss_path[PATH_MAX];

static void load(const char *name, char *real_out) {
    const char *dir = getenv("SOMA_TEST_PLUGIN_DIR");
    cr_assert_not_null(dir, "SOMA_TEST_PLUGIN_DIR is not set (run through ctest)");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s.so", dir, name);
    cr_assert_eq(soma_plugin_load(p), SOMA_OK, "%s", soma_last_error());
    if (real_out) cr_assert_not_null(realpath(p, real_out));
}

static void setup(void) {
    soma_registry_set_default_dirs(false);
    soma_registry_reset();
    soma_clear_error();
    // Only the test plugins: the known-name lists in messages stay fixed.
    setenv("SOMA_PLUGIN_PATH", "", 1);
    load("tp_good_loss", g_loss_path);
    load("tp_good_multi", NULL);
}

static void teardown(void) { soma_registry_reset(); }

TestSuite(spec, .init = setup, .fini = teardown);

static void expect_err_(int rc, int code, ...) {
    cr_assert_eq(rc, code, "status %s, expected %s; message: %s", soma_status_name(rc),
                 soma_status_name(code), soma_last_error());
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
        cr_assert_not_null(strstr(soma_last_error(), w), "message \"%s\" lacks \"%s\"",
                           soma_last_error(), w);
    va_end(ap);
}
#define EXPECT_ERR(...) expect_err_(__VA_ARGS__, (const char *)NULL)

// Parses spec and expects a failure with code and words; no object results.
#define EXPECT_SPEC_ERR(kind, spec, ...)                                        \
    do {                                                                        \
        soma_obj *o_ = (soma_obj *)0x1;                                          \
        int rc_ = soma_obj_create((kind), (spec), &o_);                         \
        cr_assert_null(o_, "no object on failure (%s)", (spec));                \
        EXPECT_ERR(rc_, __VA_ARGS__);                                           \
    } while (0)

static soma_obj *make(soma_kind kind, const char *spec) {
    soma_obj *o = NULL;
    int rc = soma_obj_create(kind, spec, &o);
    cr_assert_eq(rc, SOMA_OK, "%s: %s", spec, soma_last_error());
    cr_assert_not_null(o);
    return o;
}

// "at position N" where N is the 1-based index of the first `needle` at or
// after `from` in spec: positions are computed from the string, not copied
// from the parser.
static const char *pos_of(const char *spec, const char *needle, size_t from) {
    static char buf[64];
    const char *hit = strstr(spec + from, needle);
    cr_assert_not_null(hit);
    snprintf(buf, sizeof buf, "at position %zu", (size_t)(hit - spec) + 1);
    return buf;
}

/* ---- values ------------------------------------------------------------------------------ */

Test(spec, plain_name_gets_every_default) {
    soma_obj *o = make(SOMA_KIND_LOSS, "test_mse");
    cr_assert_eq(o->kind, SOMA_KIND_LOSS);
    cr_assert_str_eq(o->item->name, "test_mse");
    cr_assert_str_eq(o->path, g_loss_path);
    cr_assert_eq(o->vt, o->item->vtable);
    cr_assert_eq(o->inst.params, o->values);
    cr_assert_eq(o->values[0].num, 1.0);
    cr_assert_eq(o->values[1].num, 3.0);
    cr_assert_eq(o->values[2].num, 0.0);
    cr_assert_str_eq(o->values[3].str, "mean");
    cr_assert_null(o->values[4].str);
    for (int i = 0; i < 5; i++) cr_assert_eq(o->values[i].is_set, 0, "param %d", i);
    // create ran and kept its state.
    cr_assert_not_null(o->inst.state);
    cr_assert_eq(*(double *)o->inst.state, 1.0);
    soma_obj_free(o);
}

Test(spec, keras_spellings_and_aliases) {
    const char *specs[] = {"TestMse", "TEST_MSE", "tmse", "TMSE()", "  test_mse  "};
    for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
        soma_obj *o = make(SOMA_KIND_LOSS, specs[i]);
        cr_assert_str_eq(o->item->name, "test_mse", "%s", specs[i]);
        soma_obj_free(o);
    }
}

Test(spec, every_type_with_whitespace_everywhere) {
    soma_obj *o = make(SOMA_KIND_LOSS,
                       "  test_mse ( scale = 2.5 ,reps=4 ,\tflag=true, mode='sum', note=\"a b\" )  ");
    cr_assert_eq(o->values[0].num, 2.5);
    cr_assert_eq(o->values[1].num, 4.0);
    cr_assert_eq(o->values[2].num, 1.0);
    cr_assert_str_eq(o->values[3].str, "sum");
    cr_assert_str_eq(o->values[4].str, "a b");
    for (int i = 0; i < 5; i++) cr_assert_eq(o->values[i].is_set, 1, "param %d", i);
    cr_assert_eq(*(double *)o->inst.state, 2.5);
    soma_obj_free(o);
}

Test(spec, number_forms) {
    struct { const char *text; double want; } cases[] = {
        {"1e-7", 1e-7}, {"-0.5", -0.5}, {"+2", 2.0}, {".5", 0.5}, {"5.", 5.0},
        {"1E3", 1000.0}, {"2.5e+2", 250.0}, {"0.001", 0.001}, {"-3e-2", -0.03}, {"0", 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "test_sgd(learning_rate=%s)", cases[i].text);
        soma_obj *o = make(SOMA_KIND_OPTIM, spec);
        // The same decimal string read by the C compiler: equal to the bit.
        cr_assert_eq(o->values[0].num, cases[i].want, "%s gave %.17g", spec, o->values[0].num);
        cr_assert_eq(o->values[0].is_set, 1);
        soma_obj_free(o);
    }
}

Test(spec, numbers_ignore_the_program_locale) {
    // Under a locale whose decimal separator is ',', strtod alone would read
    // "0.25" as 0.
    const char *locs[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "de_DE"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof locs / sizeof *locs && !got; i++)
        got = setlocale(LC_NUMERIC, locs[i]);
    if (!got) cr_skip_test("no locale with a decimal comma is installed");
    soma_obj *o = make(SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.25)");
    setlocale(LC_NUMERIC, "C");
    cr_assert_eq(o->values[0].num, 0.25);
    soma_obj_free(o);
}

Test(spec, int_accepts_integral_numbers_only) {
    soma_obj *o = make(SOMA_KIND_LOSS, "test_mse(reps=3.0)");
    cr_assert_eq(o->values[1].num, 3.0);
    soma_obj_free(o);
    o = make(SOMA_KIND_LOSS, "test_mse(reps=-2)");
    cr_assert_eq(o->values[1].num, -2.0);
    soma_obj_free(o);
    o = make(SOMA_KIND_LOSS, "test_mse(reps=1e3)");
    cr_assert_eq(o->values[1].num, 1000.0);
    soma_obj_free(o);
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=1.5)", SOMA_E_INVALID,
                    "test_mse: parameter 'reps' expects an integer, got 1.5");
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=1e20)", SOMA_E_INVALID, "'reps'", "1e20");
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=three)", SOMA_E_INVALID, "got 'three'");
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=true)", SOMA_E_INVALID, "'reps'");
}

Test(spec, bool_forms) {
    struct { const char *text; double want; } cases[] = {
        {"true", 1}, {"True", 1}, {"1", 1}, {"false", 0}, {"False", 0}, {"0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char spec[64];
        snprintf(spec, sizeof spec, "test_sgd(nesterov=%s)", cases[i].text);
        soma_obj *o = make(SOMA_KIND_OPTIM, spec);
        cr_assert_eq(o->values[2].num, cases[i].want, "%s", spec);
        cr_assert_eq(o->values[2].is_set, 1);
        soma_obj_free(o);
    }
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(nesterov=2)", SOMA_E_INVALID,
                    "test_sgd: parameter 'nesterov' expects true or false, got 2");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(nesterov=yes)", SOMA_E_INVALID, "got 'yes'");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(nesterov=TRUE)", SOMA_E_INVALID, "got 'TRUE'");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(nesterov='true')", SOMA_E_INVALID, "'nesterov'");
}

Test(spec, float_refuses_non_numbers) {
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(learning_rate=fast)", SOMA_E_INVALID,
                    "test_sgd: parameter 'learning_rate' expects a number, got 'fast'");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(learning_rate='0.1')", SOMA_E_INVALID,
                    "expects a number, got '0.1'");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(learning_rate=true)", SOMA_E_INVALID,
                    "expects a number, got 'true'");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(learning_rate=1e999)", SOMA_E_INVALID,
                    "out of range");
}

Test(spec, string_forms) {
    struct { const char *spec; const char *want; } cases[] = {
        {"test_sgd(name=momentum_sgd)", "momentum_sgd"},
        {"test_sgd(name=a.b-c/d)", "a.b-c/d"},
        {"test_sgd(name='it\\'s')", "it's"},
        {"test_sgd(name=\"x, y) = z\")", "x, y) = z"},
        {"test_sgd(name='say \"hi\"')", "say \"hi\""},
        {"test_sgd(name='back\\\\slash')", "back\\slash"},
        {"test_sgd(name='')", ""},
        {"test_sgd(name=3)", "3"},
        {"test_sgd(name=-1.5e3)", "-1.5e3"},
        {"test_sgd(name=True)", "True"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        soma_obj *o = make(SOMA_KIND_OPTIM, cases[i].spec);
        cr_assert_str_eq(o->values[3].str, cases[i].want, "%s", cases[i].spec);
        cr_assert_eq(o->values[3].is_set, 1);
        soma_obj_free(o);
    }
}

Test(spec, strings_outlive_the_spec_text) {
    char spec[] = "test_mse(mode='sum', note=hello)";
    soma_obj *o = make(SOMA_KIND_LOSS, spec);
    memset(spec, 'x', sizeof spec - 1);
    cr_assert_str_eq(o->values[3].str, "sum");
    cr_assert_str_eq(o->values[4].str, "hello");
    soma_obj_free(o);
}

Test(spec, none_means_not_set) {
    soma_obj *o = make(SOMA_KIND_OPTIM, "test_sgd(momentum=None, name=none, learning_rate=0.5)");
    cr_assert_eq(o->values[1].num, 0.0);
    cr_assert_eq(o->values[1].is_set, 0);
    cr_assert_str_eq(o->values[3].str, "SGD");
    cr_assert_eq(o->values[3].is_set, 0);
    cr_assert_eq(o->values[0].num, 0.5);
    cr_assert_eq(o->values[0].is_set, 1);
    soma_obj_free(o);
}

Test(spec, empty_and_trailing_comma_parameter_lists) {
    soma_obj *o = make(SOMA_KIND_OPTIM, "test_sgd()");
    cr_assert_eq(o->values[0].num, 0.01);
    soma_obj_free(o);
    o = make(SOMA_KIND_OPTIM, "test_sgd( learning_rate=0.2, )");
    cr_assert_eq(o->values[0].num, 0.2);
    soma_obj_free(o);
    o = make(SOMA_KIND_INIT, "test_ones");
    cr_assert_null(o->values);
    cr_assert_null(o->inst.state); // no create
    soma_obj_free(o);
}

Test(spec, obj_param_reads_numbers_by_name) {
    soma_obj *o = make(SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.125, nesterov=true)");
    double v = -1;
    cr_assert(soma_obj_param(o, "learning_rate", &v));
    cr_assert_eq(v, 0.125);
    cr_assert(soma_obj_param(o, "momentum", &v));
    cr_assert_eq(v, 0.0);
    cr_assert(soma_obj_param(o, "nesterov", &v));
    cr_assert_eq(v, 1.0);
    cr_assert(soma_obj_param(o, "momentum", NULL));
    v = 7;
    cr_assert_not(soma_obj_param(o, "name", &v)); // a STRING
    cr_assert_not(soma_obj_param(o, "lr", &v));
    cr_assert_not(soma_obj_param(o, "Learning_Rate", &v));
    cr_assert_eq(v, 7);
    soma_obj_free(o);
}

// The values reach the plugin in schema order: test_mse's forward is
// scale · mean((t - p)²), recomputed here in double.
Test(spec, instance_carries_the_values_into_the_plugin) {
    soma_obj *o = make(SOMA_KIND_LOSS, "test_mse(scale=0.5)");
    float t[] = {1, 2, 3, 0, 0, 1}, p[] = {0.5f, 2, 4, 1, -1, 1}, out[2];
    soma_tview vt = {.data = t, .ndim = 2, .dims = {2, 3}};
    soma_tview vp = {.data = p, .ndim = 2, .dims = {2, 3}};
    soma_ctx ctx = soma_ctx_make(NULL);
    cr_assert_eq(soma_obj_loss(o)->forward(&o->inst, &ctx, &vt, &vp, out), SOMA_OK);
    double r0 = 0.5 * (0.25 + 0 + 1) / 3, r1 = 0.5 * (1 + 1 + 0) / 3;
    cr_assert_float_eq(out[0], r0, 1e-6);
    cr_assert_float_eq(out[1], r1, 1e-6);
    soma_obj_free(o);
}

/* ---- create / destroy -------------------------------------------------------------------- */

static int *live_counter(void) {
    void *h = dlopen(g_loss_path, RTLD_NOW | RTLD_NOLOAD);
    cr_assert_not_null(h, "tp_good_loss is not loaded");
    int *live = dlsym(h, "tp_good_loss_live");
    dlclose(h);
    cr_assert_not_null(live);
    return live;
}

Test(spec, destroy_balances_create) {
    int *live = live_counter();
    int before = *live;
    soma_obj *a = make(SOMA_KIND_LOSS, "test_mse");
    soma_obj *b = make(SOMA_KIND_LOSS, "test_mse(scale=2)");
    cr_assert_eq(*live, before + 2);
    soma_obj_free(a);
    soma_obj_free(b);
    cr_assert_eq(*live, before);
    soma_obj_free(NULL);
}

Test(spec, create_errors_are_prefixed_with_the_item) {
    int *live = live_counter();
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(scale=-1)", SOMA_E_INVALID,
                    "loss 'test_mse': scale must be > 0, got -1");
    cr_assert_str_eq(soma_last_error(), "loss 'test_mse': scale must be > 0, got -1");
    // Given by alias, still named canonically.
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "TMSE(scale=0)", SOMA_E_INVALID, "loss 'test_mse': scale");
    // A create that forgot set_error still yields a message.
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=99)", SOMA_E_INVALID,
                    "loss 'test_mse': create failed (SOMA_E_INVALID) without a message");
    // A create returning something that is not a status code.
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "test_mse(reps=98)", SOMA_E_PLUGIN,
                    "loss 'test_mse': create returned 1");
    cr_assert_eq(*live, 0);
}

/* ---- lookup and syntax errors ------------------------------------------------------------- */

Test(spec, unknown_item) {
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "nope", SOMA_E_NOT_FOUND, "unknown optim 'nope' (known: test_sgd)");
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "nope(learning_rate=1)", SOMA_E_NOT_FOUND, "unknown optim 'nope'");
    EXPECT_SPEC_ERR(SOMA_KIND_INIT, "test_sgd", SOMA_E_NOT_FOUND,
                    "unknown init 'test_sgd' (known: test_mse, test_ones)");
}

Test(spec, unknown_parameter_lists_the_parameters) {
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(lr=0.1)", SOMA_E_NOT_FOUND);
    cr_assert_str_eq(soma_last_error(),
                     "test_sgd: unknown parameter 'lr' (parameters: learning_rate, momentum, "
                     "nesterov, name; every optimizer also takes weight_decay, clipnorm, clipvalue, "
                     "global_clipnorm, use_ema, ema_momentum, ema_overwrite_frequency)");
    // Keys are exact: the schema's spelling only.
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(Learning_Rate=0.1)", SOMA_E_NOT_FOUND,
                    "unknown parameter 'Learning_Rate'");
    EXPECT_SPEC_ERR(SOMA_KIND_INIT, "test_ones(value=1)", SOMA_E_NOT_FOUND,
                    "test_ones: unknown parameter 'value' (test_ones takes no parameters)");
}

Test(spec, duplicate_parameter) {
    const char *s = "test_sgd(learning_rate=0.1, momentum=0.9, learning_rate=0.2)";
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, s, SOMA_E_FORMAT, "parameter 'learning_rate' given twice",
                    pos_of(s, "learning_rate", 10));
    // None counts as giving it.
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "test_sgd(momentum=None, momentum=1)", SOMA_E_FORMAT,
                    "given twice");
}

Test(spec, syntax_errors_name_the_position) {
    struct { int kind; const char *spec, *words, *at; size_t from; } cases[] = {
        // unbalanced parentheses
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1", "missing ')'", NULL, 0},
        {SOMA_KIND_OPTIM, "test_sgd(", "missing ')'", NULL, 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1,", "missing ')'", NULL, 0},
        {SOMA_KIND_OPTIM, "test_sgd)", "unexpected ')' after the name", ")", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1))", "unexpected ')' after ')'", ")", 27},
        {SOMA_KIND_OPTIM, "test_sgd((", "expected a parameter name, found '('", "(", 9},
        // trailing garbage
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1) x", "unexpected 'x' after ')'", "x", 0},
        {SOMA_KIND_OPTIM, "test_sgd x", "unexpected 'x' after the name", "x", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1 momentum=0)", "expected ',' or ')'", "m", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=1x)", "unexpected 'x'", "x", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=1.2.3)", "unexpected '.'", ".3", 0},
        // keys, '=' and values
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate 0.1)", "expected '=' after 'learning_rate'", "0.1", 0},
        {SOMA_KIND_OPTIM, "test_sgd(=0.1)", "expected a parameter name, found '='", "=", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=)", "expected a value for 'learning_rate'", ")", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=", "missing value for 'learning_rate'", NULL, 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=, momentum=1)", "expected a value", ",", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=-)", "malformed number", "-", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=1e)", "malformed exponent", ")", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=1e+)", "malformed exponent", ")", 0},
        {SOMA_KIND_OPTIM, "test_sgd(,)", "expected a parameter name, found ','", ",", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=0.1,,)", "expected a parameter name, found ','", ",)", 0},
        {SOMA_KIND_LOSS, "test_mse(mode='abc)", "unterminated string", "'", 0},
        {SOMA_KIND_LOSS, "test_mse(mode=\"abc\\\")", "unterminated string", "\"", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=@)", "expected a value for 'learning_rate', found '@'", "@", 0},
        {SOMA_KIND_OPTIM, "test_sgd(learning_rate=\x01)", "found byte 0x01", "\x01", 0},
        // names
        {SOMA_KIND_OPTIM, "1sgd", "expected a name, found '1'", "1", 0},
        {SOMA_KIND_OPTIM, "(learning_rate=1)", "expected a name, found '('", "(", 0},
        {SOMA_KIND_OPTIM, "test-sgd", "unexpected '-' after the name", "-", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        soma_obj *o = NULL;
        int rc = soma_obj_create((soma_kind)cases[i].kind, cases[i].spec, &o);
        cr_assert_null(o);
        cr_assert_eq(rc, SOMA_E_FORMAT, "%s: %s (%s)", cases[i].spec, soma_status_name(rc),
                     soma_last_error());
        const char *msg = soma_last_error();
        cr_assert_not_null(strstr(msg, cases[i].words), "%s: \"%s\" lacks \"%s\"", cases[i].spec,
                           msg, cases[i].words);
        // The spec is quoted back in the message.
        cr_assert_not_null(strstr(msg, " spec '"), "%s", msg);
        char at[64];
        if (cases[i].at)
            snprintf(at, sizeof at, "%s", pos_of(cases[i].spec, cases[i].at, cases[i].from));
        else // the end of the string
            snprintf(at, sizeof at, "at position %zu", strlen(cases[i].spec) + 1);
        cr_assert_not_null(strstr(msg, at), "%s: \"%s\" lacks \"%s\"", cases[i].spec, msg, at);
    }
}

// Syntax is checked before the name is looked up, so a typo in the
// parameters of an unknown name reports the typo.
Test(spec, syntax_before_lookup) {
    EXPECT_SPEC_ERR(SOMA_KIND_OPTIM, "nope(", SOMA_E_FORMAT, "optim spec 'nope(': missing ')' at position 6");
}

Test(spec, empty_or_null_spec) {
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "", SOMA_E_INVALID, "empty loss spec");
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, "   \t", SOMA_E_INVALID, "empty loss spec");
    EXPECT_SPEC_ERR(SOMA_KIND_LOSS, NULL, SOMA_E_INVALID, "empty loss spec");
    EXPECT_ERR(soma_obj_create(SOMA_KIND_LOSS, "test_mse", NULL), SOMA_E_INVALID);
}
