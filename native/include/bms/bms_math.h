/*
 * Float32 math the firmware needs, written out so the host (glibc) and the
 * target (newlib) run the same operations in the same order and give
 * bit-identical results. No libm calls in the step.
 */
#ifndef BMS_MATH_H
#define BMS_MATH_H

#include <stdint.h>

/* Number of elements of an array (not a pointer) known here. */
#define BMS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A function whose frame must not merge into its caller's: its locals then live only while
 * it runs, and the firmware's deepest call path (its stack: test_qemu) stays short. */
#if defined(__GNUC__)
#define BMS_NOINLINE __attribute__((noinline))
#else
#define BMS_NOINLINE
#endif

/* exp(x) for x in [-87, 88] (clamped outside); max rel. error ~2 ulp. */
float bms_expf(float x);
/* exp(x) - 1, accurate for small |x|. */
float bms_expm1f(float x);
float bms_clampf(float x, float lo, float hi);
/* 1 if x is neither NaN nor +-inf. */
int32_t bms_isfinitef(float x);
/* sqrt(x) for finite x >= 0 (0 for x <= 0, NaN for NaN, x for +inf); rel. error < 1e-6. */
float bms_sqrtf(float x);

/* Locate x in strictly increasing breakpoints bp[0..n-1]: index i of the
 * segment [bp[i], bp[i+1]] and weight w in [0, 1] of bp[i+1]; clamped at the
 * ends. n == 1 gives i = 0, w = 0. */
void bms_interp_locate(const float *bp, uint32_t n, float x, uint32_t *idx, float *w);
/* The same result, found by walking from the segment hint (cheaper where x lies near it:
 * the state of power's points near the cell's SoC). Any hint. */
void bms_interp_locate_near(const float *bp, uint32_t n, float x, uint32_t hint, uint32_t *idx, float *w);
/* 1-D linear interpolation with a located index/weight. */
float bms_lerp_at(const float *y, uint32_t idx, float w, uint32_t n);

#endif /* BMS_MATH_H */
