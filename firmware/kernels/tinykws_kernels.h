/* tinykws int8 kernels: the operator library the graph compiler (tinykws/export/compiler.py)
 * calls from the generated tinykws_model.c.
 *
 * Conventions shared by every kernel:
 *  - tensors are NHWC int8 with batch 1, activations per-tensor quantized;
 *  - weights are int8 with zero point 0 (per-channel or per-tensor scales);
 *  - biases are int32 and already FOLDED by the compiler: bias'[oc] = bias[oc] - in_zp * sum(w[oc]),
 *    so kernels multiply raw int8 inputs with raw int8 weights. Padded taps (outside the input)
 *    are treated as the value in_zp, which contributes exactly 0 after folding -- the same result
 *    as the TFLM reference that skips them;
 *  - requantization uses per-output-channel (multiplier, shift) computed as TFLM does
 *    (QuantizeMultiplier), applied with the arithmetic of requant.h.
 * Each kernel has a portable C path (the reference, also built on the host) and, where it pays,
 * a Cortex-M DSP-extension path chosen at compile time (__ARM_FEATURE_DSP), and CONV_2D a
 * Helium path (__ARM_FEATURE_MVE). Define TINYKWS_PORTABLE to force the portable paths
 * everywhere.
 */
#ifndef TINYKWS_KERNELS_H
#define TINYKWS_KERNELS_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && !defined(TINYKWS_PORTABLE)
#define TK_USE_DSP 1
#else
#define TK_USE_DSP 0
#endif

/* Helium (M-profile Vector Extension, integer): Cortex-M55 and later. The convolution kernels
 * have MVE paths; everything else uses the DSP paths, which these CPUs also have. */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TINYKWS_PORTABLE)
#define TK_USE_MVE 1
#else
#define TK_USE_MVE 0
#endif

/* Convolution-like ops (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D). */
typedef struct {
    uint16_t in_h, in_w, in_c;
    uint16_t out_h, out_w, out_c;
    uint16_t k_h, k_w;
    uint8_t stride_h, stride_w;
    uint8_t pad_h, pad_w; /* top / left padding (TFLM ComputePadding) */
    uint16_t depth_mult;  /* depthwise only */
    int16_t in_zp, out_zp;
    int16_t act_min, act_max;
    /* 1 (DSP builds only) when the compiler proved, for every output channel, shift <= -1 and
     * |bias'| + 128 * sum|w| < 2^30 (so 2*acc fits in int32) and the rounding constants fit. The
     * requantization arrays are then in the DSP form: mult = {m, 2^(e-1) + out_zp * 2^e} pairs,
     * shift = e = -shift > 0, used with SMMULR (tk_out_fast in tk_dsp.h). 0: TFLM's (mult, shift).
     * For depthwise it is only set together with w_layout 1 (the portable fallback needs TFLM's form). */
    uint8_t rq_fast;
    /* weights layout: 0 = TFLite ([k_h][k_w][out_c] depthwise, [out_c][k_h][k_w][in_c] conv)
     * int8; depthwise 1 = (DSP builds without Helium only) int16, per group of 4 channels and per
     * tap, channels in SXTB16 order 0,2,1,3, 4-byte aligned; depthwise 2 = the 3x3 DSP kernel's
     * weights stream (depthwise_conv_s8_dsp.inc); conv 3 = (Helium builds only) blocks of four
     * output channels, rows interleaved sixteen taps at a time, zero-padded (conv_s8_mve.inc).
     * rq_fast 2 (conv, DSP builds without Helium): mult = {2 * bias', m, rzp} per channel. */
    uint8_t w_layout;
} tk_conv_params;

/* Scratch bytes the kernels need (the compiler reserves them in the arena and mirrors these
 * formulas in tinykws/export/compiler.py): conv: six int16 columns of K = k_h*k_w*in_c taps
 * plus one int8 patch, K rounded up to a multiple of 4; depthwise: one row of in_c zero-point
 * bytes. */
#define TK_CONV_SCRATCH_BYTES(k_h, k_w, in_c) (13u * (((unsigned)(k_h) * (unsigned)(k_w) * (unsigned)(in_c) + 3u) & ~3u) + 8u)
#define TK_DW_SCRATCH_BYTES(in_c) ((unsigned)(in_c) + 8u)

void tk_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch);
void tk_depthwise_conv_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch);
/* Specialized entry points with the arguments of the general ones, which the compiler calls only
 * for ops of their form (so that a firmware image links only the code paths its model uses):
 *  - tk_conv_1x1_s8: 1x1, stride 1, no padding, in_c a multiple of 4, out_c >= 4 (Helium
 *    builds: w_layout 3);
 *  - tk_conv_rows4_s8: k_w * in_c == 4 with in_c not a multiple of 4, in_w * in_c >= 4,
 *    out_c >= 4 (Helium builds: w_layout 3);
 *  - tk_depthwise_conv3x3_s8: 3x3, stride_h 1, out_h >= 2, depth multiplier 1, in_c a multiple
 *    of 8, fast requantization, whole int8 output range (w_layout 2 in DSP builds without
 *    Helium, 4 in Helium builds). */
void tk_conv_1x1_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                    const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch);
void tk_conv_rows4_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                      const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch);
void tk_depthwise_conv3x3_s8(const tk_conv_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                             const int32_t *mult, const int8_t *shift, int8_t *out, void *scratch);
void tk_avgpool_s8(const tk_conv_params *p, const int8_t *in, int8_t *out);
void tk_maxpool_s8(const tk_conv_params *p, const int8_t *in, int8_t *out);

/* FULLY_CONNECTED: out[b][o] = requant(bias'[o] + sum_i in[b][i] * w[o][i]). */
typedef struct {
    uint16_t batches, in_depth, out_depth;
    int16_t in_zp, out_zp;
    int16_t act_min, act_max;
} tk_fc_params;

void tk_fully_connected_s8(const tk_fc_params *p, const int8_t *in, const int8_t *w, const int32_t *bias,
                           const int32_t *mult, const int8_t *shift, int8_t *out);

/* SOFTMAX int8 -> int8 (output scale 1/256, zero point -128), gemmlowp fixed point as in TFLM. */
typedef struct {
    uint16_t outer, depth;
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} tk_softmax_params;

void tk_softmax_s8(const tk_softmax_params *p, const int8_t *in, int8_t *out);

/* ADD int8 with 4-D broadcasting (strides 0 on broadcast dims). */
typedef struct {
    uint16_t dims[4];
    uint16_t stride1[4], stride2[4];
    int32_t in1_offset, in2_offset, out_offset;
    int32_t left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int16_t act_min, act_max;
} tk_add_params;

void tk_add_s8(const tk_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* MEAN over H and W of an NHWC tensor, as current TFLM computes int8 MEAN for any keep_dims and
 * quantization: out = requant(sum - in_zp * n) + out_zp, with the 1/n folded into (mult, shift)
 * by the compiler exactly as TFLM folds it. */
typedef struct {
    uint16_t h, w, c;
    int32_t in_zp, out_zp;
    int32_t mult, shift;
} tk_mean_params;

void tk_mean_s8(const tk_mean_params *p, const int8_t *in, int8_t *out);

#endif /* TINYKWS_KERNELS_H */
