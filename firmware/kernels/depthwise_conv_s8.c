/* DEPTHWISE_CONV_2D, int8, depth multiplier >= 1, weights [1][k_h][k_w][out_c] with
 * out_c = in_c * depth_mult (output channel ic*depth_mult + m reads input channel ic). */
#include "requant.h"
#include "tinykws_kernels.h"

#define TK_DW_PORTABLE_MAX_TAPS 64

/* Straightforward form, for kernels with more than TK_DW_PORTABLE_MAX_TAPS taps. */
static void dw_reference(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
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

/* For each output pixel, one pointer per tap to the input pixel (or to a row of zero-point
 * bytes in `zprow` for taps outside the input, which the folded bias cancels); then each output
 * channel sums over the taps. */
static void dw_portable(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *zprow) {
    const int ic_n = p->in_c, oc_n = p->out_c, dm = p->depth_mult;
    const int taps = p->k_h * p->k_w;
    const int8_t *rows[TK_DW_PORTABLE_MAX_TAPS];
    if (taps > TK_DW_PORTABLE_MAX_TAPS) {
        dw_reference(p, in, w, bias, mult, shift, out);
        return;
    }
    for (int c = 0; c < ic_n; ++c) zprow[c] = (int8_t)p->in_zp;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            int t = 0;
            for (int ky = 0; ky < p->k_h; ++ky) {
                const int iy = iy0 + ky;
                for (int kx = 0; kx < p->k_w; ++kx, ++t) {
                    const int ix = ix0 + kx;
                    rows[t] = (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) ? zprow : in + (iy * p->in_w + ix) * ic_n;
                }
            }
            int8_t *o = out + (oy * p->out_w + ox) * oc_n;
            for (int ic = 0; ic < ic_n; ++ic) {
                for (int m = 0; m < dm; ++m) {
                    const int oc = ic * dm + m;
                    const int8_t *wp = w + oc;
                    int32_t acc = bias[oc];
                    for (int k = 0; k < taps; ++k, wp += oc_n) acc += (int32_t)rows[k][ic] * *wp;
                    acc = tk_requant(acc, mult[oc], shift[oc]) + p->out_zp;
                    o[oc] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

#if TK_USE_MVE
#include "depthwise_conv_s8_mve.inc"
#elif TK_USE_DSP
#include "depthwise_conv_s8_dsp.inc"
#endif

void tk_depthwise_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_MVE
    dw_mve(p, in, w, bias, mult, shift, out, scratch);
#elif TK_USE_DSP
    dw_dsp(p, in, w, bias, mult, shift, out, scratch);
#else
    dw_portable(p, in, w, bias, mult, shift, out, (int8_t *)scratch);
#endif
}

/* 3x3, vertical stride 1, at least two output rows, channels a multiple of 8, fast requantization
 * and the whole int8 output range: the compiler calls this entry only for such ops, with the
 * DSP weights stream (w_layout 2) in DSP builds without Helium and the Helium layout (w_layout
 * 4) in Helium builds, which link only their 3x3 kernel; portable builds get
 * tk_depthwise_conv_s8. */
void tk_depthwise_conv3x3_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_MVE
    int8_t *zpbuf = (int8_t *)scratch;
    for (int c = 0; c < p->in_c; ++c) zpbuf[c] = (int8_t)p->in_zp;
    dw3_mve(p, in, w, bias, mult, shift, out, zpbuf);
#elif TK_USE_DSP
    (void)bias;
    (void)mult;
    (void)shift;
    dw3_run(p, in, w, out, scratch);
#else
    tk_depthwise_conv_s8(p, in, w, bias, mult, shift, out, scratch);
#endif
}
