/* getChildren's order, as ZooKeeper 3.8's DataNode HashSet iterates. */
#include <stdbool.h>
#include <stdlib.h>

#include "store/store.h"

/* java.util.HashSet(8): table of 8, load factor 0.75, doubling. */
#define JAVA_HASHSET_INITIAL_CAPACITY 8u
#define JAVA_HASHMAP_CAPACITY_MAX (1u << 30)

/* Appends one UTF-16 code unit to a String.hashCode. */
static uint32_t hash_unit(uint32_t hash, uint32_t unit)
{
    return hash * 31u + unit;
}

int32_t store_java_string_hash(struct jute_bytes utf8)
{
    uint32_t hash = 0;
    const uint8_t *at = utf8.ptr;
    const uint8_t *end = utf8.len > 0 ? at + utf8.len : at;
    /* Java's UTF-8 decoder: a well-formed sequence becomes its code point
     * (two UTF-16 units above U+FFFF); a malformed byte becomes U+FFFD. */
    while (at < end) {
        uint32_t byte = *at;
        uint32_t code_point = 0xFFFDu;
        size_t length = 1;
        if (byte < 0x80) {
            code_point = byte;
        } else if (byte >= 0xC2 && byte <= 0xDF && end - at >= 2 && (at[1] & 0xC0) == 0x80) {
            code_point = ((byte & 0x1Fu) << 6) | (at[1] & 0x3Fu);
            length = 2;
        } else if (byte >= 0xE0 && byte <= 0xEF && end - at >= 3 && (at[1] & 0xC0) == 0x80 &&
                   (at[2] & 0xC0) == 0x80) {
            code_point = ((byte & 0x0Fu) << 12) | ((at[1] & 0x3Fu) << 6) | (at[2] & 0x3Fu);
            if (code_point >= 0x800 && !(code_point >= 0xD800 && code_point <= 0xDFFF)) {
                length = 3;
            } else {
                code_point = 0xFFFDu;
            }
        } else if (byte >= 0xF0 && byte <= 0xF4 && end - at >= 4 && (at[1] & 0xC0) == 0x80 &&
                   (at[2] & 0xC0) == 0x80 && (at[3] & 0xC0) == 0x80) {
            code_point = ((byte & 0x07u) << 18) | ((at[1] & 0x3Fu) << 12) |
                         ((at[2] & 0x3Fu) << 6) | (at[3] & 0x3Fu);
            if (code_point >= 0x10000 && code_point <= 0x10FFFF) {
                length = 4;
            } else {
                code_point = 0xFFFDu;
            }
        }
        if (code_point >= 0x10000) {
            uint32_t offset = code_point - 0x10000;
            hash = hash_unit(hash, 0xD800u + (offset >> 10));
            hash = hash_unit(hash, 0xDC00u + (offset & 0x3FFu));
        } else {
            hash = hash_unit(hash, code_point);
        }
        at += length;
    }
    return (int32_t)hash;
}

/* The table size a HashSet of `initial_capacity` reaches once it has held
 * `size_max` entries (it doubles when size exceeds 3/4 of the table). */
static uint32_t java_table_capacity(uint32_t size_max, uint32_t initial_capacity)
{
    uint32_t capacity = initial_capacity;
    while (capacity < JAVA_HASHMAP_CAPACITY_MAX &&
           (uint64_t)size_max > (uint64_t)capacity * 3 / 4) {
        capacity *= 2;
    }
    return capacity;
}

/* HashMap.hash: the high half folded into the low half. */
static uint32_t java_bucket(struct jute_bytes name, uint32_t capacity)
{
    uint32_t hash = (uint32_t)store_java_string_hash(name);
    return (hash ^ (hash >> 16)) & (capacity - 1);
}

struct keyed_entry {
    uint32_t bucket;
    int64_t order; /* insertion order within a bucket */
    struct store_child_entry entry;
};

static int compare_keyed(const void *left, const void *right)
{
    const struct keyed_entry *a = left;
    const struct keyed_entry *b = right;
    if (a->bucket != b->bucket) {
        return a->bucket < b->bucket ? -1 : 1;
    }
    if (a->order != b->order) {
        return a->order < b->order ? -1 : 1;
    }
    return 0;
}

/* Sorts by bucket at `capacity`, then by czxid (by_czxid) or by the current
 * position (a stable re-bucketing, as a copy of an iteration does). */
static void sort_by_bucket(struct store_child_entry *entries, size_t count, uint32_t capacity,
                           bool by_czxid)
{
    if (count < 2) {
        return;
    }
    struct keyed_entry *keyed = malloc(count * sizeof(*keyed));
    if (!keyed) {
        return; /* the order is cosmetic; the set is still right */
    }
    for (size_t index = 0; index < count; index++) {
        keyed[index].bucket = java_bucket(entries[index].name, capacity);
        keyed[index].order = by_czxid ? entries[index].czxid : (int64_t)index;
        keyed[index].entry = entries[index];
    }
    qsort(keyed, count, sizeof(*keyed), compare_keyed);
    for (size_t index = 0; index < count; index++) {
        entries[index] = keyed[index].entry;
    }
    free(keyed);
}

void store_java_hashset_order(struct store_child_entry *entries, size_t count,
                              uint32_t size_max, uint32_t initial_capacity)
{
    if (size_max < count) {
        size_max = (uint32_t)count;
    }
    sort_by_bucket(entries, count, java_table_capacity(size_max, initial_capacity), true);
}

void store_java_hashset_clone_order(struct store_child_entry *entries, size_t count)
{
    /* HashMap.putMapEntries on an empty map: tableSizeFor(size / 0.75 + 1). */
    uint64_t wanted = (uint64_t)((double)count / 0.75 + 1.0);
    uint32_t capacity = 1;
    while (capacity < JAVA_HASHMAP_CAPACITY_MAX && capacity < wanted) {
        capacity *= 2;
    }
    sort_by_bucket(entries, count, capacity, false);
}

void store_children_sort_java(struct store_child_entry *entries, size_t count,
                              uint32_t children_max)
{
    store_java_hashset_order(entries, count, children_max, JAVA_HASHSET_INITIAL_CAPACITY);
}
