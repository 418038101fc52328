/* CRC-32C (Castagnoli), as used by iSCSI, ext4 and SCTP. */
#ifndef VG_CRC32C_H
#define VG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over data; start with crc = 0.  "123456789" gives 0xe3069283. */
uint32_t vg_crc32c(uint32_t crc, const void *data, size_t len);
/* The same, always from the table (vg_crc32c uses the CPU's crc32
 * instruction where there is one); for tests. */
uint32_t vg_crc32c_soft(uint32_t crc, const void *data, size_t len);

#endif
