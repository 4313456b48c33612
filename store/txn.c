/* Owned buffers of the store's interface: transactions, change lists and
 * apply results. */
#include <stdlib.h>
#include <string.h>

#include "jute/records.h"
#include "store/store_internal.h"

void store_txn_init(struct store_txn *txn, uint32_t jute_maxbuffer_bytes)
{
    memset(txn, 0, sizeof *txn);
    /* A txn ZooKeeper could not read back (over jute.maxbuffer plus its
     * extrasize) is never produced: the writer's limit latches. */
    jute_writer_init(&txn->bytes, (size_t)jute_maxbuffer_bytes + STORE_TXN_EXTRA_BYTES);
}

void store_txn_free(struct store_txn *txn)
{
    jute_writer_free(&txn->bytes);
}

void store_txn_write_header(struct store_txn *txn, int64_t session_id, int32_t cxid,
                            int64_t zxid, int64_t time_ms, int32_t type)
{
    jute_writer_reset(&txn->bytes);
    txn->session_id = session_id;
    txn->cxid = cxid;
    txn->zxid = zxid;
    txn->time_ms = time_ms;
    txn->type = type;
    struct jute_txn_header header = {session_id, cxid, zxid, time_ms, type};
    jute_txn_header_encode(&txn->bytes, &header);
}

void store_change_list_init(struct store_change_list *list)
{
    memset(list, 0, sizeof *list);
    jute_writer_init(&list->path_bytes, SIZE_MAX / 2);
}

static void change_acls_free(struct store_change_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free(list->changes[i].acl);
        list->changes[i].acl = NULL;
    }
}

void store_change_list_clear(struct store_change_list *list)
{
    change_acls_free(list);
    list->count = 0;
    jute_writer_reset(&list->path_bytes);
}

void store_change_list_free(struct store_change_list *list)
{
    change_acls_free(list);
    free(list->changes);
    jute_writer_free(&list->path_bytes);
    memset(list, 0, sizeof *list);
}

/* Appends bytes to a writer whose earlier bytes are referenced by pointers;
 * when the writer moves, `rebase` fixes them. Returns the new bytes. */
static const uint8_t *append_bytes(struct jute_writer *writer, const uint8_t *bytes, size_t len,
                                   uintptr_t *old_base, bool *moved)
{
    *old_base = (uintptr_t)writer->data;
    size_t offset = writer->size;
    jute_write_raw(writer, bytes, len);
    if (!writer->ok) {
        return NULL;
    }
    *moved = (uintptr_t)writer->data != *old_base;
    return writer->data + offset;
}

/* True when the list grants READ to world:anyone: no copy is needed then. */
static bool acl_world_readable(const struct store_acl_list *acl)
{
    for (int32_t i = 0; i < acl->count; i++) {
        const struct store_acl *entry = &acl->entries[i];
        if ((entry->perms & ZK_PERM_READ) &&
            jute_bytes_equal(entry->scheme, jute_bytes_cstr("world")) &&
            jute_bytes_equal(entry->id, jute_bytes_cstr("anyone"))) {
            return true;
        }
    }
    return false;
}

bool store_change_list_add(struct store_change_list *list, int32_t event_type,
                           const uint8_t *path, size_t len, const struct store_acl_list *acl)
{
    struct store_acl_list *acl_copy = NULL;
    if (acl && !acl_world_readable(acl)) {
        acl_copy = store_acl_list_copy(acl);
        if (!acl_copy) {
            return false;
        }
    }
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 16;
        struct store_change *changes = realloc(list->changes, capacity * sizeof *changes);
        if (!changes) {
            return false;
        }
        list->changes = changes;
        list->capacity = capacity;
    }
    uintptr_t old_base;
    bool moved = false;
    const uint8_t *copy = append_bytes(&list->path_bytes, len ? path : (const uint8_t *)"", len,
                                       &old_base, &moved);
    if (!copy) {
        free(acl_copy);
        return false;
    }
    if (moved) {
        for (size_t i = 0; i < list->count; i++) {
            uintptr_t offset = (uintptr_t)list->changes[i].path.ptr - old_base;
            list->changes[i].path.ptr = list->path_bytes.data + offset;
        }
    }
    list->changes[list->count++] =
        (struct store_change){event_type, jute_bytes_of(copy, (int32_t)len), acl_copy};
    return true;
}

void store_apply_result_init(struct store_apply_result *result)
{
    memset(result, 0, sizeof *result);
    jute_writer_init(&result->path_bytes, SIZE_MAX / 2);
}

void store_apply_result_free(struct store_apply_result *result)
{
    free(result->multi);
    jute_writer_free(&result->path_bytes);
    memset(result, 0, sizeof *result);
}

void store_stat_to_jute(const struct store_stat *stat, struct jute_stat *out)
{
    out->czxid = stat->czxid;
    out->mzxid = stat->mzxid;
    out->ctime = stat->ctime_ms;
    out->mtime = stat->mtime_ms;
    out->version = stat->version;
    out->cversion = stat->cversion;
    out->aversion = stat->aversion;
    out->ephemeral_owner = stat->ephemeral_owner;
    out->data_length = stat->data_length;
    out->num_children = stat->num_children;
    out->pzxid = stat->pzxid;
}
