// soma_alloc: alignment, errors, and the huge-page advice on large blocks
// (checked in /proc/self/smaps, where the kernel lists the advice as "hg").
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

Test(alloc, small_blocks_take_the_asked_alignment) {
    static const size_t aligns[] = {0, 8, 64, 4096};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        char *p = soma_alloc(1000, aligns[i]);
        cr_assert_not_null(p);
        size_t want = aligns[i] ? aligns[i] : 64;
        cr_assert_eq((uintptr_t)p % want, 0, "align %zu: %p", aligns[i], (void *)p);
        memset(p, 1, 1000);
        soma_free(p);
    }
    cr_assert_null(soma_alloc(0, 64));
}

Test(alloc, bad_alignment_is_named) {
    cr_assert_null(soma_alloc(64, 48));
    cr_assert(strstr(soma_last_error(), "alignment 48"), "%s", soma_last_error());
    cr_assert_null(soma_alloc(64, 2));
    cr_assert(strstr(soma_last_error(), "alignment 2"), "%s", soma_last_error());
}

// The VmFlags of the mapping that holds addr, or "" when not found.
static void vm_flags(const void *addr, char *flags, size_t len) {
    flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { // a mapping's first line
            inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, len, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

Test(alloc, large_blocks_start_on_2mib_and_are_advised_into_huge_pages) {
    const size_t size = (size_t)64 << 20;
    char *p = soma_alloc(size, 64);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % ((size_t)2 << 20), 0, "%p", (void *)p);
    memset(p, 1, size);
    cr_assert_eq(p[size - 1], 1);
    // Just below the threshold (8 MiB): a plain block, not advised.
    const size_t small = ((size_t)8 << 20) - 64;
    char *q = soma_alloc(small, 64);
    cr_assert_not_null(q);
    cr_assert_eq((uintptr_t)q % 64, 0);
    memset(q, 1, small);
    // qemu-user accepts madvise without passing it on; a kernel without
    // transparent huge pages has no advice to record.
    if (!getenv("SOMA_TEST_EMULATED") &&
        access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0) {
        char flags[512];
        vm_flags(p, flags, sizeof flags);
        cr_assert(strstr(flags, " hg"), "no huge-page advice on the block: VmFlags:%s", flags);
        vm_flags(q, flags, sizeof flags);
        cr_assert(flags[0] && !strstr(flags, " hg"),
                  "a block below 8 MiB was advised (or not found): VmFlags:%s", flags);
    }
    soma_free(p);
    soma_free(q);
}
