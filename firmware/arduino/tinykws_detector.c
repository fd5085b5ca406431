/*
 * tinykws live detector (see tinykws_detector.h): the streaming loop of the firmware's
 * `listen` mode, without the serial protocol, for sketches and other applications.
 *
 * The window is one linear second of audio, oldest sample first: at the start of each hop it
 * moves left by one hop, and the hop's samples are written into the freed end as they come,
 * so the front end reads it in place and no second 32 KB copy is needed (moving 24 KB every
 * 250 ms costs far less than the features do).
 */
#include "tinykws_detector.h"

#include <string.h>

#include "labels.h"
#include "tinykws_features.h"
#include "tinykws_model.h"

#define SAMPLES_PER_MS 16u
#define WINDOW 16000u
#define SMOOTH_MAX 16u

#if TINYKWS_NUM_LABELS != TINYKWS_OUTPUT_SIZE
#error "labels.h and tinykws_model.h disagree on the number of classes"
#endif

static int16_t g_window[WINDOW];
static uint32_t g_fill;      /* samples of the current hop already appended */
static uint32_t g_samples;   /* samples fed since init */
static int8_t g_input[TINYKWS_INPUT_SIZE];
static int8_t g_output[TINYKWS_OUTPUT_SIZE];
static int16_t g_hist[SMOOTH_MAX][TINYKWS_OUTPUT_SIZE]; /* q - zero point, per inference */
static uint32_t g_hist_n, g_hist_pos;
static uint32_t g_hop_ms, g_avg_ms, g_sup_ms;
static float g_threshold;
static int g_have_detect;
static uint32_t g_last_detect_ms;

void tinykws_detector_init(void)
{
    memset(g_window, 0, sizeof(g_window));
    memset(g_output, 0, sizeof(g_output));
    g_fill = 0;
    g_samples = 0;
    g_hist_n = 0;
    g_hist_pos = 0;
    g_hop_ms = 250u;
    g_avg_ms = 500u;
    g_sup_ms = 1000u;
    g_threshold = 0.6f;
    g_have_detect = 0;
    g_last_detect_ms = 0;
}

int tinykws_detector_config(uint32_t hop_ms, uint32_t avg_ms, float threshold, uint32_t suppress_ms)
{
    if (hop_ms < 10u || hop_ms > 1000u || avg_ms < hop_ms || avg_ms / hop_ms > SMOOTH_MAX ||
        !(threshold > 0.0f && threshold <= 1.0f)) {
        return -1;
    }
    g_hop_ms = hop_ms;
    g_avg_ms = avg_ms;
    g_threshold = threshold;
    g_sup_ms = suppress_ms;
    g_fill = 0;
    return 0;
}

int tinykws_num_labels(void)
{
    return TINYKWS_NUM_LABELS;
}

const char *tinykws_label(int index)
{
    return (index >= 0 && index < TINYKWS_NUM_LABELS) ? tinykws_labels[index] : "";
}

void tinykws_detector_scores(float *scores)
{
    int c;
    for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
        scores[c] = (float)(g_output[c] - (TINYKWS_OUTPUT_ZERO_POINT)) * (TINYKWS_OUTPUT_SCALE);
    }
}

/* One hop: features and model on the window, smoothing, the decision. 1: a detection. */
static int hop(tinykws_detection *out)
{
    uint32_t c, k, n_avg, window_hops, best = 0;
    int32_t best_sum = 0;
    int found = 0, rc;
    float score;
    uint32_t ms = g_samples / SAMPLES_PER_MS;

    tinykws_features_int8(g_window, (int)WINDOW, g_input);
    rc = tinykws_invoke(g_input, g_output);
    if (rc != 0) {
        return rc > 0 ? -rc : rc; /* a model error: always negative */
    }
    for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
        g_hist[g_hist_pos][c] = (int16_t)(g_output[c] - (TINYKWS_OUTPUT_ZERO_POINT));
    }
    g_hist_pos = (g_hist_pos + 1u) % SMOOTH_MAX;
    if (g_hist_n < SMOOTH_MAX) {
        g_hist_n++;
    }
    window_hops = g_avg_ms / g_hop_ms;
    n_avg = g_hist_n < window_hops ? g_hist_n : window_hops;
    for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
        int32_t sum = 0;
        if (tinykws_labels[c][0] == '_') {
            continue; /* _silence_, _unknown_ */
        }
        for (k = 1; k <= n_avg; k++) {
            sum += g_hist[(g_hist_pos + SMOOTH_MAX - k) % SMOOTH_MAX][c];
        }
        if (!found || sum > best_sum) {
            best_sum = sum;
            best = c;
            found = 1;
        }
    }
    if (!found) {
        return 0;
    }
    score = (float)best_sum / (float)n_avg * (TINYKWS_OUTPUT_SCALE);
    if (score >= g_threshold && (!g_have_detect || ms - g_last_detect_ms >= g_sup_ms)) {
        g_have_detect = 1;
        g_last_detect_ms = ms;
        out->label_index = (int)best;
        out->label = tinykws_labels[best];
        out->time_ms = ms;
        out->score = score;
        return 1;
    }
    return 0;
}

int tinykws_detector_feed(const int16_t *pcm, int n, tinykws_detection *out)
{
    int detected = 0;
    uint32_t hop_samples = g_hop_ms * SAMPLES_PER_MS;
    while (n > 0) {
        uint32_t take = hop_samples - g_fill;
        if (take > (uint32_t)n) {
            take = (uint32_t)n;
        }
        if (g_fill == 0u) { /* a new hop: the window moves left by one hop, once */
            memmove(g_window, g_window + hop_samples, (WINDOW - hop_samples) * sizeof(g_window[0]));
        }
        memcpy(g_window + (WINDOW - hop_samples + g_fill), pcm, take * sizeof(g_window[0]));
        pcm += take;
        n -= (int)take;
        g_fill += take;
        g_samples += take;
        if (g_fill == hop_samples) {
            int rc;
            g_fill = 0;
            rc = hop(out);
            if (rc < 0) {
                return rc;
            }
            detected |= rc;
        }
    }
    return detected;
}
