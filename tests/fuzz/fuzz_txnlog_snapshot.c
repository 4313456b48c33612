/* libFuzzer target for the on-disk formats recovery reads: the same bytes
 * are read as a transaction log (store_txnlog_reader_init / next) and as a
 * snapshot (store_snapshot_parse, then store_snapshot_load into a fresh tree
 * when it parses). Nothing may crash, read out of bounds or loop; the
 * reader's answers must be consistent:
 *   - entries lie inside the input, in order, each after the previous one;
 *   - the end status is sticky and its offset lies inside the input;
 *   - an entry's txn (header + record) lies inside its buffer and has a
 *     TxnHeader of STORE_TXNLOG_TXN_HEADER_BYTES at least.
 *
 * The input is copied to an exact-size heap buffer so that AddressSanitizer
 * catches any read past it. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jute/jute.h"
#include "store/snapshot.h"
#include "store/store.h"
#include "store/txnlog.h"

/* ZooKeeper's default jute.maxbuffer. */
#define FUZZ_MAXBUFFER_BYTES 1048575u

static void require(bool condition)
{
    if (!condition) {
        abort();
    }
}

static void fuzz_txnlog(const uint8_t *data, size_t size)
{
    struct store_txnlog_reader reader;
    enum store_txnlog_status status =
        store_txnlog_reader_init(&reader, data, size, FUZZ_MAXBUFFER_BYTES);
    uint64_t previous_end = STORE_TXNLOG_FILE_HEADER_BYTES;
    /* Every entry takes at least the overhead, so this bounds the loop. */
    size_t entries_max = size / STORE_TXNLOG_ENTRY_OVERHEAD_BYTES + 1;
    size_t entries = 0;
    while (status == STORE_TXNLOG_ENTRY) {
        struct store_txnlog_entry entry;
        status = store_txnlog_next(&reader, &entry);
        if (status != STORE_TXNLOG_ENTRY) {
            break;
        }
        require(++entries <= entries_max);
        require(entry.offset_bytes == previous_end);
        require(entry.next_offset_bytes > entry.offset_bytes);
        require(entry.next_offset_bytes <= size);
        const uint8_t *buffer_end = entry.buffer.ptr + entry.buffer.len;
        require(entry.buffer.ptr >= data && buffer_end <= data + size);
        require(entry.txn.ptr == entry.buffer.ptr);
        require(entry.txn.len >= (int32_t)STORE_TXNLOG_TXN_HEADER_BYTES);
        require(entry.txn.len <= entry.buffer.len);
        previous_end = entry.next_offset_bytes;
    }
    require(status == STORE_TXNLOG_END_CLEAN || status == STORE_TXNLOG_END_TORN ||
            status == STORE_TXNLOG_CORRUPT);
    require(reader.end_offset_bytes <= size);
    if (status != STORE_TXNLOG_END_CLEAN) {
        require(reader.reason != NULL);
    }
    struct store_txnlog_entry again;
    require(store_txnlog_next(&reader, &again) == status);
}

static void fuzz_snapshot(const uint8_t *data, size_t size)
{
    const struct store_snapshot_visitor visitor = {0};
    struct store_snapshot_error error;
    memset(&error, 0, sizeof error);
    if (!store_snapshot_parse(data, size, &visitor, &error)) {
        require(error.offset <= size);
        require(memchr(error.message, '\0', sizeof error.message) != NULL);
        return;
    }
    struct store_config config = {
        .extended_types_enabled = true,
        .jute_maxbuffer_bytes = FUZZ_MAXBUFFER_BYTES,
        .config_node_text = "",
    };
    struct store_tree *tree = store_tree_create(&config);
    require(tree != NULL);
    struct store_snapshot_session *sessions = NULL;
    size_t session_count = 0;
    memset(&error, 0, sizeof error);
    if (!store_snapshot_load(tree, data, size, &sessions, &session_count, &error)) {
        require(error.offset <= size);
    }
    free(sessions);
    store_tree_destroy(tree);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    require(copy != NULL);
    memcpy(copy, data, size);
    fuzz_txnlog(copy, size);
    fuzz_snapshot(copy, size);
    free(copy);
    return 0;
}
