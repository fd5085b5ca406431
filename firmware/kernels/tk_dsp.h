/* Helpers for the Cortex-M DSP-extension paths (only included when TK_USE_DSP). */
#ifndef TINYKWS_TK_DSP_H
#define TINYKWS_TK_DSP_H

#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

#include "requant.h"

/* unaligned-safe 32-bit load/store (one LDR/STR on v7E-M; memcpy keeps C aliasing rules) */
static inline uint32_t tk_rd32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void tk_wr32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* rotate right by 8 (GCC folds it into the operand of SXTAB16/SXTB16 where it can) */
static inline uint32_t tk_ror8(uint32_t x) { return (x >> 8) | (x << 24); }

/* SXTB16 of bytes 1 and 3 (one instruction: SXTB16 with ROR #8) */
static inline uint32_t tk_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* requantize (bit-exact with tk_requant), add the output zero point, clamp to [lo, hi] */
static inline int8_t tk_out_s8(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi) {
    int32_t v = tk_requant_fast(acc, mult, shift) + zp;
    v = __ssat(v, 8);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* Fast exact requantization, valid when the compiler set rq_fast (tinykws_kernels.h):
 *   SRDHM(acc, m) = floor((acc*m + 2^30) / 2^31) = SMMULR(2*acc, m)   (|2*acc| < 2^31)
 *   RDBP(y, e) + zp = (y + 2^(e-1) + zp*2^e + (y < 0 ? -1 : 0)) >> e    (e >= 1)
 * `rzp` is 2^(e-1) + zp*2^e, precomputed by the compiler (rq_fast in tinykws_kernels.h). */
static inline int32_t tk_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* (acc * 2^32 + a * b + 2^31) >> 32 */
static inline int32_t tk_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Fused requantization of a DOUBLED accumulator A = 2 * acc (conv_s8_dsp.inc explains why the
 * sign of A stands in for that of SRDHM(acc, m)): whole int8 range. */
static inline int8_t tk_out_fast2_sat(int32_t a2, int32_t m, int e, int32_t rzp) {
    return (int8_t)__ssat((tk_smmlar(a2, m, rzp) + (a2 >> 31)) >> e, 8);
}

static inline int8_t tk_out_fast(int32_t acc, int32_t m, int e, int32_t rzp, int32_t lo, int32_t hi) {
    const int32_t y = tk_smmulr((int32_t)((uint32_t)acc << 1), m);
    int32_t v = (y + rzp + (y >> 31)) >> e;
    v = __ssat(v, 8);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* Same as tk_out_fast() when the activation range is the whole int8 range (no fused clamp
 * beyond saturation): the common case, worth its own path (it runs once per output). */
static inline int8_t tk_out_fast_sat(int32_t acc, int32_t m, int e, int32_t rzp) {
    const int32_t y = tk_smmulr((int32_t)((uint32_t)acc << 1), m);
    return (int8_t)__ssat((y + rzp + (y >> 31)) >> e, 8);
}

#endif /* TINYKWS_TK_DSP_H */
