/* libFuzzer target for what another server can send (issue 5): the bytes
 * of an election connection and of a quorum connection.
 *
 * The input is read twice. As an election connection: the handshake, then
 * length-prefixed notification frames; every notification that decodes
 * must encode and decode back to the same fields. As a quorum connection:
 * QuorumPackets back to back (quorum_packet_frame must agree with
 * jute_quorum_packet_decode on where each ends), a SNAP packet followed by
 * its snapshot stream (the one-shot framer and the resumable scanner fed in
 * two pieces must agree), and each packet's data decoded as the payload its
 * type carries (REQUEST, PING, REVALIDATE, LEADERINFO/ACKEPOCH, LearnerInfo).
 * Configuration texts (a notification's, any packet's data as NEWLEADER
 * carries it) that parse must format and parse back to the same
 * configuration, and serve as the base of a reconfig whose joining and
 * leaving strings are the same bytes.
 *
 * Payloads are copied to exact-size heap buffers so AddressSanitizer
 * catches reads past them. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "consensus/quorum_config.h"
#include "consensus/quorum_wire.h"
#include "jute/jute.h"
#include "jute/records.h"

/* What peer_net accepts as a packet's data (2 x jute.maxbuffer + room). */
#define FUZZ_PACKET_DATA_MAX (2u * 1048575u + 4096u)
/* Frames and packets looked at per input. */
#define FUZZ_ITEMS_MAX 64u
#define FUZZ_ARENA_BYTES (256u * 1024u)

static _Alignas(max_align_t) uint8_t arena_storage[FUZZ_ARENA_BYTES];

static void require(bool condition)
{
    if (!condition) {
        abort();
    }
}

static uint8_t *copy_of(const uint8_t *bytes, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    require(copy != NULL);
    if (size) {
        memcpy(copy, bytes, size);
    }
    return copy;
}

static void configuration_text(const uint8_t *bytes, size_t size)
{
    if (size == 0 || size > QUORUM_CONFIG_TEXT_BYTES_MAX) {
        return;
    }
    char *text = (char *)copy_of(bytes, size);
    struct quorum_config *config = malloc(sizeof(*config));
    struct quorum_config *again = malloc(sizeof(*again));
    char *formatted = malloc(QUORUM_CONFIG_TEXT_BYTES_MAX);
    require(config && again && formatted);
    if (quorum_config_parse(text, size, config, NULL, 0) &&
        quorum_config_format(config, formatted, QUORUM_CONFIG_TEXT_BYTES_MAX)) {
        require(quorum_config_parse(formatted, strlen(formatted), again, NULL, 0));
        require(again->version == config->version && quorum_config_same_members(config, again));
        struct quorum_reconfig_request request = {
            .joining = text, .joining_len = size, .leaving = text, .leaving_len = size};
        char why[256];
        int rc = quorum_config_reconfig(config, &request, config->version + 1, 2, again, why,
                                        sizeof(why));
        if (rc == 0) {
            require(again->version == config->version + 1 &&
                    quorum_config_voter_count(again) >= 2);
        }
    }
    free(formatted);
    free(again);
    free(config);
    free(text);
}

static void election_stream(const uint8_t *data, size_t size)
{
    struct quorum_election_handshake handshake;
    size_t consumed = 0;
    uint8_t *whole = copy_of(data, size);
    enum quorum_wire_status status =
        quorum_election_handshake_decode(whole, size, &handshake, &consumed);
    free(whole);
    if (status != QUORUM_WIRE_DONE) {
        consumed = 0; /* read it as frames from the start */
    }
    require(consumed <= size);
    size_t offset = consumed;
    for (uint32_t item = 0; item < FUZZ_ITEMS_MAX && offset < size; item++) {
        size_t body_bytes = 0;
        if (quorum_election_frame(data + offset, size - offset, &body_bytes) !=
            QUORUM_WIRE_DONE) {
            return;
        }
        require(body_bytes + 4 <= size - offset);
        uint8_t *body = copy_of(data + offset + 4, body_bytes);
        struct election_notification notification;
        struct jute_bytes config;
        if (quorum_notification_decode(body, body_bytes, &notification, &config)) {
            if (config.len > 0) {
                configuration_text(config.ptr, (size_t)config.len);
            }
            struct jute_writer out;
            jute_writer_init(&out, QUORUM_ELECTION_FRAME_BYTES_MAX + 8);
            quorum_notification_encode(&out, &notification, "version=0");
            struct election_notification again;
            require(out.ok && out.size > 4);
            require(quorum_notification_decode(out.data + 4, out.size - 4, &again, NULL));
            require(again.state == notification.state && again.leader == notification.leader &&
                    again.zxid == notification.zxid &&
                    again.election_epoch == notification.election_epoch &&
                    again.peer_epoch == notification.peer_epoch);
            jute_writer_free(&out);
        }
        free(body);
        offset += 4 + body_bytes;
    }
}

static void touch_visit(void *context, const struct quorum_session_touch *touch)
{
    (void)touch;
    (*(size_t *)context)++;
}

static void payloads(const struct jute_quorum_packet *packet)
{
    struct quorum_request request;
    if (quorum_request_decode(packet->data, &request)) {
        require(request.body.len >= 0);
    }
    size_t touches = 0;
    (void)quorum_ping_decode(packet->data, touch_visit, &touches);
    int64_t session_id;
    int32_t timeout_ms;
    bool valid;
    (void)quorum_revalidate_request_decode(packet->data, &session_id, &timeout_ms);
    (void)quorum_revalidate_reply_decode(packet->data, &session_id, &valid);
    int32_t value;
    (void)quorum_int32_decode(packet->data, &value);
    if (packet->data.len > 0) {
        struct jute_reader reader;
        jute_reader_init(&reader, packet->data.ptr, (size_t)packet->data.len);
        struct jute_arena arena;
        jute_arena_init(&arena, arena_storage, sizeof arena_storage);
        struct jute_learner_info info;
        (void)jute_learner_info_decode(&reader, &arena, &info);
    }
}

static void snap_stream(const uint8_t *data, size_t size)
{
    size_t one_shot = 0;
    enum quorum_wire_status whole = quorum_snap_stream_frame(data, size, &one_shot);
    /* The same stream arriving in two pieces. */
    struct quorum_snap_scan scan;
    quorum_snap_scan_init(&scan, QUORUM_SNAP_STRING_BYTES_MAX_DEFAULT);
    size_t split = size / 2;
    size_t pieces = 0;
    enum quorum_wire_status first = quorum_snap_scan_feed(&scan, data, split, &pieces);
    enum quorum_wire_status second = first;
    if (first == QUORUM_WIRE_NEED_MORE) {
        second = quorum_snap_scan_feed(&scan, data, size, &pieces);
    }
    if (whole == QUORUM_WIRE_DONE && first != QUORUM_WIRE_MALFORMED) {
        require(second == QUORUM_WIRE_DONE && pieces == one_shot && one_shot <= size);
    }
}

static void quorum_stream(const uint8_t *data, size_t size)
{
    size_t offset = 0;
    for (uint32_t item = 0; item < FUZZ_ITEMS_MAX && offset < size; item++) {
        size_t packet_bytes = 0;
        if (quorum_packet_frame(data + offset, size - offset, FUZZ_PACKET_DATA_MAX,
                                &packet_bytes) != QUORUM_WIRE_DONE) {
            return;
        }
        require(packet_bytes > 0 && packet_bytes <= size - offset);
        uint8_t *bytes = copy_of(data + offset, packet_bytes);
        struct jute_reader reader;
        jute_reader_init(&reader, bytes, packet_bytes);
        struct jute_arena arena;
        jute_arena_init(&arena, arena_storage, sizeof arena_storage);
        struct jute_quorum_packet packet;
        bool decoded = jute_quorum_packet_decode(&reader, &arena, &packet);
        /* The framer and the decoder agree on where a packet ends (the
         * decoder may still refuse what the arena cannot hold). */
        if (decoded) {
            require(jute_reader_remaining(&reader) == 0);
            payloads(&packet);
            if (packet.data.len > 0) {
                configuration_text(packet.data.ptr, (size_t)packet.data.len);
            }
        }
        offset += packet_bytes;
        if (decoded && packet.type == QUORUM_SNAP) {
            snap_stream(data + offset, size - offset);
            free(bytes);
            return;
        }
        free(bytes);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    election_stream(data, size);
    quorum_stream(data, size);
    return 0;
}
