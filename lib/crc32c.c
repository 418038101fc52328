#include "crc32c.h"

/* Table-driven, reflected polynomial 0x82F63B78; the table is built once. */
static uint32_t table[256];
static int ready;

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
    ready = 1;
}

uint32_t vg_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!ready)
        init();
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
