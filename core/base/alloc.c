// Aligned allocation. Every block the core hands out is 64-byte aligned so
// that vector kernels never need a peeled head.
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

void *soma_alloc(size_t size, size_t align) {
    if (size == 0) return NULL;
    if (align == 0) align = 64;
    if (align < sizeof(void *) || (align & (align - 1)) != 0) {
        soma_error_set(SOMA_E_INVALID, "alignment %zu is not a power of two >= %zu",
                       align, sizeof(void *));
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0) {
        soma_error_set(SOMA_E_NOMEM, "out of memory allocating %zu bytes", size);
        return NULL;
    }
    return p;
}

void *soma_calloc(size_t count, size_t size) {
    size_t bytes;
    if (!soma_mul_size(count, size, &bytes)) {
        soma_error_set(SOMA_E_NOMEM, "size overflow: %zu x %zu bytes", count, size);
        return NULL;
    }
    void *p = soma_alloc(bytes, 64);
    if (p) memset(p, 0, bytes);
    return p;
}

void soma_free(void *p) { free(p); }

char *soma_strdup(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        soma_error_set(SOMA_E_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}
