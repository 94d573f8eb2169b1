/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), identical to zlib.crc32. */
#ifndef EDGEQ_CRC32_H
#define EDGEQ_CRC32_H

#include <stdint.h>

/* Continue a CRC: start with crc = 0, feed data in any number of pieces. */
uint32_t edgeq_crc32_update(uint32_t crc, const uint8_t *data, uint32_t n);

#endif /* EDGEQ_CRC32_H */
