/* Payload masking (RFC 6455 5.3): dst[i] = src[i] ^ key[i % 4].
 *
 * `key` holds the 4 key bytes in memory order. Vector paths: AVX2 (chosen at
 * run time where the compiler supports it), SSE2 (baseline on x86-64), then
 * 8-byte words and a byte tail. dst may equal src (in-place unmasking).
 */
#ifndef PICOWS_MASK_H
#define PICOWS_MASK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

static inline size_t picows_mask_words(char* dst, const char* src, size_t size, uint32_t key, size_t i) {
    uint64_t key64 = ((uint64_t)key << 32) | key;
    uint64_t w;
    for (; i + 8 <= size; i += 8) {
        memcpy(&w, src + i, 8);
        w ^= key64;
        memcpy(dst + i, &w, 8);
    }
    return i;
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PICOWS_HAVE_AVX2_DISPATCH 1
__attribute__((target("avx2")))
static size_t picows_mask_avx2(char* dst, const char* src, size_t size, uint32_t key) {
    __m256i k = _mm256_set1_epi32((int)key);
    size_t i = 0;
    for (; i + 64 <= size; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i*)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i*)(src + i + 32));
        _mm256_storeu_si256((__m256i*)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i*)(dst + i + 32), _mm256_xor_si256(b, k));
    }
    for (; i + 32 <= size; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i*)(src + i));
        _mm256_storeu_si256((__m256i*)(dst + i), _mm256_xor_si256(a, k));
    }
    return i;
}

static int picows_avx2_state = -1; /* -1 unknown, 0 no, 1 yes */
#endif

static inline void picows_mask(char* dst, const char* src, size_t size, uint32_t key) {
    size_t i = 0;
    const uint8_t* kb = (const uint8_t*)&key;
#if defined(PICOWS_HAVE_AVX2_DISPATCH)
    if (size >= 64) {
        if (picows_avx2_state < 0) {
            __builtin_cpu_init();
            picows_avx2_state = __builtin_cpu_supports("avx2") ? 1 : 0;
        }
        if (picows_avx2_state) {
            i = picows_mask_avx2(dst, src, size, key);
        }
    }
#endif
#if defined(__SSE2__)
    {
        __m128i k = _mm_set1_epi32((int)key);
        for (; i + 16 <= size; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i*)(src + i));
            _mm_storeu_si128((__m128i*)(dst + i), _mm_xor_si128(a, k));
        }
    }
#endif
    i = picows_mask_words(dst, src, size, key, i);
    for (; i < size; i++) {
        dst[i] = (char)((uint8_t)src[i] ^ kb[i & 3]);
    }
}

#endif /* PICOWS_MASK_H */
