/* Jute: ZooKeeper's wire and disk encoding (big-endian, length-prefixed).
 *
 * One codec for the client protocol, the peer protocol and the on-disk
 * formats. This header holds the primitives; jute/records.h holds every
 * record of zookeeper.jute built from them.
 *
 * Decoding is zero-copy: strings and buffers point into the input frame, so
 * a decoded record lives no longer than the frame it came from. Vectors are
 * carved from a caller-owned arena, whose size bounds the work a hostile
 * frame can cause. Every reader call checks bounds and latches an error, so
 * a decoder can read a whole record and check `ok` once at the end.
 */
#ifndef CHEETAH_JUTE_H
#define CHEETAH_JUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ZooKeeper's default jute.maxbuffer: 0xfffff bytes. */
#define JUTE_MAXBUFFER_DEFAULT_BYTES 1048575u

/* A ustring or buffer. len == -1 is jute's null; ptr is then NULL. */
struct jute_bytes {
    const uint8_t *ptr;
    int32_t len;
};

struct jute_reader {
    const uint8_t *data;
    size_t size;
    size_t offset;
    bool ok; /* false after the first out-of-bounds or malformed read */
};

/* A bump allocator for decoded vectors. Never grows: a frame that needs more
 * than `capacity_bytes` fails to decode. */
struct jute_arena {
    uint8_t *base;
    size_t capacity_bytes;
    size_t used_bytes;
};

/* Output buffer that grows (with realloc) up to `limit_bytes`. Writing past
 * the limit or failing to allocate latches `ok = false`. */
struct jute_writer {
    uint8_t *data;
    size_t size;
    size_t capacity;
    size_t limit_bytes;
    bool ok;
};

void jute_reader_init(struct jute_reader *reader, const uint8_t *data, size_t size);
int32_t jute_read_int(struct jute_reader *reader);
int64_t jute_read_long(struct jute_reader *reader);
bool jute_read_bool(struct jute_reader *reader);
/* A buffer or ustring: int32 length (-1 = null) then bytes. */
struct jute_bytes jute_read_bytes(struct jute_reader *reader);
/* A vector's element count: -1 is null (returned as -1); any count that could
 * not fit in the bytes left (each element takes >= min_element_bytes) fails. */
int32_t jute_read_vector_count(struct jute_reader *reader, size_t min_element_bytes);
static inline size_t jute_reader_remaining(const struct jute_reader *reader)
{
    return reader->size - reader->offset;
}

void jute_arena_init(struct jute_arena *arena, void *base, size_t capacity_bytes);
/* Returns NULL (and leaves the arena untouched) when the request does not fit. */
void *jute_arena_alloc(struct jute_arena *arena, size_t count, size_t element_bytes);

/* limit_bytes bounds the whole encoding; the writer starts empty. */
void jute_writer_init(struct jute_writer *writer, size_t limit_bytes);
void jute_writer_free(struct jute_writer *writer);
void jute_writer_reset(struct jute_writer *writer);
void jute_write_int(struct jute_writer *writer, int32_t value);
void jute_write_long(struct jute_writer *writer, int64_t value);
void jute_write_bool(struct jute_writer *writer, bool value);
void jute_write_bytes(struct jute_writer *writer, struct jute_bytes value);
void jute_write_raw(struct jute_writer *writer, const void *bytes, size_t size);
/* Overwrites 4 bytes already written at `offset` (used for length prefixes). */
void jute_writer_patch_int(struct jute_writer *writer, size_t offset, int32_t value);

static inline struct jute_bytes jute_bytes_of(const void *ptr, int32_t len)
{
    struct jute_bytes bytes = {(const uint8_t *)ptr, len};
    return bytes;
}
struct jute_bytes jute_bytes_cstr(const char *text);
bool jute_bytes_equal(struct jute_bytes a, struct jute_bytes b);

/* Big-endian helpers for framing code that does not need a reader. */
static inline uint32_t jute_load_be32(const uint8_t *bytes)
{
    return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) |
           ((uint32_t)bytes[2] << 8) | (uint32_t)bytes[3];
}
static inline void jute_store_be32(uint8_t *bytes, uint32_t value)
{
    bytes[0] = (uint8_t)(value >> 24);
    bytes[1] = (uint8_t)(value >> 16);
    bytes[2] = (uint8_t)(value >> 8);
    bytes[3] = (uint8_t)value;
}
static inline uint64_t jute_load_be64(const uint8_t *bytes)
{
    return ((uint64_t)jute_load_be32(bytes) << 32) | jute_load_be32(bytes + 4);
}
static inline void jute_store_be64(uint8_t *bytes, uint64_t value)
{
    jute_store_be32(bytes, (uint32_t)(value >> 32));
    jute_store_be32(bytes + 4, (uint32_t)value);
}

#endif
