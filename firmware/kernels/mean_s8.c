/* MEAN over the spatial axes (H, W) of an int8 NHWC tensor, per channel. TFLM chooses one of three
 * arithmetic paths from keep_dims and the quantization parameters; each is reproduced here. */
#include "requant.h"
#include "tinykws_kernels.h"

/* std::round for floats (half away from zero) without libm. */
static float round_half_away(float x) {
    const float t = (float)(int32_t)x; /* truncation, exact for |x| < 2^31 */
    const float d = x - t;              /* exact */
    if (d >= 0.5f) return t + 1.0f;
    if (d <= -0.5f) return t - 1.0f;
    return t;
}

void tk_mean_s8(const tk_mean_params *p, const int8_t *in, int8_t *out) {
    const int n = p->h * p->w;
    for (int c = 0; c < p->c; ++c) {
        int32_t sum = 0;
        for (int i = 0; i < n; ++i) sum += in[i * p->c + c];
        int32_t v;
        if (p->mode == 0) {
            int32_t acc = sum - p->in_zp * n;
            acc = tk_requant(acc, p->mult, p->shift);
            acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
            v = acc + p->out_zp;
        } else if (p->mode == 1) {
            v = sum / n;
        } else {
            const float scale = p->in_scale / p->out_scale;
            const float bias = (float)(-p->in_zp) * scale;
            const float mean = (float)sum / (float)n;
            volatile float prod = mean * scale; /* no fused multiply-add: TFLM rounds the product */
            const float r = round_half_away(prod + bias) + (float)p->out_zp;
            v = (int32_t)(r < -128.0f ? -128.0f : (r > 127.0f ? 127.0f : r));
        }
        out[c] = (int8_t)tk_clamp(v, -128, 127);
    }
}
