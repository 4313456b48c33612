/* The jute primitives: bounds checks that latch, null strings, vector counts
 * that could not fit, the arena bound, the writer limit and patching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jute/frame.h"
#include "jute/jute.h"

static void test_read_int_long_bool_big_endian(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
                             0x00, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
                             0x00, 0x00, 0x01, 0x00};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    assert_int_equal(jute_read_int(&reader), 0x01020304);
    assert_true(jute_read_long(&reader) == (int64_t)0xffffffff00000000ull);
    assert_int_equal(jute_read_int(&reader), 0x00018000);
    assert_int_equal(jute_read_int(&reader), 0);
    assert_int_equal(jute_read_int(&reader), 0x100);
    assert_true(reader.ok);
    assert_int_equal(jute_reader_remaining(&reader), 0);
}

static void test_read_long_sign(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x80, 0, 0, 0, 0, 0, 0, 0x01};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    assert_true(jute_read_long(&reader) == INT64_MIN + 1);
    assert_true(reader.ok);
}

static void test_bool_is_any_nonzero_byte(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x00, 0x01, 0x7f};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    assert_false(jute_read_bool(&reader));
    assert_true(jute_read_bool(&reader));
    assert_true(jute_read_bool(&reader));
    assert_false(jute_read_bool(&reader)); /* past the end */
    assert_false(reader.ok);
}

static void test_truncated_read_latches(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0, 0, 0, 7, 1, 2, 3};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    assert_int_equal(jute_read_int(&reader), 7);
    assert_int_equal(jute_read_int(&reader), 0); /* only 3 bytes left */
    assert_false(reader.ok);
    /* Once latched, even reads that would fit fail and consume nothing. */
    assert_false(jute_read_bool(&reader));
    assert_int_equal(reader.offset, 4);
    assert_false(reader.ok);
}

static void test_empty_reader(void **state)
{
    (void)state;
    struct jute_reader reader;
    jute_reader_init(&reader, NULL, 0);
    assert_true(reader.ok);
    assert_int_equal(jute_read_long(&reader), 0);
    assert_false(reader.ok);
}

static void test_bytes_null_empty_and_value(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    struct jute_bytes null_bytes = jute_read_bytes(&reader);
    assert_int_equal(null_bytes.len, -1);
    assert_null(null_bytes.ptr);
    struct jute_bytes empty = jute_read_bytes(&reader);
    assert_int_equal(empty.len, 0);
    struct jute_bytes hi = jute_read_bytes(&reader);
    assert_int_equal(hi.len, 2);
    assert_ptr_equal(hi.ptr, bytes + 12); /* zero-copy */
    assert_memory_equal(hi.ptr, "hi", 2);
    assert_true(reader.ok);
    /* null and empty are different strings */
    assert_false(jute_bytes_equal(null_bytes, empty));
    assert_true(jute_bytes_equal(hi, jute_bytes_cstr("hi")));
}

static void test_bytes_negative_length_fails(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    struct jute_bytes value = jute_read_bytes(&reader);
    assert_false(reader.ok);
    assert_int_equal(value.len, -1);
    assert_null(value.ptr);
}

static void test_bytes_length_past_end_fails(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x7f, 0xff, 0xff, 0xff, 'a', 'b'};
    struct jute_reader reader;
    jute_reader_init(&reader, bytes, sizeof bytes);
    struct jute_bytes value = jute_read_bytes(&reader);
    assert_false(reader.ok);
    assert_null(value.ptr);
    const uint8_t one_short[] = {0, 0, 0, 3, 'a', 'b'};
    jute_reader_init(&reader, one_short, sizeof one_short);
    jute_read_bytes(&reader);
    assert_false(reader.ok);
}

static void test_vector_count_bounds(void **state)
{
    (void)state;
    /* count 2, then 8 bytes: fits exactly two 4-byte elements */
    const uint8_t fits[] = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    struct jute_reader reader;
    jute_reader_init(&reader, fits, sizeof fits);
    assert_int_equal(jute_read_vector_count(&reader, 4), 2);
    assert_true(reader.ok);
    /* the same count with 5-byte minimum elements cannot fit */
    jute_reader_init(&reader, fits, sizeof fits);
    assert_int_equal(jute_read_vector_count(&reader, 5), 0);
    assert_false(reader.ok);
    /* absurd count */
    const uint8_t absurd[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    jute_reader_init(&reader, absurd, sizeof absurd);
    assert_int_equal(jute_read_vector_count(&reader, 1), 0);
    assert_false(reader.ok);
    /* null vector */
    const uint8_t null_vector[] = {0xff, 0xff, 0xff, 0xff};
    jute_reader_init(&reader, null_vector, sizeof null_vector);
    assert_int_equal(jute_read_vector_count(&reader, 4), -1);
    assert_true(reader.ok);
    /* negative counts other than -1 */
    const uint8_t negative[] = {0xff, 0xff, 0xff, 0xfe};
    jute_reader_init(&reader, negative, sizeof negative);
    jute_read_vector_count(&reader, 4);
    assert_false(reader.ok);
    const uint8_t most_negative[] = {0x80, 0, 0, 0};
    jute_reader_init(&reader, most_negative, sizeof most_negative);
    jute_read_vector_count(&reader, 4);
    assert_false(reader.ok);
}

static void test_arena_bounds_and_alignment(void **state)
{
    (void)state;
    _Alignas(max_align_t) uint8_t storage[64];
    struct jute_arena arena;
    jute_arena_init(&arena, storage, sizeof storage);
    uint8_t *first = jute_arena_alloc(&arena, 3, 1);
    assert_ptr_equal(first, storage);
    uint8_t *second = jute_arena_alloc(&arena, 1, 8);
    assert_non_null(second);
    assert_int_equal((uintptr_t)second % _Alignof(max_align_t), 0);
    size_t used = arena.used_bytes;
    assert_null(jute_arena_alloc(&arena, 64, 1)); /* does not fit */
    assert_int_equal(arena.used_bytes, used);      /* untouched */
    assert_null(jute_arena_alloc(&arena, SIZE_MAX / 2, 4)); /* overflow */
    assert_int_equal(arena.used_bytes, used);
    assert_non_null(jute_arena_alloc(&arena, 0, 16));
}

static void test_writer_encodes_big_endian(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, 1024);
    jute_write_int(&writer, -2);
    jute_write_long(&writer, 0x0102030405060708);
    jute_write_bool(&writer, true);
    jute_write_bytes(&writer, jute_bytes_cstr("ab"));
    jute_write_bytes(&writer, jute_bytes_of(NULL, -1));
    jute_write_bytes(&writer, jute_bytes_of("", 0));
    const uint8_t expected[] = {0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 1,
                                0, 0, 0, 2, 'a', 'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_true(writer.ok);
    assert_int_equal(writer.size, sizeof expected);
    assert_memory_equal(writer.data, expected, sizeof expected);
    jute_writer_free(&writer);
}

static void test_writer_limit_latches(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, 10);
    jute_write_long(&writer, 1);
    assert_true(writer.ok);
    jute_write_int(&writer, 2); /* 12 > 10 */
    assert_false(writer.ok);
    assert_int_equal(writer.size, 8);
    jute_write_bool(&writer, true); /* would fit, but the writer is latched */
    assert_int_equal(writer.size, 8);
    jute_writer_reset(&writer);
    assert_true(writer.ok);
    assert_int_equal(writer.size, 0);
    jute_write_raw(&writer, "0123456789", 10); /* exactly the limit */
    assert_true(writer.ok);
    jute_writer_free(&writer);
}

static void test_writer_grows_past_initial_capacity(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, 1u << 20);
    for (int32_t i = 0; i < 10000; i++) {
        jute_write_int(&writer, i);
    }
    assert_true(writer.ok);
    assert_int_equal(writer.size, 40000);
    struct jute_reader reader;
    jute_reader_init(&reader, writer.data, writer.size);
    for (int32_t i = 0; i < 10000; i++) {
        assert_int_equal(jute_read_int(&reader), i);
    }
    assert_true(reader.ok);
    jute_writer_free(&writer);
}

static void test_writer_patch_length_prefix(void **state)
{
    (void)state;
    struct jute_writer writer;
    jute_writer_init(&writer, 64);
    jute_write_int(&writer, 0); /* placeholder */
    jute_write_raw(&writer, "abc", 3);
    jute_writer_patch_int(&writer, 0, (int32_t)(writer.size - 4));
    const uint8_t expected[] = {0, 0, 0, 3, 'a', 'b', 'c'};
    assert_int_equal(writer.size, sizeof expected);
    assert_memory_equal(writer.data, expected, sizeof expected);
    jute_writer_free(&writer);
}

static void test_frame_peek(void **state)
{
    (void)state;
    uint32_t payload = 99;
    const uint8_t short_header[] = {0, 0, 0};
    assert_int_equal(jute_frame_peek(short_header, sizeof short_header, 100, &payload),
                     JUTE_FRAME_INCOMPLETE);
    assert_int_equal(payload, 0);
    const uint8_t frame[] = {0, 0, 0, 2, 'a', 'b', 'x'};
    assert_int_equal(jute_frame_peek(frame, 5, 100, &payload), JUTE_FRAME_INCOMPLETE);
    assert_int_equal(payload, 2);
    assert_int_equal(jute_frame_peek(frame, 6, 100, &payload), JUTE_FRAME_READY);
    assert_int_equal(payload, 2);
    assert_int_equal(jute_frame_peek(frame, sizeof frame, 100, &payload), JUTE_FRAME_READY);
    const uint8_t empty[] = {0, 0, 0, 0};
    assert_int_equal(jute_frame_peek(empty, sizeof empty, 100, &payload), JUTE_FRAME_READY);
    assert_int_equal(payload, 0);
    const uint8_t negative[] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(jute_frame_peek(negative, sizeof negative, 100, &payload),
                     JUTE_FRAME_BAD_LENGTH);
    /* len == maxbuffer is accepted, len == maxbuffer + 1 is not (NIOServerCnxn) */
    uint8_t at_limit[4];
    jute_store_be32(at_limit, JUTE_MAXBUFFER_DEFAULT_BYTES);
    assert_int_equal(jute_frame_peek(at_limit, sizeof at_limit, JUTE_MAXBUFFER_DEFAULT_BYTES,
                                     &payload),
                     JUTE_FRAME_INCOMPLETE);
    assert_int_equal(payload, JUTE_MAXBUFFER_DEFAULT_BYTES);
    jute_store_be32(at_limit, JUTE_MAXBUFFER_DEFAULT_BYTES + 1);
    assert_int_equal(jute_frame_peek(at_limit, sizeof at_limit, JUTE_MAXBUFFER_DEFAULT_BYTES,
                                     &payload),
                     JUTE_FRAME_BAD_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_int_long_bool_big_endian),
        cmocka_unit_test(test_read_long_sign),
        cmocka_unit_test(test_bool_is_any_nonzero_byte),
        cmocka_unit_test(test_truncated_read_latches),
        cmocka_unit_test(test_empty_reader),
        cmocka_unit_test(test_bytes_null_empty_and_value),
        cmocka_unit_test(test_bytes_negative_length_fails),
        cmocka_unit_test(test_bytes_length_past_end_fails),
        cmocka_unit_test(test_vector_count_bounds),
        cmocka_unit_test(test_arena_bounds_and_alignment),
        cmocka_unit_test(test_writer_encodes_big_endian),
        cmocka_unit_test(test_writer_limit_latches),
        cmocka_unit_test(test_writer_grows_past_initial_capacity),
        cmocka_unit_test(test_writer_patch_length_prefix),
        cmocka_unit_test(test_frame_peek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
