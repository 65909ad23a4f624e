// Activations (scalar C). Backward passes work from the forward OUTPUT, so a
// layer keeps one buffer per activation instead of two.
#include <math.h>
#include <string.h>
#include <strings.h>

#include "cpu/cpu.h"

static const char *const act_names[SOMA_ACT_COUNT] = {
    [SOMA_ACT_LINEAR] = "linear",   [SOMA_ACT_RELU] = "relu",
    [SOMA_ACT_SIGMOID] = "sigmoid", [SOMA_ACT_TANH] = "tanh",
    [SOMA_ACT_SOFTMAX] = "softmax",
};

int soma_act_parse(const char *name) {
    if (!name || !*name || strcasecmp(name, "none") == 0) return SOMA_ACT_LINEAR;
    for (int i = 0; i < SOMA_ACT_COUNT; i++)
        if (strcasecmp(name, act_names[i]) == 0) return i;
    return -1;
}

const char *soma_act_name(soma_act a) {
    return (unsigned)a < SOMA_ACT_COUNT ? act_names[a] : "?";
}

static float sigmoidf(float x) {
    // Split by sign so exp never overflows.
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

static void softmax_rows(float *y, const float *x, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = -INFINITY;
        for (int64_t j = 0; j < cols; j++) mx = xr[j] > mx ? xr[j] : mx;
        if (isinf(mx) && mx < 0) mx = 0; // all -inf: keep exp finite (gives NaN/0 honestly)
        double sum = 0;
        for (int64_t j = 0; j < cols; j++) {
            yr[j] = expf(xr[j] - mx);
            sum += yr[j];
        }
        float inv = (float)(1.0 / sum);
        for (int64_t j = 0; j < cols; j++) yr[j] *= inv;
    }
}

void soma_act_forward(soma_act a, float *y, const float *x, int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    switch (a) {
    case SOMA_ACT_LINEAR:
        if (y != x) memmove(y, x, (size_t)n * sizeof(float));
        break;
    case SOMA_ACT_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case SOMA_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = sigmoidf(x[i]);
        break;
    case SOMA_ACT_TANH:
        for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case SOMA_ACT_SOFTMAX:
        softmax_rows(y, x, rows, cols);
        break;
    default:
        break;
    }
}

void soma_act_backward(soma_act a, float *dx, const float *y, const float *dy,
                       int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    switch (a) {
    case SOMA_ACT_LINEAR:
        if (dx != dy) memmove(dx, dy, (size_t)n * sizeof(float));
        break;
    case SOMA_ACT_RELU:
        for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case SOMA_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
        break;
    case SOMA_ACT_TANH:
        for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    case SOMA_ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols, *dyr = dy + r * cols;
            float *dxr = dx + r * cols;
            double dot = 0;
            for (int64_t j = 0; j < cols; j++) dot += (double)dyr[j] * yr[j];
            for (int64_t j = 0; j < cols; j++) dxr[j] = yr[j] * (dyr[j] - (float)dot);
        }
        break;
    default:
        break;
    }
}
