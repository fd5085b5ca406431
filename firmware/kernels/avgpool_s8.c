/* AVERAGE_POOL_2D, int8 (input and output share scale and zero point, as TFLite requires).
 * Counts only taps inside the input and rounds half away from zero, as the TFLM reference. */
#include "requant.h"
#include "tinykws_kernels.h"

#if TK_USE_DSP
#include "tk_dsp.h"

/* Sum 4 channels at a time in two int16x2 registers with SXTAB16 (one instruction per two
 * channels per tap); exact while taps * 128 fits in int16, i.e. up to 256 taps. */
static void avgpool_dsp(const tk_conv_params *p, const int8_t *in, int8_t *out) {
    const int c_n = p->in_c;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        const int ky0 = iy0 < 0 ? -iy0 : 0;
        const int ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            const int count = (ky1 - ky0) * (kx1 - kx0);
            int8_t *o = out + (oy * p->out_w + ox) * c_n;
            int c = 0;
            if (kx0 == 0 && ix0 == 0 && kx1 == p->in_w && (c_n & 7) == 0) {
                /* the window spans whole rows (a global pool, say): one run of n pixels, eight
                 * channels per pass */
                const int n = (ky1 - ky0) * kx1;
                for (; c < c_n; c += 8) {
                    uint32_t s02 = 0, s13 = 0, t02 = 0, t13 = 0;
                    const int8_t *r = in + (iy0 + ky0) * p->in_w * c_n + c;
                    int k = 0;
#if defined(__OPTIMIZE__)
                    if (n > 0 && ((uintptr_t)r & 3u) == 0) { /* LDRD needs word alignment */
                        uint32_t v, u;
                        int cnt = n;
                        __asm volatile("1:\n\t"
                                       "ldrd    %[v], %[u], [%[r]]\n\t"
                                       "add     %[r], %[r], %[st]\n\t"
                                       "sxtab16 %[s02], %[s02], %[v]\n\t"
                                       "sxtab16 %[s13], %[s13], %[v], ror #8\n\t"
                                       "sxtab16 %[t02], %[t02], %[u]\n\t"
                                       "sxtab16 %[t13], %[t13], %[u], ror #8\n\t"
                                       "subs    %[n], %[n], #1\n\t"
                                       "bne     1b\n\t"
                                       : [r] "+r"(r), [n] "+r"(cnt), [v] "=&r"(v), [u] "=&r"(u), [s02] "+r"(s02),
                                         [s13] "+r"(s13), [t02] "+r"(t02), [t13] "+r"(t13)
                                       : [st] "r"(c_n)
                                       : "cc", "memory");
                        k = n;
                    }
#endif
                    for (; k < n; ++k, r += c_n) {
                        const uint32_t v = tk_rd32(r), u = tk_rd32(r + 4);
                        s02 = __sxtab16(s02, v);
                        s13 = __sxtab16(s13, tk_ror8(v));
                        t02 = __sxtab16(t02, u);
                        t13 = __sxtab16(t13, tk_ror8(u));
                    }
                    const int32_t acc[8] = {(int16_t)s02, (int16_t)s13, (int16_t)(s02 >> 16), (int16_t)(s13 >> 16),
                                            (int16_t)t02, (int16_t)t13, (int16_t)(t02 >> 16), (int16_t)(t13 >> 16)};
                    for (int j = 0; j < 8; ++j) {
                        int32_t a = acc[j];
                        if (count > 0) a = a > 0 ? (a + count / 2) / count : (a - count / 2) / count;
                        o[c + j] = (int8_t)tk_clamp(a, p->act_min, p->act_max);
                    }
                }
            }
            for (; c < c_n; c += 4) {
                uint32_t s02 = 0, s13 = 0;
                for (int ky = ky0; ky < ky1; ++ky) {
                    const int8_t *r = in + ((iy0 + ky) * p->in_w + ix0) * c_n + c;
                    for (int kx = kx0; kx < kx1; ++kx) {
                        const uint32_t v = tk_rd32(r + kx * c_n);
                        s02 = __sxtab16(s02, v);
                        s13 = __sxtab16(s13, tk_ror8(v));
                    }
                }
                const int32_t acc[4] = {(int16_t)s02, (int16_t)s13, (int16_t)(s02 >> 16), (int16_t)(s13 >> 16)};
                for (int j = 0; j < 4; ++j) {
                    int32_t a = acc[j];
                    if (count > 0) a = a > 0 ? (a + count / 2) / count : (a - count / 2) / count;
                    o[c + j] = (int8_t)tk_clamp(a, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

void tk_avgpool_s8(const tk_conv_params *p, const int8_t *in, int8_t *out) {
    const int c_n = p->in_c;
#if TK_USE_DSP
    if ((c_n & 3) == 0 && p->k_h * p->k_w <= 256) {
        avgpool_dsp(p, in, out);
        return;
    }
#endif
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        const int ky0 = iy0 < 0 ? -iy0 : 0;
        const int ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            const int count = (ky1 - ky0) * (kx1 - kx0);
            int8_t *o = out + (oy * p->out_w + ox) * c_n;
            for (int c = 0; c < c_n; ++c) {
                int32_t acc = 0;
                for (int ky = ky0; ky < ky1; ++ky)
                    for (int kx = kx0; kx < kx1; ++kx) acc += in[((iy0 + ky) * p->in_w + ix0 + kx) * c_n + c];
                if (count > 0) acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                o[c] = (int8_t)tk_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
