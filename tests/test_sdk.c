/* The plugin SDK as a user meets it: soma installed into a fresh prefix with
 * `cmake --install`, then, with no include path into the source tree,
 * plugins built with the one-line cc command ($(pkg-config --cflags soma))
 * and with CMake's find_package(soma) + soma_add_plugin, checked with the
 * installed `soma plugin check`, and used from a C host linked against the
 * installed libsoma and from `soma train`. Also: deliberately wrong plugins
 * (tests/sdk/) failing the check with the right message, the loader refusing
 * group/other-writable plugins, and soma_init_eval / soma_optim_eval against
 * formulas recomputed here. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "plugin/registry.h"
#include "soma/soma.h"

static char g_prefix[PATH_MAX]; // the install
static char g_libdir[PATH_MAX]; // <prefix>/lib (or what the build configured)
static char g_work[PATH_MAX];   // where the user's files go
static char g_out[1 << 16];     // output of the last sh()
// What every command runs under once soma is installed: the installed tree
// only. No plugin path from ctest, no include path but what pkg-config says,
// and pkg-config sees soma's own .pc and nothing else (so sleef/hwloc/zlib
// .pc files are not needed); `soma` is the installed one.
static char g_env[4 * PATH_MAX];

static const char *env_req(const char *name) {
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set (run through ctest)", name);
    return v;
}

// Runs a shell command with stdout and stderr into g_out; returns its exit
// status (-1 if it did not exit normally).
static int sh(const char *fmt, ...) SOMA_PRINTF(1, 2);
static int sh(const char *fmt, ...) {
    char cmd[8192];
    static char full[sizeof cmd + sizeof g_env + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "( %s%s ) 2>&1", g_env, cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen failed: %s", strerror(errno));
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define SH_OK(...)                                                                      \
    do {                                                                                \
        int rc_ = sh(__VA_ARGS__);                                                      \
        cr_assert_eq(rc_, 0, "command failed (exit %d):\n%s\n--- output:\n%s", rc_,     \
                     #__VA_ARGS__, g_out);                                              \
    } while (0)


static void make_tmp(char *out, const char *what) {
    const char *base = getenv("TMPDIR");
    snprintf(out, PATH_MAX, "%s/soma-sdk-%s-XXXXXX", base && *base ? base : "/tmp", what);
    cr_assert_not_null(mkdtemp(out), "mkdtemp: %s", strerror(errno));
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void install_soma(void) {
    const char *build = env_req("SOMA_BUILD_DIR");
    make_tmp(g_prefix, "prefix");
    make_tmp(g_work, "work");
    SH_OK("cmake --install '%s' --prefix '%s'", build, g_prefix);
    // The libdir is whatever the build was configured with: find soma.pc.
    SH_OK("ls -d '%s'/lib*/pkgconfig/soma.pc '%s'/lib*/*/pkgconfig/soma.pc 2>/dev/null | head -1",
          g_prefix, g_prefix);
    char *nl = strchr(g_out, '\n');
    if (nl) *nl = '\0';
    cr_assert(g_out[0] && strlen(g_out) < sizeof g_libdir, "no soma.pc under %s", g_prefix);
    memcpy(g_libdir, g_out, strlen(g_out) + 1);
    *strrchr(g_libdir, '/') = '\0'; // .../pkgconfig
    *strrchr(g_libdir, '/') = '\0'; // .../lib
    snprintf(g_env, sizeof g_env,
             "unset SOMA_PLUGIN_PATH SOMA_PLUGIN_ALLOW_WRITABLE LD_LIBRARY_PATH CPATH "
             "C_INCLUDE_PATH PKG_CONFIG_PATH; export PKG_CONFIG_LIBDIR='%s/pkgconfig' "
             "PATH='%s/bin':\"$PATH\"; ",
             g_libdir, g_prefix);
}

static void remove_all(void) {
    soma_registry_reset();
    if (g_work[0]) sh("chmod -R u+rwx,go-w '%s'; rm -rf '%s'", g_work, g_work);
    if (g_prefix[0]) sh("rm -rf '%s'", g_prefix);
}

TestSuite(sdk, .init = install_soma, .fini = remove_all, .timeout = 120);

// Copies a file of the source tree into dir: the user's code lives outside it.
static void copy_in(const char *rel, const char *dir) {
    SH_OK("cp '%s/%s' '%s/'", env_req("SOMA_SOURCE_DIR"), rel, dir);
}

static void expect_output(const char *word) {
    cr_assert_not_null(strstr(g_out, word), "output lacks \"%s\":\n%s", word, g_out);
}

// `soma plugin check` of the installed soma; returns its exit status.
static int plugin_check(const char *so) {
    return sh("soma plugin check '%s'", so);
}

/* ---- the installed tree --------------------------------------------------------- */

// Names declared with SOMA_API in a header, each ending in '(' after its name.
static int declared_api(const char *header, char names[][64], int cap) {
    FILE *f = fopen(header, "r");
    cr_assert_not_null(f, "cannot open %s", header);
    static char text[1 << 17];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    int n = 0;
    for (char *p = text; (p = strstr(p, "SOMA_API")) != NULL; p += 8) {
        char *line = p;
        while (line > text && line[-1] != '\n') line--;
        if (strncmp(line, "#define", 7) == 0) continue;
        char *paren = strchr(p, '(');
        cr_assert_not_null(paren);
        char *end = paren;
        while (end > p && end[-1] == ' ') end--;
        char *start = end;
        while (start > p && (isalnum((unsigned char)start[-1]) || start[-1] == '_')) start--;
        cr_assert_lt(n, cap);
        snprintf(names[n++], 64, "%.*s", (int)(end - start), start);
    }
    return n;
}

static bool in_list(char names[][64], int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return true;
    return false;
}

Test(sdk, install_layout_soname_exports_rpath_and_pkg_config) {
    char p[2 * PATH_MAX];
    const char *files[] = {"bin/soma", "include/soma/soma.h", "include/soma/plugin.h"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", g_prefix, files[i]);
        cr_assert(exists(p), "%s is not installed", p);
    }
    const char *libfiles[] = {"libsoma.so", "pkgconfig/soma.pc",
                              "soma/plugins/soma-loss-mean_squared_error.so",
                              "soma/plugins/soma-optim-adam.so", "soma/plugins/soma-init-he_normal.so",
                              "cmake/soma/somaConfig.cmake", "cmake/soma/somaConfigVersion.cmake",
                              "cmake/soma/somaTargets.cmake", "cmake/soma/SomaPlugin.cmake"};
    for (size_t i = 0; i < sizeof libfiles / sizeof *libfiles; i++) {
        snprintf(p, sizeof p, "%s/%s", g_libdir, libfiles[i]);
        cr_assert(exists(p), "%s is not installed", p);
    }

    // lib/libsoma.so.MAJOR carries that SONAME.
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/libsoma.so.%d", g_libdir, SOMA_VERSION_MAJOR);
    cr_assert(exists(so), "%s is not installed", so);
    SH_OK("readelf -d '%s'", so);
    char want[64];
    snprintf(want, sizeof want, "Library soname: [libsoma.so.%d]", SOMA_VERSION_MAJOR);
    expect_output(want);

    // Exactly the functions soma.h declares with SOMA_API are exported.
    static char api[256][64], exported[512][64];
    snprintf(p, sizeof p, "%s/include/soma/soma.h", g_prefix);
    int n_api = declared_api(p, api, 256);
    cr_assert_gt(n_api, 30, "found only %d SOMA_API declarations in %s", n_api, p);
    SH_OK("nm -D --defined-only --format=posix '%s' | cut -d' ' -f1", so);
    int n_exp = 0;
    for (char *save = NULL, *tok = strtok_r(g_out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
        if (tok[0] == '_') continue; // _init/_fini and toolchain symbols, never API
        cr_assert_lt(n_exp, 512);
        snprintf(exported[n_exp++], 64, "%s", tok);
    }
    for (int i = 0; i < n_exp; i++)
        cr_expect(in_list(api, n_api, exported[i]),
                  "libsoma exports %s, which soma.h does not declare SOMA_API", exported[i]);
    for (int i = 0; i < n_api; i++)
        cr_expect(in_list(exported, n_exp, api[i]), "soma.h declares %s but libsoma does not export it",
                  api[i]);

    // bin/soma finds libsoma relative to itself, with no empty RUNPATH entry
    // (which would mean the current directory), and its plugins beside it.
    snprintf(p, sizeof p, "%s/bin/soma", g_prefix);
    SH_OK("readelf -d '%s' | grep -E 'RPATH|RUNPATH'", p);
    expect_output("[$ORIGIN/");
    cr_assert_null(strstr(g_out, ":]"), "empty RUNPATH entry: %s", g_out);
    cr_assert_null(strstr(g_out, "::"), "empty RUNPATH entry: %s", g_out);
    SH_OK("cd / && soma plugins");
    char real_plugins[PATH_MAX], dir[2 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/soma/plugins", g_libdir);
    cr_assert_not_null(realpath(dir, real_plugins));
    expect_output(real_plugins);
    expect_output("mean_squared_error");

    // pkg-config with only soma.pc visible: the flags point into the prefix;
    // sleef and friends are private (Libs.private), never required.
    SH_OK("pkg-config --cflags soma");
    char inc[2 * PATH_MAX];
    snprintf(inc, sizeof inc, "-I%s/include", g_prefix);
    expect_output(inc);
    SH_OK("pkg-config --libs soma");
    expect_output("-lsoma");
    cr_assert_null(strstr(g_out, "sleef"), "sleef in --libs: %s", g_out);
#if defined(__SANITIZE_ADDRESS__)
    // A sanitizer build of libsoma needs its runtime linked into the host.
    expect_output("-fsanitize=address");
#else
    cr_assert_null(strstr(g_out, "-fsanitize"), "--libs of a plain build: %s", g_out);
#endif
    SH_OK("pkg-config --modversion soma");
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", SOMA_VERSION_MAJOR, SOMA_VERSION_MINOR, SOMA_VERSION_PATCH);
    expect_output(ver);
    SH_OK("grep -E '^(Requires|Requires.private):' '%s/pkgconfig/soma.pc' || true", g_libdir);
    cr_assert_eq(g_out[0], '\0', "soma.pc requires other packages: %s", g_out);
}

/* ---- scaffold, build both ways, check ------------------------------------------- */

// Builds dir's README command (the one-line cc) and checks the plugin.
static void build_with_readme_and_check(const char *dir, const char *so_name) {
    SH_OK("cd '%s' && cat README && sh README", dir);
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/%s", dir, so_name);
    cr_assert(exists(so), "the README command did not make %s:\n%s", so, g_out);
    int rc = plugin_check(so);
    cr_assert_eq(rc, 0, "soma plugin check %s failed (exit %d):\n%s", so, rc, g_out);
    expect_output("checks passed");
}

// A plugin never links libsoma and exports only its entry points.
static void expect_plugin_hygiene(const char *so) {
    SH_OK("readelf -d '%s'", so);
    cr_assert_null(strstr(g_out, "libsoma"), "%s links libsoma:\n%s", so, g_out);
    SH_OK("nm -D --defined-only --format=posix '%s' | cut -d' ' -f1 | grep -v '^_'", so);
    for (char *save = NULL, *tok = strtok_r(g_out, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save))
        cr_expect(strncmp(tok, "soma_plugin_", 12) == 0, "%s exports %s", so, tok);
}

// cmake with find_package(soma) from the prefix, in dir/build.
static void build_with_cmake(const char *dir) {
    SH_OK("cd '%s' && cmake -S . -B build -DCMAKE_PREFIX_PATH='%s' -DCMAKE_BUILD_TYPE=Release "
          ">/dev/null && cmake --build build",
          dir, g_prefix);
}

Test(sdk, scaffolded_loss_builds_with_cc_and_cmake_and_passes_check) {
    SH_OK("cd '%s' && soma plugin new loss mytest", g_work);
    char dir[2 * PATH_MAX], so[3 * PATH_MAX];
    snprintf(dir, sizeof dir, "%s/mytest", g_work);
    build_with_readme_and_check(dir, "soma-loss-mytest.so");
    expect_output("loss 'mytest'");
    expect_output("scale");
    snprintf(so, sizeof so, "%s/soma-loss-mytest.so", dir);
    expect_plugin_hygiene(so);

    build_with_cmake(dir);
    snprintf(so, sizeof so, "%s/build/soma-loss-mytest.so", dir);
    cr_assert(exists(so), "cmake did not make %s", so);
    int rc = plugin_check(so);
    cr_assert_eq(rc, 0, "check of the CMake build failed (exit %d):\n%s", rc, g_out);
    expect_plugin_hygiene(so);

    // Never overwrites; rejects bad kinds and names with a usage error.
    cr_assert_eq(sh("cd '%s' && soma plugin new loss mytest", g_work), 1, "%s", g_out);
    expect_output("already exists");
    cr_assert_eq(sh("soma plugin new layer x '%s/x'", g_work), 2, "%s", g_out);
    expect_output("not one of loss, init, optim");
    cr_assert_eq(sh("soma plugin new loss My-Loss '%s/y'", g_work), 2, "%s", g_out);
    expect_output("snake_case");
}

Test(sdk, scaffolded_init_and_optim_build_and_pass_check) {
    char dir[2 * PATH_MAX];
    SH_OK("soma plugin new init myinit '%s/a/myinit'", g_work);
    snprintf(dir, sizeof dir, "%s/a/myinit", g_work);
    build_with_readme_and_check(dir, "soma-init-myinit.so");
    expect_output("init 'myinit'");
    SH_OK("soma plugin new optim myopt '%s/myopt'", g_work);
    snprintf(dir, sizeof dir, "%s/myopt", g_work);
    build_with_readme_and_check(dir, "soma-optim-myopt.so");
    expect_output("decrease it");
}

Test(sdk, pinball_and_a_host_build_with_pkg_config_and_cmake_and_pass) {
    copy_in("examples/custom_loss/pinball.c", g_work);
    SH_OK("cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) "
          "pinball.c -o soma-loss-pinball.so",
          g_work);
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/soma-loss-pinball.so", g_work);
    int rc = plugin_check(so);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, g_out);
    expect_output("tau");
    expect_output("backward = central finite differences");

    FILE *f;
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/CMakeLists.txt", g_work);
    cr_assert_not_null(f = fopen(path, "w"));
    // The plugin, and a host linked through the imported target soma::soma.
    fputs("cmake_minimum_required(VERSION 3.16)\nproject(pinball C)\n"
          "find_package(soma 0.1 REQUIRED)\nsoma_add_plugin(loss pinball pinball.c)\n"
          "add_executable(host_pinball host_pinball.c)\n"
          "target_link_libraries(host_pinball PRIVATE soma::soma)\n",
          f);
    fclose(f);
    copy_in("tests/sdk/host_pinball.c", g_work);
    build_with_cmake(g_work);
    snprintf(so, sizeof so, "%s/build/soma-loss-pinball.so", g_work);
    rc = plugin_check(so);
    cr_assert_eq(rc, 0, "exit %d:\n%s", rc, g_out);
    rc = sh("cd '%s/build' && SOMA_PLUGIN_PATH=\"$PWD\" ./host_pinball", g_work);
    cr_assert_eq(rc, 0, "host_pinball built with CMake: exit %d:\n%s", rc, g_out);
    expect_output("fraction of targets below the fit: 0.");
}

/* ---- wrong plugins fail the check ----------------------------------------------- */

static void expect_check_fails(const char *src, const char *so_name, const char *what,
                               const char *why) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/sdk/%s", src);
    copy_in(rel, g_work);
    SH_OK("cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) "
          "%s -o %s",
          g_work, src, so_name);
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/%s", g_work, so_name);
    int rc = plugin_check(so);
    cr_assert_eq(rc, 1, "soma plugin check %s: exit %d, expected 1:\n%s", so_name, rc, g_out);
    expect_output("FAIL");
    expect_output(what);
    expect_output(why);
    expect_output("FAILED");
}

Test(sdk, wrong_plugins_fail_check_with_the_reason) {
    expect_check_fails("wrong_sign.c", "soma-loss-wrong_sign.so", "FAIL  gradient", "(wrong sign)");
    expect_check_fails("seedless.c", "soma-init-seedless.so", "seeds 1 and 2 give the same values",
                       "ignores the seed");
    expect_check_fails("diverging.c", "soma-optim-diverging.so", "it must decrease",
                       "(the optimizer diverges)");
    expect_check_fails("batch_mean.c", "soma-loss-batch_mean.so", "on its own",
                       "MUST NOT reduce over rows");
    cr_assert_null(strstr(g_out, "FAIL  gradient"), "its gradient is right:\n%s", g_out);
    // Not a plugin at all: the loader's reason.
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/wrong_sign.c", g_work);
    cr_assert_eq(plugin_check(so), 1, "%s", g_out);
    expect_output("not a shared object");
}

/* ---- a C host and `soma train` use the custom loss ------------------------------ */

Test(sdk, c_host_linked_against_the_install_trains_with_the_custom_loss) {
    char plugins[2 * PATH_MAX], real_plugins[PATH_MAX];
    snprintf(plugins, sizeof plugins, "%s/plugins", g_work);
    cr_assert_eq(mkdir(plugins, 0755), 0);
    copy_in("examples/custom_loss/pinball.c", plugins);
    copy_in("tests/sdk/host_pinball.c", g_work);
    SH_OK("cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) "
          "pinball.c -o soma-loss-pinball.so",
          plugins);
    // The README's host command. In a sanitizer build soma.pc's Libs carry
    // the -fsanitize flags the installed libsoma needs.
    SH_OK("cd '%s' && cc -O2 host_pinball.c $(pkg-config --cflags --libs soma) -o host_pinball",
          g_work);
    int rc = sh("cd '%s' && LD_LIBRARY_PATH='%s' SOMA_PLUGIN_PATH='%s' ./host_pinball", g_work,
                g_libdir, plugins);
    cr_assert_eq(rc, 0, "host_pinball exit %d:\n%s", rc, g_out);
    cr_assert_not_null(realpath(plugins, real_plugins));
    char from[2 * PATH_MAX];
    snprintf(from, sizeof from, "pinball from %s/soma-loss-pinball.so", real_plugins);
    expect_output(from);
    expect_output("fraction of targets below the fit: 0.");
}

Test(sdk, soma_train_uses_the_custom_loss_by_name) {
    const char *data = getenv("SOMA_DATA_DIR");
    char probe[PATH_MAX + 64];
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", data ? data : "");
    if (!data || !exists(probe))
        cr_skip_test("Fashion-MNIST not found in SOMA_DATA_DIR (%s): soma train not run",
                     data ? data : "unset");
    SH_OK("cd '%s' && soma plugin new loss mytest && cd mytest && sh README", g_work);
    int rc = sh("cd '%s/mytest' && SOMA_PLUGIN_PATH=\"$PWD\" soma train --loss mytest "
                "--data '%s' --epochs 1 --limit 512 --verbose 0",
                g_work, data);
    cr_assert_eq(rc, 0, "soma train --loss mytest: exit %d:\n%s", rc, g_out);
    expect_output("test_accuracy: 0.");
    // The name must really resolve to the plugin and nothing else.
    rc = sh("cd '%s/mytest' && soma train --loss mytest --data '%s' --epochs 1 --limit 64 "
            "--verbose 0",
            g_work, data);
    cr_assert_eq(rc, 1, "without SOMA_PLUGIN_PATH: exit %d:\n%s", rc, g_out);
    expect_output("unknown loss 'mytest'");
}

/* ---- permissions ----------------------------------------------------------------- */

static char g_so[3 * PATH_MAX], g_dir[2 * PATH_MAX];

// A built pinball in <work>/ok (0755, file 0644); the registry searches only
// what a test names.
static void make_plugin_dir(void) {
    snprintf(g_dir, sizeof g_dir, "%s/ok", g_work);
    cr_assert_eq(mkdir(g_dir, 0755), 0);
    copy_in("examples/custom_loss/pinball.c", g_dir);
    SH_OK("cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags soma) "
          "pinball.c -o soma-loss-pinball.so && rm pinball.c",
          g_dir);
    snprintf(g_so, sizeof g_so, "%s/soma-loss-pinball.so", g_dir);
    cr_assert_eq(chmod(g_so, 0644), 0);
    unsetenv("SOMA_PLUGIN_ALLOW_WRITABLE");
    unsetenv("SOMA_PLUGIN_PATH");
    soma_registry_set_default_dirs(false);
    soma_registry_reset();
}

static void expect_refused(const char *path, const char *w1, const char *w2, const char *w3) {
    soma_registry_reset();
    int rc = soma_plugin_load(path);
    cr_assert_eq(rc, SOMA_E_PLUGIN, "loading %s: %s (%s)", path, soma_status_name(rc),
                 soma_last_error());
    const char *msg = soma_last_error();
    const char *words[] = {"refusing", w1, w2, w3, "SOMA_PLUGIN_ALLOW_WRITABLE=1"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        cr_assert_not_null(strstr(msg, words[i]), "message \"%s\" lacks \"%s\"", msg, words[i]);
    cr_assert_eq(soma_plugin_count(), 0);
    // ... and accepted when the user opts in.
    soma_registry_reset();
    setenv("SOMA_PLUGIN_ALLOW_WRITABLE", "1", 1);
    rc = soma_plugin_load(path);
    unsetenv("SOMA_PLUGIN_ALLOW_WRITABLE");
    cr_assert_eq(rc, SOMA_OK, "with SOMA_PLUGIN_ALLOW_WRITABLE=1: %s", soma_last_error());
    cr_assert_eq(soma_plugin_count(), 1);
}

Test(sdk, writable_plugin_file_is_refused_unless_allowed) {
    make_plugin_dir();
    char real_so[PATH_MAX];
    cr_assert_not_null(realpath(g_so, real_so));
    cr_assert_eq(soma_plugin_load(g_so), SOMA_OK, "%s", soma_last_error()); // 0644 in 0755: fine
    cr_assert_eq(chmod(g_so, 0664), 0);
    expect_refused(g_so, real_so, "writable by its group", "mode 0664");
    cr_assert_eq(chmod(g_so, 0646), 0);
    expect_refused(g_so, real_so, "writable by others", "mode 0646");
    cr_assert_eq(chmod(g_so, 0666), 0);
    expect_refused(g_so, real_so, "writable by its group and others", "mode 0666");
}

Test(sdk, writable_plugin_directory_is_refused_unless_allowed) {
    make_plugin_dir();
    char real_dir[PATH_MAX];
    cr_assert_not_null(realpath(g_dir, real_dir));
    char words[PATH_MAX + 32];
    snprintf(words, sizeof words, "its directory [%s]", real_dir);
    cr_assert_eq(chmod(g_dir, 0775), 0);
    expect_refused(g_so, words, "writable by its group", "mode 0775");
    cr_assert_eq(chmod(g_dir, 01757), 0); // sticky as in /tmp: others may still add files
    expect_refused(g_so, words, "writable by others", "mode 1757");

    // Discovery refuses the whole directory once, lists why, and goes on.
    cr_assert_eq(chmod(g_dir, 0757), 0);
    setenv("SOMA_PLUGIN_PATH", g_dir, 1);
    soma_registry_reset();
    const soma_item *item;
    cr_assert_eq(soma_registry_find(SOMA_KIND_LOSS, "pinball", &item, NULL), SOMA_E_NOT_FOUND);
    cr_assert_eq(soma_plugin_failure_count(), 1);
    const char *path, *msg;
    cr_assert_eq(soma_plugin_failure(0, &path, &msg), SOMA_OK);
    cr_assert_str_eq(path, real_dir);
    cr_assert_not_null(strstr(msg, "refusing plugin directory"), "%s", msg);
    cr_assert_not_null(strstr(msg, "mode 0757"), "%s", msg);
    setenv("SOMA_PLUGIN_ALLOW_WRITABLE", "1", 1);
    soma_registry_reset();
    cr_assert_eq(soma_registry_find(SOMA_KIND_LOSS, "pinball", &item, NULL), SOMA_OK, "%s",
                 soma_last_error());
    unsetenv("SOMA_PLUGIN_ALLOW_WRITABLE");
    unsetenv("SOMA_PLUGIN_PATH");

    // A symbolic link in a writable directory could be pointed elsewhere.
    cr_assert_eq(chmod(g_dir, 0755), 0);
    char links[2 * PATH_MAX], link[3 * PATH_MAX], real_links[PATH_MAX];
    snprintf(links, sizeof links, "%s/links", g_work);
    cr_assert_eq(mkdir(links, 0755), 0);
    cr_assert_eq(chmod(links, 0777), 0);
    snprintf(link, sizeof link, "%s/soma-loss-pinball.so", links);
    cr_assert_eq(symlink(g_so, link), 0);
    cr_assert_not_null(realpath(links, real_links));
    snprintf(words, sizeof words, "its directory [%s]", real_links);
    expect_refused(link, words, "writable by its group and others", "mode 0777");

    // The installed CLI says the same, and loads it with the override.
    cr_assert_eq(chmod(g_so, 0664), 0);
    cr_assert_eq(plugin_check(g_so), 1, "%s", g_out);
    expect_output("writable by its group (mode 0664)");
    expect_output("SOMA_PLUGIN_ALLOW_WRITABLE=1");
    int rc = sh("SOMA_PLUGIN_ALLOW_WRITABLE=1 soma plugin check '%s'", g_so);
    cr_assert_eq(rc, 0, "%s", g_out);
}

/* ---- soma_init_eval and soma_optim_eval -------------------------------------------- */

// fans_probe (tests/sdk/fans_probe.c) shows the fans and the random stream an
// initializer gets; built against the source tree's header, loaded directly.
static void load_fans_probe(void) {
    copy_in("tests/sdk/fans_probe.c", g_work);
    SH_OK("cd '%s' && cc -O2 -shared -fPIC -fvisibility=hidden -I'%s/include' fans_probe.c "
          "-o soma-init-fans_probe.so",
          g_work, env_req("SOMA_SOURCE_DIR"));
    char so[2 * PATH_MAX];
    snprintf(so, sizeof so, "%s/soma-init-fans_probe.so", g_work);
    soma_registry_set_default_dirs(false);
    unsetenv("SOMA_PLUGIN_PATH");
    soma_registry_reset();
    cr_assert_eq(soma_plugin_load(so), SOMA_OK, "%s", soma_last_error());
}

Test(sdk, init_eval_passes_keras_fans_and_the_seeded_stream) {
    load_fans_probe();
    // KERAS.md compute_fans: rank 0 → (1, 1); 1 → (n, n); 2 → (in, out);
    // ≥ 3 → receptive field × the last two.
    static const struct {
        int ndim;
        int64_t dims[4];
        double fan_in, fan_out;
    } cases[] = {{1, {7}, 7, 7}, {2, {5, 3}, 5, 3}, {3, {4, 6, 2}, 24, 8}, {4, {3, 3, 32, 64}, 288, 576}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        soma_tensor *t = NULL;
        cr_assert_eq(soma_init_eval("fans_probe", 42, cases[c].ndim, cases[c].dims, &t), SOMA_OK,
                     "%s", soma_last_error());
        cr_assert_eq(soma_tensor_ndim(t), cases[c].ndim);
        const float *v = soma_tensor_cdata(t);
        cr_assert_float_eq(v[0], cases[c].fan_in, 0, "case %zu fan_in", c);
        cr_assert_float_eq(v[1], cases[c].fan_out, 0, "case %zu fan_out", c);
        // The rest: U[0, 1) from stream 0 of seed 42, as drawn here.
        int64_t n = soma_tensor_numel(t);
        float *ref = malloc((size_t)n * sizeof *ref);
        soma_rng r;
        soma_rng_init(&r, 42, 0);
        soma_rng_uniform(&r, ref, (size_t)n, 0.0f, 1.0f);
        for (int64_t i = 2; i < n; i++) cr_assert_eq(v[i], ref[i], "case %zu element %lld", c, (long long)i);
        free(ref);
        soma_tensor_free(t);
    }
    // The spec's seed wins over the argument, as in a Dense layer.
    int64_t d[2] = {4, 4};
    soma_tensor *a, *b;
    cr_assert_eq(soma_init_eval("fans_probe(seed=9)", 1, 2, d, &a), SOMA_OK, "%s", soma_last_error());
    cr_assert_eq(soma_init_eval("fans_probe", 9, 2, d, &b), SOMA_OK);
    cr_assert_arr_eq(soma_tensor_cdata(a), soma_tensor_cdata(b), 16 * sizeof(float));
    soma_tensor_free(a);
    soma_tensor_free(b);
    // An element the initializer does not write is an error naming it.
    soma_tensor *t = (soma_tensor *)1;
    cr_assert_eq(soma_init_eval("fans_probe(skip=5)", 1, 2, d, &t), SOMA_E_PLUGIN);
    cr_assert_null(t);
    cr_assert_not_null(strstr(soma_last_error(), "left element 5 of (4, 4) unwritten"), "%s",
                       soma_last_error());
    // Bad arguments.
    int64_t neg[1] = {-2};
    cr_assert_eq(soma_init_eval("fans_probe", 1, 1, neg, &t), SOMA_E_SHAPE);
    cr_assert_eq(soma_init_eval("no_such_init", 1, 2, d, &t), SOMA_E_NOT_FOUND);
}

// KERAS.md §3.3, in double precision.
static void sgd_momentum_ref(double *x, double *m, const double *g, int n, double lr, double mu) {
    for (int i = 0; i < n; i++) {
        m[i] = mu * m[i] - lr * g[i];
        x[i] += m[i];
    }
}
static void adam_ref(double *x, double *m, double *v, const double *g, int n, int t, double lr) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    double alpha = lr * sqrt(1 - pow(b2, t)) / (1 - pow(b1, t));
    for (int i = 0; i < n; i++) {
        m[i] += (g[i] - m[i]) * (1 - b1);
        v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
        x[i] -= alpha * m[i] / (sqrt(v[i]) + eps);
    }
}

Test(sdk, optim_eval_follows_keras_update_rules_over_given_gradients) {
    soma_registry_set_default_dirs(false);
    setenv("SOMA_PLUGIN_PATH", env_req("SOMA_PLUGIN_PATH"), 1);
    soma_registry_reset();
    enum { N = 5, STEPS = 4 };
    const float x0[N] = {0.5f, -1.0f, 2.0f, 0.0f, -0.25f};
    float g[STEPS][N];
    for (int s = 0; s < STEPS; s++)
        for (int i = 0; i < N; i++) g[s][i] = (float)(0.3 * (i + 1) * (s % 2 ? -1 : 1) + 0.1 * s);
    int64_t dims[1] = {N};
    soma_tensor *grads[STEPS];
    for (int s = 0; s < STEPS; s++) cr_assert_eq(soma_tensor_create(&grads[s], 1, dims, g[s]), SOMA_OK);

    const char *specs[] = {"sgd(learning_rate=0.1, momentum=0.9)", "adam(learning_rate=0.01)"};
    for (int k = 0; k < 2; k++) {
        soma_tensor *x, *traj = NULL;
        cr_assert_eq(soma_tensor_create(&x, 1, dims, x0), SOMA_OK);
        int rc = soma_optim_eval(specs[k], x, (const soma_tensor *const *)grads, STEPS, &traj);
        cr_assert_eq(rc, SOMA_OK, "%s: %s", specs[k], soma_last_error());
        cr_assert_eq(soma_tensor_dim(traj, 0), STEPS);
        cr_assert_eq(soma_tensor_dim(traj, 1), N);
        double rx[N], m[N] = {0}, v[N] = {0}, gd[N];
        for (int i = 0; i < N; i++) rx[i] = x0[i];
        for (int s = 0; s < STEPS; s++) {
            for (int i = 0; i < N; i++) gd[i] = g[s][i];
            if (k == 0) sgd_momentum_ref(rx, m, gd, N, 0.1, 0.9);
            else adam_ref(rx, m, v, gd, N, s + 1, 0.01);
            for (int i = 0; i < N; i++)
                cr_assert_float_eq(soma_tensor_cdata(traj)[s * N + i], rx[i], 1e-5,
                                   "%s step %d x[%d]", specs[k], s + 1, i);
        }
        for (int i = 0; i < N; i++) cr_assert_float_eq(soma_tensor_cdata(x)[i], rx[i], 1e-5);
        soma_tensor_free(x);
        soma_tensor_free(traj);
    }

    // The core's options apply as in fit: decoupled weight decay with a zero
    // gradient shrinks x by (1 - wd·lr) per step (KERAS.md §3.2 step 5).
    {
        soma_tensor *x, *zero;
        cr_assert_eq(soma_tensor_create(&x, 1, dims, x0), SOMA_OK);
        cr_assert_eq(soma_tensor_create(&zero, 1, dims, NULL), SOMA_OK);
        const soma_tensor *zs[3] = {zero, zero, zero};
        cr_assert_eq(soma_optim_eval("sgd(learning_rate=0.1, weight_decay=0.5)", x, zs, 3, NULL),
                     SOMA_OK, "%s", soma_last_error());
        for (int i = 0; i < N; i++)
            cr_assert_float_eq(soma_tensor_cdata(x)[i], x0[i] * pow(1 - 0.5 * 0.1, 3), 1e-6, "x[%d]", i);
        soma_tensor_free(x);
        soma_tensor_free(zero);
    }

    // Wrong gradient shapes are caught before any step.
    int64_t d3[1] = {3};
    soma_tensor *x, *bad;
    cr_assert_eq(soma_tensor_create(&x, 1, dims, x0), SOMA_OK);
    cr_assert_eq(soma_tensor_create(&bad, 1, d3, NULL), SOMA_OK);
    const soma_tensor *mixed[2] = {grads[0], bad};
    cr_assert_eq(soma_optim_eval("sgd", x, mixed, 2, NULL), SOMA_E_SHAPE);
    cr_assert_not_null(strstr(soma_last_error(), "grads[1]"), "%s", soma_last_error());
    cr_assert_arr_eq(soma_tensor_cdata(x), x0, sizeof x0);
    cr_assert_eq(soma_optim_eval("sgd", x, NULL, -1, NULL), SOMA_E_INVALID);
    soma_tensor_free(bad);
    soma_tensor_free(x);
    for (int s = 0; s < STEPS; s++) soma_tensor_free(grads[s]);
}

typedef struct quad {
    double a[3], c[3];
    int calls;
} quad;

static int quad_grad(void *user, int step, const soma_tensor *param, soma_tensor *grad) {
    quad *q = user;
    cr_assert_eq(step, q->calls++);
    for (int i = 0; i < 3; i++)
        soma_tensor_data(grad)[i] = (float)(2 * q->a[i] * (soma_tensor_cdata(param)[i] - q->c[i]));
    return SOMA_OK;
}

static int failing_grad(void *user, int step, const soma_tensor *param, soma_tensor *grad) {
    (void)user, (void)param, (void)grad;
    return step == 2 ? SOMA_E_NUMERIC : SOMA_OK;
}

Test(sdk, optim_run_asks_for_the_gradient_at_the_current_point) {
    soma_registry_set_default_dirs(false);
    setenv("SOMA_PLUGIN_PATH", env_req("SOMA_PLUGIN_PATH"), 1);
    soma_registry_reset();
    // Gradient descent on Σ a_i (x_i - c_i)²: x_t - c = (1 - 2·a·lr)^t (x_0 - c).
    quad q = {{0.5, 1.0, 2.0}, {1.0, -2.0, 0.5}, 0};
    const float x0[3] = {3.0f, 0.0f, -1.0f};
    int64_t dims[1] = {3};
    soma_tensor *x, *traj;
    cr_assert_eq(soma_tensor_create(&x, 1, dims, x0), SOMA_OK);
    cr_assert_eq(soma_optim_run("sgd(learning_rate=0.05)", x, quad_grad, &q, 20, &traj), SOMA_OK,
                 "%s", soma_last_error());
    cr_assert_eq(q.calls, 20);
    for (int t = 1; t <= 20; t++)
        for (int i = 0; i < 3; i++) {
            double want = q.c[i] + pow(1 - 2 * q.a[i] * 0.05, t) * (x0[i] - q.c[i]);
            cr_assert_float_eq(soma_tensor_cdata(traj)[(t - 1) * 3 + i], want, 1e-5, "t %d x[%d]", t, i);
        }
    soma_tensor_free(traj);
    // A failing gradient function stops the run with its status.
    cr_assert_eq(soma_optim_run("sgd", x, failing_grad, NULL, 5, &traj), SOMA_E_NUMERIC);
    cr_assert_null(traj);
    cr_assert_not_null(strstr(soma_last_error(), "step 3"), "%s", soma_last_error());
    soma_tensor_free(x);
}
