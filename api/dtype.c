/* dtype.c - the element types a client may send and ask for: float32, float16, bfloat16 (and
 * float64 in). Every computation is float32: a narrower input widens exactly, and an output
 * is rounded to its dtype (to nearest, ties to even, as NumPy's and PyTorch's casts) at the
 * edge. float16 goes through F16C's conversion instructions where the CPU has them (chosen at
 * run time), else the scalar rule below, which the tests hold to the same bits. */
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

#include "api.h"

static const struct {
    const char *name, *oip;
    size_t size;
} dtypes[] = {
    [CT_DTYPE_FLOAT32] = {"float32", "FP32", 4},
    [CT_DTYPE_FLOAT16] = {"float16", "FP16", 2},
    [CT_DTYPE_BFLOAT16] = {"bfloat16", "BF16", 2},
    [CT_DTYPE_FLOAT64] = {"float64", "FP64", 8},
};

const char *ct_dtype_name(ct_dtype t) { return dtypes[t].name; }
const char *ct_dtype_oip_name(ct_dtype t) { return dtypes[t].oip; }
size_t ct_dtype_size(ct_dtype t) { return dtypes[t].size; }

int ct_dtype_from_name(const char *name, ct_dtype *out)
{
    for (int t = 0; t < (int)(sizeof dtypes / sizeof dtypes[0]); t++)
        if (strcmp(name, dtypes[t].name) == 0) {
            *out = (ct_dtype)t;
            return 0;
        }
    return -1;
}

int ct_dtype_from_oip(const char *name, ct_dtype *out)
{
    for (int t = 0; t < (int)(sizeof dtypes / sizeof dtypes[0]); t++)
        if (strcmp(name, dtypes[t].oip) == 0) {
            *out = (ct_dtype)t;
            return 0;
        }
    return -1;
}

uint16_t ct_f32_to_f16_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, mant = x & 0x7fffff;
    if (exp == 0xff) /* infinity, or a NaN kept quiet */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    const int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00); /* past 65504: infinity */
    if (e <= 0) { /* a subnormal half: the value in units of 2^-24, rounded */
        if (e < -10)
            return (uint16_t)sign; /* below half the smallest subnormal */
        const uint32_t m = mant | 0x800000, shift = (uint32_t)(14 - e);
        uint32_t h = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
        h += rem > mid || (rem == mid && (h & 1));
        return (uint16_t)(sign | h);
    }
    uint32_t h = sign | (uint32_t)e << 10 | mant >> 13;
    const uint32_t rem = mant & 0x1fff;
    h += rem > 0x1000 || (rem == 0x1000 && (h & 1)); /* a carry moves into the exponent, up to infinity */
    return (uint16_t)h;
}

float ct_f16_bits_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, x;
    if (exp == 0x1f) {
        x = sign | 0x7f800000 | mant << 13;
    } else if (exp == 0) {
        if (!mant) {
            x = sign;
        } else { /* subnormal: normalise */
            uint32_t e = 0;
            while (!(mant & 0x400)) {
                mant <<= 1;
                e++;
            }
            x = sign | (113 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else {
        x = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

uint16_t ct_f32_to_bf16_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40); /* a NaN stays a (quiet) NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

float ct_bf16_bits_to_f32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* F16C: 8 conversions per instruction. */
/* src may be at any byte address (an OIP binary section is packed): unaligned loads only. */
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const unsigned char *src, float *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(src + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = ct_f16_bits_to_f32(h);
    }
}

/* In place allowed (dst == src as bytes): each block of 8 is loaded before its 16 bytes are
 * stored, and those lie at or before the block's own first 16 bytes. */
__attribute__((target("avx,f16c"))) static void f32_to_f16_f16c(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        dst[i] = ct_f32_to_f16_bits(src[i]);
}

static int use_f16c = -1; /* unknown yet; ct_dtype_force_scalar sets 0 for the tests */

/* F16C and AVX in CPUID, and the OS saving the YMM registers (XGETBV): read directly, as
 * clang's __builtin_cpu_supports does not know "f16c". */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    const unsigned need = 1u << 27 | 1u << 28 | 1u << 29; /* OSXSAVE, AVX, F16C */
    if ((c & need) != need)
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6) == 6; /* XMM and YMM state */
}

static int have_f16c(void)
{
    if (use_f16c < 0)
        use_f16c = cpu_has_f16c();
    return use_f16c;
}

void ct_dtype_force_scalar(int scalar) { use_f16c = scalar ? 0 : -1; }

void ct_dtype_to_f32(ct_dtype t, const void *src, float *dst, int64_t n)
{
    const unsigned char *s = src; /* at any byte address: elements are read through memcpy */
    uint16_t h;
    double d;
    switch (t) {
    case CT_DTYPE_FLOAT16:
        if (have_f16c()) {
            f16_to_f32_f16c(s, dst, n);
            return;
        }
        for (int64_t i = 0; i < n; i++) {
            memcpy(&h, s + 2 * i, 2);
            dst[i] = ct_f16_bits_to_f32(h);
        }
        return;
    case CT_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++) {
            memcpy(&h, s + 2 * i, 2);
            dst[i] = ct_bf16_bits_to_f32(h);
        }
        return;
    case CT_DTYPE_FLOAT64:
        for (int64_t i = 0; i < n; i++) {
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        return;
    default:
        memmove(dst, s, sizeof(float) * (size_t)n); /* one copy, as before dtypes */
        return;
    }
}

void ct_f32_to_dtype(ct_dtype t, const float *src, void *dst, int64_t n)
{
    uint16_t *d = dst;
    if (t == CT_DTYPE_FLOAT16 && have_f16c()) {
        f32_to_f16_f16c(src, d, n);
    } else if (t == CT_DTYPE_FLOAT16) {
        for (int64_t i = 0; i < n; i++)
            d[i] = ct_f32_to_f16_bits(src[i]);
    } else if (t == CT_DTYPE_BFLOAT16) {
        for (int64_t i = 0; i < n; i++)
            d[i] = ct_f32_to_bf16_bits(src[i]);
    } else if ((const void *)src != dst) {
        memcpy(dst, src, sizeof(float) * (size_t)n);
    }
}

void ct_f32_round_to(ct_dtype t, float *data, int64_t n)
{
    if (t != CT_DTYPE_FLOAT16 && t != CT_DTYPE_BFLOAT16)
        return;
    enum { BLOCK = 1024 }; /* through a small buffer: the values stay float32 in place */
    uint16_t bits[BLOCK];
    for (int64_t i = 0; i < n; i += BLOCK) {
        const int64_t m = n - i < BLOCK ? n - i : BLOCK;
        ct_f32_to_dtype(t, data + i, bits, m);
        ct_dtype_to_f32(t, bits, data + i, m);
    }
}
