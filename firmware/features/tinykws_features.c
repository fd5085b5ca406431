/* tinykws C feature front end (see tinykws_features.h and docs/features.md).
 *
 * Per frame: samples (pre-emphasis, window) -> 512-point real FFT -> magnitude or power
 * spectrum -> sparse mel filterbank -> gain -> log -> DCT -> int8. The clip normalization of
 * the mlperf front end (divide by the maximum sample) is linear, so it is applied as a gain on
 * the filterbank output instead of on 16000 samples: 40 multiplies per frame instead of a
 * division per sample. Likewise the int16 -> [-1, 1] scaling (1/32768, or 2^-30 on power) is a
 * gain: the FFT runs on the raw PCM values, which float32 holds exactly.
 */
#include "tinykws_features.h"

#include <math.h>
#include <stddef.h>

#include "features_config.h"

#if (TINYKWS_FE_FFT_SIZE & (TINYKWS_FE_FFT_SIZE - 1)) != 0
#error "TINYKWS_FE_FFT_SIZE must be a power of two"
#endif
#if TINYKWS_FE_WINDOW_SAMPLES > TINYKWS_FE_FFT_SIZE
#error "window longer than the FFT"
#endif

#define FFT_N TINYKWS_FE_FFT_SIZE
#define FFT_HALF (TINYKWS_FE_FFT_SIZE / 2)

/* static scratch: one frame / spectrum, log-mel of one frame */
static float s_buf[FFT_N];
static float s_logmel[TINYKWS_FE_N_MELS];

/* ---------------------------------------------------------------- FFT ---------------- */

/* In-place complex FFT of FFT_HALF points on interleaved (re, im), decimation in time.
 * The input permutation (base-4 digit reversal for radix 4, bit reversal for radix 2) is a
 * generated table; twiddles W_L^j of a length-L stage are W_N^(j * N / L) of the N table. */
static void cfft_half(float *z)
{
    for (unsigned i = 0; i < FFT_HALF; i++) {
        const unsigned j = tinykws_fe_fft_perm[i];
        if (i < j) {
            const float tr = z[2 * i], ti = z[2 * i + 1];
            z[2 * i] = z[2 * j];
            z[2 * i + 1] = z[2 * j + 1];
            z[2 * j] = tr;
            z[2 * j + 1] = ti;
        }
    }
#if TINYKWS_FE_FFT_RADIX == 4
    /* first stage (length 4): twiddles are 1, so no multiplies */
    for (unsigned s = 0; s < FFT_HALF; s += 4) {
        float *p = &z[2 * s];
        const float t0r = p[0] + p[4], t0i = p[1] + p[5];
        const float t1r = p[0] - p[4], t1i = p[1] - p[5];
        const float t2r = p[2] + p[6], t2i = p[3] + p[7];
        const float t3r = p[2] - p[6], t3i = p[3] - p[7];
        p[0] = t0r + t2r;
        p[1] = t0i + t2i;
        p[4] = t0r - t2r;
        p[5] = t0i - t2i;
        p[2] = t1r + t3i; /* t1 - i t3 */
        p[3] = t1i - t3r;
        p[6] = t1r - t3i; /* t1 + i t3 */
        p[7] = t1i + t3r;
    }
    /* radix-4 stages: blocks of length 4q from four DFTs of length q */
    for (unsigned q = 4; q < FFT_HALF; q <<= 2) {
        const unsigned len = q << 2;
        const unsigned step = FFT_N / len;
        for (unsigned k = 0; k < q; k++) {
            const float *w = tinykws_fe_twiddle;
            const float w1r = w[2 * (k * step)], w1i = w[2 * (k * step) + 1];
            const float w2r = w[2 * (2 * k * step)], w2i = w[2 * (2 * k * step) + 1];
            const float w3r = w[2 * (3 * k * step)], w3i = w[2 * (3 * k * step) + 1];
            for (unsigned s = k; s < FFT_HALF; s += len) {
                float *pa = &z[2 * s];
                float *pb = pa + 2 * q;
                float *pc = pb + 2 * q;
                float *pd = pc + 2 * q;
                const float ar = pa[0], ai = pa[1];
                const float xbr = pb[0], xbi = pb[1], xcr = pc[0], xci = pc[1], xdr = pd[0], xdi = pd[1];
                const float br = xbr * w1r - xbi * w1i, bi = xbr * w1i + xbi * w1r;
                const float cr = xcr * w2r - xci * w2i, ci = xcr * w2i + xci * w2r;
                const float dr = xdr * w3r - xdi * w3i, di = xdr * w3i + xdi * w3r;
                const float t0r = ar + cr, t0i = ai + ci, t1r = ar - cr, t1i = ai - ci;
                const float t2r = br + dr, t2i = bi + di, t3r = br - dr, t3i = bi - di;
                pa[0] = t0r + t2r;
                pa[1] = t0i + t2i;
                pc[0] = t0r - t2r;
                pc[1] = t0i - t2i;
                pb[0] = t1r + t3i;
                pb[1] = t1i - t3r;
                pd[0] = t1r - t3i;
                pd[1] = t1i + t3r;
            }
        }
    }
#else
    for (unsigned len = 2; len <= FFT_HALF; len <<= 1) {
        const unsigned half = len >> 1;
        const unsigned step = FFT_N / len;
        for (unsigned k = 0; k < half; k++) {
            const float wr = tinykws_fe_twiddle[2 * (k * step)];
            const float wi = tinykws_fe_twiddle[2 * (k * step) + 1];
            for (unsigned s = k; s < FFT_HALF; s += len) {
                float *a = &z[2 * s];
                float *b = &z[2 * (s + half)];
                const float ar = a[0], ai = a[1], xr = b[0], xi = b[1];
                const float tr = xr * wr - xi * wi;
                const float ti = xr * wi + xi * wr;
                a[0] = ar + tr;
                a[1] = ai + ti;
                b[0] = ar - tr;
                b[1] = ai - ti;
            }
        }
    }
#endif
}

void tinykws_rfft(float *buf)
{
    /* z[n] = x[2n] + i x[2n+1]; Z = FFT_HALF(z); E[k] = (Z[k] + conj Z[H-k]) / 2,
     * O[k] = (Z[k] - conj Z[H-k]) / 2i; X[k] = E[k] + W^k O[k], X[H-k] = conj(E[k] - W^k O[k]) */
    cfft_half(buf);
    {
        const float z0r = buf[0], z0i = buf[1];
        buf[0] = z0r + z0i; /* X[0]   = E0 + O0 */
        buf[1] = z0r - z0i; /* X[N/2] = E0 - O0 */
    }
    for (unsigned k = 1; k <= FFT_HALF / 2; k++) {
        const unsigned m = FFT_HALF - k;
        const float ar = buf[2 * k], ai = buf[2 * k + 1];
        const float br = buf[2 * m], bi = buf[2 * m + 1];
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
        /* O = (Z[k] - conj Z[m]) / 2i = ((ai + bi) - i (ar - br)) / 2 */
        const float orr = 0.5f * (ai + bi), oi = -0.5f * (ar - br);
        const float wr = tinykws_fe_twiddle[2 * k], wi = tinykws_fe_twiddle[2 * k + 1];
        const float tr = orr * wr - oi * wi;
        const float ti = orr * wi + oi * wr;
        buf[2 * k] = er + tr;
        buf[2 * k + 1] = ei + ti;
        buf[2 * m] = er - tr;
        buf[2 * m + 1] = -(ei - ti);
    }
}

/* ---------------------------------------------------------------- front end ---------- */

int8_t tinykws_features_quantize(float v)
{
    const float q = v / TINYKWS_FE_INPUT_SCALE + (float)TINYKWS_FE_INPUT_ZERO_POINT;
    if (!(q > -129.0f)) { /* also catches NaN */
        return (int8_t)-128;
    }
    if (q >= 128.0f) {
        return (int8_t)127;
    }
    return (int8_t)(int)q; /* C conversion truncates toward zero */
}

/* Gain that maps the filterbank of raw-PCM spectra to the host's float definition. */
static float clip_gain(const int16_t *pcm, int n)
{
#if TINYKWS_FE_NORMALIZE_MAX
    /* divide by max(x) (not max |x|); max < 0 -> -max (same magnitudes); max == 0 -> max |x| */
    int mx = -32769, mn = 32768;
    for (int i = 0; i < n; i++) {
        const int v = pcm[i];
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    const int amax = n > 0 ? (mx > -mn ? mx : -mn) : 0;
    if (n < TINYKWS_FE_CLIP_SAMPLES && mx < 0) {
        mx = 0; /* the zero padding is part of the clip */
    }
    {
        const int d = mx > 0 ? mx : (mx < 0 ? -mx : (amax > 0 ? amax : 1));
        float g = 1.0f / (float)d;
#if TINYKWS_FE_POWER_SPECTRUM
        g = g * g;
#endif
        return g;
    }
#else
    (void)pcm;
    (void)n;
#if TINYKWS_FE_POWER_SPECTRUM
    return 1.0f / (32768.0f * 32768.0f); /* exact: 2^-30 */
#else
    return 1.0f / 32768.0f;
#endif
#endif
}

/* Either fout (float cepstra) or qout (int8) receives the result; scratch stays one frame. */
static void compute(const int16_t *pcm, int n_samples, float *fout, int8_t *qout)
{
    int n = n_samples;
    if (n > TINYKWS_FE_CLIP_SAMPLES) {
        n = TINYKWS_FE_CLIP_SAMPLES;
    }
    if (n < 0 || pcm == NULL) {
        n = 0;
    }
    const float gain = clip_gain(pcm, n);

    for (int t = 0; t < TINYKWS_FE_N_FRAMES; t++) {
        const int base = t * TINYKWS_FE_HOP_SAMPLES;
        /* 1. frame: pre-emphasis (over the whole clip, y[0] = x[0]) and window, zero-padded */
        {
#if TINYKWS_FE_HAS_PREEMPHASIS
            float prev = (base > 0 && base - 1 < n) ? (float)pcm[base - 1] : 0.0f;
#endif
            /* samples past the clip are zeros: only the frame's tail needs the bound */
            const int inside = base + TINYKWS_FE_WINDOW_SAMPLES <= n ? TINYKWS_FE_WINDOW_SAMPLES
                               : (n > base ? n - base : 0);
            for (int i = 0; i < TINYKWS_FE_WINDOW_SAMPLES; i++) {
                const float x = i < inside ? (float)pcm[base + i] : 0.0f;
                float s = x;
#if TINYKWS_FE_HAS_PREEMPHASIS
                s = x - TINYKWS_FE_PREEMPHASIS * prev; /* prev = 0 before the clip: y[0] = x[0] */
                prev = x;
#endif
#if TINYKWS_FE_HAS_WINDOW
                s *= tinykws_fe_window[i];
#endif
                s_buf[i] = s;
            }
        }
        for (int i = TINYKWS_FE_WINDOW_SAMPLES; i < FFT_N; i++) {
            s_buf[i] = 0.0f;
        }
        /* 2. real FFT, then the spectrum in place, s_buf[k], for the bins that are used:
         * [SPEC_LO, SPEC_HI) (the filterbank's span, or all bins when c0 is the energy) */
        tinykws_rfft(s_buf);
        {
            const float x0 = s_buf[0], xh = s_buf[1];
            const float inv_n = 1.0f / (float)FFT_N; /* exact: N is a power of two */
            const int k0 = TINYKWS_FE_SPEC_LO > 1 ? TINYKWS_FE_SPEC_LO : 1;
            const int k1 = TINYKWS_FE_SPEC_HI < FFT_HALF ? TINYKWS_FE_SPEC_HI : FFT_HALF;
            (void)x0;
            (void)xh;
            (void)inv_n;
            for (int k = k0; k < k1; k++) { /* reads 2k, 2k+1 >= k: not yet overwritten */
                const float re = s_buf[2 * k], im = s_buf[2 * k + 1];
#if TINYKWS_FE_POWER_SPECTRUM
                s_buf[k] = (re * re + im * im) * inv_n;
#else
                s_buf[k] = sqrtf(re * re + im * im);
#endif
            }
#if TINYKWS_FE_SPEC_LO == 0
#if TINYKWS_FE_POWER_SPECTRUM
            s_buf[0] = x0 * x0 * inv_n;
#else
            s_buf[0] = fabsf(x0);
#endif
#endif
#if TINYKWS_FE_SPEC_HI > FFT_HALF
#if TINYKWS_FE_POWER_SPECTRUM
            s_buf[FFT_HALF] = xh * xh * inv_n;
#else
            s_buf[FFT_HALF] = fabsf(xh);
#endif
#endif
        }
        /* 3. mel filterbank (sparse triangles), gain, log */
        for (int m = 0; m < TINYKWS_FE_N_MELS; m++) {
            const float *w = &tinykws_fe_mel_weight[tinykws_fe_mel_offset[m]];
            const float *s = &s_buf[tinykws_fe_mel_start[m]];
            float acc = 0.0f;
            for (int j = 0; j < (int)tinykws_fe_mel_count[m]; j++) {
                acc += w[j] * s[j];
            }
            acc *= gain;
#if TINYKWS_FE_HAS_LOG_FLOOR
            if (acc == 0.0f) {
                acc = TINYKWS_FE_LOG_FLOOR;
            }
#endif
            s_logmel[m] = logf(acc + TINYKWS_FE_LOG_OFFSET);
        }
        /* 4. DCT (scaling and lifter folded into the table) */
        float o[TINYKWS_FE_N_COEFFS];
        for (int k = 0; k < TINYKWS_FE_N_COEFFS; k++) {
            const float *d = &tinykws_fe_dct[k * TINYKWS_FE_N_MELS];
            float acc = 0.0f;
            for (int m = 0; m < TINYKWS_FE_N_MELS; m++) {
                acc += d[m] * s_logmel[m];
            }
            o[k] = acc;
        }
#if TINYKWS_FE_ENERGY_C0
        {
            float e = 0.0f;
            for (int k = TINYKWS_FE_SPEC_LO; k < TINYKWS_FE_SPEC_HI; k++) { /* all bins */
                e += s_buf[k];
            }
            e *= gain;
#if TINYKWS_FE_HAS_LOG_FLOOR
            if (e == 0.0f) {
                e = TINYKWS_FE_LOG_FLOOR;
            }
#endif
            o[0] = logf(e + TINYKWS_FE_LOG_OFFSET);
        }
#endif
        for (int k = 0; k < TINYKWS_FE_N_COEFFS; k++) {
            if (fout != NULL) {
                fout[t * TINYKWS_FE_N_COEFFS + k] = o[k];
            } else {
                qout[t * TINYKWS_FE_N_COEFFS + k] = tinykws_features_quantize(o[k]);
            }
        }
    }
}

void tinykws_features_float(const int16_t *pcm, int n_samples, float *out)
{
    compute(pcm, n_samples, out, NULL);
}

void tinykws_features_int8(const int16_t *pcm, int n_samples, int8_t *out)
{
    compute(pcm, n_samples, NULL, out);
}

int tinykws_features_size(void) { return TINYKWS_FE_N_FEATURES; }
int tinykws_features_frames(void) { return TINYKWS_FE_N_FRAMES; }
int tinykws_features_coeffs(void) { return TINYKWS_FE_N_COEFFS; }
int tinykws_features_clip_samples(void) { return TINYKWS_FE_CLIP_SAMPLES; }
int tinykws_features_fft_size(void) { return TINYKWS_FE_FFT_SIZE; }
const char *tinykws_features_name(void) { return TINYKWS_FE_NAME; }
