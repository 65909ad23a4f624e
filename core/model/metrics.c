// Accuracy as Keras resolves and computes it (KERAS.md §4).
#include "model/model.h"

soma_acc_kind soma_accuracy_resolve(const soma_tview *yt, const soma_tview *yp) {
    int64_t pc = soma_tview_cols(yp), tc = soma_tview_cols(yt);
    if (pc == 1) return SOMA_ACC_BINARY;
    if (yt->ndim < yp->ndim || (tc == 1 && pc > 1)) return SOMA_ACC_SPARSE;
    return SOMA_ACC_CATEGORICAL;
}

// First index of the maximum (ties resolve to the first, as argmax does).
static int64_t argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

int64_t soma_accuracy_count(soma_acc_kind kind, const soma_tview *yt, const soma_tview *yp) {
    int64_t rows = soma_tview_rows(yp), pc = soma_tview_cols(yp);
    int64_t tc = soma_tview_cols(yt), correct = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = yp->data + r * pc;
        switch (kind) {
        case SOMA_ACC_BINARY:
            // Strictly greater: 0.5 counts as class 0.
            for (int64_t j = 0; j < pc; j++)
                correct += yt->data[r * pc + j] == (p[j] > 0.5f ? 1.0f : 0.0f);
            break;
        case SOMA_ACC_SPARSE:
            correct += (int64_t)yt->data[r] == argmax(p, pc) && yt->data[r] == (float)(int64_t)yt->data[r];
            break;
        case SOMA_ACC_CATEGORICAL:
            correct += argmax(yt->data + r * tc, tc) == argmax(p, pc);
            break;
        default:
            break;
        }
    }
    return correct;
}
