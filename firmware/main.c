/* edgeq firmware main loop: serves the generated model over one serial link.
 *
 * ASCII mode: the MLPerf Tiny host-to-device protocol (commands end with '%', replies are
 * "m-..." lines ending with "m-ready"). Binary mode (entered with "bin%"): framed int8
 * tensors with a CRC-32. See firmware/PROTOCOL.md. Board independent: everything that
 * touches hardware is behind hal.h. No malloc, no stdio. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("Os") /* the serial protocol is not on the inference path: small over fast */
#endif
#include <stddef.h>
#include <stdint.h>

#include "crc32.h"
#include "edgeq_target.h"
#include "hal.h"

#define EDGEQ_CMD_MAX 128u /* longest command line without its '%' (PROTOCOL.md) */
#define EDGEQ_ECHO_MAX 48u
#define EDGEQ_FRAME_TIMEOUT_US 1000000u
#define EDGEQ_PING_MAX 64u

/* Binary frame types (PROTOCOL.md). */
#define EDGEQ_F_INFER 0x01u
#define EDGEQ_F_INFER_LAYERS 0x02u
#define EDGEQ_F_INFO 0x03u
#define EDGEQ_F_EXIT 0x04u
#define EDGEQ_F_PING 0x05u
#define EDGEQ_F_RESULT 0x81u
#define EDGEQ_F_LAYER 0x82u
#define EDGEQ_F_INFO_REPLY 0x83u
#define EDGEQ_F_PONG 0x84u
#define EDGEQ_F_OK 0x85u
#define EDGEQ_F_ERROR 0xEEu

#define EDGEQ_ERR_CRC 1u
#define EDGEQ_ERR_LENGTH 2u
#define EDGEQ_ERR_TYPE 3u
#define EDGEQ_ERR_TIMEOUT 4u

/* The input tensor's region in the model's arena (edgeq_model_input_buffer()) is the `db`
 * buffer and receives INFER payloads directly: no separate input buffer. Where the planner
 * reuses those bytes during an inference (EDGEQ_MODEL_INPUT_KEPT 0), a run consumes the
 * loaded input (PROTOCOL.md). */
static int8_t edgeq_output[EDGEQ_MODEL_OUTPUT_SIZE] __attribute__((aligned(16)));
#if EDGEQ_MODEL_IDLE_SIZE >= EDGEQ_CMD_MAX + 1
/* The command line lives in the arena's idle region (free while no inference runs, never over
 * the input): an inference overwrites it only after its command was parsed. */
#define edgeq_cmd ((char *)edgeq_model_idle_buffer())
#else
static char edgeq_cmd[EDGEQ_CMD_MAX + 1u];
#endif
static uint32_t edgeq_load_expected; /* N of the last "db load N" (0: none) */
static uint32_t edgeq_load_got;      /* bytes received since */
static int edgeq_have_results;

/* ---------------------------------------------------------------- output helpers */

static void edgeq_puts(const char *s)
{
    while (*s != '\0') {
        edgeq_hal_putc((uint8_t)*s++);
    }
}

/* v / 10 with 32-bit divisions only (no 64-bit division routine linked); returns v % 10. */
static uint32_t edgeq_div10(uint64_t *v)
{
    const uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
    const uint32_t x = ((hi % 10u) << 16) | (lo >> 16);
    const uint32_t y = ((x % 10u) << 16) | (lo & 0xFFFFu);
    *v = ((uint64_t)(hi / 10u) << 32) | ((uint64_t)(x / 10u) << 16) | (uint64_t)(y / 10u);
    return y % 10u;
}

static void edgeq_put_u64(uint64_t v)
{
    char buf[21];
    uint32_t n = 0;
    do {
        buf[n++] = (char)('0' + edgeq_div10(&v));
    } while (v != 0u);
    while (n > 0u) {
        edgeq_hal_putc((uint8_t)buf[--n]);
    }
}

static void edgeq_put_i32(int32_t v)
{
    if (v < 0) {
        edgeq_hal_putc('-');
        edgeq_put_u64((uint64_t)(-(int64_t)v));
    } else {
        edgeq_put_u64((uint64_t)v);
    }
}

static void edgeq_put_hex(const uint8_t *p, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < n; ++i) {
        edgeq_hal_putc((uint8_t)digits[p[i] >> 4]);
        edgeq_hal_putc((uint8_t)digits[p[i] & 0xFu]);
    }
}

static void edgeq_eol(void)
{
    edgeq_puts("\r\n");
}

static void edgeq_line(const char *s)
{
    edgeq_puts(s);
    edgeq_eol();
}

static void edgeq_ready(void)
{
    edgeq_line("m-ready");
    edgeq_hal_flush();
}

static void edgeq_error(const char *msg)
{
    edgeq_puts("e-[");
    edgeq_puts(msg);
    edgeq_puts("]");
    edgeq_eol();
}

static void edgeq_line_u64(const char *prefix, uint64_t v)
{
    edgeq_puts(prefix);
    edgeq_put_u64(v);
    edgeq_eol();
}

static void edgeq_line_bracket(const char *prefix, uint64_t v)
{
    edgeq_puts(prefix);
    edgeq_put_u64(v);
    edgeq_puts("]");
    edgeq_eol();
}

static const char *edgeq_unit_name(void)
{
    switch (edgeq_hal_count_unit()) {
    case EDGEQ_COUNT_CYCLES:
        return "cycles";
    case EDGEQ_COUNT_INSTRUCTIONS:
        return "instructions";
    default:
        return "ns";
    }
}

static void edgeq_print_results(void)
{
    edgeq_puts("m-results-[");
    for (uint32_t i = 0; i < (uint32_t)EDGEQ_MODEL_OUTPUT_SIZE; ++i) {
        if (i != 0u) {
            edgeq_hal_putc(',');
        }
        edgeq_put_i32(edgeq_output[i]);
    }
    edgeq_puts("]");
    edgeq_eol();
}

/* ---------------------------------------------------------------- ASCII parsing helpers */

static int edgeq_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Next whitespace-separated token of *s (NUL-terminated in place), or NULL. */
static char *edgeq_token(char **s)
{
    char *p = *s;
    while (*p != '\0' && edgeq_is_space(*p)) {
        ++p;
    }
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    char *start = p;
    while (*p != '\0' && !edgeq_is_space(*p)) {
        ++p;
    }
    if (*p != '\0') {
        *p++ = '\0';
    }
    *s = p;
    return start;
}

static int edgeq_streq(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

/* Decimal u32; returns 0 on anything else (empty, non-digits, overflow). */
static int edgeq_parse_u32(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (; *s != '\0'; ++s) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
        v = v * 10u + (uint64_t)(*s - '0');
        if (v > 0xFFFFFFFFu) {
            return 0;
        }
    }
    *out = (uint32_t)v;
    return 1;
}

static int edgeq_hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Echoes the command (n bytes; tokenizing may have put NULs between words). */
static void edgeq_unknown(const char *cmd, uint32_t n)
{
    edgeq_puts("e-[unknown command: ");
    for (uint32_t i = 0; i < n; ++i) {
        if (i == EDGEQ_ECHO_MAX) {
            edgeq_puts("...");
            break;
        }
        char c = cmd[i] == '\0' ? ' ' : cmd[i];
        edgeq_hal_putc((uint8_t)((c >= 0x20 && c < 0x7F && c != ']') ? c : '?'));
    }
    edgeq_puts("]");
    edgeq_eol();
}

/* ---------------------------------------------------------------- stack high-water mark */

#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define EDGEQ_STACK_PAINT 0xE5E5E5E5u
extern uint32_t __edgeq_stack_bottom, __edgeq_stack_top;

/* Fills the unused part of the stack reserve (below the current frame) with a pattern. */
static void __attribute__((noinline)) edgeq_stack_paint(void)
{
    uint32_t here = 0;
    volatile uint32_t *p = &__edgeq_stack_bottom;
    volatile uint32_t *const end = (volatile uint32_t *)((uintptr_t)&here & ~(uintptr_t)3u) - 16;
    while (p < end) {
        *p++ = EDGEQ_STACK_PAINT;
    }
}

/* Bytes of the reserve ever used: from the top down to the lowest overwritten word. */
static uint32_t edgeq_stack_used(void)
{
    const uint32_t *p = &__edgeq_stack_bottom;
    while (p < &__edgeq_stack_top && *p == EDGEQ_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&__edgeq_stack_top - (uintptr_t)p);
}

static uint32_t edgeq_stack_size(void)
{
    return (uint32_t)((uintptr_t)&__edgeq_stack_top - (uintptr_t)&__edgeq_stack_bottom);
}
#else
static void edgeq_stack_paint(void)
{
}

static uint32_t edgeq_stack_used(void)
{
    return 0u; /* host build: the OS owns the stack */
}

static uint32_t edgeq_stack_size(void)
{
    return 0u;
}
#endif

/* ---------------------------------------------------------------- inference */

/* The input region no longer holds the loaded input after a run of a model whose arena
 * reuses it: forget the `db` load, so `infer` asks for a new one instead of running on
 * overwritten bytes. */
static void edgeq_input_used(void)
{
#if !EDGEQ_MODEL_INPUT_KEPT
    edgeq_load_expected = 0;
    edgeq_load_got = 0;
#endif
}

static uint64_t edgeq_run_once(void)
{
    uint64_t t0 = edgeq_hal_count();
    edgeq_model_run(edgeq_model_input_buffer(), edgeq_output);
    uint64_t t1 = edgeq_hal_count();
    edgeq_have_results = 1;
    edgeq_input_used();
    return t1 - t0;
}

/* ---------------------------------------------------------------- ASCII commands */

static void edgeq_cmd_db(char *rest)
{
    char *arg = edgeq_token(&rest);
    if (arg == NULL) {
        edgeq_error("db needs an argument: load N, print or hex bytes");
        return;
    }
    if (edgeq_streq(arg, "load")) {
        uint32_t n = 0;
        char *num = edgeq_token(&rest);
        if (!edgeq_parse_u32(num, &n) || edgeq_token(&rest) != NULL) {
            edgeq_error("db load needs one decimal byte count");
            return;
        }
        if (n == 0u || n > (uint32_t)EDGEQ_MODEL_INPUT_SIZE) {
            edgeq_puts("e-[db load ");
            edgeq_put_u64(n);
            edgeq_puts(" out of range 1..");
            edgeq_put_u64((uint64_t)EDGEQ_MODEL_INPUT_SIZE);
            edgeq_puts("]");
            edgeq_eol();
            return;
        }
        edgeq_load_expected = n;
        edgeq_load_got = 0;
        edgeq_puts("m-[Expecting ");
        edgeq_put_u64(n);
        edgeq_puts(" bytes]");
        edgeq_eol();
        return;
    }
    if (edgeq_token(&rest) != NULL) {
        edgeq_error("db takes one argument");
        return;
    }
    if (edgeq_streq(arg, "print")) {
        edgeq_puts("m-buffer-");
        edgeq_put_hex((const uint8_t *)edgeq_model_input_buffer(), edgeq_load_got);
        edgeq_eol();
        return;
    }
    /* hex bytes: validate everything before touching the buffer */
    uint32_t len = 0;
    while (arg[len] != '\0') {
        if (edgeq_hex_value(arg[len]) < 0) {
            edgeq_error("bad hex digit");
            return;
        }
        ++len;
    }
    if ((len & 1u) != 0u) {
        edgeq_error("odd hex length");
        return;
    }
    if (edgeq_load_expected == 0u) {
        edgeq_error("no db load in progress");
        return;
    }
    if (len / 2u > edgeq_load_expected - edgeq_load_got) {
        edgeq_error("more bytes than db load announced");
        return;
    }
    int8_t *const input = edgeq_model_input_buffer();
    for (uint32_t i = 0; i < len; i += 2u) {
        int v = (edgeq_hex_value(arg[i]) << 4) | edgeq_hex_value(arg[i + 1u]);
        input[edgeq_load_got++] = (int8_t)(uint8_t)v;
    }
    if (edgeq_load_got == edgeq_load_expected) {
        edgeq_line("m-load-done");
    }
}

static void edgeq_cmd_infer(char *rest)
{
    uint32_t n = 0, w = 0;
    char *ns = edgeq_token(&rest);
    char *ws = edgeq_token(&rest);
    if (!edgeq_parse_u32(ns, &n) || (ws != NULL && !edgeq_parse_u32(ws, &w)) || edgeq_token(&rest) != NULL ||
        n == 0u) {
        edgeq_error("infer needs N >= 1 runs and optional W warm-up runs");
        return;
    }
    if (edgeq_load_expected == 0u || edgeq_load_got != edgeq_load_expected) {
        edgeq_error("no input loaded (db load N, then db <hex>)");
        return;
    }
#if !EDGEQ_MODEL_INPUT_KEPT
    if (n != 1u || w != 0u) {
        edgeq_error("this model's arena reuses the input: one run per db load (infer 1 0)");
        return;
    }
#endif
    edgeq_line_u64("m-warmup-start-", w);
    for (uint32_t i = 0; i < w; ++i) {
        (void)edgeq_run_once();
    }
    edgeq_line("m-warmup-done");
    edgeq_line_u64("m-infer-start-", n);
    edgeq_hal_flush();
    uint64_t start = edgeq_hal_micros();
    for (uint32_t i = 0; i < n; ++i) {
        (void)edgeq_run_once();
    }
    uint64_t end = edgeq_hal_micros();
    edgeq_line_u64("m-lap-us-", start);
    edgeq_line_u64("m-lap-us-", end);
    edgeq_line("m-infer-done");
    edgeq_print_results();
}

static void edgeq_cmd_help(void)
{
    edgeq_line("m-help-name%: the model name");
    edgeq_line("m-help-profile%: model and counter details");
    edgeq_line("m-help-timestamp%: the board's time in microseconds");
    edgeq_line("m-help-db load N%: expect N input bytes");
    edgeq_line("m-help-db <hex>%: append hex bytes to the input");
    edgeq_line("m-help-db print%: show the input buffer");
    edgeq_line("m-help-infer N W%: W warm-up runs, then N timed runs");
    edgeq_line("m-help-results%: the last inference's int8 outputs");
    edgeq_line("m-help-stack%: stack reserve and its high-water mark in bytes");
    edgeq_line("m-help-bin%: switch to the framed binary mode");
    edgeq_line("m-help-help%: this list");
}

/* Returns 1 when the link switches to binary mode. */
static int edgeq_handle_command(char *cmd, uint32_t n)
{
    while (n > 0u && edgeq_is_space(cmd[n - 1u])) {
        cmd[--n] = '\0';
    }
    char *rest = cmd;
    char *word = edgeq_token(&rest);
    if (word == NULL) {
        edgeq_unknown(cmd, 0u);
        return 0;
    }
    if (edgeq_streq(word, "db")) {
        edgeq_cmd_db(rest);
        return 0;
    }
    if (edgeq_streq(word, "infer")) {
        edgeq_cmd_infer(rest);
        return 0;
    }
    if (edgeq_token(&rest) != NULL) {
        /* the remaining commands take no arguments: report the whole command */
        edgeq_unknown(cmd, n);
        return 0;
    }
    if (edgeq_streq(word, "name")) {
        edgeq_line("m-name-edgeq-" EDGEQ_MODEL_NAME_STR);
    } else if (edgeq_streq(word, "profile")) {
        edgeq_line("m-profile-[edgeq]");
        edgeq_line("m-model-[" EDGEQ_MODEL_NAME_STR "]");
        edgeq_line_bracket("m-input-[", (uint64_t)EDGEQ_MODEL_INPUT_SIZE);
        edgeq_line_bracket("m-output-[", (uint64_t)EDGEQ_MODEL_OUTPUT_SIZE);
        edgeq_line_bracket("m-layers-[", (uint64_t)EDGEQ_MODEL_NUM_LAYERS);
        edgeq_puts("m-count-unit-[");
        edgeq_puts(edgeq_unit_name());
        edgeq_puts("]");
        edgeq_eol();
    } else if (edgeq_streq(word, "timestamp")) {
        edgeq_line_u64("m-lap-us-", edgeq_hal_micros());
    } else if (edgeq_streq(word, "results")) {
        if (!edgeq_have_results) {
            edgeq_error("no results yet: run infer first");
        } else {
            edgeq_print_results();
        }
    } else if (edgeq_streq(word, "stack")) {
        edgeq_puts("m-stack-[");
        edgeq_put_u64(edgeq_stack_used());
        edgeq_puts("/");
        edgeq_put_u64(edgeq_stack_size());
        edgeq_puts("]");
        edgeq_eol();
    } else if (edgeq_streq(word, "help")) {
        edgeq_cmd_help();
    } else if (edgeq_streq(word, "bin")) {
        edgeq_line("m-bin-ready");
        edgeq_hal_flush();
        return 1;
    } else {
        edgeq_unknown(cmd, n);
    }
    return 0;
}

/* ---------------------------------------------------------------- binary frames */

static uint32_t edgeq_tx_crc;

static void edgeq_tx_bytes(const uint8_t *p, uint32_t n)
{
    edgeq_tx_crc = edgeq_crc32_update(edgeq_tx_crc, p, n);
    edgeq_hal_write(p, n);
}

static void edgeq_tx_u32(uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    edgeq_tx_bytes(b, 4u);
}

static void edgeq_tx_u64(uint64_t v)
{
    edgeq_tx_u32((uint32_t)v);
    edgeq_tx_u32((uint32_t)(v >> 32));
}

static void edgeq_tx_begin(uint8_t type, uint32_t len)
{
    static const uint8_t magic[2] = {0xEBu, 0x90u};
    edgeq_hal_write(magic, 2u);
    edgeq_tx_crc = 0;
    edgeq_tx_bytes(&type, 1u);
    edgeq_tx_u32(len);
}

static void edgeq_tx_end(void)
{
    uint32_t crc = edgeq_tx_crc;
    uint8_t b[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    edgeq_hal_write(b, 4u);
    edgeq_hal_flush();
}

static void edgeq_tx_error(uint8_t code, const char *msg)
{
    uint32_t n = 0;
    while (msg[n] != '\0') {
        ++n;
    }
    edgeq_tx_begin(EDGEQ_F_ERROR, 1u + n);
    edgeq_tx_bytes(&code, 1u);
    edgeq_tx_bytes((const uint8_t *)msg, n);
    edgeq_tx_end();
}

static void edgeq_tx_result(uint64_t count)
{
    edgeq_tx_begin(EDGEQ_F_RESULT, 8u + (uint32_t)EDGEQ_MODEL_OUTPUT_SIZE);
    edgeq_tx_u64(count);
    edgeq_tx_bytes((const uint8_t *)edgeq_output, (uint32_t)EDGEQ_MODEL_OUTPUT_SIZE);
    edgeq_tx_end();
}

typedef struct {
    uint64_t last;
    uint64_t total;
} edgeq_layer_clock_t;

static void edgeq_layer_hook(uint32_t layer, const int8_t *output, uint32_t size, void *ctx)
{
    edgeq_layer_clock_t *clk = (edgeq_layer_clock_t *)ctx;
    uint64_t now = edgeq_hal_count();
    uint64_t spent = now - clk->last;
    clk->total += spent;
    edgeq_tx_begin(EDGEQ_F_LAYER, 12u + size);
    edgeq_tx_u32(layer);
    edgeq_tx_u64(spent);
    edgeq_tx_bytes((const uint8_t *)output, size);
    edgeq_tx_end();
    clk->last = edgeq_hal_count(); /* the next layer's count leaves out the UART time */
}

/* Reads n bytes with the in-frame timeout, feeding the CRC; 0 on timeout. */
static int edgeq_rx_bytes(uint8_t *dst, uint32_t n, uint32_t *crc)
{
    for (uint32_t i = 0; i < n; ++i) {
        int32_t c = edgeq_hal_getc(EDGEQ_FRAME_TIMEOUT_US);
        if (c < 0) {
            return 0;
        }
        dst[i] = (uint8_t)c;
    }
    if (crc != NULL) {
        *crc = edgeq_crc32_update(*crc, dst, n);
    }
    return 1;
}

static uint32_t edgeq_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* Serves frames until an EXIT frame; returns to ASCII mode then. */
static void edgeq_binary_mode(void)
{
    for (;;) {
        /* hunt for the magic 0xEB 0x90 */
        int32_t c = edgeq_hal_getc(EDGEQ_HAL_FOREVER);
        if (c != 0xEB) {
            continue;
        }
        do {
            c = edgeq_hal_getc(EDGEQ_FRAME_TIMEOUT_US);
        } while (c == 0xEB);
        if (c < 0) {
            edgeq_tx_error(EDGEQ_ERR_TIMEOUT, "timeout inside a frame");
            continue;
        }
        if (c != 0x90) {
            continue;
        }
        uint8_t header[5];
        uint32_t crc = 0;
        if (!edgeq_rx_bytes(header, 5u, &crc)) {
            edgeq_tx_error(EDGEQ_ERR_TIMEOUT, "timeout inside a frame");
            continue;
        }
        uint8_t type = header[0];
        uint32_t len = edgeq_le32(&header[1]);
        uint32_t max_len;
        switch (type) {
        case EDGEQ_F_INFER:
        case EDGEQ_F_INFER_LAYERS:
            max_len = (uint32_t)EDGEQ_MODEL_INPUT_SIZE;
            break;
        case EDGEQ_F_INFO:
        case EDGEQ_F_EXIT:
            max_len = 0;
            break;
        case EDGEQ_F_PING:
            max_len = EDGEQ_PING_MAX;
            break;
        default:
            edgeq_tx_error(EDGEQ_ERR_TYPE, "unknown frame type");
            continue;
        }
        int exact = (type == EDGEQ_F_INFER || type == EDGEQ_F_INFER_LAYERS);
        if (len > max_len || (exact && len != max_len)) {
            edgeq_tx_error(EDGEQ_ERR_LENGTH, "bad length for the frame type");
            continue;
        }
        uint8_t crc_bytes[4];
        uint8_t ping[EDGEQ_PING_MAX];
        uint8_t *const dst = exact ? (uint8_t *)edgeq_model_input_buffer() : ping;
        if (exact) {
            /* the payload lands in the input buffer: an ASCII `db` load is gone */
            edgeq_load_expected = 0;
            edgeq_load_got = 0;
        }
        if (!edgeq_rx_bytes(dst, len, &crc) || !edgeq_rx_bytes(crc_bytes, 4u, NULL)) {
            edgeq_tx_error(EDGEQ_ERR_TIMEOUT, "timeout inside a frame");
            continue;
        }
        if (edgeq_le32(crc_bytes) != crc) {
            edgeq_tx_error(EDGEQ_ERR_CRC, "bad CRC");
            continue;
        }
        switch (type) {
        case EDGEQ_F_INFER:
            edgeq_tx_result(edgeq_run_once());
            break;
        case EDGEQ_F_INFER_LAYERS: {
            edgeq_layer_clock_t clk;
            clk.total = 0;
            clk.last = edgeq_hal_count();
            edgeq_model_run_hooked(edgeq_model_input_buffer(), edgeq_output, edgeq_layer_hook, &clk);
            edgeq_have_results = 1;
            edgeq_input_used();
            edgeq_tx_result(clk.total);
            break;
        }
        case EDGEQ_F_INFO: {
            static const char name[] = EDGEQ_MODEL_NAME_STR;
            uint8_t unit = (uint8_t)edgeq_hal_count_unit();
            edgeq_tx_begin(EDGEQ_F_INFO_REPLY, 13u + (uint32_t)(sizeof(name) - 1u));
            edgeq_tx_u32((uint32_t)EDGEQ_MODEL_INPUT_SIZE);
            edgeq_tx_u32((uint32_t)EDGEQ_MODEL_OUTPUT_SIZE);
            edgeq_tx_u32((uint32_t)EDGEQ_MODEL_NUM_LAYERS);
            edgeq_tx_bytes(&unit, 1u);
            edgeq_tx_bytes((const uint8_t *)name, (uint32_t)(sizeof(name) - 1u));
            edgeq_tx_end();
            break;
        }
        case EDGEQ_F_PING:
            edgeq_tx_begin(EDGEQ_F_PONG, len);
            edgeq_tx_bytes(ping, len);
            edgeq_tx_end();
            break;
        default: /* EDGEQ_F_EXIT */
            edgeq_tx_begin(EDGEQ_F_OK, 0u);
            edgeq_tx_end();
            return;
        }
    }
}

/* ---------------------------------------------------------------- main loop */

int main(void)
{
    uint32_t len = 0;
    int overflow = 0;
    edgeq_stack_paint();
    edgeq_hal_init();
    edgeq_ready();
    for (;;) {
        int32_t c = edgeq_hal_getc(EDGEQ_HAL_FOREVER);
        if (c < 0) {
            continue;
        }
        if (c == '%') {
            if (!overflow) {
                edgeq_cmd[len] = '\0';
                if (edgeq_handle_command(edgeq_cmd, len)) {
                    edgeq_binary_mode();
                }
                edgeq_ready();
            }
            len = 0;
            overflow = 0;
            continue;
        }
        if (overflow) {
            continue;
        }
        if (len == 0u && edgeq_is_space((char)c)) {
            continue; /* line ends and blanks between commands */
        }
        if (len >= EDGEQ_CMD_MAX) {
            /* discard up to and including the next '%' */
            overflow = 1;
            edgeq_error("command too long");
            edgeq_ready();
            continue;
        }
        /* a NUL would end the command early: keep it as a non-printable stand-in */
        edgeq_cmd[len++] = (char)(c == 0 ? 0x7F : c);
    }
}
