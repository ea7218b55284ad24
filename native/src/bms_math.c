#include "bms/bms_math.h"

typedef union {
    float f;
    uint32_t u;
} f32_bits_t;

int32_t bms_isfinitef(float x)
{
    f32_bits_t b;
    b.f = x;
    return ((b.u & 0x7f800000u) != 0x7f800000u) ? 1 : 0;
}

float bms_sqrtf(float x)
{
    if ((x != x) || (bms_isfinitef(x) == 0)) {
        return x; /* NaN, +inf (and -inf, which a variance never is) */
    }
    if (!(x > 0.0f)) {
        return 0.0f;
    }
    /* halve the exponent for a first guess within a factor of 1.5, then Newton (each
     * iteration doubles the correct bits: 4 reach float32's 24) */
    f32_bits_t b;
    b.f = x;
    b.u = (b.u >> 1) + 0x1fc00000u;
    float y = b.f;
    for (uint32_t k = 0u; k < 4u; k++) {
        y = 0.5f * (y + (x / y));
    }
    return y;
}

float bms_clampf(float x, float lo, float hi)
{
    if (x < lo) {
        return lo;
    }
    if (x > hi) {
        return hi;
    }
    return x;
}

/* Cody-Waite range reduction x = k*ln2 + r, |r| <= ln2/2, then a degree-7
 * Taylor polynomial (truncation error < 3e-9 relative) and exact scaling. */
float bms_expf(float x)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693145751953125f;
    const float ln2_lo = 1.42860682030941723e-06f;
    float xc = bms_clampf(x, -87.0f, 88.0f);
    float kf = xc * log2e;
    int32_t k = (int32_t)(kf + ((kf >= 0.0f) ? 0.5f : -0.5f));
    float kk = (float)k;
    float r = (xc - kk * ln2_hi) - kk * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    f32_bits_t scale;
    scale.u = (uint32_t)(k + 127) << 23;
    return p * scale.f;
}

float bms_expm1f(float x)
{
    if ((x > -0.35f) && (x < 0.35f)) {
        float p = 1.0f / 40320.0f;
        p = p * x + 1.0f / 5040.0f;
        p = p * x + 1.0f / 720.0f;
        p = p * x + 1.0f / 120.0f;
        p = p * x + 1.0f / 24.0f;
        p = p * x + 1.0f / 6.0f;
        p = p * x + 0.5f;
        p = p * x + 1.0f;
        return p * x;
    }
    return bms_expf(x) - 1.0f;
}

void bms_interp_locate(const float *bp, uint32_t n, float x, uint32_t *idx, float *w)
{
    if (n < 2u) {
        *idx = 0u;
        *w = 0.0f;
        return;
    }
    if (!(x > bp[0])) { /* also catches NaN: clamp low */
        *idx = 0u;
        *w = 0.0f;
        return;
    }
    if (x >= bp[n - 1u]) {
        *idx = n - 2u;
        *w = 1.0f;
        return;
    }
    uint32_t lo = 0u;
    uint32_t hi = n - 1u; /* invariant: bp[lo] <= x < bp[hi] */
    while ((hi - lo) > 1u) {
        uint32_t mid = (lo + hi) >> 1;
        if (x < bp[mid]) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    *idx = lo;
    *w = (x - bp[lo]) / (bp[lo + 1u] - bp[lo]);
}

void bms_interp_locate_near(const float *bp, uint32_t n, float x, uint32_t hint, uint32_t *idx, float *w)
{
    if ((n < 2u) || !(x > bp[0]) || (x >= bp[n - 1u])) {
        bms_interp_locate(bp, n, x, idx, w); /* the clamps and NaN: the search's own */
        return;
    }
    /* bp[0] < x < bp[n - 1]: walk from the hint's segment to the one with bp[lo] <= x <
     * bp[lo + 1], the only one (strictly increasing), so the search's; each walk moves one way
     * at most n - 2 times */
    uint32_t lo = (hint < (n - 1u)) ? hint : (n - 2u);
    while ((lo > 0u) && (x < bp[lo])) {
        lo--;
    }
    while (((lo + 2u) < n) && (x >= bp[lo + 1u])) {
        lo++;
    }
    *idx = lo;
    *w = (x - bp[lo]) / (bp[lo + 1u] - bp[lo]);
}

float bms_lerp_at(const float *y, uint32_t idx, float w, uint32_t n)
{
    if (n < 2u) {
        return y[0];
    }
    return y[idx] + w * (y[idx + 1u] - y[idx]);
}
