/* AVERAGE_POOL_2D, int8 (input and output share scale and zero point, as TFLite requires).
 * Counts only taps inside the input and rounds half away from zero, as the TFLM reference. */
#include "requant.h"
#include "tinykws_kernels.h"

void tk_avgpool_s8(const tk_conv_params *p, const int8_t *in, int8_t *out) {
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
