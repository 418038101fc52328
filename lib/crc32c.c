#include "crc32c.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#include <string.h>
#define VG_CRC_X86 1
#endif

/* Table-driven, reflected polynomial 0x82F63B78, the table built once;
 * with SSE4.2's crc32 instruction (8 bytes at a time) where the CPU has
 * it, as every x86-64 CPU since 2008 does.  Both give the same value. */
static uint32_t table[256];
static int ready; /* 1: table built; 2: and the CPU has the instruction */

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
    ready = 1;
#ifdef VG_CRC_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2"))
        ready = 2;
#endif
}

uint32_t vg_crc32c_soft(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!ready)
        init();
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#ifdef VG_CRC_X86
__attribute__((target("sse4.2"))) static uint32_t hw(uint32_t crc, const unsigned char *p,
                                                     size_t len)
{
    uint64_t c = ~crc;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    for (; len; p++, len--)
        c = _mm_crc32_u8((uint32_t)c, *p);
    return ~(uint32_t)c;
}
#endif

uint32_t vg_crc32c(uint32_t crc, const void *data, size_t len)
{
    if (!ready)
        init();
#ifdef VG_CRC_X86
    if (ready == 2)
        return hw(crc, data, len);
#endif
    return vg_crc32c_soft(crc, data, len);
}
