/* Fixed-point arithmetic of TFLite/TFLM (tensorflow/lite/kernels/internal/common.h, gemmlowp),
 * written from its definition so results are bit-exact with the tflite_micro interpreter.
 *
 * MultiplyByQuantizedMultiplier (double rounding, TFLM's default build):
 *   x' = x * 2^max(shift,0); y = SaturatingRoundingDoublingHighMul(x', m);
 *   result = RoundingDivideByPOT(y, max(-shift,0))
 * tk_requant_fast() is an algebraically identical form that compiles to fewer instructions
 * (the optimized kernels use it; tests check it against the reference form).
 */
#ifndef TINYKWS_REQUANT_H
#define TINYKWS_REQUANT_H

#include <stdint.h>

static inline int32_t tk_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t tk_rdbp(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t tk_requant(int32_t x, int32_t mult, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return tk_rdbp(tk_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

/* Same value as tk_requant() for mult > 0 (never INT32_MIN):
 *  SRDHM(a,b) = floor((a*b + 2^30) / 2^31) for every sign (the truncating division of the
 *  reference with its sign-dependent nudge equals this floor), and
 *  RDBP(x,e) = (x + 2^(e-1) - (x<0)) >> e for e >= 1 (round half away from zero). */
static inline int32_t tk_requant_fast(int32_t x, int32_t mult, int shift) {
    int32_t y;
    if (shift > 0) x = (int32_t)((uint32_t)x << shift);
    y = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
    if (shift < 0) {
        const int e = -shift;
        y = (int32_t)((uint32_t)y + ((uint32_t)1 << (e - 1)) + (uint32_t)(y >> 31)) >> e;
    }
    return y;
}

static inline int32_t tk_clamp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

#endif /* TINYKWS_REQUANT_H */
