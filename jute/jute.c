#include "jute/jute.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The writer starts at this size and doubles; small replies never realloc. */
#define JUTE_WRITER_INITIAL_BYTES 256u

void jute_reader_init(struct jute_reader *reader, const uint8_t *data, size_t size)
{
    assert(data != NULL || size == 0);
    reader->data = data;
    reader->size = size;
    reader->offset = 0;
    reader->ok = true;
}

static const uint8_t *reader_take(struct jute_reader *reader, size_t count)
{
    if (!reader->ok || jute_reader_remaining(reader) < count) {
        reader->ok = false;
        return NULL;
    }
    const uint8_t *at = reader->data + reader->offset;
    reader->offset += count;
    return at;
}

int32_t jute_read_int(struct jute_reader *reader)
{
    const uint8_t *at = reader_take(reader, 4);
    return at ? (int32_t)jute_load_be32(at) : 0;
}

int64_t jute_read_long(struct jute_reader *reader)
{
    const uint8_t *at = reader_take(reader, 8);
    if (!at) {
        return 0;
    }
    uint64_t high = jute_load_be32(at);
    uint64_t low = jute_load_be32(at + 4);
    return (int64_t)((high << 32) | low);
}

bool jute_read_bool(struct jute_reader *reader)
{
    const uint8_t *at = reader_take(reader, 1);
    return at ? *at != 0 : false;
}

struct jute_bytes jute_read_bytes(struct jute_reader *reader)
{
    struct jute_bytes bytes = {NULL, -1};
    int32_t len = jute_read_int(reader);
    if (!reader->ok || len == -1) {
        return bytes;
    }
    if (len < -1) {
        reader->ok = false;
        return bytes;
    }
    const uint8_t *at = reader_take(reader, (size_t)len);
    if (at) {
        bytes.ptr = at;
        bytes.len = len;
    }
    return bytes;
}

int32_t jute_read_vector_count(struct jute_reader *reader, size_t min_element_bytes)
{
    assert(min_element_bytes > 0);
    int32_t count = jute_read_int(reader);
    if (!reader->ok) {
        return 0;
    }
    if (count == -1) {
        return -1;
    }
    if (count < -1 || (size_t)count > jute_reader_remaining(reader) / min_element_bytes) {
        reader->ok = false;
        return 0;
    }
    return count;
}

void jute_arena_init(struct jute_arena *arena, void *base, size_t capacity_bytes)
{
    arena->base = base;
    arena->capacity_bytes = capacity_bytes;
    arena->used_bytes = 0;
}

void *jute_arena_alloc(struct jute_arena *arena, size_t count, size_t element_bytes)
{
    const size_t align = _Alignof(max_align_t);
    size_t start = (arena->used_bytes + align - 1) & ~(align - 1);
    if (element_bytes != 0 && count > (SIZE_MAX - start) / element_bytes) {
        return NULL;
    }
    size_t end = start + count * element_bytes;
    if (end > arena->capacity_bytes) {
        return NULL;
    }
    arena->used_bytes = end;
    return arena->base + start;
}

void jute_writer_init(struct jute_writer *writer, size_t limit_bytes)
{
    writer->data = NULL;
    writer->size = 0;
    writer->capacity = 0;
    writer->limit_bytes = limit_bytes;
    writer->ok = true;
}

void jute_writer_free(struct jute_writer *writer)
{
    free(writer->data);
    writer->data = NULL;
    writer->size = 0;
    writer->capacity = 0;
}

void jute_writer_reset(struct jute_writer *writer)
{
    writer->size = 0;
    writer->ok = true;
}

static uint8_t *writer_reserve(struct jute_writer *writer, size_t count)
{
    if (!writer->ok) {
        return NULL;
    }
    if (count > writer->limit_bytes - writer->size || writer->size > writer->limit_bytes) {
        writer->ok = false;
        return NULL;
    }
    size_t needed = writer->size + count;
    if (needed > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : JUTE_WRITER_INITIAL_BYTES;
        while (capacity < needed) {
            capacity *= 2;
        }
        uint8_t *grown = realloc(writer->data, capacity);
        if (!grown) {
            writer->ok = false;
            return NULL;
        }
        writer->data = grown;
        writer->capacity = capacity;
    }
    uint8_t *at = writer->data + writer->size;
    writer->size = needed;
    return at;
}

void jute_write_int(struct jute_writer *writer, int32_t value)
{
    uint8_t *at = writer_reserve(writer, 4);
    if (at) {
        jute_store_be32(at, (uint32_t)value);
    }
}

void jute_write_long(struct jute_writer *writer, int64_t value)
{
    uint8_t *at = writer_reserve(writer, 8);
    if (at) {
        jute_store_be32(at, (uint32_t)((uint64_t)value >> 32));
        jute_store_be32(at + 4, (uint32_t)value);
    }
}

void jute_write_bool(struct jute_writer *writer, bool value)
{
    uint8_t *at = writer_reserve(writer, 1);
    if (at) {
        *at = value ? 1 : 0;
    }
}

void jute_write_bytes(struct jute_writer *writer, struct jute_bytes value)
{
    if (value.len < 0 || value.ptr == NULL) {
        jute_write_int(writer, -1);
        return;
    }
    jute_write_int(writer, value.len);
    jute_write_raw(writer, value.ptr, (size_t)value.len);
}

void jute_write_raw(struct jute_writer *writer, const void *bytes, size_t size)
{
    if (size == 0) {
        return;
    }
    uint8_t *at = writer_reserve(writer, size);
    if (at) {
        memcpy(at, bytes, size);
    }
}

void jute_writer_patch_int(struct jute_writer *writer, size_t offset, int32_t value)
{
    if (!writer->ok) {
        return;
    }
    assert(offset + 4 <= writer->size);
    jute_store_be32(writer->data + offset, (uint32_t)value);
}

struct jute_bytes jute_bytes_cstr(const char *text)
{
    if (!text) {
        return jute_bytes_of(NULL, -1);
    }
    size_t len = strlen(text);
    assert(len <= INT32_MAX);
    return jute_bytes_of(text, (int32_t)len);
}

bool jute_bytes_equal(struct jute_bytes a, struct jute_bytes b)
{
    if (a.len != b.len) {
        return false;
    }
    return a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}
