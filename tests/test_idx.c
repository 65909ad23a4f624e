// Tests of soma_idx_load: the real Fashion-MNIST files, then small synthetic
// files (raw and gzip) whose bytes the test writes itself, and every way a
// file can be malformed.
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "soma/soma.h"

// ---------------------------------------------------------------------------
// Real data. The reference numbers below were computed independently with
// Python's gzip module over the same files (sum(bytes) of each payload); the
// mean pixel 3431114169 / 47040000 / 255 = 0.2860 is Fashion-MNIST's
// published training mean. The first labels match the TensorFlow tutorial
// (train[0] and test[0] are ankle boots, class 9).
// ---------------------------------------------------------------------------
static const char *data_dir(void) {
    const char *d = getenv("SOMA_DATA_DIR");
    if (!d || !*d) d = "/usr/share/datasets/fashion-mnist";
    return d;
}

static soma_tensor *load_real(const char *name, int flags) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir(), name);
    if (access(path, R_OK) != 0) cr_skip_test("Fashion-MNIST not found at %s", path);
    soma_tensor *t = NULL;
    int rc = soma_idx_load(path, flags, &t);
    cr_assert_eq(rc, SOMA_OK, "loading %s: %s", path, soma_last_error());
    cr_assert_not_null(t);
    return t;
}

static void check_shape(const soma_tensor *t, int ndim, const int64_t *dims) {
    cr_assert_eq(soma_tensor_ndim(t), ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        cr_assert_eq(soma_tensor_dim(t, i), dims[i], "axis %d: %lld != %lld", i,
                     (long long)soma_tensor_dim(t, i), (long long)dims[i]);
        n *= dims[i];
    }
    cr_assert_eq(soma_tensor_numel(t), n);
}

Test(idx_real, train_images_raw_values) {
    soma_tensor *t = load_real("train-images-idx3-ubyte.gz", 0);
    check_shape(t, 3, (int64_t[]){60000, 28, 28});
    const float *x = soma_tensor_cdata(t);
    double sum = 0;
    for (int64_t i = 0; i < soma_tensor_numel(t); i++) {
        cr_assert(x[i] >= 0 && x[i] <= 255 && x[i] == floorf(x[i]), "x[%lld] = %g",
                  (long long)i, x[i]);
        sum += x[i];
    }
    cr_assert_eq(sum, 3431114169.0, "sum %.1f", sum);
    double img0 = 0;
    for (int i = 0; i < 784; i++) img0 += x[i];
    cr_assert_eq(img0, 76247.0);
    cr_assert_eq(x[14 * 28 + 14], 217.0f);
    soma_tensor_free(t);
}

Test(idx_real, train_images_scaled_flattened) {
    soma_tensor *t = load_real("train-images-idx3-ubyte.gz", SOMA_IDX_SCALE | SOMA_IDX_FLATTEN);
    check_shape(t, 2, (int64_t[]){60000, 784});
    const float *x = soma_tensor_cdata(t);
    double sum = 0;
    for (int64_t i = 0; i < soma_tensor_numel(t); i++) {
        cr_assert(x[i] >= 0.0f && x[i] <= 1.0f, "x[%lld] = %g outside [0, 1]", (long long)i,
                  x[i]);
        // Each value must be exactly numpy's float32(k / 255.0) for a byte k.
        double k = nearbyint((double)x[i] * 255.0);
        cr_assert_eq(x[i], (float)(k / 255.0), "x[%lld] = %.9g is no k/255", (long long)i,
                     x[i]);
        sum += k;
    }
    cr_assert_eq(sum, 3431114169.0);
    double mean = 3431114169.0 / 255.0 / 47040000.0;
    cr_assert(fabs(mean - 0.2860) < 5e-5);
    cr_assert_eq(x[14 * 28 + 14], (float)(217 / 255.0));
    soma_tensor_free(t);
}

Test(idx_real, test_images) {
    soma_tensor *t = load_real("t10k-images-idx3-ubyte.gz", 0);
    check_shape(t, 3, (int64_t[]){10000, 28, 28});
    const float *x = soma_tensor_cdata(t);
    double sum = 0, img0 = 0;
    for (int64_t i = 0; i < soma_tensor_numel(t); i++) sum += x[i];
    for (int i = 0; i < 784; i++) img0 += x[i];
    cr_assert_eq(sum, 573469082.0);
    cr_assert_eq(img0, 33456.0);
    cr_assert_eq(x[14 * 28 + 14], 110.0f);
    soma_tensor_free(t);

    t = load_real("t10k-images-idx3-ubyte.gz", SOMA_IDX_FLATTEN);
    check_shape(t, 2, (int64_t[]){10000, 784});
    soma_tensor_free(t);
}

static void check_labels(const char *name, int64_t n, int64_t per_class, const int *first) {
    soma_tensor *t = load_real(name, 0);
    check_shape(t, 1, (int64_t[]){n});
    const float *y = soma_tensor_cdata(t);
    int64_t count[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        cr_assert(y[i] >= 0 && y[i] <= 9 && y[i] == floorf(y[i]), "label %lld = %g",
                  (long long)i, y[i]);
        count[(int)y[i]]++;
    }
    for (int c = 0; c < 10; c++)
        cr_assert_eq(count[c], per_class, "%s: class %d has %lld", name, c,
                     (long long)count[c]);
    for (int i = 0; i < 10; i++) cr_assert_eq(y[i], (float)first[i], "%s[%d]", name, i);
    soma_tensor_free(t);
}

Test(idx_real, labels) {
    check_labels("train-labels-idx1-ubyte.gz", 60000, 6000,
                 (const int[]){9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
    check_labels("t10k-labels-idx1-ubyte.gz", 10000, 1000,
                 (const int[]){9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
}

// ---------------------------------------------------------------------------
// Synthetic files, written by hand into a fresh temporary directory.
// ---------------------------------------------------------------------------
static char tmpdir[256];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/soma-test-idx-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp");
}

static void remove_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

TestSuite(idx, .init = make_tmpdir, .fini = remove_tmpdir);

static const char *tmp(const char *name) {
    static char bufs[4][600];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

// A growable byte buffer to assemble file contents.
typedef struct bytes {
    unsigned char d[65536];
    size_t n;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    cr_assert(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put8(bytes *b, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
static void put16(bytes *b, uint16_t v) {
    put8(b, v >> 8);
    put8(b, v & 0xff);
}
static void put32(bytes *b, uint32_t v) {
    put16(b, (uint16_t)(v >> 16));
    put16(b, (uint16_t)(v & 0xffff));
}
static void put64(bytes *b, uint64_t v) {
    put32(b, (uint32_t)(v >> 32));
    put32(b, (uint32_t)v);
}
static void header(bytes *b, unsigned type, int rank, const uint32_t *dims) {
    put8(b, 0);
    put8(b, 0);
    put8(b, type);
    put8(b, (unsigned)rank);
    for (int i = 0; i < rank; i++) put32(b, dims[i]);
}

static void write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s", path);
    if (n) cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

// mode "wb" starts a file, "ab" appends another gzip member.
static void write_gz(const char *path, const void *p, size_t n, const char *mode) {
    gzFile g = gzopen(path, mode);
    cr_assert_not_null(g, "gzopen %s", path);
    if (n) cr_assert_eq(gzwrite(g, p, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

static size_t read_all(const char *path, unsigned char *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static soma_tensor *load_ok(const char *path, int flags) {
    soma_tensor *t = NULL;
    int rc = soma_idx_load(path, flags, &t);
    cr_assert_eq(rc, SOMA_OK, "%s: %s", path, soma_last_error());
    return t;
}

// Asserts status and that the message contains every given word.
static void load_fails(const char *path, int flags, int status, const char *const *words) {
    soma_tensor *t = (soma_tensor *)(uintptr_t)1;
    soma_clear_error();
    int rc = soma_idx_load(path, flags, &t);
    const char *msg = soma_last_error();
    cr_assert_eq(rc, status, "%s: got %s (%s), want %s", path, soma_status_name(rc), msg,
                 soma_status_name(status));
    cr_assert_null(t, "*out must be NULL after a failure");
    cr_assert_eq(soma_last_status(), status);
    for (const char *const *w = words; *w; w++)
        cr_assert(strstr(msg, *w) != NULL, "message \"%s\" lacks \"%s\"", msg, *w);
}
#define FAILS(path, flags, status, ...) \
    load_fails(path, flags, status, (const char *const[]){__VA_ARGS__, NULL})

// Writes the same bytes raw and gzipped; returns nothing, names are <stem>
// and <stem>.gz.
static void write_both(const char *stem, const bytes *b) {
    char gz[300];
    snprintf(gz, sizeof gz, "%s.gz", stem);
    write_raw(tmp(stem), b->d, b->n);
    write_gz(tmp(gz), b->d, b->n, "wb");
}

static void check_values(const soma_tensor *t, const double *want, int64_t n, int scale) {
    cr_assert_eq(soma_tensor_numel(t), n);
    const float *x = soma_tensor_cdata(t);
    for (int64_t i = 0; i < n; i++) {
        float w = (float)(scale ? want[i] / 255.0 : want[i]);
        // Bitwise, so -0.0 and denormals must survive too.
        cr_assert(memcmp(&x[i], &w, sizeof w) == 0, "element %lld: %.9g, want %.9g",
                  (long long)i, x[i], w);
    }
}

Test(idx, u8_round_trip_raw_and_gz) {
    bytes b = {.n = 0};
    header(&b, 0x08, 3, (const uint32_t[]){3, 2, 4});
    double want[24];
    for (int i = 0; i < 24; i++) {
        want[i] = (i * 37 + 11) % 256;
        put8(&b, (unsigned)want[i]);
    }
    want[23] = 255;
    b.d[b.n - 1] = 255;
    write_both("u8", &b);
    const char *names[] = {"u8", "u8.gz"};
    for (int k = 0; k < 2; k++) {
        const char *p = tmp(names[k]);
        soma_tensor *t = load_ok(p, 0);
        check_shape(t, 3, (int64_t[]){3, 2, 4});
        check_values(t, want, 24, 0);
        soma_tensor_free(t);

        t = load_ok(p, SOMA_IDX_SCALE);
        check_shape(t, 3, (int64_t[]){3, 2, 4});
        check_values(t, want, 24, 1);
        cr_assert_eq(soma_tensor_cdata(t)[23], 1.0f);
        soma_tensor_free(t);

        t = load_ok(p, SOMA_IDX_FLATTEN | SOMA_IDX_SCALE);
        check_shape(t, 2, (int64_t[]){3, 8});
        check_values(t, want, 24, 1);
        soma_tensor_free(t);
    }
}

Test(idx, rank1_flatten_is_n_by_1) {
    bytes b = {.n = 0};
    header(&b, 0x08, 1, (const uint32_t[]){5});
    double want[5] = {4, 0, 9, 1, 7};
    for (int i = 0; i < 5; i++) put8(&b, (unsigned)want[i]);
    write_raw(tmp("r1"), b.d, b.n);
    soma_tensor *t = load_ok(tmp("r1"), 0);
    check_shape(t, 1, (int64_t[]){5});
    check_values(t, want, 5, 0);
    soma_tensor_free(t);
    // As numpy's y.reshape(len(y), -1).
    t = load_ok(tmp("r1"), SOMA_IDX_FLATTEN);
    check_shape(t, 2, (int64_t[]){5, 1});
    check_values(t, want, 5, 0);
    soma_tensor_free(t);
}

Test(idx, signed_integer_types) {
    bytes b = {.n = 0};
    header(&b, 0x09, 1, (const uint32_t[]){5});
    const int8_t i8[5] = {-128, -1, 0, 1, 127};
    double w8[5];
    for (int i = 0; i < 5; i++) {
        put8(&b, (uint8_t)i8[i]);
        w8[i] = i8[i];
    }
    write_both("i8", &b);

    bytes c = {.n = 0};
    header(&c, 0x0B, 2, (const uint32_t[]){2, 3});
    const int16_t i16[6] = {-32768, -2, 0, 1000, 32767, -300};
    double w16[6];
    for (int i = 0; i < 6; i++) {
        put16(&c, (uint16_t)i16[i]);
        w16[i] = i16[i];
    }
    write_both("i16", &c);

    bytes d = {.n = 0};
    header(&d, 0x0C, 1, (const uint32_t[]){6});
    // 2147483647 and 16777217 are not float32 values: they round to nearest.
    const int32_t i32[6] = {INT32_MIN, -16777216, -1, 16777217, 2147483647, 65536};
    double w32[6];
    for (int i = 0; i < 6; i++) {
        put32(&d, (uint32_t)i32[i]);
        w32[i] = i32[i];
    }
    write_both("i32", &d);

    const char *names[] = {"i8", "i8.gz", "i16", "i16.gz", "i32", "i32.gz"};
    const double *want[] = {w8, w8, w16, w16, w32, w32};
    const int64_t n[] = {5, 5, 6, 6, 6, 6};
    for (int k = 0; k < 6; k++) {
        soma_tensor *t = load_ok(tmp(names[k]), 0);
        check_values(t, want[k], n[k], 0);
        soma_tensor_free(t);
        t = load_ok(tmp(names[k]), SOMA_IDX_SCALE);
        check_values(t, want[k], n[k], 1);
        soma_tensor_free(t);
    }
    soma_tensor *t = load_ok(tmp("i16"), SOMA_IDX_FLATTEN);
    check_shape(t, 2, (int64_t[]){2, 3});
    soma_tensor_free(t);
    t = load_ok(tmp("i32"), 0);
    cr_assert_eq(soma_tensor_cdata(t)[4], 2147483648.0f);
    cr_assert_eq(soma_tensor_cdata(t)[3], 16777216.0f);
    soma_tensor_free(t);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static uint64_t f64_bits(double f) {
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

Test(idx, float32_round_trip_raw_and_gz) {
    const float v[8] = {1.5f, -0.1f, 3.4028235e38f, 1e-45f, -0.0f, 0.0f, 123456.789f, -7.25f};
    bytes b = {.n = 0};
    header(&b, 0x0D, 3, (const uint32_t[]){2, 2, 2});
    double want[8];
    for (int i = 0; i < 8; i++) {
        put32(&b, f32_bits(v[i]));
        want[i] = v[i];
    }
    write_both("f32", &b);
    for (int k = 0; k < 2; k++) {
        const char *p = tmp(k ? "f32.gz" : "f32");
        soma_tensor *t = load_ok(p, 0);
        check_shape(t, 3, (int64_t[]){2, 2, 2});
        check_values(t, want, 8, 0);
        soma_tensor_free(t);
        t = load_ok(p, SOMA_IDX_FLATTEN | SOMA_IDX_SCALE);
        check_shape(t, 2, (int64_t[]){2, 4});
        check_values(t, want, 8, 1);
        soma_tensor_free(t);
    }
}

Test(idx, float64_round_trip_raw_and_gz) {
    const double v[4] = {0.1, -1e-300, 3.0e38, -2.5};
    bytes b = {.n = 0};
    header(&b, 0x0E, 1, (const uint32_t[]){4});
    for (int i = 0; i < 4; i++) put64(&b, f64_bits(v[i]));
    write_both("f64", &b);
    for (int k = 0; k < 2; k++) {
        soma_tensor *t = load_ok(tmp(k ? "f64.gz" : "f64"), 0);
        check_values(t, v, 4, 0);
        soma_tensor_free(t);
    }
}

Test(idx, gzip_with_two_members) {
    // gzip -d reads concatenated members as one stream; so must we.
    bytes b = {.n = 0};
    header(&b, 0x08, 2, (const uint32_t[]){2, 3});
    double want[6] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 6; i++) put8(&b, (unsigned)want[i]);
    write_gz(tmp("two.gz"), b.d, 9, "wb");
    write_gz(tmp("two.gz"), b.d + 9, b.n - 9, "ab");
    soma_tensor *t = load_ok(tmp("two.gz"), 0);
    check_shape(t, 2, (int64_t[]){2, 3});
    check_values(t, want, 6, 0);
    soma_tensor_free(t);
}

Test(idx, larger_than_one_read_chunk) {
    // 200000 bytes spans several internal reads: checks chunk boundaries.
    const uint32_t n = 200000;
    unsigned char *raw = malloc(16 + n);
    cr_assert_not_null(raw);
    const unsigned char h[12] = {0, 0, 0x08, 2, 0, 0, 0xc3, 0x50, 0, 0, 0, 4};
    memcpy(raw, h, 12); // dims 50000 x 4
    uint32_t s = 12345;
    for (uint32_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        raw[12 + i] = (unsigned char)(s >> 24);
    }
    write_raw(tmp("big"), raw, 12 + n);
    write_gz(tmp("big.gz"), raw, 12 + n, "wb");
    for (int k = 0; k < 2; k++) {
        soma_tensor *t = load_ok(tmp(k ? "big.gz" : "big"), SOMA_IDX_SCALE);
        check_shape(t, 2, (int64_t[]){50000, 4});
        const float *x = soma_tensor_cdata(t);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(x[i], (float)(raw[12 + i] / 255.0), "element %u", i);
        soma_tensor_free(t);
    }
    free(raw);
}

// ---- non-finite values -----------------------------------------------------
Test(idx, nan_in_float32_names_the_element) {
    bytes b = {.n = 0};
    header(&b, 0x0D, 2, (const uint32_t[]){2, 4});
    for (int i = 0; i < 8; i++) put32(&b, f32_bits(i == 5 ? NAN : (float)i));
    write_both("nan", &b);
    FAILS(tmp("nan"), 0, SOMA_E_NUMERIC, "nan", "element 5", "[1, 1]");
    FAILS(tmp("nan.gz"), SOMA_IDX_SCALE, SOMA_E_NUMERIC, "nan.gz", "element 5", "[1, 1]");
}

Test(idx, inf_in_float64_names_the_element) {
    bytes b = {.n = 0};
    header(&b, 0x0E, 1, (const uint32_t[]){3});
    put64(&b, f64_bits(1.0));
    put64(&b, f64_bits(2.0));
    put64(&b, f64_bits(-INFINITY));
    write_raw(tmp("inf"), b.d, b.n);
    FAILS(tmp("inf"), 0, SOMA_E_NUMERIC, "inf", "element 2", "[2]", "finite");

    // Finite as a double, but no float32 can hold it.
    bytes c = {.n = 0};
    header(&c, 0x0E, 1, (const uint32_t[]){2});
    put64(&c, f64_bits(1e300));
    put64(&c, f64_bits(1.0));
    write_raw(tmp("huge"), c.d, c.n);
    FAILS(tmp("huge"), 0, SOMA_E_NUMERIC, "huge", "element 0", "1e+300");
}

// ---- malformed files ----------------------------------------------------------
Test(idx, missing_file) {
    FAILS(tmp("does-not-exist"), 0, SOMA_E_IO, "cannot open", "does-not-exist",
          "No such file or directory");
}

Test(idx, directory) { FAILS(tmpdir, 0, SOMA_E_IO, tmpdir, "Is a directory"); }

Test(idx, empty_file) {
    write_raw(tmp("empty"), "", 0);
    FAILS(tmp("empty"), 0, SOMA_E_FORMAT, "bad IDX file", "empty", "empty file");
    write_gz(tmp("empty.gz"), "", 0, "wb");
    FAILS(tmp("empty.gz"), 0, SOMA_E_FORMAT, "empty.gz", "empty file");
}

Test(idx, short_header) {
    write_raw(tmp("short"), "\0\0\x08", 3);
    FAILS(tmp("short"), 0, SOMA_E_FORMAT, "short", "header truncated", "3 of 4");
    bytes b = {.n = 0};
    header(&b, 0x08, 3, (const uint32_t[]){2, 2, 2});
    write_raw(tmp("short2"), b.d, 10); // rank 3 but only 1.5 dimension words
    FAILS(tmp("short2"), 0, SOMA_E_FORMAT, "short2", "header truncated", "10 of 16");
}

Test(idx, wrong_magic) {
    // A PNG file, say.
    write_raw(tmp("png"), "\x89PNG\r\n\x1a\n", 8);
    FAILS(tmp("png"), 0, SOMA_E_FORMAT, "bad IDX file [", "png]",
          "wrong magic 0x89504e47 (expected 0x0000 + type + rank)");
    bytes b = {.n = 0};
    header(&b, 0x08, 1, (const uint32_t[]){1});
    put8(&b, 1);
    b.d[1] = 0x01;
    write_both("magic1", &b);
    FAILS(tmp("magic1"), 0, SOMA_E_FORMAT, "wrong magic 0x00010801");
    FAILS(tmp("magic1.gz"), 0, SOMA_E_FORMAT, "magic1.gz", "wrong magic 0x00010801");
}

Test(idx, unknown_type_byte) {
    const unsigned bad[] = {0x07, 0x0A, 0x0F, 0x00, 0xFF};
    for (int i = 0; i < 5; i++) {
        bytes b = {.n = 0};
        header(&b, bad[i], 1, (const uint32_t[]){1});
        put64(&b, 0);
        write_raw(tmp("type"), b.d, b.n);
        char want[64];
        snprintf(want, sizeof want, "unknown type byte 0x%02x", bad[i]);
        FAILS(tmp("type"), 0, SOMA_E_FORMAT, "type]", want);
    }
}

Test(idx, rank_zero_and_too_large) {
    bytes b = {.n = 0};
    header(&b, 0x08, 0, NULL);
    put8(&b, 1);
    write_raw(tmp("rank0"), b.d, b.n);
    FAILS(tmp("rank0"), 0, SOMA_E_FORMAT, "rank0]", "rank 0 (expected 1..8)");

    uint32_t ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    bytes c = {.n = 0};
    header(&c, 0x08, 9, ones);
    put8(&c, 1);
    write_both("rank9", &c);
    FAILS(tmp("rank9"), 0, SOMA_E_FORMAT, "rank9]", "rank 9 (expected 1..8)");
    FAILS(tmp("rank9.gz"), 0, SOMA_E_FORMAT, "rank9.gz]", "rank 9");

    // Rank 8 itself is fine.
    bytes d = {.n = 0};
    header(&d, 0x08, 8, (const uint32_t[]){1, 2, 1, 1, 1, 1, 1, 2});
    for (int i = 0; i < 4; i++) put8(&d, (unsigned)(10 + i));
    write_raw(tmp("rank8"), d.d, d.n);
    soma_tensor *t = load_ok(tmp("rank8"), 0);
    check_shape(t, 8, (int64_t[]){1, 2, 1, 1, 1, 1, 1, 2});
    check_values(t, (const double[]){10, 11, 12, 13}, 4, 0);
    soma_tensor_free(t);
}

Test(idx, zero_dimension) {
    bytes b = {.n = 0};
    header(&b, 0x08, 3, (const uint32_t[]){4, 0, 2});
    write_both("zero", &b);
    FAILS(tmp("zero"), 0, SOMA_E_FORMAT, "zero]", "dimension 1 is 0");
    FAILS(tmp("zero.gz"), 0, SOMA_E_FORMAT, "zero.gz]", "dimension 1 is 0");
}

Test(idx, truncated_payload) {
    bytes b = {.n = 0};
    header(&b, 0x0B, 2, (const uint32_t[]){3, 4}); // needs 24 bytes
    for (int i = 0; i < 10; i++) put16(&b, (uint16_t)i);
    write_both("trunc", &b);
    FAILS(tmp("trunc"), 0, SOMA_E_FORMAT, "trunc]", "truncated", "needs 24 bytes",
          "file has 20");
    FAILS(tmp("trunc.gz"), 0, SOMA_E_FORMAT, "trunc.gz]", "truncated", "needs 24 bytes",
          "file has 20");
}

Test(idx, trailing_bytes) {
    bytes b = {.n = 0};
    header(&b, 0x08, 2, (const uint32_t[]){2, 2});
    for (int i = 0; i < 7; i++) put8(&b, (unsigned)i);
    write_both("trail", &b);
    FAILS(tmp("trail"), 0, SOMA_E_FORMAT, "trail]", "3 trailing bytes", "needs 4 bytes");
    FAILS(tmp("trail.gz"), 0, SOMA_E_FORMAT, "trail.gz]", "3 trailing bytes",
          "needs 4 bytes");
}

// 4096 pseudo-random bytes: incompressible, so deflate stores them verbatim
// and a flipped byte in the middle can only be caught by the CRC.
static size_t random_gz(const char *name, unsigned char *file, size_t cap) {
    bytes b = {.n = 0};
    header(&b, 0x08, 2, (const uint32_t[]){64, 64});
    uint32_t s = 1;
    for (int i = 0; i < 4096; i++) {
        s = s * 1664525u + 1013904223u;
        put8(&b, s >> 24);
    }
    write_gz(tmp(name), b.d, b.n, "wb");
    return read_all(tmp(name), file, cap);
}

Test(idx, corrupted_gzip_stream) {
    static unsigned char f[8192];
    size_t n = random_gz("crc.gz", f, sizeof f);
    cr_assert(n > 4096);
    f[n / 2] ^= 0x5a;
    write_raw(tmp("crc.gz"), f, n);
    FAILS(tmp("crc.gz"), 0, SOMA_E_FORMAT, "bad IDX file [", "crc.gz]",
          "corrupt gzip stream", "incorrect data check");

    // A deflate stream that is garbage from its first block on.
    n = random_gz("garbage.gz", f, sizeof f);
    memset(f + 10, 0xff, 64);
    write_raw(tmp("garbage.gz"), f, n);
    FAILS(tmp("garbage.gz"), 0, SOMA_E_FORMAT, "garbage.gz]", "corrupt gzip stream");
}

Test(idx, gzip_stream_cut_short) {
    static unsigned char f[8192];
    size_t n = random_gz("cut.gz", f, sizeof f);
    // Cut inside the data: zlib sees the end before the stream's end.
    write_raw(tmp("cut.gz"), f, n / 2);
    FAILS(tmp("cut.gz"), 0, SOMA_E_FORMAT, "cut.gz]", "corrupt gzip stream",
          "unexpected end of file");
    // Cut inside the 8-byte trailer: all data arrives, the CRC does not.
    write_raw(tmp("cut2.gz"), f, n - 3);
    FAILS(tmp("cut2.gz"), 0, SOMA_E_FORMAT, "cut2.gz]", "corrupt gzip stream");
}

Test(idx, dims_whose_product_overflows) {
    uint32_t big[8];
    for (int i = 0; i < 8; i++) big[i] = 0xFFFFFFFFu;
    bytes b = {.n = 0};
    header(&b, 0x08, 8, big);
    put8(&b, 0);
    write_both("ovf", &b);
    FAILS(tmp("ovf"), 0, SOMA_E_FORMAT, "ovf]", "overflows");
    FAILS(tmp("ovf.gz"), 0, SOMA_E_FORMAT, "ovf.gz]", "overflows");

    // 2^32-1 squared exceeds int64 too.
    bytes c = {.n = 0};
    header(&c, 0x0E, 2, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu});
    write_raw(tmp("ovf2"), c.d, c.n);
    FAILS(tmp("ovf2"), 0, SOMA_E_FORMAT, "ovf2]", "overflows");
}

Test(idx, huge_claim_in_small_file_allocates_nothing) {
    // 10^12 bytes claimed; the loader must say "truncated" from the file's
    // size, not try (and fail) to allocate 4 TB of floats.
    bytes b = {.n = 0};
    header(&b, 0x08, 3, (const uint32_t[]){100000, 100000, 100});
    for (int i = 0; i < 100; i++) put8(&b, (unsigned)i);
    write_both("claim", &b);
    FAILS(tmp("claim"), 0, SOMA_E_FORMAT, "claim]", "truncated", "needs 1000000000000 bytes",
          "file has 100");
    FAILS(tmp("claim.gz"), 0, SOMA_E_FORMAT, "claim.gz]", "truncated",
          "needs 1000000000000 bytes", "file has 100");
}

Test(idx, bad_arguments) {
    soma_tensor *t = NULL;
    cr_assert_eq(soma_idx_load(NULL, 0, &t), SOMA_E_INVALID);
    cr_assert_eq(soma_idx_load(tmp("x"), 0, NULL), SOMA_E_INVALID);
    cr_assert_eq(soma_idx_load(tmp("x"), 4, &t), SOMA_E_INVALID);
    cr_assert(strstr(soma_last_error(), "flags") != NULL, "%s", soma_last_error());
    cr_assert_null(t);
}
