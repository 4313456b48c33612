/* Client-protocol framing: each frame is a 4-byte big-endian signed length
 * followed by that many payload bytes.
 *
 * What ZooKeeper 3.8 does (NIOServerCnxn.readLength, checked against the
 * 3.8.0 bytecode): it reads the int `len`, lets a not-yet-initialized
 * connection treat it as a four-letter word, then rejects the connection when
 * `len < 0 || len > BinaryInputArchive.maxBuffer` (jute.maxbuffer, default
 * 1048575 = 0xfffff). So a frame of exactly maxbuffer bytes is accepted and a
 * zero-length frame is accepted at this level. The
 * `zookeeper.jute.maxbuffer.extrasize` allowance (default max(maxbuffer,
 * 1024)) is NOT applied to the frame length on the server read path: it only
 * widens BinaryInputArchive.checkLength, the per-string/per-buffer bound
 * (`len > maxBuffer + extraMaxBuffer`), which a string inside a frame of at
 * most maxbuffer bytes can never exceed. Header-only; pure.
 */
#ifndef CHEETAH_JUTE_FRAME_H
#define CHEETAH_JUTE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"

#define JUTE_FRAME_LENGTH_BYTES 4u

enum jute_frame_status {
    JUTE_FRAME_INCOMPLETE, /* fewer than 4 + len bytes buffered (len may be unknown) */
    JUTE_FRAME_READY,      /* a whole frame is buffered; *payload_bytes_out is len */
    JUTE_FRAME_BAD_LENGTH, /* len < 0 or len > maxbuffer: close the connection */
};

/* Looks at the frame at the start of `buffer`. *payload_bytes_out is set to
 * the payload length whenever the 4 length bytes are present and valid (also
 * for INCOMPLETE, so a caller can size its buffer), else to 0. The whole
 * frame is JUTE_FRAME_LENGTH_BYTES + *payload_bytes_out bytes. */
static inline enum jute_frame_status jute_frame_peek(const uint8_t *buffer, size_t size,
                                                     uint32_t maxbuffer_bytes,
                                                     uint32_t *payload_bytes_out)
{
    *payload_bytes_out = 0;
    if (size < JUTE_FRAME_LENGTH_BYTES) {
        return JUTE_FRAME_INCOMPLETE;
    }
    int32_t len = (int32_t)jute_load_be32(buffer);
    if (len < 0 || (uint32_t)len > maxbuffer_bytes) {
        return JUTE_FRAME_BAD_LENGTH;
    }
    *payload_bytes_out = (uint32_t)len;
    if (size - JUTE_FRAME_LENGTH_BYTES < (size_t)len) {
        return JUTE_FRAME_INCOMPLETE;
    }
    return JUTE_FRAME_READY;
}

#endif
