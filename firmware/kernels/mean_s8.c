/* MEAN over the spatial axes (H, W) of an int8 NHWC tensor, per channel. The compiler folds
 * input_scale / (output_scale * n) into (mult, shift) as TFLM's QuantizedMeanOrSum does, so the
 * kernel is a sum, a zero-point correction and one requantization. */
#include "requant.h"
#include "tinykws_kernels.h"

void tk_mean_s8(const tk_mean_params *p, const int8_t *in, int8_t *out) {
    const int n = p->h * p->w;
    for (int c = 0; c < p->c; ++c) {
        int32_t sum = 0;
        for (int i = 0; i < n; ++i) sum += in[i * p->c + c];
        const int32_t v = tk_requant(sum - p->in_zp * n, p->mult, p->shift) + p->out_zp;
        out[c] = (int8_t)tk_clamp(v, -128, 127);
    }
}
