/* FULLY_CONNECTED, int8, weights [out_depth][in_depth], per-tensor or per-channel scales
 * (the compiler always emits one multiplier/shift per output). */
#include "requant.h"
#include "tinykws_kernels.h"

void tk_fully_connected_s8(const tk_fc_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int8_t *out) {
    const int n = p->in_depth;
    for (int b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * n;
        for (int o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = w + o * n;
            int32_t acc = bias[o];
            for (int i = 0; i < n; ++i) acc += (int32_t)x[i] * wr[i];
#if TK_USE_DSP
            acc = tk_requant_fast(acc, mult[o], shift[o]) + p->out_zp;
#else
            acc = tk_requant(acc, mult[o], shift[o]) + p->out_zp;
#endif
            out[b * p->out_depth + o] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
        }
    }
}
