/* MAX_POOL_2D, int8 (same quantization in and out); taps outside the input are ignored. */
#include "requant.h"
#include "tinykws_kernels.h"

void tk_maxpool_s8(const tk_conv_params *p, const int8_t *in, int8_t *out) {
    const int c_n = p->in_c;
    for (int oy = 0; oy < p->out_h; ++oy) {
        const int iy0 = oy * p->stride_h - p->pad_h;
        const int ky0 = iy0 < 0 ? -iy0 : 0;
        const int ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
        for (int ox = 0; ox < p->out_w; ++ox) {
            const int ix0 = ox * p->stride_w - p->pad_w;
            const int kx0 = ix0 < 0 ? -ix0 : 0;
            const int kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
            int8_t *o = out + (oy * p->out_w + ox) * c_n;
            for (int c = 0; c < c_n; ++c) {
                int32_t m = -128;
                for (int ky = ky0; ky < ky1; ++ky)
                    for (int kx = kx0; kx < kx1; ++kx) {
                        const int32_t v = in[((iy0 + ky) * p->in_w + ix0 + kx) * c_n + c];
                        if (v > m) m = v;
                    }
                o[c] = (int8_t)tk_clamp(m, p->act_min, p->act_max);
            }
        }
    }
}
