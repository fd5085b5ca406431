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

#endif /* TINYKWS_TK_DSP_H */
