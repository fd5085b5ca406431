/* Helpers for the Helium (MVE) paths (only included when TK_USE_MVE). */
#ifndef TINYKWS_TK_MVE_H
#define TINYKWS_TK_MVE_H

#include <arm_mve.h>

#include "tk_dsp.h"

/* Requantize four int32 lanes with the DSP-form constants (rq_fast: mult = {m, rzp} pairs,
 * shift = e >= 1), gathered for channels ch[i] (byte offsets `ch` from the bases), add the output
 * zero point, clamp to [lo, hi] and store the bytes at o + ch[i]:
 *   VQRDMULH(acc, m) is SaturatingRoundingDoublingHighMul exactly, and
 *   VRSHL(y - (y < 0), -e) = (y - (y<0) + 2^(e-1)) >> e is RoundingDivideByPOT(y, e). */
static inline void tk_mve_rq4(int32x4_t acc, const int32_t *mult2, const int8_t *e8, int8_t *o, uint32x4_t ch,
                              int32_t zp, int32_t lo, int32_t hi) {
    const int32x4_t m = vldrwq_gather_shifted_offset_s32(mult2, vshlq_n_u32(ch, 1));
    const int32x4_t e = vldrbq_gather_offset_s32(e8, ch);
    int32x4_t y = vqrdmulhq_s32(acc, m);
    y = vaddq_s32(y, vshrq_n_s32(y, 31));
    y = vrshlq_s32(y, vnegq_s32(e));
    y = vaddq_s32(y, vdupq_n_s32(zp));
    y = vminq_s32(vmaxq_s32(y, vdupq_n_s32(lo)), vdupq_n_s32(hi));
    vstrbq_scatter_offset_s32(o, ch, y);
}

#endif /* TINYKWS_TK_MVE_H */
