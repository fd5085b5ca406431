/* FULLY_CONNECTED, int8, weights [out_depth][in_depth], per-tensor or per-channel scales
 * (the compiler always emits one multiplier/shift per output, in TFLM's form).
 * DSP path: four output rows share each 32-bit load of inputs (SXTB16 + SMLAD). */
#include "requant.h"
#include "tinykws_kernels.h"

#if TK_USE_DSP
#include "tk_dsp.h"

static void fc_dsp(const tk_fc_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                   const int32_t *mult, const int8_t *shift, int8_t *out) {
    const int n = p->in_depth, n4 = n >> 2;
    for (int b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * n;
        int8_t *y = out + b * p->out_depth;
        int o = 0;
        for (; o + 4 <= p->out_depth; o += 4) {
            const int8_t *w0 = w + o * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
            int32_t a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
            const int8_t *xp = x;
            for (int k = 0; k < n4; ++k, xp += 4, w0 += 4, w1 += 4, w2 += 4, w3 += 4) {
                const uint32_t xv = tk_rd32(xp);
                const uint32_t x02 = __sxtb16(xv), x13 = tk_sxtb16_ror8(xv);
                uint32_t v = tk_rd32(w0);
                a0 = __smlad(__sxtb16(v), x02, a0);
                a0 = __smlad(tk_sxtb16_ror8(v), x13, a0);
                v = tk_rd32(w1);
                a1 = __smlad(__sxtb16(v), x02, a1);
                a1 = __smlad(tk_sxtb16_ror8(v), x13, a1);
                v = tk_rd32(w2);
                a2 = __smlad(__sxtb16(v), x02, a2);
                a2 = __smlad(tk_sxtb16_ror8(v), x13, a2);
                v = tk_rd32(w3);
                a3 = __smlad(__sxtb16(v), x02, a3);
                a3 = __smlad(tk_sxtb16_ror8(v), x13, a3);
            }
            for (int k = 4 * n4; k < n; ++k, ++xp, ++w0, ++w1, ++w2, ++w3) {
                a0 += (int32_t)*xp * *w0;
                a1 += (int32_t)*xp * *w1;
                a2 += (int32_t)*xp * *w2;
                a3 += (int32_t)*xp * *w3;
            }
            y[o] = tk_out_s8(a0, mult[o], shift[o], p->out_zp, p->act_min, p->act_max);
            y[o + 1] = tk_out_s8(a1, mult[o + 1], shift[o + 1], p->out_zp, p->act_min, p->act_max);
            y[o + 2] = tk_out_s8(a2, mult[o + 2], shift[o + 2], p->out_zp, p->act_min, p->act_max);
            y[o + 3] = tk_out_s8(a3, mult[o + 3], shift[o + 3], p->out_zp, p->act_min, p->act_max);
        }
        for (; o < p->out_depth; ++o) {
            const int8_t *wr = w + o * n;
            int32_t acc = bias[o];
            for (int i = 0; i < n; ++i) acc += (int32_t)x[i] * wr[i];
            y[o] = tk_out_s8(acc, mult[o], shift[o], p->out_zp, p->act_min, p->act_max);
        }
    }
}
#endif

void tk_fully_connected_s8(const tk_fc_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int8_t *out) {
#if TK_USE_DSP
    fc_dsp(p, in, w, bias, mult, shift, out);
#else
    const int n = p->in_depth;
    for (int b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * n;
        for (int o = 0; o < p->out_depth; ++o) {
            const int8_t *wr = w + o * n;
            int32_t acc = bias[o];
            for (int i = 0; i < n; ++i) acc += (int32_t)x[i] * wr[i];
            acc = tk_requant(acc, mult[o], shift[o]) + p->out_zp;
            out[b * p->out_depth + o] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
        }
    }
#endif
}
