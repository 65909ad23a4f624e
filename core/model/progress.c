// Keras-style progress: a redrawn bar on a terminal, plain lines otherwise
// (logs, CI, pipes get one readable line per epoch, not carriage returns).
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model/model.h"

double soma_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void soma_logs_set(soma_logs *logs, const char *name, double value) {
    for (int i = 0; i < logs->count; i++)
        if (strcmp(logs->entries[i].name, name) == 0) {
            logs->entries[i].value = value;
            return;
        }
    if (logs->count >= SOMA_MAX_LOGS) return;
    snprintf(logs->entries[logs->count].name, sizeof logs->entries[0].name, "%s", name);
    logs->entries[logs->count++].value = value;
}

SOMA_API double soma_logs_get(const soma_logs *logs, const char *name, double fallback) {
    if (!logs || !name) return fallback;
    for (int i = 0; i < logs->count; i++)
        if (strcmp(logs->entries[i].name, name) == 0) return logs->entries[i].value;
    return fallback;
}

void soma_progress_begin(soma_progress *p, FILE *out, int verbose, int64_t target) {
    p->out = out ? out : stdout;
    p->verbose = verbose;
    p->tty = isatty(fileno(p->out)) == 1;
    p->target = target;
    p->start = soma_now();
    p->last_draw = 0;
}

// Keras: "%ds" below a minute, then m:ss, then h:mm:ss.
static void fmt_eta(char *b, size_t n, double s) {
    long t = (long)s;
    if (t >= 3600) snprintf(b, n, "%ld:%02ld:%02ld", t / 3600, (t % 3600) / 60, t % 60);
    else if (t >= 60) snprintf(b, n, "%ld:%02ld", t / 60, t % 60);
    else snprintf(b, n, "%lds", t);
}

static void fmt_per_step(char *b, size_t n, double s) {
    if (s >= 1) snprintf(b, n, "%.0fs/step", s);
    else if (s >= 1e-3) snprintf(b, n, "%.0fms/step", s * 1e3);
    else snprintf(b, n, "%.0fus/step", s * 1e6);
}

// Log entries sorted by name, "%.4f" or "%.4e" for tiny values, as Keras prints.
static void print_logs(FILE *f, const soma_logs *logs) {
    int order[SOMA_MAX_LOGS];
    for (int i = 0; i < logs->count; i++) order[i] = i;
    for (int i = 1; i < logs->count; i++)
        for (int j = i; j > 0 && strcmp(logs->entries[order[j - 1]].name,
                                        logs->entries[order[j]].name) > 0; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < logs->count; i++) {
        double v = logs->entries[order[i]].value;
        fprintf(f, fabs(v) > 1e-3 || v == 0 ? " - %s: %.4f" : " - %s: %.4e",
                logs->entries[order[i]].name, v);
    }
}

void soma_progress_update(soma_progress *p, int64_t step, const soma_logs *logs, bool done) {
    if (p->verbose <= 0) return;
    double now = soma_now(), elapsed = now - p->start;
    char per[32], eta[32];
    fmt_per_step(per, sizeof per, step > 0 ? elapsed / (double)step : 0);
    if (p->tty && p->verbose == 1) {
        // Redraw at most ~10 times a second: printing must not cost training time.
        if (!done && now - p->last_draw < 0.1) return;
        p->last_draw = now;
        int width = 20, filled = p->target > 0 ? (int)(width * step / p->target) : width;
        fprintf(p->out, "\r\033[1m%lld/%lld\033[0m \033[32m", (long long)step, (long long)p->target);
        for (int i = 0; i < filled; i++) fputs("\u2501", p->out);
        fputs("\033[37m", p->out);
        for (int i = filled; i < width; i++) fputs("\u2501", p->out);
        fputs("\033[0m ", p->out);
        if (done) {
            fprintf(p->out, "%.0fs %s", elapsed, per);
        } else {
            fmt_eta(eta, sizeof eta, step > 0 ? elapsed / (double)step * (double)(p->target - step) : 0);
            fprintf(p->out, "%s %s", eta, per);
        }
        print_logs(p->out, logs);
        fputs(done ? "\033[K\n" : "\033[K", p->out);
        fflush(p->out);
    } else if (done) {
        fprintf(p->out, "%lld/%lld - %.0fs - %s", (long long)step, (long long)p->target, elapsed, per);
        print_logs(p->out, logs);
        fputc('\n', p->out);
        fflush(p->out);
    }
}
