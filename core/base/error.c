// Thread-local last error: the message of the last failed call in this thread.
#include <stdio.h>
#include <string.h>

#include "base/base.h"

#define SOMA_ERR_LEN 1024

static _Thread_local char err_msg[SOMA_ERR_LEN];
static _Thread_local int err_code;

int soma_error_setv(int code, const char *fmt, va_list ap) {
    err_code = code;
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    return code;
}

int soma_error_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    soma_error_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int soma_error_prefix(const char *fmt, ...) {
    char prefix[SOMA_ERR_LEN], old[SOMA_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err_msg, sizeof old);
    // Assemble by hand: snprintf("%s: %s") trips -Wformat-truncation, and
    // cutting a long message short is exactly what we want here.
    size_t np = strnlen(prefix, SOMA_ERR_LEN - 3), no = strnlen(old, SOMA_ERR_LEN);
    if (np + 2 + no >= SOMA_ERR_LEN) no = SOMA_ERR_LEN - 1 - np - 2;
    memcpy(err_msg, prefix, np);
    memcpy(err_msg + np, ": ", 2);
    memcpy(err_msg + np + 2, old, no);
    err_msg[np + 2 + no] = '\0';
    return err_code;
}

SOMA_API const char *soma_last_error(void) { return err_msg; }
SOMA_API int soma_last_status(void) { return err_code; }

SOMA_API void soma_clear_error(void) {
    err_code = SOMA_OK;
    err_msg[0] = '\0';
}

SOMA_API const char *soma_status_name(int status) {
    switch (status) {
    case SOMA_OK: return "SOMA_OK";
    case SOMA_E_INVALID: return "SOMA_E_INVALID";
    case SOMA_E_NOMEM: return "SOMA_E_NOMEM";
    case SOMA_E_IO: return "SOMA_E_IO";
    case SOMA_E_FORMAT: return "SOMA_E_FORMAT";
    case SOMA_E_SHAPE: return "SOMA_E_SHAPE";
    case SOMA_E_NOT_FOUND: return "SOMA_E_NOT_FOUND";
    case SOMA_E_PLUGIN: return "SOMA_E_PLUGIN";
    case SOMA_E_ABI: return "SOMA_E_ABI";
    case SOMA_E_NUMERIC: return "SOMA_E_NUMERIC";
    case SOMA_E_STATE: return "SOMA_E_STATE";
    case SOMA_E_RANGE: return "SOMA_E_RANGE";
    case SOMA_E_UNSUPPORTED: return "SOMA_E_UNSUPPORTED";
    default: return "SOMA_E_UNKNOWN";
    }
}
