/* CONV_2D, int8 activations, int8 per-channel weights [out_c][k_h][k_w][in_c], folded int32 bias.
 * Portable reference path; the DSP path (Cortex-M4/M7/M33/M55 with the DSP extension) is in
 * conv_s8_dsp.inc and is chosen at compile time (TK_USE_DSP, tinykws_kernels.h). */
#include "requant.h"
#include "tinykws_kernels.h"

#if !TK_USE_DSP
static void conv_portable(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int8_t *out) {
    const int ic_n = p->in_c;
    const int taps = p->k_h * p->k_w * ic_n;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int oc = 0; oc < p->out_c; ++oc) {
                const int8_t *wp = w + oc * taps;
                int32_t acc = bias[oc];
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky;
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx;
                        const int8_t *wt = wp + (ky * p->k_w + kx) * ic_n;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            for (int c = 0; c < ic_n; ++c) acc += (int32_t)p->in_zp * wt[c];
                        } else {
                            const int8_t *ip = in + (iy * p->in_w + ix) * ic_n;
                            for (int c = 0; c < ic_n; ++c) acc += (int32_t)ip[c] * wt[c];
                        }
                    }
                }
                acc = tk_requant(acc, mult[oc], shift[oc]) + p->out_zp;
                out[(oy * p->out_w + ox) * p->out_c + oc] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
#endif

#if TK_USE_DSP
#include "conv_s8_dsp.inc"
#endif

void tk_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_DSP
    conv_dsp(p, in, w, bias, mult, shift, out, scratch);
#else
    (void)scratch;
    conv_portable(p, in, w, bias, mult, shift, out);
#endif
}
