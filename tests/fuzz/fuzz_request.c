/* libFuzzer target for the client-facing decoders.
 *
 * The input is a byte stream as a client would send it: length-prefixed
 * frames. Each frame found by jute_frame_peek is decoded with
 * jute_request_decode (the first one also as a ConnectRequest, which has no
 * RequestHeader), and as the other records a peer or a disk could hand us.
 * Whatever decodes must re-encode, and the re-encoding must decode to a
 * record that encodes to the same bytes (bools are normalized to 0/1 on the
 * first pass, so the comparison is between the first and second encodings).
 *
 * Each payload is copied to an exact-size heap buffer so that AddressSanitizer
 * catches any read past the frame, not just past the whole input. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jute/frame.h"
#include "jute/jute.h"
#include "jute/records.h"

/* ZooKeeper's default jute.maxbuffer. */
#define FUZZ_MAXBUFFER_BYTES 1048575u
/* Bounds the vectors one frame may decode to, as the server's arena does. */
#define FUZZ_ARENA_BYTES (256u * 1024u)
/* Frames looked at per input. */
#define FUZZ_FRAMES_MAX 64u
/* Re-encodings are bounded like replies. */
#define FUZZ_WRITER_LIMIT_BYTES (4u * 1024u * 1024u)

static _Alignas(max_align_t) uint8_t arena_storage[FUZZ_ARENA_BYTES];

static struct jute_arena *fresh_arena(void)
{
    static struct jute_arena arena;
    jute_arena_init(&arena, arena_storage, sizeof arena_storage);
    return &arena;
}

static void require(bool condition)
{
    if (!condition) {
        abort();
    }
}

static void require_same_bytes(const struct jute_writer *a, const struct jute_writer *b)
{
    require(a->ok && b->ok);
    require(a->size == b->size);
    require(a->size == 0 || memcmp(a->data, b->data, a->size) == 0);
}

/* Decodes `payload` as record `name`; if it decodes, checks the round trip. */
#define FUZZ_RECORD(name, payload, size)                                                  \
    do {                                                                                  \
        struct jute_reader reader_;                                                       \
        jute_reader_init(&reader_, (payload), (size));                                    \
        struct jute_##name first_;                                                        \
        if (!jute_##name##_decode(&reader_, fresh_arena(), &first_)) {                    \
            break;                                                                        \
        }                                                                                 \
        struct jute_writer once_, twice_;                                                 \
        jute_writer_init(&once_, FUZZ_WRITER_LIMIT_BYTES);                                \
        jute_writer_init(&twice_, FUZZ_WRITER_LIMIT_BYTES);                               \
        jute_##name##_encode(&once_, &first_);                                            \
        require(once_.ok && once_.size == reader_.offset);                                \
        struct jute_reader again_;                                                        \
        jute_reader_init(&again_, once_.data, once_.size);                                \
        struct jute_##name second_;                                                       \
        require(jute_##name##_decode(&again_, fresh_arena(), &second_));                  \
        require(again_.offset == once_.size);                                             \
        jute_##name##_encode(&twice_, &second_);                                          \
        require_same_bytes(&once_, &twice_);                                              \
        jute_writer_free(&once_);                                                         \
        jute_writer_free(&twice_);                                                        \
    } while (0)

static void fuzz_request_payload(const uint8_t *payload, size_t size)
{
    struct jute_request first;
    int result = jute_request_decode(payload, size, fresh_arena(), &first);
    require(result == JUTE_DECODE_OK || result == JUTE_DECODE_MALFORMED ||
            result == JUTE_DECODE_UNKNOWN_OPCODE);
    if (result != JUTE_DECODE_OK) {
        return;
    }
    struct jute_writer once, twice;
    jute_writer_init(&once, FUZZ_WRITER_LIMIT_BYTES);
    jute_writer_init(&twice, FUZZ_WRITER_LIMIT_BYTES);
    require(jute_request_encode(&once, &first));
    require(once.size <= size);
    struct jute_request second;
    require(jute_request_decode(once.data, once.size, fresh_arena(), &second) ==
            JUTE_DECODE_OK);
    require(second.header.xid == first.header.xid && second.header.type == first.header.type);
    require(jute_request_encode(&twice, &second));
    require_same_bytes(&once, &twice);
    jute_writer_free(&once);
    jute_writer_free(&twice);
}

static void fuzz_payload(const uint8_t *payload, size_t size, bool first_frame)
{
    fuzz_request_payload(payload, size);
    if (first_frame) {
        FUZZ_RECORD(connect_request, payload, size);
    }
    /* Records that reach us from peers and disks, not only from clients. */
    FUZZ_RECORD(multi_response, payload, size);
    FUZZ_RECORD(multi_txn, payload, size);
    FUZZ_RECORD(quorum_packet, payload, size);
    FUZZ_RECORD(txn_header, payload, size);
    FUZZ_RECORD(who_am_i_response, payload, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t offset = 0;
    for (unsigned frame = 0; frame < FUZZ_FRAMES_MAX; frame++) {
        uint32_t payload_bytes = 0;
        enum jute_frame_status status =
            jute_frame_peek(data + offset, size - offset, FUZZ_MAXBUFFER_BYTES, &payload_bytes);
        if (status != JUTE_FRAME_READY) {
            require(status == JUTE_FRAME_INCOMPLETE || status == JUTE_FRAME_BAD_LENGTH);
            break;
        }
        require(JUTE_FRAME_LENGTH_BYTES + (size_t)payload_bytes <= size - offset);
        uint8_t *payload = malloc(payload_bytes ? payload_bytes : 1);
        require(payload != NULL);
        memcpy(payload, data + offset + JUTE_FRAME_LENGTH_BYTES, payload_bytes);
        fuzz_payload(payload, payload_bytes, frame == 0);
        free(payload);
        offset += JUTE_FRAME_LENGTH_BYTES + payload_bytes;
    }
    return 0;
}
