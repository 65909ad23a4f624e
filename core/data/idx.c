// IDX reader (the MNIST format), raw or gzip-compressed.
//
// Layout: 00 00 <type> <rank>, then rank big-endian uint32 dims, then the
// payload, numel * elemsize big-endian values, and nothing after it.
// Every size taken from the file is validated against the file before any
// allocation, so a hostile header cannot make us allocate or inflate more
// than the file can actually hold.
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/base.h"

// Read granularity: a multiple of every element size, small enough for the
// stack of any thread.
#define IDX_CHUNK 65536

// Deflate cannot expand data by more than about 1032:1; any claimed payload
// beyond that ratio of the compressed size is certainly truncated.
#define IDX_MAX_DEFLATE_RATIO 1040u

enum idx_type {
    IDX_U8 = 0x08,
    IDX_I8 = 0x09,
    IDX_I16 = 0x0B,
    IDX_I32 = 0x0C,
    IDX_F32 = 0x0D,
    IDX_F64 = 0x0E
};

// The byte source: a plain fd or a gzip stream over it.
typedef struct idx_src {
    const char *path;
    int fd;       // owned while gz == NULL
    gzFile gz;    // owns fd once opened
    off_t file_size;
} idx_src;

static void idx_src_close(idx_src *s) {
    if (s->gz) gzclose(s->gz);
    else if (s->fd >= 0) close(s->fd);
    s->gz = NULL;
    s->fd = -1;
}

static int idx_gz_error(const idx_src *s) {
    int errnum = Z_OK;
    const char *msg = gzerror(s->gz, &errnum);
    if (errnum == Z_ERRNO)
        return soma_error_set(SOMA_E_IO, "cannot read [%s]: %s", s->path, strerror(errno));
    return soma_error_set(SOMA_E_FORMAT, "bad IDX file [%s]: corrupt gzip stream: %s",
                          s->path, msg && *msg ? msg : "unknown zlib error");
}

// Reads up to n bytes; returns the count (< n only at end of data) or a
// negative status with the error set. A gzip stream that ends without its
// trailer, or whose data fails its CRC, is an error rather than a short read.
static int64_t idx_src_read(idx_src *s, void *buf, size_t n) {
    size_t got = 0;
    unsigned char *p = buf;
    while (got < n) {
        size_t want = n - got;
        if (want > IDX_CHUNK) want = IDX_CHUNK;
        if (s->gz) {
            int r = gzread(s->gz, p + got, (unsigned)want);
            if (r < 0) return idx_gz_error(s);
            int errnum = Z_OK;
            gzerror(s->gz, &errnum);
            // zlib reports a stream cut short as Z_BUF_ERROR next to a short
            // (possibly non-zero) read.
            if (errnum != Z_OK) return idx_gz_error(s);
            if (r == 0) break;
            got += (size_t)r;
        } else {
            ssize_t r = read(s->fd, p + got, want);
            if (r < 0) {
                if (errno == EINTR) continue;
                return soma_error_set(SOMA_E_IO, "cannot read [%s]: %s", s->path,
                                      strerror(errno));
            }
            if (r == 0) break;
            got += (size_t)r;
        }
    }
    return (int64_t)got;
}

static int idx_src_open(idx_src *s, const char *path) {
    s->path = path;
    s->gz = NULL;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return soma_error_set(SOMA_E_IO, "cannot open [%s]: %s", path, strerror(errno));
    struct stat st;
    if (fstat(s->fd, &st) != 0) {
        int e = errno;
        idx_src_close(s);
        return soma_error_set(SOMA_E_IO, "cannot stat [%s]: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        idx_src_close(s);
        return soma_error_set(SOMA_E_IO, "cannot read [%s]: %s", path, strerror(EISDIR));
    }
    s->file_size = S_ISREG(st.st_mode) ? st.st_size : -1;

    unsigned char magic[2];
    int64_t n = idx_src_read(s, magic, 2);
    if (n < 0) {
        idx_src_close(s);
        return (int)n;
    }
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        if (lseek(s->fd, 0, SEEK_SET) != 0) {
            int e = errno;
            idx_src_close(s);
            return soma_error_set(SOMA_E_IO, "cannot seek [%s]: %s", path, strerror(e));
        }
        s->gz = gzdopen(s->fd, "rb");
        if (!s->gz) {
            idx_src_close(s);
            return soma_error_set(SOMA_E_NOMEM, "cannot open gzip stream on [%s]", path);
        }
        gzbuffer(s->gz, 128 * 1024);
        return SOMA_OK;
    }
    if (lseek(s->fd, 0, SEEK_SET) != 0) {
        int e = errno;
        idx_src_close(s);
        return soma_error_set(SOMA_E_IO, "cannot seek [%s]: %s", path, strerror(e));
    }
    return SOMA_OK;
}

static size_t idx_elem_size(int type) {
    switch (type) {
    case IDX_U8:
    case IDX_I8: return 1;
    case IDX_I16: return 2;
    case IDX_I32:
    case IDX_F32: return 4;
    case IDX_F64: return 8;
    default: return 0;
    }
}

static const char *idx_type_name(int type) {
    switch (type) {
    case IDX_U8: return "u8";
    case IDX_I8: return "i8";
    case IDX_I16: return "i16";
    case IDX_I32: return "i32";
    case IDX_F32: return "f32";
    case IDX_F64: return "f64";
    default: return "?";
    }
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p) {
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

// "[1, 27, 3]": the coordinates of flat index i, for messages.
static void idx_coords(int ndim, const int64_t *dims, int64_t i, char *buf, size_t len) {
    int64_t c[SOMA_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        c[d] = i % dims[d];
        i /= dims[d];
    }
    size_t o = 0;
    o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "[");
    for (int d = 0; d < ndim; d++)
        o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%lld", d ? ", " : "",
                              (long long)c[d]);
    snprintf(buf + o, o < len ? len - o : 0, "]");
}

// Converts n big-endian elements starting at flat index base into out.
// Returns SOMA_E_NUMERIC for a value that is not a finite float32.
static int idx_convert(const char *path, int type, int ndim, const int64_t *dims,
                       const unsigned char *in, size_t n, int64_t base, int scale,
                       float *out) {
    for (size_t k = 0; k < n; k++) {
        double v;
        switch (type) {
        case IDX_U8: v = in[k]; break;
        case IDX_I8: v = (int8_t)in[k]; break;
        case IDX_I16: v = (int16_t)(uint16_t)(in[2 * k] << 8 | in[2 * k + 1]); break;
        case IDX_I32: v = (int32_t)be32(in + 4 * k); break;
        case IDX_F32: {
            uint32_t u = be32(in + 4 * k);
            float f;
            memcpy(&f, &u, sizeof f);
            v = f;
            break;
        }
        default: {
            uint64_t u = be64(in + 8 * k);
            memcpy(&v, &u, sizeof v);
            break;
        }
        }
        // Division in double then one rounding to float is what numpy's
        // `x / 255.0` followed by a float32 cast gives.
        float f = (float)(scale ? v / 255.0 : v);
        if (!isfinite(f)) {
            char at[160];
            int64_t i = base + (int64_t)k;
            idx_coords(ndim, dims, i, at, sizeof at);
            return soma_error_set(SOMA_E_NUMERIC,
                                  "bad IDX file [%s]: element %lld %s is %g, not a finite "
                                  "float32",
                                  path, (long long)i, at, v);
        }
        out[k] = f;
    }
    return SOMA_OK;
}

// Counts what is left in the source (bounded by `limit`), for the message
// of a truncated file whose size we could not know up front.
static int64_t idx_count_rest(idx_src *s, unsigned char *scratch, int64_t limit) {
    int64_t total = 0;
    while (total < limit) {
        int64_t r = idx_src_read(s, scratch, IDX_CHUNK);
        if (r < 0) return r;
        if (r == 0) break;
        total += r;
    }
    return total;
}

static int idx_load(idx_src *s, int flags, soma_tensor **out, unsigned char *chunk) {
    const char *path = s->path;
    unsigned char head[4 + 4 * SOMA_MAX_DIMS];
    int64_t n = idx_src_read(s, head, 4);
    if (n < 0) return (int)n;
    if (n == 0)
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: empty file (expected a 4-byte magic "
                              "0x0000 + type + rank)",
                              path);
    if (n < 4)
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: header truncated: %lld of 4 magic bytes",
                              path, (long long)n);
    if (head[0] != 0 || head[1] != 0)
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: wrong magic 0x%08x (expected 0x0000 + "
                              "type + rank)",
                              path, be32(head));
    int type = head[2], rank = head[3];
    size_t esize = idx_elem_size(type);
    if (esize == 0)
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: unknown type byte 0x%02x (expected 0x08 "
                              "u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32 or 0x0E f64)",
                              path, type);
    if (rank < 1 || rank > SOMA_MAX_DIMS)
        return soma_error_set(SOMA_E_FORMAT, "bad IDX file [%s]: rank %d (expected 1..%d)",
                              path, rank, SOMA_MAX_DIMS);
    size_t hlen = 4 + 4 * (size_t)rank;
    n = idx_src_read(s, head + 4, hlen - 4);
    if (n < 0) return (int)n;
    if ((size_t)n < hlen - 4)
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: header truncated: %zu of %zu bytes "
                              "(rank %d needs %d dimension words)",
                              path, 4 + (size_t)n, hlen, rank, rank);
    int64_t dims[SOMA_MAX_DIMS];
    for (int d = 0; d < rank; d++) {
        dims[d] = be32(head + 4 + 4 * d);
        if (dims[d] == 0)
            return soma_error_set(SOMA_E_FORMAT, "bad IDX file [%s]: dimension %d is 0",
                                  path, d);
    }
    char shape[160];
    soma_shape_str(rank, dims, shape, sizeof shape);
    int64_t numel;
    size_t payload, fbytes;
    if (soma_shape_numel(rank, dims, &numel) != SOMA_OK ||
        !soma_mul_size((size_t)numel, esize, &payload) ||
        !soma_mul_size((size_t)numel, sizeof(float), &fbytes))
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: shape %s overflows: too many elements",
                              path, shape);

    // Refuse impossible sizes before allocating for them.
    if (!s->gz && s->file_size >= 0) {
        int64_t actual = (int64_t)s->file_size - (int64_t)hlen;
        if (actual < 0 || (uint64_t)actual < payload)
            return soma_error_set(SOMA_E_FORMAT,
                                  "bad IDX file [%s]: truncated payload: shape %s of %s "
                                  "needs %zu bytes, file has %lld",
                                  path, shape, idx_type_name(type), payload,
                                  (long long)actual);
        if ((uint64_t)actual > payload)
            return soma_error_set(SOMA_E_FORMAT,
                                  "bad IDX file [%s]: %lld trailing bytes after the payload "
                                  "(shape %s of %s needs %zu bytes, file has %lld)",
                                  path, (long long)((uint64_t)actual - payload), shape,
                                  idx_type_name(type), payload, (long long)actual);
    }
    if (s->gz && s->file_size >= 0 &&
        payload / IDX_MAX_DEFLATE_RATIO > (size_t)s->file_size) {
        int64_t actual = idx_count_rest(s, chunk, (int64_t)payload);
        if (actual < 0) return (int)actual;
        return soma_error_set(SOMA_E_FORMAT,
                              "bad IDX file [%s]: truncated payload: shape %s of %s needs "
                              "%zu bytes, file has %lld",
                              path, shape, idx_type_name(type), payload, (long long)actual);
    }

    soma_tensor *t = NULL;
    int rc = soma_tensor_create(&t, rank, dims, NULL);
    if (rc != SOMA_OK) return soma_error_prefix("cannot load [%s]", path);

    float *dst = soma_tensor_data(t);
    size_t done = 0;
    while (done < payload) {
        size_t want = payload - done < IDX_CHUNK ? payload - done : IDX_CHUNK;
        int64_t r = idx_src_read(s, chunk, want);
        if (r < 0) {
            rc = (int)r;
            goto fail;
        }
        if ((size_t)r < want) {
            rc = soma_error_set(SOMA_E_FORMAT,
                                "bad IDX file [%s]: truncated payload: shape %s of %s needs "
                                "%zu bytes, file has %zu",
                                path, shape, idx_type_name(type), payload, done + (size_t)r);
            goto fail;
        }
        size_t first = done / esize;
        rc = idx_convert(path, type, rank, dims, chunk, want / esize, (int64_t)first,
                         flags & SOMA_IDX_SCALE, dst + first);
        if (rc != SOMA_OK) goto fail;
        done += want;
    }
    // One more read proves the end, and lets zlib check the stream's CRC.
    int64_t extra = idx_count_rest(s, chunk, 1);
    if (extra < 0) {
        rc = (int)extra;
        goto fail;
    }
    if (extra > 0) {
        int64_t more = idx_count_rest(s, chunk, INT64_MAX);
        if (more < 0) {
            rc = (int)more;
            goto fail;
        }
        rc = soma_error_set(SOMA_E_FORMAT,
                            "bad IDX file [%s]: %lld trailing bytes after the payload (shape "
                            "%s of %s needs %zu bytes)",
                            path, (long long)(extra + more), shape, idx_type_name(type),
                            payload);
        goto fail;
    }

    if ((flags & SOMA_IDX_FLATTEN) && rank != 2) {
        // (N, rest...) → (N, prod(rest)); rank 1 becomes (N, 1) as numpy's
        // x.reshape(len(x), -1) does.
        int64_t flat[2] = {dims[0], numel / dims[0]};
        rc = soma_tensor_reshape(t, 2, flat);
        if (rc != SOMA_OK) goto fail;
    }
    *out = t;
    return SOMA_OK;

fail:
    soma_tensor_free(t);
    return rc;
}

SOMA_API int soma_idx_load(const char *path, int flags, soma_tensor **out) {
    if (!out) return soma_error_set(SOMA_E_INVALID, "soma_idx_load: out is NULL");
    *out = NULL;
    if (!path) return soma_error_set(SOMA_E_INVALID, "soma_idx_load: path is NULL");
    if (flags & ~(SOMA_IDX_SCALE | SOMA_IDX_FLATTEN))
        return soma_error_set(SOMA_E_INVALID, "soma_idx_load [%s]: unknown flags 0x%x", path,
                              (unsigned)(flags & ~(SOMA_IDX_SCALE | SOMA_IDX_FLATTEN)));
    idx_src s;
    int rc = idx_src_open(&s, path);
    if (rc != SOMA_OK) return rc;
    // The chunk buffer lives on the heap: loaders may run on small-stack
    // worker threads.
    unsigned char *chunk = soma_alloc(IDX_CHUNK, 0);
    if (!chunk) {
        idx_src_close(&s);
        return soma_error_set(SOMA_E_NOMEM, "cannot load [%s]: out of memory", path);
    }
    rc = idx_load(&s, flags, out, chunk);
    soma_free(chunk);
    idx_src_close(&s);
    return rc;
}
