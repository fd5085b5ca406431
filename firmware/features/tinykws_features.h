/* tinykws C feature front end: 16 kHz int16 PCM clip -> int8 MFCC model input.
 *
 * One implementation serves both front ends (mlperf, psf): the same radix-2 real FFT, the
 * same sparse mel filterbank and the same DCT loop; what differs (window, pre-emphasis,
 * magnitude or power spectrum, normalization, log floor, c0 = log energy, int8 scale) comes
 * from the generated features_config.h (tinykws FrontEnd.write_c_header). Build
 * tinykws_features.c with -I<directory holding that features_config.h>; defaults for the two
 * built-in front ends are in firmware/features/config/<name>/.
 *
 * Host reference (tinykws.features): audio float = pcm / 32768; results agree within 1 LSB.
 * C99, float32, no heap, static scratch (2.2 KB RAM), tables const (about 10 KB flash with code).
 * Not re-entrant: one caller at a time.
 */
#ifndef TINYKWS_FEATURES_H
#define TINYKWS_FEATURES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Features of one clip. pcm holds n_samples (<= the clip length, 16000) samples; shorter
 * clips are zero-padded, extra samples are ignored. out receives frames x coefficients
 * values (49 x 10 = 490), frame-major, exactly the model input layout. */
void tinykws_features_int8(const int16_t *pcm, int n_samples, int8_t *out);

/* The same, before quantization (float cepstra), for tests and float models. */
void tinykws_features_float(const int16_t *pcm, int n_samples, float *out);

/* int8 quantization of one value: trunc(v / scale + zero_point), saturated to [-128, 127]. */
int8_t tinykws_features_quantize(float v);

/* In-place real FFT of tinykws_features_fft_size() samples. Output packed as
 * buf[0] = X[0], buf[1] = X[N/2], buf[2k], buf[2k+1] = Re, Im X[k] for 0 < k < N/2. */
void tinykws_rfft(float *buf);

int tinykws_features_size(void);        /* frames * coefficients (490) */
int tinykws_features_frames(void);      /* 49 */
int tinykws_features_coeffs(void);      /* 10 */
int tinykws_features_clip_samples(void);/* 16000 */
int tinykws_features_fft_size(void);    /* 512 */
const char *tinykws_features_name(void);/* "mlperf" or "psf" */

#ifdef __cplusplus
}
#endif

#endif /* TINYKWS_FEATURES_H */
