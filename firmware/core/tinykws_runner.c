/*
 * tinykws firmware core: the EEMBC EnergyRunner / MLPerf Tiny serial protocol plus the
 * tinykws extensions (info, raw int8 output, instruction/cycle counts, per-op profile,
 * raw-audio input). The full protocol is documented in firmware/PROTOCOL.md.
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
#define MAX_TOKENS 4

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

static void cmd_help(void)
{
    io_putline("tinykws firmware (EnergyRunner protocol + tinykws extensions, see PROTOCOL.md)");
    io_putline("name | profile | timestamp | help | results | info");
    io_putline("db load N | db HEX | db rand SEED [N] | infer N [W=10] | ops [N=1]");
    io_putline("mode [features|audio] | features");
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
