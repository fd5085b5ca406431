/* CONV_2D, int8 activations, int8 per-channel weights [out_c][k_h][k_w][in_c], folded int32 bias.
 * Portable reference path; the DSP path (Cortex-M4/M7/M33/M55 with the DSP extension) is in
 * conv_s8_dsp.inc and is chosen at compile time (TK_USE_DSP, tinykws_kernels.h). */
#include "requant.h"
#include "tinykws_kernels.h"

#if !TK_USE_DSP
/* Dot products of a K-tap patch with two weight rows (K apart), sharing the patch loads;
 * pointer walks keep it to about three instructions per multiply-accumulate on a Cortex-M3. */
static void dot2_s8(const int8_t *x, const int8_t *w0, int K, int32_t *a0, int32_t *a1) {
    const int8_t *w1 = w0 + K;
    const int8_t *const xe = x + (K & ~1);
    int32_t s0 = *a0, s1 = *a1;
    while (x < xe) {
        const int32_t x0 = *x++, x1 = *x++;
        s0 += x0 * *w0++;
        s1 += x0 * *w1++;
        s0 += x1 * *w0++;
        s1 += x1 * *w1++;
    }
    if (K & 1) {
        s0 += (int32_t)*x * *w0;
        s1 += (int32_t)*x * *w1;
    }
    *a0 = s0;
    *a1 = s1;
}

/* Dot product of a K-tap patch with one weight row. */
static int32_t dot_s8(const int8_t *x, const int8_t *w, int K, int32_t acc) {
    const int8_t *const xe = x + K;
    while (x < xe) acc += (int32_t)*x++ * *w++;
    return acc;
}

/* For each output pixel the receptive field is gathered into `patch` (K = k_h*k_w*in_c bytes,
 * the input zero point for taps outside the input, which the folded bias cancels), then each
 * output channel is one dot product. A 1x1 convolution without padding reads the input pixel
 * in place. */
static void conv_portable(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int8_t *out, int8_t *patch) {
    const int ic_n = p->in_c;
    const int K = p->k_h * p->k_w * ic_n;
    const int direct = p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int8_t *x = patch;
            if (direct) {
                x = in + (iy0 * p->in_w + ix0) * ic_n;
            } else {
                int8_t *d = patch;
                for (int ky = 0; ky < p->k_h; ++ky) {
                    const int iy = iy0 + ky;
                    for (int kx = 0; kx < p->k_w; ++kx) {
                        const int ix = ix0 + kx;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            for (int c = 0; c < ic_n; ++c) *d++ = (int8_t)p->in_zp;
                        } else {
                            const int8_t *s = in + (iy * p->in_w + ix) * ic_n;
                            for (int c = 0; c < ic_n; ++c) *d++ = s[c];
                        }
                    }
                }
            }
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            int oc = 0;
            for (; oc + 2 <= p->out_c; oc += 2) {
                int32_t a0 = bias[oc], a1 = bias[oc + 1];
                dot2_s8(x, w + oc * K, K, &a0, &a1);
                a0 = tk_requant(a0, mult[oc], shift[oc]) + p->out_zp;
                a1 = tk_requant(a1, mult[oc + 1], shift[oc + 1]) + p->out_zp;
                o[oc] = (int8_t)tk_clamp(a0, p->act_min, p->act_max);
                o[oc + 1] = (int8_t)tk_clamp(a1, p->act_min, p->act_max);
            }
            for (; oc < p->out_c; ++oc) {
                int32_t acc = dot_s8(x, w + oc * K, K, bias[oc]);
                acc = tk_requant(acc, mult[oc], shift[oc]) + p->out_zp;
                o[oc] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
#endif

/* The forms the specialized entry points below are for (the compiler picks the entry). */
static inline int conv_is_1x1(const tk_conv_params *p) {
    return p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0 && p->stride_h == 1 && p->stride_w == 1 &&
           (p->in_c & 3) == 0;
}

static inline int conv_is_rows4(const tk_conv_params *p) {
    return (p->in_c & 3) != 0 && p->k_w * p->in_c == 4 && p->in_w * p->in_c >= 4;
}

#if TK_USE_MVE
#include "conv_s8_mve.inc"
#elif TK_USE_DSP
#include "conv_s8_dsp.inc"
#endif

void tk_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_MVE
    conv_mve(p, in, w, bias, mult, shift, out, scratch);
#elif TK_USE_DSP
    conv_dsp(p, in, w, bias, mult, shift, out, scratch);
#else
    conv_portable(p, in, w, bias, mult, shift, out, (int8_t *)scratch);
#endif
}

/* Specialized entry points, called by the compiler only for parameters of their form and at
 * least four output channels (so that Helium builds have the w_layout 3 weights); DSP builds
 * (without Helium) link only the im2col they need, Helium builds only the layout-3 kernel,
 * portable builds get tk_conv_s8.
 * 1x1, stride 1, no padding, in_c a multiple of 4 (conv_is_1x1). */
void tk_conv_1x1_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_MVE
    conv_mve_l3(p, in, w, bias, mult, shift, out, scratch);
#elif TK_USE_DSP
    conv_dsp_kind(p, in, w, bias, mult, shift, out, scratch, TK_IM2COL_1X1);
#else
    tk_conv_s8(p, in, w, bias, mult, shift, out, scratch);
#endif
}

/* Kernel rows of exactly four bytes (conv_is_rows4): a first layer of one input channel with a
 * kernel width of 4, as in the MLPerf Tiny KWS model. */
void tk_conv_rows4_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch) {
#if TK_USE_MVE
    conv_mve_l3(p, in, w, bias, mult, shift, out, scratch);
#elif TK_USE_DSP
    conv_dsp_kind(p, in, w, bias, mult, shift, out, scratch, TK_IM2COL_ROWS4);
#else
    tk_conv_s8(p, in, w, bias, mult, shift, out, scratch);
#endif
}
