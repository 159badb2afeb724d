/* Incremental UTF-8 validation (RFC 3629 / Unicode table 3-7), for validate_utf8.
 *
 * picows_utf8_validate() checks one chunk of a text message and carries the
 * state of a character split across chunks (frames) in *state:
 *   0                      between characters;
 *   need | lo << 8 | hi << 16   `need` continuation bytes still expected, the
 *                          next one in [lo, hi] (the first continuation of
 *                          E0, ED, F0 and F4 has a narrower range; later
 *                          ones are always 0x80..0xBF).
 * It returns 0 as soon as a byte cannot continue a well-formed sequence
 * (overlongs, surrogates, code points above U+10FFFF, stray continuation
 * bytes), else 1. A message is complete and valid when the last chunk
 * returned 1 and *state is 0. Runs of ASCII are skipped 8 bytes at a time.
 */
#ifndef PICOWS_UTF8_H
#define PICOWS_UTF8_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t picows_utf8_lead(uint8_t b)
{
    /* The state after a lead byte, or 0xFFFFFFFF if b cannot start a character. */
    if (b >= 0xC2 && b <= 0xDF) return 1u | 0x80u << 8 | 0xBFu << 16;
    if (b == 0xE0) return 2u | 0xA0u << 8 | 0xBFu << 16;   /* no overlongs */
    if (b == 0xED) return 2u | 0x80u << 8 | 0x9Fu << 16;   /* no surrogates */
    if (b >= 0xE1 && b <= 0xEF) return 2u | 0x80u << 8 | 0xBFu << 16;
    if (b == 0xF0) return 3u | 0x90u << 8 | 0xBFu << 16;   /* no overlongs */
    if (b >= 0xF1 && b <= 0xF3) return 3u | 0x80u << 8 | 0xBFu << 16;
    if (b == 0xF4) return 3u | 0x80u << 8 | 0x8Fu << 16;   /* <= U+10FFFF */
    return 0xFFFFFFFFu;
}

static inline int picows_utf8_validate(const char* data, size_t size, uint32_t* state)
{
    const uint8_t* p = (const uint8_t*)data;
    const uint8_t* end = p + size;
    uint32_t st = *state;
    while (p < end) {
        if (st == 0) {
            /* Between characters: skip ASCII a word at a time. */
            while (end - p >= 8) {
                uint64_t word;
                memcpy(&word, p, 8);
                if (word & 0x8080808080808080ull)
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            if (p == end)
                break;
            st = picows_utf8_lead(*p++);
            if (st == 0xFFFFFFFFu) {
                *state = st;
                return 0;
            }
            continue;
        }
        {
            uint8_t b = *p;
            uint32_t need = st & 0xFFu;
            if (b < ((st >> 8) & 0xFFu) || b > ((st >> 16) & 0xFFu)) {
                *state = st;
                return 0;
            }
            p++;
            st = need == 1 ? 0 : (need - 1) | 0x80u << 8 | 0xBFu << 16;
        }
    }
    *state = st;
    return 1;
}

#endif /* PICOWS_UTF8_H */
