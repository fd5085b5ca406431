/* SOFTMAX int8 -> int8, bit-exact with TFLM's reference (gemmlowp fixed point):
 * input differences to the row maximum are scaled to Q5.26, exp() of them is evaluated with
 * gemmlowp's exp_on_negative_values, summed in Q12.19, inverted with Newton-Raphson
 * (one_over_one_plus_x_for_x_in_0_1) and the output is exp * (1/sum) rounded to 1/256 steps.
 * Softmax runs on a handful of values per inference, so there is a single (portable) path. */
#include "requant.h"
#include "tinykws_kernels.h"

/* gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0 (saturating left shift). */
static int32_t sat_lshift(int32_t x, int e) {
    const int32_t thr = (int32_t)(((uint32_t)1 << (31 - e)) - 1u);
    if (x > thr) return INT32_MAX;
    if (x < -thr) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor series around -1/8). */
static int32_t exp_interval(int32_t a) {
    const int32_t constant_term = 1895147668; /* exp(-1/8) */
    const int32_t one_third = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = tk_srdhm(x, x);
    const int32_t x3 = tk_srdhm(x2, x);
    const int32_t x4 = tk_srdhm(x2, x2);
    const int32_t x4_over_4 = tk_rdbp(x4, 2);
    const int32_t poly = tk_rdbp(tk_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return constant_term + tk_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q5.26; result Q0.31. */
static int32_t exp_negative(int32_t a) {
    static const int32_t k[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t quarter = 1 << 24;
    const int32_t a_mod = (a & (quarter - 1)) - quarter;
    int32_t result = exp_interval(sat_lshift(a_mod, 5));
    const int32_t remainder = (int32_t)((uint32_t)a_mod - (uint32_t)a);
    for (int i = 0; i < 7; ++i)
        if (remainder & (1 << (24 + i))) result = tk_srdhm(result, k[i]);
    if (a == 0) result = INT32_MAX;
    return result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out. */
static int32_t one_over_one_plus_x(int32_t a) {
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = 1515870810 + tk_srdhm(half_den, -1010580540); /* 48/17 - 32/17 * d, Q2.29 */
    for (int i = 0; i < 3; ++i) {
        const int32_t hdx = tk_srdhm(half_den, x);
        const int32_t one_minus = (1 << 29) - hdx;
        x = x + sat_lshift(tk_srdhm(x, one_minus), 2);
    }
    return sat_lshift(x, 1);
}

static int clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void tk_softmax_s8(const tk_softmax_params *p, const int8_t *in, int8_t *out) {
    const int depth = p->depth;
    for (int r = 0; r < p->outer; ++r) {
        const int8_t *x = in + r * depth;
        int8_t *y = out + r * depth;
        int32_t max_v = -128;
        for (int c = 0; c < depth; ++c)
            if (x[c] > max_v) max_v = x[c];
        int32_t sum = 0; /* Q12.19 */
        for (int c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max_v;
            if (diff >= p->diff_min) {
                const int32_t scaled = tk_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum += tk_rdbp(exp_negative(scaled), 12);
            }
        }
        const int headroom = clz32((uint32_t)sum);
        const int bits_over_unit = 12 - headroom;
        const int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - 0x80000000u);
        const int32_t scale = one_over_one_plus_x(shifted);
        for (int c = 0; c < depth; ++c) {
            const int32_t diff = x[c] - max_v;
            if (diff >= p->diff_min) {
                const int32_t scaled = tk_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_negative(scaled);
                const int32_t v = tk_rdbp(tk_srdhm(scale, e), bits_over_unit + 31 - 8) - 128;
                y[c] = (int8_t)tk_clamp(v, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}
