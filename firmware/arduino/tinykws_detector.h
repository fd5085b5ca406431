/*
 * tinykws live detector: 16 kHz int16 audio in, keyword detections out.
 *
 * The small C API of the Arduino library that `tinykws export --arduino-library` writes. It
 * strings together what the firmware's streaming mode does (firmware/core/tinykws_runner.c,
 * `listen`): the last second of audio, the C front end every hop, the compiled model, the
 * posteriors averaged over the last few hops, and a detection when the best keyword's average
 * reaches the threshold and the previous detection is old enough. Labels starting with '_'
 * (_silence_, _unknown_) are never detected.
 *
 * C99, no heap: one static 1 s audio window (32 KB) and the model's static arena.
 * Not re-entrant: call it from one place (the sketch's loop()), never from an interrupt.
 */
#ifndef TINYKWS_DETECTOR_H
#define TINYKWS_DETECTOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int label_index;      /* output index of the keyword */
    const char *label;    /* its name, from the model's tinykws.json */
    uint32_t time_ms;     /* ms of audio fed since tinykws_detector_init() */
    float score;          /* averaged posterior, 0..1 */
} tinykws_detection;

/* Defaults as `tinykws listen`: hop 250 ms, average over 500 ms, threshold 0.6, at most one
 * detection per 1000 ms. */
void tinykws_detector_init(void);

/* Change the settings (call after init). hop_ms: 10..1000, a divisor of 1000 is best;
 * avg_ms >= hop_ms; threshold in (0, 1]. Returns 0, or -1 when a value is out of range. */
int tinykws_detector_config(uint32_t hop_ms, uint32_t avg_ms, float threshold, uint32_t suppress_ms);

/* Feed n samples (16 kHz mono). Every hop runs the front end and the model on the last
 * second. Returns 1 and fills *out when a detection happened in this call (the last one if
 * several), else 0; a negative value is a model error. */
int tinykws_detector_feed(const int16_t *pcm, int n, tinykws_detection *out);

/* The posteriors of the last inference, dequantized (n = tinykws_num_labels()). */
void tinykws_detector_scores(float *scores);

int tinykws_num_labels(void);
const char *tinykws_label(int index);

#ifdef __cplusplus
}
#endif

#endif /* TINYKWS_DETECTOR_H */
