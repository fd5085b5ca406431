/* DEPTHWISE_CONV_2D, int8, depth multiplier >= 1, weights [1][k_h][k_w][out_c] with
 * out_c = in_c * depth_mult (output channel ic*depth_mult + m reads input channel ic). */
#include "requant.h"
#include "tinykws_kernels.h"

static void dw_portable(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int8_t *shift, int8_t *out) {
    const int ic_n = p->in_c, oc_n = p->out_c, dm = p->depth_mult;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            for (int ic = 0; ic < ic_n; ++ic) {
                for (int m = 0; m < dm; ++m) {
                    const int oc = ic * dm + m;
                    int32_t acc = bias[oc];
                    for (int ky = 0; ky < p->k_h; ++ky) {
                        const int iy = iy0 + ky;
                        for (int kx = 0; kx < p->k_w; ++kx) {
                            const int ix = ix0 + kx;
                            const int32_t wv = w[(ky * p->k_w + kx) * oc_n + oc];
                            int32_t xv = p->in_zp;
                            if (iy >= 0 && iy < p->in_h && ix >= 0 && ix < p->in_w) xv = in[(iy * p->in_w + ix) * ic_n + ic];
                            acc += xv * wv;
                        }
                    }
                    acc = tk_requant(acc, mult[oc], shift[oc]) + p->out_zp;
                    out[(oy * p->out_w + ox) * oc_n + oc] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

#if TK_USE_DSP
#include "depthwise_conv_s8_dsp.inc"
#endif

void tk_depthwise_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_DSP
    dw_dsp(p, in, w, bias, mult, shift, out, scratch);
#else
    (void)scratch;
    dw_portable(p, in, w, bias, mult, shift, out);
#endif
}
