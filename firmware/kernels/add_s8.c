/* ADD int8 (TFLM general rescaling path: both inputs shifted left by left_shift, rescaled to a
 * common scale, summed, rescaled to the output), with 4-D broadcasting. */
#include "requant.h"
#include "tinykws_kernels.h"

void tk_add_s8(const tk_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    int idx = 0;
    for (int a = 0; a < p->dims[0]; ++a)
        for (int b = 0; b < p->dims[1]; ++b)
            for (int c = 0; c < p->dims[2]; ++c)
                for (int d = 0; d < p->dims[3]; ++d) {
                    const int i1 = a * p->stride1[0] + b * p->stride1[1] + c * p->stride1[2] + d * p->stride1[3];
                    const int i2 = a * p->stride2[0] + b * p->stride2[1] + c * p->stride2[2] + d * p->stride2[3];
                    const int32_t v1 = (int32_t)((uint32_t)(p->in1_offset + in1[i1]) << p->left_shift);
                    const int32_t v2 = (int32_t)((uint32_t)(p->in2_offset + in2[i2]) << p->left_shift);
                    const int32_t s1 = tk_requant(v1, p->in1_mult, p->in1_shift);
                    const int32_t s2 = tk_requant(v2, p->in2_mult, p->in2_shift);
                    const int32_t r = tk_requant(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
                    out[idx++] = (int8_t)tk_clamp(r, p->act_min, p->act_max);
                }
}
