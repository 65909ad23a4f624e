// Logging through a user callback; silent unless a callback is set or SOMA_LOG
// names a level (then messages go to stderr).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"

static soma_log_fn log_fn;
static void *log_user;
static int log_min = SOMA_LOG_WARN;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static int env_level = -1; // from SOMA_LOG, -1 when unset

static void read_env(void) {
    const char *v = getenv("SOMA_LOG");
    if (!v || !*v) return;
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, names[i]) == 0) env_level = i;
}

SOMA_API void soma_set_log(soma_log_fn fn, void *user, int min_level) {
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void soma_logv(int level, const char *fmt, va_list ap) {
    pthread_once(&env_once, read_env);
    bool to_cb = log_fn && level >= log_min;
    bool to_err = env_level >= 0 && level >= env_level;
    if (!to_cb && !to_err) return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (to_cb) log_fn(level, msg, log_user);
    if (to_err) {
        static const char *tags[] = {"debug", "info", "warn", "error"};
        fprintf(stderr, "soma %s: %s\n", tags[level < 0 ? 0 : level > 3 ? 3 : level], msg);
    }
}

void soma_log(int level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    soma_logv(level, fmt, ap);
    va_end(ap);
}
