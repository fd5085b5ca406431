/*
 * tinykws firmware core: the EEMBC EnergyRunner / MLPerf Tiny serial protocol plus the
 * tinykws extensions (info, raw int8 output, instruction/cycle counts, per-op profile,
 * raw-audio input, streaming detection). The full protocol is documented in firmware/PROTOCOL.md.
 *
 * Portable: only talks to the board through tinykws_port.h, and to the model through the
 * compiled graph's tinykws_model.h (tinykws_invoke). No heap, no printf.
 */
#include <stdint.h>
#include <string.h>

#include "tinykws_build_info.h"
#include "tinykws_io.h"
#include "tinykws_model.h"
#include "tinykws_port.h"

#if TINYKWS_HAVE_FEATURES
#include "tinykws_features.h"
#endif

#define CMD_MAX 80u /* EEMBC: a command is at most 80 characters */
#define MAX_TOKENS 8

#ifndef TINYKWS_AUDIO_SAMPLES
#define TINYKWS_AUDIO_SAMPLES 16000
#endif

#if TINYKWS_HAVE_FEATURES && (TINYKWS_AUDIO_SAMPLES * 2 > TINYKWS_INPUT_SIZE)
#define DB_MAX (TINYKWS_AUDIO_SAMPLES * 2)
#else
#define DB_MAX TINYKWS_INPUT_SIZE
#endif

enum input_mode { MODE_FEATURES = 0, MODE_AUDIO = 1 };

/* The db buffer holds int8 features or little-endian int16 PCM; word aligned for PCM. */
static union {
    uint8_t bytes[DB_MAX];
    int16_t pcm[(DB_MAX + 1) / 2];
} g_db;
static uint32_t g_db_size; /* announced by `db load N` */
static uint32_t g_db_pos;  /* bytes received so far */

static int8_t g_input[TINYKWS_INPUT_SIZE];
static int8_t g_output[TINYKWS_OUTPUT_SIZE];
static uint8_t g_have_results;
static enum input_mode g_mode = MODE_FEATURES;

/* ---- per-op profiling (see tinykws_ophook.h) ---- */
volatile uint8_t tinykws_prof_on;
static uint64_t g_op_marks[TINYKWS_NUM_OPS + 1];
static uint8_t g_op_seen[TINYKWS_NUM_OPS + 1];
static uint64_t g_op_total[TINYKWS_NUM_OPS];

void tinykws_op_mark(int op_index)
{
    if (op_index >= 0 && op_index <= TINYKWS_NUM_OPS) {
        g_op_marks[op_index] = port_counter();
        g_op_seen[op_index] = 1u;
    }
}

/* ---- small helpers ---- */

static int parse_int(const char *s, int32_t *out)
{
    int32_t v = 0;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (*s == '\0') {
        return -1;
    }
    while (*s) {
        if (*s < '0' || *s > '9' || v > 100000000) {
            return -1;
        }
        v = v * 10 + (*s - '0');
        s++;
    }
    *out = neg ? -v : v;
    return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    if (*s == '\0') {
        return -1;
    }
    while (*s) {
        uint32_t d = (uint32_t)(*s - '0');
        if (*s < '0' || *s > '9' || v > (0xFFFFFFFFu - d) / 10u) {
            return -1;
        }
        v = v * 10u + d;
        s++;
    }
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static void err2(const char *a, const char *b)
{
    io_puts("e-[");
    io_puts(a);
    io_puts(b);
    io_putline("]");
}

static uint64_t to_units(uint64_t ticks)
{
    return ticks * port_counter_num() / port_counter_den();
}

static void timestamp(void)
{
#if TINYKWS_ENERGY_MODE
    port_timestamp_pulse();
#else
    uint64_t us = port_counter() * 1000000u / port_counter_hz();
    io_puts("m-lap-us-");
    io_put_u64(us);
    io_newline();
#endif
}

static uint32_t expected_input_bytes(void)
{
    return g_mode == MODE_AUDIO ? (uint32_t)(TINYKWS_AUDIO_SAMPLES * 2) : (uint32_t)TINYKWS_INPUT_SIZE;
}

/* th_load_tensor: move the db buffer into the model input (computing features in audio
 * mode). Returns 0 on success. */
static int load_tensor(void)
{
    uint32_t want = expected_input_bytes();
    if (g_db_pos != want) {
        io_puts("e-[Input not loaded: have ");
        io_put_u64(g_db_pos);
        io_puts(" bytes, ");
        io_puts(g_mode == MODE_AUDIO ? "audio" : "features");
        io_puts(" mode needs ");
        io_put_u64(want);
        io_putline("]");
        return -1;
    }
#if TINYKWS_HAVE_FEATURES
    if (g_mode == MODE_AUDIO) {
        tinykws_features_int8(g_db.pcm, TINYKWS_AUDIO_SAMPLES, g_input);
        return 0;
    }
#endif
    memcpy(g_input, g_db.bytes, TINYKWS_INPUT_SIZE);
    return 0;
}

/* One inference; in audio mode the features are part of it (the device does both). */
static int infer_once(void)
{
#if TINYKWS_HAVE_FEATURES
    if (g_mode == MODE_AUDIO) {
        tinykws_features_int8(g_db.pcm, TINYKWS_AUDIO_SAMPLES, g_input);
    }
#endif
    return tinykws_invoke(g_input, g_output);
}

static void print_results(void)
{
    int i;
    if (!g_have_results) {
        io_putline("e-[No results yet: run infer first]");
        return;
    }
    io_puts("m-results-[");
    for (i = 0; i < TINYKWS_OUTPUT_SIZE; i++) {
        float v = ((float)g_output[i] - (float)(TINYKWS_OUTPUT_ZERO_POINT)) * (float)(TINYKWS_OUTPUT_SCALE);
        int32_t milli = (int32_t)(v * 1000.0f + (v >= 0.0f ? 0.5f : -0.5f));
        if (i) {
            port_putc(',');
        }
        io_put_milli(milli);
    }
    io_putline("]");
    io_puts("m-results-int8-[");
    for (i = 0; i < TINYKWS_OUTPUT_SIZE; i++) {
        if (i) {
            port_putc(',');
        }
        io_put_i32(g_output[i]);
    }
    io_putline("]");
}

static void print_perf(uint64_t ticks, uint32_t n)
{
    io_puts(port_counter_kind() == TINYKWS_COUNTER_CYCLES ? "m-perf-[cycles," : "m-perf-[instructions,");
    io_put_u64(to_units(ticks));
    port_putc(',');
    io_put_u64(n);
    io_putline("]");
}

static void cmd_infer(int ntok, char **tok)
{
    int32_t n = 1, w = 10; /* EEMBC defaults */
    int32_t i;
    uint64_t t0, t1;
    int rc = 0;
    if (ntok > 1 && (parse_int(tok[1], &n) != 0 || n <= 0)) {
        io_putline("e-[Inference iterations must be >0]");
        return;
    }
    if (ntok > 2 && (parse_int(tok[2], &w) != 0 || w < 0)) {
        io_putline("e-[Inference warmup must be >=0]");
        return;
    }
    if (load_tensor() != 0) {
        return;
    }
    io_puts("m-warmup-start-");
    io_put_u64((uint32_t)w);
    io_newline();
    for (i = 0; i < w && rc == 0; i++) {
        rc = infer_once();
    }
    io_putline("m-warmup-done");
    io_puts("m-infer-start-");
    io_put_u64((uint32_t)n);
    io_newline();
    timestamp();
    port_counter_sync();
    t0 = port_counter();
    for (i = 0; i < n && rc == 0; i++) {
        rc = infer_once();
    }
    t1 = port_counter();
    timestamp();
    io_putline("m-infer-done");
    if (rc != 0) {
        io_puts("e-[Invoke failed: ");
        io_put_i32(rc);
        io_putline("]");
        g_have_results = 0;
        return;
    }
    g_have_results = 1;
    print_results();
    print_perf(t1 - t0, (uint32_t)n);
}

/* ops N: per-op counts summed over N invokes (after one warm-up), in the counter's unit. */
static void cmd_ops(int ntok, char **tok)
{
    int32_t n = 1, i;
    int op, rc;
    if (ntok > 1 && (parse_int(tok[1], &n) != 0 || n <= 0)) {
        io_putline("e-[ops iterations must be >0]");
        return;
    }
    if (load_tensor() != 0) {
        return;
    }
    rc = infer_once();
    memset(g_op_total, 0, sizeof(g_op_total));
    for (i = 0; i < n && rc == 0; i++) {
        uint64_t end;
        memset(g_op_seen, 0, sizeof(g_op_seen));
        port_counter_sync();
        tinykws_prof_on = 1u;
        rc = infer_once();
        end = port_counter();
        tinykws_prof_on = 0u;
        for (op = 0; op < TINYKWS_NUM_OPS; op++) {
            uint64_t stop = end;
            int k;
            if (!g_op_seen[op]) {
                continue;
            }
            for (k = op + 1; k <= TINYKWS_NUM_OPS; k++) {
                if (g_op_seen[k]) {
                    stop = g_op_marks[k];
                    break;
                }
            }
            g_op_total[op] += stop - g_op_marks[op];
        }
    }
    if (rc != 0) {
        io_puts("e-[Invoke failed: ");
        io_put_i32(rc);
        io_putline("]");
        return;
    }
    for (op = 0; op < TINYKWS_NUM_OPS; op++) {
        io_puts("m-op-[");
        io_put_u64((uint32_t)op);
        port_putc(',');
        io_puts(tinykws_op_names[op]);
        port_putc(',');
        io_put_u64(to_units(g_op_total[op]));
        port_putc(',');
        io_put_u64((uint32_t)n);
        io_putline("]");
    }
    io_puts(port_counter_kind() == TINYKWS_COUNTER_CYCLES ? "m-ops-done-[cycles]" : "m-ops-done-[instructions]");
    io_newline();
}

static void cmd_db(int ntok, char **tok)
{
    if (ntok < 2) {
        io_putline("e-[Command 'db' requires a subcommand]");
        return;
    }
    if (strcmp(tok[1], "load") == 0) {
        int32_t n;
        if (ntok < 3) {
            io_putline("e-[Command 'db load' requires the # of bytes]");
            return;
        }
        if (parse_int(tok[2], &n) != 0 || n <= 0) {
            io_putline("e-[Command 'db load' must be >0 bytes]");
            return;
        }
        if ((uint32_t)n > (uint32_t)DB_MAX) {
            io_puts("e-[Supplied buffer size ");
            io_put_u64((uint32_t)n);
            io_puts(" exceeds maximum of ");
            io_put_u64((uint32_t)DB_MAX);
            io_putline("]");
            return;
        }
        g_db_size = (uint32_t)n;
        g_db_pos = 0;
        io_puts("m-[Expecting ");
        io_put_u64(g_db_size);
        io_putline(" bytes]");
        return;
    }
    if (strcmp(tok[1], "rand") == 0) {
        /* tinykws extension: db rand SEED [N] fills the buffer with N bytes (default: the
         * current mode's input size) of xorshift32(SEED), little-endian words, so that the host
         * can check many inputs without sending them. */
        uint32_t seed, n = expected_input_bytes(), i;
        if (ntok < 3 || parse_u32(tok[2], &seed) != 0 || seed == 0u) {
            io_putline("e-[Command 'db rand' requires a seed > 0]");
            return;
        }
        if (ntok > 3 && (parse_u32(tok[3], &n) != 0 || n == 0u || n > (uint32_t)DB_MAX)) {
            io_putline("e-[Command 'db rand' size must be 1..buffer size]");
            return;
        }
        for (i = 0; i < n; i++) {
            if ((i & 3u) == 0u) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
            }
            g_db.bytes[i] = (uint8_t)(seed >> (8u * (i & 3u)));
        }
        g_db_size = n;
        g_db_pos = n;
        io_putline("m-load-done");
        return;
    }
    {
        const char *h = tok[1];
        size_t len = strlen(h), i;
        if (len & 1u) {
            io_putline("e-[Insufficent number of hex digits]");
            return;
        }
        if (g_db_size == 0u) {
            io_putline("e-[Command 'db' before 'db load']");
            return;
        }
        for (i = 0; i < len; i += 2) {
            int hi = hexval(h[i]), lo = hexval(h[i + 1]);
            if (hi < 0 || lo < 0) {
                char bad[5];
                bad[0] = '\'';
                bad[1] = h[i];
                bad[2] = h[i + 1];
                bad[3] = '\'';
                bad[4] = '\0';
                err2("Invalid hex digit ", bad);
                return;
            }
            if (g_db_pos < g_db_size) {
                g_db.bytes[g_db_pos++] = (uint8_t)((hi << 4) | lo);
                if (g_db_pos == g_db_size) {
                    io_putline("m-load-done");
                    return;
                }
            }
        }
    }
}

static void cmd_info(void)
{
    io_putline(TINYKWS_INFO_JSON);
}

static void cmd_mode(int ntok, char **tok)
{
    if (ntok < 2) {
        io_puts("m-mode-[");
        io_puts(g_mode == MODE_AUDIO ? "audio" : "features");
        io_putline("]");
        return;
    }
    if (strcmp(tok[1], "features") == 0) {
        g_mode = MODE_FEATURES;
    } else if (strcmp(tok[1], "audio") == 0) {
#if TINYKWS_HAVE_FEATURES
        g_mode = MODE_AUDIO;
#else
        io_putline("e-[Raw-audio mode not built in: no C feature front end in this image]");
        return;
#endif
    } else {
        err2("Unknown mode: ", tok[1]);
        return;
    }
    g_db_pos = 0;
    g_db_size = 0;
    g_have_results = 0;
    io_puts("m-mode-[");
    io_puts(tok[1]);
    io_putline("]");
}

#if TINYKWS_HAVE_FEATURES
/* features: compute and print the int8 features of the loaded audio (host checks them). */
static void cmd_features(void)
{
    int i;
    if (g_mode != MODE_AUDIO) {
        io_putline("e-[features needs audio mode: send 'mode audio' and load PCM]");
        return;
    }
    if (load_tensor() != 0) {
        return;
    }
    io_puts("m-features-[");
    for (i = 0; i < TINYKWS_INPUT_SIZE; i++) {
        if (i) {
            port_putc(',');
        }
        io_put_i32(g_input[i]);
    }
    io_putline("]");
}
#endif

#if TINYKWS_HAVE_FEATURES
/* ---- streaming detection (`listen`, `audio N`): see PROTOCOL.md ----
 *
 * A ring buffer holds the last second of 16 kHz audio (silence before the stream starts).
 * Every hop the window is copied out oldest-first, its features are computed by the same C
 * front end as raw-audio mode, and the model runs. The posteriors of the last avg/hop
 * inferences are averaged per class; the best keyword class (labels starting with '_' are
 * not keywords) is a detection when its average reaches the threshold and the previous
 * detection is at least the suppression time old. Timestamps are ms of audio since start. */
#define SR_PER_MS 16u
#define SMOOTH_MAX 16u

#ifdef TINYKWS_LABELS
static const char *const g_labels[] = TINYKWS_LABELS;
#define NUM_LABELS (sizeof(g_labels) / sizeof(g_labels[0]))
#else
#define NUM_LABELS 0u
#endif

static int16_t g_ring[TINYKWS_AUDIO_SAMPLES];
static uint32_t g_ring_pos;        /* next write index (= oldest sample) */
static uint32_t g_stream_samples;  /* samples since the stream started */
static uint32_t g_hop_ms = 250u, g_avg_ms = 500u, g_thr_milli = 600u, g_sup_ms = 1000u;
static uint32_t g_verbose;
static int16_t g_hist[SMOOTH_MAX][TINYKWS_OUTPUT_SIZE]; /* q - zero_point per inference */
static uint32_t g_hist_n, g_hist_pos;
static uint8_t g_streaming, g_have_detect, g_led;
static uint32_t g_last_detect_ms;

static int is_keyword(uint32_t c)
{
#ifdef TINYKWS_LABELS
    return c >= NUM_LABELS || g_labels[c][0] != '_';
#else
    (void)c;
    return 1;
#endif
}

static void put_label(uint32_t c)
{
#ifdef TINYKWS_LABELS
    if (c < NUM_LABELS) {
        io_puts(g_labels[c]);
        return;
    }
#endif
    io_puts("class");
    io_put_u64(c);
}

static void stream_reset(void)
{
    memset(g_ring, 0, sizeof(g_ring));
    g_ring_pos = 0;
    g_stream_samples = 0;
    g_hist_n = 0;
    g_hist_pos = 0;
    g_have_detect = 0;
    g_db_pos = 0; /* the db buffer is the window's scratch while listening */
    g_db_size = 0;
    g_have_results = 0;
    g_streaming = 1;
    if (g_led) {
        port_led(0);
        g_led = 0;
    }
}

static void print_int8s(const char *prefix, const int8_t *v, int n)
{
    int i;
    io_puts(prefix);
    for (i = 0; i < n; i++) {
        if (i) {
            port_putc(',');
        }
        io_put_i32(v[i]);
    }
    io_putline("]");
}

static void stream_hop(void)
{
    uint32_t i, c, k, n_avg, window, best = 0;
    int32_t best_sum = 0;
    int rc;
    int found = 0;
    int32_t score_milli;
    uint32_t ms = (uint32_t)((uint64_t)g_stream_samples / SR_PER_MS);
    uint64_t t0 = port_counter(), t1;

    for (i = 0; i < TINYKWS_AUDIO_SAMPLES; i++) {
        g_db.pcm[i] = g_ring[(g_ring_pos + i) % TINYKWS_AUDIO_SAMPLES];
    }
    tinykws_features_int8(g_db.pcm, TINYKWS_AUDIO_SAMPLES, g_input);
    rc = tinykws_invoke(g_input, g_output);
    if (rc != 0) {
        io_puts("e-[Invoke failed: ");
        io_put_i32(rc);
        io_putline("]");
        return;
    }
    g_have_results = 1;
    for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
        g_hist[g_hist_pos][c] = (int16_t)(g_output[c] - (TINYKWS_OUTPUT_ZERO_POINT));
    }
    g_hist_pos = (g_hist_pos + 1u) % SMOOTH_MAX;
    if (g_hist_n < SMOOTH_MAX) {
        g_hist_n++;
    }
    window = g_avg_ms / g_hop_ms;
    n_avg = g_hist_n < window ? g_hist_n : window;
    for (c = 0; c < TINYKWS_OUTPUT_SIZE; c++) {
        int32_t sum = 0;
        if (!is_keyword(c)) {
            continue;
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
    {
        float score = (float)best_sum / (float)n_avg * (float)(TINYKWS_OUTPUT_SCALE);
        score_milli = (int32_t)(score * 1000.0f + 0.5f);
    }
    t1 = port_counter(); /* window copy + features + inference + smoothing, before any output */
    if (g_verbose >= 2u) {
        print_int8s("m-features-[", g_input, TINYKWS_INPUT_SIZE);
        print_int8s("m-results-int8-[", g_output, TINYKWS_OUTPUT_SIZE);
    }
    if (g_verbose >= 1u) {
        io_puts("m-hop-[");
        io_put_u64(ms);
        port_putc(',');
        io_put_u64(best);
        port_putc(',');
        io_put_milli(score_milli);
        port_putc(',');
        io_put_u64(to_units(t1 - t0));
        io_putline("]");
    }
    if (found && score_milli >= (int32_t)g_thr_milli &&
        (!g_have_detect || ms - g_last_detect_ms >= g_sup_ms)) {
        g_have_detect = 1;
        g_last_detect_ms = ms;
        port_led(1);
        g_led = 1;
        io_puts("m-detect-[");
        put_label(best);
        port_putc(',');
        io_put_u64(best);
        port_putc(',');
        io_put_u64(ms);
        port_putc(',');
        io_put_milli(score_milli);
        io_putline("]");
    } else if (g_led && ms - g_last_detect_ms >= g_sup_ms) {
        port_led(0);
        g_led = 0;
    }
}

static void stream_feed(int16_t s)
{
    g_ring[g_ring_pos] = s;
    g_ring_pos = (g_ring_pos + 1u) % TINYKWS_AUDIO_SAMPLES;
    g_stream_samples++;
    if (g_stream_samples % (g_hop_ms * SR_PER_MS) == 0u) {
        stream_hop();
    }
}

/* audio N: the next 2N bytes on the link are N little-endian int16 samples (binary, right
 * after the '%'). They are always consumed, so an error never desynchronizes the link. */
static void cmd_audio(int ntok, char **tok)
{
    uint32_t n, i;
    if (ntok < 2 || parse_u32(tok[1], &n) != 0 || n == 0u || n > 1000000u) {
        io_putline("e-[Command 'audio' requires a sample count 1..1000000]");
        return;
    }
    for (i = 0; i < n; i++) {
        int lo = port_getc();
        int hi = port_getc();
        if (g_streaming) {
            stream_feed((int16_t)(uint16_t)((uint32_t)(lo & 0xff) | ((uint32_t)(hi & 0xff) << 8)));
        }
    }
    if (!g_streaming) {
        io_putline("e-[Not listening: send 'listen start' first]");
        return;
    }
    io_puts("m-audio-[");
    io_put_u64(g_stream_samples);
    io_putline("]");
}

static void print_listen_cfg(void)
{
    io_puts("m-listen-cfg-[");
    io_put_u64(g_hop_ms);
    port_putc(',');
    io_put_u64(g_avg_ms);
    port_putc(',');
    io_put_u64(g_thr_milli);
    port_putc(',');
    io_put_u64(g_sup_ms);
    port_putc(',');
    io_put_u64(g_verbose);
    io_putline("]");
}

static void listen_mic(uint32_t seconds)
{
    static int16_t buf[64];
    if (port_mic_start() != 0) {
        io_putline("e-[No microphone on this board: stream audio with 'listen start' and 'audio N']");
        return;
    }
    stream_reset();
    io_putline("m-listen-[mic]");
    for (;;) {
        int i, n = port_mic_read(buf, (int)(sizeof(buf) / sizeof(buf[0])));
        for (i = 0; i < n; i++) {
            stream_feed(buf[i]);
        }
        if (port_poll_getc() >= 0) {
            break;
        }
        if (seconds && g_stream_samples >= seconds * 16000u) {
            break;
        }
    }
    port_mic_stop();
    g_streaming = 0;
    io_puts("m-listen-done-[");
    io_put_u64(g_stream_samples);
    io_putline("]");
}

/* listen cfg HOP AVG THR SUP [VERBOSE] | listen start | listen mic [SECONDS] | listen stop |
 * listen (prints the configuration) */
static void cmd_listen(int ntok, char **tok)
{
    if (ntok < 2) {
        print_listen_cfg();
        return;
    }
    if (strcmp(tok[1], "cfg") == 0) {
        uint32_t v[5];
        int i;
        v[4] = g_verbose;
        if (ntok < 6) {
            io_putline("e-[Command 'listen cfg' requires HOP_MS AVG_MS THRESHOLD_MILLI SUPPRESS_MS [VERBOSE]]");
            return;
        }
        for (i = 0; i < 5 && i + 2 < ntok; i++) {
            if (parse_u32(tok[i + 2], &v[i]) != 0) {
                err2("Not a number: ", tok[i + 2]);
                return;
            }
        }
        if (v[0] < 10u || v[0] > 1000u || v[1] < v[0] || v[1] / v[0] > SMOOTH_MAX || v[2] > 1000u ||
            v[3] > 60000u || v[4] > 2u) {
            io_putline("e-[listen cfg: need 10<=HOP<=1000 ms, HOP<=AVG<=16*HOP, THRESHOLD<=1000, "
                       "SUPPRESS<=60000, VERBOSE 0..2]");
            return;
        }
        g_hop_ms = v[0];
        g_avg_ms = v[1];
        g_thr_milli = v[2];
        g_sup_ms = v[3];
        g_verbose = v[4];
        print_listen_cfg();
    } else if (strcmp(tok[1], "start") == 0) {
        stream_reset();
        io_putline("m-listen-[host]");
    } else if (strcmp(tok[1], "stop") == 0) {
        g_streaming = 0;
        io_puts("m-listen-done-[");
        io_put_u64(g_stream_samples);
        io_putline("]");
    } else if (strcmp(tok[1], "mic") == 0) {
        uint32_t seconds = 0;
        if (ntok > 2 && parse_u32(tok[2], &seconds) != 0) {
            err2("Not a number: ", tok[2]);
            return;
        }
        listen_mic(seconds);
    } else {
        err2("Unknown listen subcommand: ", tok[1]);
    }
}
#endif

static void cmd_help(void)
{
    io_putline("tinykws firmware (EnergyRunner protocol + tinykws extensions, see PROTOCOL.md)");
    io_putline("name | profile | timestamp | help | results | info");
    io_putline("db load N | db HEX | db rand SEED [N] | infer N [W=10] | ops [N=1]");
    io_putline("mode [features|audio] | features");
    io_putline("listen [cfg HOP AVG THR SUP [V] | start | stop | mic [S]] | audio N (+2N bytes)");
}

static void dispatch(char *line)
{
    char *tok[MAX_TOKENS];
    int ntok = 0;
    char *p = line;
    while (*p && ntok < MAX_TOKENS) {
        while (*p == ' ') {
            *p++ = '\0';
        }
        if (*p == '\0') {
            break;
        }
        tok[ntok++] = p;
        while (*p && *p != ' ') {
            p++;
        }
    }
    if (*p) { /* more tokens than any command takes: terminate the last one */
        while (*p && *p != ' ') {
            p++;
        }
        *p = '\0';
    }
    if (ntok == 0) {
        io_putline("e-[Unknown command: ]");
    } else if (strcmp(tok[0], "name") == 0) {
        io_putline("m-name-dut-[" TINYKWS_DUT_NAME "]");
    } else if (strcmp(tok[0], "profile") == 0) {
        io_putline("m-profile-[tinykws firmware 0.1.0]");
        io_putline("m-model-[kws01]");
    } else if (strcmp(tok[0], "timestamp") == 0) {
        timestamp();
    } else if (strcmp(tok[0], "help") == 0) {
        cmd_help();
    } else if (strcmp(tok[0], "db") == 0) {
        cmd_db(ntok, tok);
    } else if (strcmp(tok[0], "infer") == 0) {
        cmd_infer(ntok, tok);
    } else if (strcmp(tok[0], "results") == 0) {
        print_results();
    } else if (strcmp(tok[0], "info") == 0) {
        cmd_info();
    } else if (strcmp(tok[0], "ops") == 0) {
        cmd_ops(ntok, tok);
    } else if (strcmp(tok[0], "mode") == 0) {
        cmd_mode(ntok, tok);
#if TINYKWS_HAVE_FEATURES
    } else if (strcmp(tok[0], "features") == 0) {
        cmd_features();
    } else if (strcmp(tok[0], "listen") == 0) {
        cmd_listen(ntok, tok);
    } else if (strcmp(tok[0], "audio") == 0) {
        cmd_audio(ntok, tok);
#else
    } else if (strcmp(tok[0], "listen") == 0 || strcmp(tok[0], "audio") == 0) {
        uint32_t n = 0, i;
        if (tok[0][0] == 'a' && ntok > 1 && parse_u32(tok[1], &n) == 0 && n <= 1000000u) {
            for (i = 0; i < 2u * n; i++) { /* keep the link in step: consume the samples */
                (void)port_getc();
            }
        }
        io_putline("e-[Streaming mode not built in: no C feature front end in this image]");
#endif
    } else {
        err2("Unknown command: ", tok[0]);
    }
    io_putline("m-ready");
}

int main(void)
{
    static char line[CMD_MAX + 1];
    uint32_t pos = 0;
    uint8_t overflow = 0;

    port_init();
#if TINYKWS_ENERGY_MODE
    io_putline("m-timestamp-mode-energy");
#else
    io_putline("m-timestamp-mode-performance");
#endif
    io_putline("m-init-done");
    io_putline("m-ready");

    for (;;) {
        int c = port_getc();
        if (c == '%') {
            line[pos] = '\0';
            if (overflow) {
                io_putline("e-[Command too long: at most 80 characters]");
                io_putline("m-ready");
            } else {
                dispatch(line);
            }
            pos = 0;
            overflow = 0;
        } else if (c == '\r' || c == '\n' || c < 0) {
            /* ignored: the protocol has no line endings host -> device */
        } else if (pos < CMD_MAX) {
            line[pos++] = (char)c;
        } else {
            overflow = 1;
        }
    }
}
