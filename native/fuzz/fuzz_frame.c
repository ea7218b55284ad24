/*
 * libFuzzer target for the firmware's protocol end (`make fuzz`): the frame
 * decoder (COBS, header, CRC), the message decoders and the dispatcher down
 * to bms_step, under AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * Input byte 0 selects: bit 0 = start from a configured node (the
 * configuration in $BMS_FUZZ_CONFIG, written by `make fuzz`), bit 1 = the
 * rest is a list of messages [type][length lo][length hi][payload...] that
 * this harness frames with a valid CRC (to reach the message decoders and
 * bms_step); otherwise the rest is raw wire bytes.
 *
 * Checked on every reply: it is one well-formed wire frame (leading and
 * trailing delimiter, no zero inside, within BMS_PROTO_MAX_WIRE), and every call
 * consumes input (no hang).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bms/hil_node.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bms_hil_node_t node;
static bms_config_t config;
static int have_config;
static uint8_t raw[BMS_PROTO_MAX_FRAME];
static uint8_t wire[BMS_PROTO_MAX_WIRE];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *path = getenv("BMS_FUZZ_CONFIG");
    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        if (f != NULL) {
            have_config = (fread(&config, 1, sizeof(config), f) == sizeof(config))
                          && (bms_config_check(&config) == BMS_CFG_OK);
            fclose(f);
        }
        if (!have_config) {
            fprintf(stderr, "BMS_FUZZ_CONFIG=%s is not a valid bms_config_t\n", path);
            exit(2);
        }
    }
    return 0;
}

static void check_reply(uint32_t len)
{
    if (len == 0u) {
        return;
    }
    const uint8_t *tx = bms_hil_tx(&node);
    if ((len > BMS_PROTO_MAX_WIRE) || (len < 4u) || (tx[0] != 0u) || (tx[len - 1u] != 0u)) {
        abort();
    }
    for (uint32_t i = 1u; i + 1u < len; i++) {
        if (tx[i] == 0u) {
            abort();
        }
    }
}

static void feed(const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        uint32_t used = 0u;
        const uint32_t len = bms_hil_feed(&node, p + off, (uint32_t)(n - off), &used);
        check_reply(len);
        if ((used == 0u) || (used > n - off)) {
            abort();
        }
        off += used;
    }
}

static void feed_framed(const uint8_t *p, size_t n)
{
    size_t off = 0;
    uint16_t seq = 1u;
    while (off + 3u <= n) {
        const uint8_t type = p[off];
        size_t len = (size_t)p[off + 1u] | ((size_t)p[off + 2u] << 8);
        off += 3u;
        if (len > n - off) {
            len = n - off;
        }
        if (len > BMS_PROTO_MAX_PAYLOAD) {
            len = BMS_PROTO_MAX_PAYLOAD;
        }
        raw[0] = BMS_PROTO_VERSION;
        raw[1] = type;
        raw[2] = (uint8_t)(seq & 0xFFu);
        raw[3] = (uint8_t)(seq >> 8);
        raw[4] = (uint8_t)(len & 0xFFu);
        raw[5] = (uint8_t)(len >> 8);
        memcpy(&raw[BMS_PROTO_HDR_LEN], p + off, len);
        const uint32_t crc = bms_proto_crc32c(raw, (uint32_t)(BMS_PROTO_HDR_LEN + len));
        for (uint32_t k = 0u; k < 4u; k++) {
            raw[BMS_PROTO_HDR_LEN + len + k] = (uint8_t)(crc >> (8u * k));
        }
        wire[0] = 0u;
        const uint32_t enc = bms_proto_cobs_encode(raw, (uint32_t)(BMS_PROTO_HDR_LEN + len + BMS_PROTO_CRC_LEN), &wire[1],
                                                   (uint32_t)sizeof(wire) - 2u);
        if (enc == 0u) {
            abort();
        }
        wire[enc + 1u] = 0u;
        feed(wire, enc + 2u);
        off += len;
        seq++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0u) {
        return 0;
    }
    bms_hil_board_t b;
    memset(&b, 0, sizeof(b));
    b.counter_mask = 0xFFFFFFFFu;
    bms_hil_init(&node, &b);
    if (have_config && ((data[0] & 1u) != 0u)) {
        (void)bms_init(&node.bms, &config);
    }
    if ((data[0] & 2u) != 0u) {
        feed_framed(data + 1, size - 1u);
    } else {
        feed(data + 1, size - 1u);
    }
    return 0;
}
