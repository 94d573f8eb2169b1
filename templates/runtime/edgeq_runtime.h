/* edgeq runtime types shared by generated models and the firmware. */
#ifndef EDGEQ_RUNTIME_H
#define EDGEQ_RUNTIME_H

#include <stdint.h>

/* Called after each layer with the layer's index (0-based), its int8 output and the
 * output's size in bytes. Firmware uses it for per-layer outputs and per-layer timing. */
typedef void (*edgeq_layer_hook_t)(uint32_t layer, const int8_t *output, uint32_t size, void *ctx);

#endif /* EDGEQ_RUNTIME_H */
