/*
 * Per-op profiling hook, force-included (-include) into the compiled graph.
 *
 * The graph compiler calls TINYKWS_OP_HOOK(i) before op i (and may call it with
 * i == TINYKWS_NUM_OPS after the last op). The runner only records a counter value when the
 * `ops%` command has switched profiling on, so normal inferences pay one load and one branch
 * per op (a few dozen instructions per inference), which keeps the image single.
 */
#ifndef TINYKWS_OPHOOK_H
#define TINYKWS_OPHOOK_H

#include <stdint.h>

extern volatile uint8_t tinykws_prof_on;
void tinykws_op_mark(int op_index);

#define TINYKWS_OP_HOOK(i)             \
    do {                               \
        if (tinykws_prof_on) {         \
            tinykws_op_mark((int)(i)); \
        }                              \
    } while (0)

#endif /* TINYKWS_OPHOOK_H */
