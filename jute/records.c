#include "jute/records.h"

#include <assert.h>
#include <string.h>

#include "jute/zk_constants.h"

/* The fewest bytes one encoded element of each vector can take; a count that
 * claims more elements than the remaining bytes could hold is rejected
 * before anything is allocated. */
#define STRING_MIN_BYTES 4u      /* length */
#define ID_MIN_BYTES 8u          /* two lengths */
#define ACL_MIN_BYTES 12u        /* perms + Id */
#define TXN_MIN_BYTES 8u         /* type + buffer length */
#define CLIENT_INFO_MIN_BYTES 8u /* two lengths */

/* ---- vectors ---------------------------------------------------------- */

/* Reads a vector count and carves room for its items. Returns the items
 * (NULL for a null or empty vector, or on failure, which latches ok). */
static void *vector_begin(struct jute_reader *reader, struct jute_arena *arena,
                          size_t min_element_bytes, size_t element_bytes, int32_t *count_out)
{
    int32_t count = jute_read_vector_count(reader, min_element_bytes);
    *count_out = reader->ok ? count : 0;
    if (!reader->ok || count <= 0) {
        return NULL;
    }
    void *items = jute_arena_alloc(arena, (size_t)count, element_bytes);
    if (!items) {
        reader->ok = false;
        *count_out = 0;
    }
    return items;
}

/* Writes a vector count; returns false for a null vector (nothing follows). */
static bool vector_encode_begin(struct jute_writer *writer, int32_t count, const void *items)
{
    if (count < 0) {
        jute_write_int(writer, -1);
        return false;
    }
    assert(count == 0 || items != NULL);
    jute_write_int(writer, count);
    return true;
}

bool jute_string_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_string_vector *out)
{
    out->items = vector_begin(reader, arena, STRING_MIN_BYTES, sizeof *out->items, &out->count);
    for (int32_t i = 0; i < out->count && reader->ok; i++) {
        out->items[i] = jute_read_bytes(reader);
    }
    return reader->ok;
}

void jute_string_vector_encode(struct jute_writer *writer, const struct jute_string_vector *in)
{
    if (vector_encode_begin(writer, in->count, in->items)) {
        for (int32_t i = 0; i < in->count; i++) {
            jute_write_bytes(writer, in->items[i]);
        }
    }
}

bool jute_acl_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_acl_vector *out)
{
    out->items = vector_begin(reader, arena, ACL_MIN_BYTES, sizeof *out->items, &out->count);
    for (int32_t i = 0; i < out->count && reader->ok; i++) {
        jute_acl_decode(reader, arena, &out->items[i]);
    }
    return reader->ok;
}

void jute_acl_vector_encode(struct jute_writer *writer, const struct jute_acl_vector *in)
{
    if (vector_encode_begin(writer, in->count, in->items)) {
        for (int32_t i = 0; i < in->count; i++) {
            jute_acl_encode(writer, &in->items[i]);
        }
    }
}

bool jute_id_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_id_vector *out)
{
    out->items = vector_begin(reader, arena, ID_MIN_BYTES, sizeof *out->items, &out->count);
    for (int32_t i = 0; i < out->count && reader->ok; i++) {
        jute_id_decode(reader, arena, &out->items[i]);
    }
    return reader->ok;
}

void jute_id_vector_encode(struct jute_writer *writer, const struct jute_id_vector *in)
{
    if (vector_encode_begin(writer, in->count, in->items)) {
        for (int32_t i = 0; i < in->count; i++) {
            jute_id_encode(writer, &in->items[i]);
        }
    }
}

bool jute_txn_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_vector *out)
{
    out->items = vector_begin(reader, arena, TXN_MIN_BYTES, sizeof *out->items, &out->count);
    for (int32_t i = 0; i < out->count && reader->ok; i++) {
        jute_txn_decode(reader, arena, &out->items[i]);
    }
    return reader->ok;
}

void jute_txn_vector_encode(struct jute_writer *writer, const struct jute_txn_vector *in)
{
    if (vector_encode_begin(writer, in->count, in->items)) {
        for (int32_t i = 0; i < in->count; i++) {
            jute_txn_encode(writer, &in->items[i]);
        }
    }
}

bool jute_client_info_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_client_info_vector *out)
{
    out->items =
        vector_begin(reader, arena, CLIENT_INFO_MIN_BYTES, sizeof *out->items, &out->count);
    for (int32_t i = 0; i < out->count && reader->ok; i++) {
        jute_client_info_decode(reader, arena, &out->items[i]);
    }
    return reader->ok;
}

void jute_client_info_vector_encode(struct jute_writer *writer,
                                    const struct jute_client_info_vector *in)
{
    if (vector_encode_begin(writer, in->count, in->items)) {
        for (int32_t i = 0; i < in->count; i++) {
            jute_client_info_encode(writer, &in->items[i]);
        }
    }
}

/* ---- records read and written field by field, in zookeeper.jute order -- */

bool jute_id_decode(struct jute_reader *reader, struct jute_arena *arena,
                    struct jute_id *out)
{
    (void)arena;
    out->scheme = jute_read_bytes(reader);
    out->id = jute_read_bytes(reader);
    return reader->ok;
}

void jute_id_encode(struct jute_writer *writer, const struct jute_id *in)
{
    jute_write_bytes(writer, in->scheme);
    jute_write_bytes(writer, in->id);
}

bool jute_acl_decode(struct jute_reader *reader, struct jute_arena *arena,
                     struct jute_acl *out)
{
    out->perms = jute_read_int(reader);
    jute_id_decode(reader, arena, &out->id);
    return reader->ok;
}

void jute_acl_encode(struct jute_writer *writer, const struct jute_acl *in)
{
    jute_write_int(writer, in->perms);
    jute_id_encode(writer, &in->id);
}

bool jute_stat_decode(struct jute_reader *reader, struct jute_arena *arena,
                      struct jute_stat *out)
{
    (void)arena;
    out->czxid = jute_read_long(reader);
    out->mzxid = jute_read_long(reader);
    out->ctime = jute_read_long(reader);
    out->mtime = jute_read_long(reader);
    out->version = jute_read_int(reader);
    out->cversion = jute_read_int(reader);
    out->aversion = jute_read_int(reader);
    out->ephemeral_owner = jute_read_long(reader);
    out->data_length = jute_read_int(reader);
    out->num_children = jute_read_int(reader);
    out->pzxid = jute_read_long(reader);
    return reader->ok;
}

void jute_stat_encode(struct jute_writer *writer, const struct jute_stat *in)
{
    jute_write_long(writer, in->czxid);
    jute_write_long(writer, in->mzxid);
    jute_write_long(writer, in->ctime);
    jute_write_long(writer, in->mtime);
    jute_write_int(writer, in->version);
    jute_write_int(writer, in->cversion);
    jute_write_int(writer, in->aversion);
    jute_write_long(writer, in->ephemeral_owner);
    jute_write_int(writer, in->data_length);
    jute_write_int(writer, in->num_children);
    jute_write_long(writer, in->pzxid);
}

bool jute_stat_persisted_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_stat_persisted *out)
{
    (void)arena;
    out->czxid = jute_read_long(reader);
    out->mzxid = jute_read_long(reader);
    out->ctime = jute_read_long(reader);
    out->mtime = jute_read_long(reader);
    out->version = jute_read_int(reader);
    out->cversion = jute_read_int(reader);
    out->aversion = jute_read_int(reader);
    out->ephemeral_owner = jute_read_long(reader);
    out->pzxid = jute_read_long(reader);
    return reader->ok;
}

void jute_stat_persisted_encode(struct jute_writer *writer, const struct jute_stat_persisted *in)
{
    jute_write_long(writer, in->czxid);
    jute_write_long(writer, in->mzxid);
    jute_write_long(writer, in->ctime);
    jute_write_long(writer, in->mtime);
    jute_write_int(writer, in->version);
    jute_write_int(writer, in->cversion);
    jute_write_int(writer, in->aversion);
    jute_write_long(writer, in->ephemeral_owner);
    jute_write_long(writer, in->pzxid);
}

bool jute_client_info_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_client_info *out)
{
    (void)arena;
    out->auth_scheme = jute_read_bytes(reader);
    out->user = jute_read_bytes(reader);
    return reader->ok;
}

void jute_client_info_encode(struct jute_writer *writer, const struct jute_client_info *in)
{
    jute_write_bytes(writer, in->auth_scheme);
    jute_write_bytes(writer, in->user);
}

bool jute_set_watches_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_set_watches *out)
{
    out->relative_zxid = jute_read_long(reader);
    jute_string_vector_decode(reader, arena, &out->data_watches);
    jute_string_vector_decode(reader, arena, &out->exist_watches);
    jute_string_vector_decode(reader, arena, &out->child_watches);
    return reader->ok;
}

void jute_set_watches_encode(struct jute_writer *writer, const struct jute_set_watches *in)
{
    jute_write_long(writer, in->relative_zxid);
    jute_string_vector_encode(writer, &in->data_watches);
    jute_string_vector_encode(writer, &in->exist_watches);
    jute_string_vector_encode(writer, &in->child_watches);
}

bool jute_set_watches2_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_set_watches2 *out)
{
    out->relative_zxid = jute_read_long(reader);
    jute_string_vector_decode(reader, arena, &out->data_watches);
    jute_string_vector_decode(reader, arena, &out->exist_watches);
    jute_string_vector_decode(reader, arena, &out->child_watches);
    jute_string_vector_decode(reader, arena, &out->persistent_watches);
    jute_string_vector_decode(reader, arena, &out->persistent_recursive_watches);
    return reader->ok;
}

void jute_set_watches2_encode(struct jute_writer *writer, const struct jute_set_watches2 *in)
{
    jute_write_long(writer, in->relative_zxid);
    jute_string_vector_encode(writer, &in->data_watches);
    jute_string_vector_encode(writer, &in->exist_watches);
    jute_string_vector_encode(writer, &in->child_watches);
    jute_string_vector_encode(writer, &in->persistent_watches);
    jute_string_vector_encode(writer, &in->persistent_recursive_watches);
}

bool jute_request_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_request_header *out)
{
    (void)arena;
    out->xid = jute_read_int(reader);
    out->type = jute_read_int(reader);
    return reader->ok;
}

void jute_request_header_encode(struct jute_writer *writer, const struct jute_request_header *in)
{
    jute_write_int(writer, in->xid);
    jute_write_int(writer, in->type);
}

bool jute_multi_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_multi_header *out)
{
    (void)arena;
    out->type = jute_read_int(reader);
    out->done = jute_read_bool(reader);
    out->err = jute_read_int(reader);
    return reader->ok;
}

void jute_multi_header_encode(struct jute_writer *writer, const struct jute_multi_header *in)
{
    jute_write_int(writer, in->type);
    jute_write_bool(writer, in->done);
    jute_write_int(writer, in->err);
}

bool jute_auth_packet_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_auth_packet *out)
{
    (void)arena;
    out->type = jute_read_int(reader);
    out->scheme = jute_read_bytes(reader);
    out->auth = jute_read_bytes(reader);
    return reader->ok;
}

void jute_auth_packet_encode(struct jute_writer *writer, const struct jute_auth_packet *in)
{
    jute_write_int(writer, in->type);
    jute_write_bytes(writer, in->scheme);
    jute_write_bytes(writer, in->auth);
}

bool jute_reply_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_reply_header *out)
{
    (void)arena;
    out->xid = jute_read_int(reader);
    out->zxid = jute_read_long(reader);
    out->err = jute_read_int(reader);
    return reader->ok;
}

void jute_reply_header_encode(struct jute_writer *writer, const struct jute_reply_header *in)
{
    jute_write_int(writer, in->xid);
    jute_write_long(writer, in->zxid);
    jute_write_int(writer, in->err);
}

bool jute_get_data_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_data_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->watch = jute_read_bool(reader);
    return reader->ok;
}

void jute_get_data_request_encode(struct jute_writer *writer,
                                  const struct jute_get_data_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bool(writer, in->watch);
}

bool jute_set_data_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_data_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_set_data_request_encode(struct jute_writer *writer,
                                  const struct jute_set_data_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_write_int(writer, in->version);
}

bool jute_reconfig_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_reconfig_request *out)
{
    (void)arena;
    out->joining_servers = jute_read_bytes(reader);
    out->leaving_servers = jute_read_bytes(reader);
    out->new_members = jute_read_bytes(reader);
    out->cur_config_id = jute_read_long(reader);
    return reader->ok;
}

void jute_reconfig_request_encode(struct jute_writer *writer,
                                  const struct jute_reconfig_request *in)
{
    jute_write_bytes(writer, in->joining_servers);
    jute_write_bytes(writer, in->leaving_servers);
    jute_write_bytes(writer, in->new_members);
    jute_write_long(writer, in->cur_config_id);
}

bool jute_set_data_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_set_data_response *out)
{
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_set_data_response_encode(struct jute_writer *writer,
                                   const struct jute_set_data_response *in)
{
    jute_stat_encode(writer, &in->stat);
}

bool jute_get_sasl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_sasl_request *out)
{
    (void)arena;
    out->token = jute_read_bytes(reader);
    return reader->ok;
}

void jute_get_sasl_request_encode(struct jute_writer *writer,
                                  const struct jute_get_sasl_request *in)
{
    jute_write_bytes(writer, in->token);
}

bool jute_set_sasl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_sasl_request *out)
{
    (void)arena;
    out->token = jute_read_bytes(reader);
    return reader->ok;
}

void jute_set_sasl_request_encode(struct jute_writer *writer,
                                  const struct jute_set_sasl_request *in)
{
    jute_write_bytes(writer, in->token);
}

bool jute_set_sasl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_set_sasl_response *out)
{
    (void)arena;
    out->token = jute_read_bytes(reader);
    return reader->ok;
}

void jute_set_sasl_response_encode(struct jute_writer *writer,
                                   const struct jute_set_sasl_response *in)
{
    jute_write_bytes(writer, in->token);
}

bool jute_create_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_create_request *out)
{
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->flags = jute_read_int(reader);
    return reader->ok;
}

void jute_create_request_encode(struct jute_writer *writer, const struct jute_create_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->flags);
}

bool jute_create_ttl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_create_ttl_request *out)
{
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->flags = jute_read_int(reader);
    out->ttl = jute_read_long(reader);
    return reader->ok;
}

void jute_create_ttl_request_encode(struct jute_writer *writer,
                                    const struct jute_create_ttl_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->flags);
    jute_write_long(writer, in->ttl);
}

bool jute_delete_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_delete_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_delete_request_encode(struct jute_writer *writer, const struct jute_delete_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->version);
}

bool jute_get_children_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                      struct jute_get_children_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->watch = jute_read_bool(reader);
    return reader->ok;
}

void jute_get_children_request_encode(struct jute_writer *writer,
                                      const struct jute_get_children_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bool(writer, in->watch);
}

bool jute_get_all_children_number_request_decode(struct jute_reader *reader,
                                                 struct jute_arena *arena,
                                                 struct jute_get_all_children_number_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_get_all_children_number_request_encode(struct jute_writer *writer,
                                                 const struct jute_get_all_children_number_request *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_get_children2_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_get_children2_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->watch = jute_read_bool(reader);
    return reader->ok;
}

void jute_get_children2_request_encode(struct jute_writer *writer,
                                       const struct jute_get_children2_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bool(writer, in->watch);
}

bool jute_check_version_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_check_version_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_check_version_request_encode(struct jute_writer *writer,
                                       const struct jute_check_version_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->version);
}

bool jute_sync_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_sync_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_sync_request_encode(struct jute_writer *writer, const struct jute_sync_request *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_sync_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_sync_response *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_sync_response_encode(struct jute_writer *writer, const struct jute_sync_response *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_get_acl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_get_acl_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_get_acl_request_encode(struct jute_writer *writer, const struct jute_get_acl_request *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_set_acl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_set_acl_request *out)
{
    out->path = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_set_acl_request_encode(struct jute_writer *writer, const struct jute_set_acl_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->version);
}

bool jute_set_acl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_acl_response *out)
{
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_set_acl_response_encode(struct jute_writer *writer,
                                  const struct jute_set_acl_response *in)
{
    jute_stat_encode(writer, &in->stat);
}

bool jute_add_watch_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_add_watch_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->mode = jute_read_int(reader);
    return reader->ok;
}

void jute_add_watch_request_encode(struct jute_writer *writer,
                                   const struct jute_add_watch_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->mode);
}

bool jute_watcher_event_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_watcher_event *out)
{
    (void)arena;
    out->type = jute_read_int(reader);
    out->state = jute_read_int(reader);
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_watcher_event_encode(struct jute_writer *writer, const struct jute_watcher_event *in)
{
    jute_write_int(writer, in->type);
    jute_write_int(writer, in->state);
    jute_write_bytes(writer, in->path);
}

bool jute_error_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_error_response *out)
{
    (void)arena;
    out->err = jute_read_int(reader);
    return reader->ok;
}

void jute_error_response_encode(struct jute_writer *writer, const struct jute_error_response *in)
{
    jute_write_int(writer, in->err);
}

bool jute_create_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_create_response *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_create_response_encode(struct jute_writer *writer, const struct jute_create_response *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_create2_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_create2_response *out)
{
    out->path = jute_read_bytes(reader);
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_create2_response_encode(struct jute_writer *writer,
                                  const struct jute_create2_response *in)
{
    jute_write_bytes(writer, in->path);
    jute_stat_encode(writer, &in->stat);
}

bool jute_exists_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_exists_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->watch = jute_read_bool(reader);
    return reader->ok;
}

void jute_exists_request_encode(struct jute_writer *writer, const struct jute_exists_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bool(writer, in->watch);
}

bool jute_exists_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_exists_response *out)
{
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_exists_response_encode(struct jute_writer *writer, const struct jute_exists_response *in)
{
    jute_stat_encode(writer, &in->stat);
}

bool jute_get_data_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_get_data_response *out)
{
    out->data = jute_read_bytes(reader);
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_get_data_response_encode(struct jute_writer *writer,
                                   const struct jute_get_data_response *in)
{
    jute_write_bytes(writer, in->data);
    jute_stat_encode(writer, &in->stat);
}

bool jute_get_children_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_get_children_response *out)
{
    jute_string_vector_decode(reader, arena, &out->children);
    return reader->ok;
}

void jute_get_children_response_encode(struct jute_writer *writer,
                                       const struct jute_get_children_response *in)
{
    jute_string_vector_encode(writer, &in->children);
}

bool jute_get_all_children_number_response_decode(struct jute_reader *reader,
                                                  struct jute_arena *arena,
                                                  struct jute_get_all_children_number_response *out)
{
    (void)arena;
    out->total_number = jute_read_int(reader);
    return reader->ok;
}

void jute_get_all_children_number_response_encode(struct jute_writer *writer,
                                                  const struct jute_get_all_children_number_response *in)
{
    jute_write_int(writer, in->total_number);
}

bool jute_get_children2_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_get_children2_response *out)
{
    jute_string_vector_decode(reader, arena, &out->children);
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_get_children2_response_encode(struct jute_writer *writer,
                                        const struct jute_get_children2_response *in)
{
    jute_string_vector_encode(writer, &in->children);
    jute_stat_encode(writer, &in->stat);
}

bool jute_get_acl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_acl_response *out)
{
    jute_acl_vector_decode(reader, arena, &out->acl);
    jute_stat_decode(reader, arena, &out->stat);
    return reader->ok;
}

void jute_get_acl_response_encode(struct jute_writer *writer,
                                  const struct jute_get_acl_response *in)
{
    jute_acl_vector_encode(writer, &in->acl);
    jute_stat_encode(writer, &in->stat);
}

bool jute_check_watches_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_check_watches_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->type = jute_read_int(reader);
    return reader->ok;
}

void jute_check_watches_request_encode(struct jute_writer *writer,
                                       const struct jute_check_watches_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->type);
}

bool jute_remove_watches_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_remove_watches_request *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->type = jute_read_int(reader);
    return reader->ok;
}

void jute_remove_watches_request_encode(struct jute_writer *writer,
                                        const struct jute_remove_watches_request *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->type);
}

bool jute_get_ephemerals_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_get_ephemerals_request *out)
{
    (void)arena;
    out->prefix_path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_get_ephemerals_request_encode(struct jute_writer *writer,
                                        const struct jute_get_ephemerals_request *in)
{
    jute_write_bytes(writer, in->prefix_path);
}

bool jute_get_ephemerals_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                         struct jute_get_ephemerals_response *out)
{
    jute_string_vector_decode(reader, arena, &out->ephemerals);
    return reader->ok;
}

void jute_get_ephemerals_response_encode(struct jute_writer *writer,
                                         const struct jute_get_ephemerals_response *in)
{
    jute_string_vector_encode(writer, &in->ephemerals);
}

bool jute_who_am_i_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_who_am_i_response *out)
{
    jute_client_info_vector_decode(reader, arena, &out->client_info);
    return reader->ok;
}

void jute_who_am_i_response_encode(struct jute_writer *writer,
                                   const struct jute_who_am_i_response *in)
{
    jute_client_info_vector_encode(writer, &in->client_info);
}

bool jute_learner_info_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_learner_info *out)
{
    (void)arena;
    out->serverid = jute_read_long(reader);
    out->protocol_version = jute_read_int(reader);
    out->config_version = jute_read_long(reader);
    return reader->ok;
}

void jute_learner_info_encode(struct jute_writer *writer, const struct jute_learner_info *in)
{
    jute_write_long(writer, in->serverid);
    jute_write_int(writer, in->protocol_version);
    jute_write_long(writer, in->config_version);
}

bool jute_quorum_packet_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_quorum_packet *out)
{
    out->type = jute_read_int(reader);
    out->zxid = jute_read_long(reader);
    out->data = jute_read_bytes(reader);
    jute_id_vector_decode(reader, arena, &out->authinfo);
    return reader->ok;
}

void jute_quorum_packet_encode(struct jute_writer *writer, const struct jute_quorum_packet *in)
{
    jute_write_int(writer, in->type);
    jute_write_long(writer, in->zxid);
    jute_write_bytes(writer, in->data);
    jute_id_vector_encode(writer, &in->authinfo);
}

bool jute_file_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_file_header *out)
{
    (void)arena;
    out->magic = jute_read_int(reader);
    out->version = jute_read_int(reader);
    out->dbid = jute_read_long(reader);
    return reader->ok;
}

void jute_file_header_encode(struct jute_writer *writer, const struct jute_file_header *in)
{
    jute_write_int(writer, in->magic);
    jute_write_int(writer, in->version);
    jute_write_long(writer, in->dbid);
}

bool jute_txn_digest_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_digest *out)
{
    (void)arena;
    out->version = jute_read_int(reader);
    out->tree_digest = jute_read_long(reader);
    return reader->ok;
}

void jute_txn_digest_encode(struct jute_writer *writer, const struct jute_txn_digest *in)
{
    jute_write_int(writer, in->version);
    jute_write_long(writer, in->tree_digest);
}

bool jute_txn_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_header *out)
{
    (void)arena;
    out->client_id = jute_read_long(reader);
    out->cxid = jute_read_int(reader);
    out->zxid = jute_read_long(reader);
    out->time = jute_read_long(reader);
    out->type = jute_read_int(reader);
    return reader->ok;
}

void jute_txn_header_encode(struct jute_writer *writer, const struct jute_txn_header *in)
{
    jute_write_long(writer, in->client_id);
    jute_write_int(writer, in->cxid);
    jute_write_long(writer, in->zxid);
    jute_write_long(writer, in->time);
    jute_write_int(writer, in->type);
}

bool jute_create_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_create_txn *out)
{
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->ephemeral = jute_read_bool(reader);
    out->parent_c_version = jute_read_int(reader);
    return reader->ok;
}

void jute_create_txn_encode(struct jute_writer *writer, const struct jute_create_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_bool(writer, in->ephemeral);
    jute_write_int(writer, in->parent_c_version);
}

bool jute_create_ttl_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_create_ttl_txn *out)
{
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->parent_c_version = jute_read_int(reader);
    out->ttl = jute_read_long(reader);
    return reader->ok;
}

void jute_create_ttl_txn_encode(struct jute_writer *writer, const struct jute_create_ttl_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->parent_c_version);
    jute_write_long(writer, in->ttl);
}

bool jute_create_container_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                      struct jute_create_container_txn *out)
{
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->parent_c_version = jute_read_int(reader);
    return reader->ok;
}

void jute_create_container_txn_encode(struct jute_writer *writer,
                                      const struct jute_create_container_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->parent_c_version);
}

bool jute_delete_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_delete_txn *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    return reader->ok;
}

void jute_delete_txn_encode(struct jute_writer *writer, const struct jute_delete_txn *in)
{
    jute_write_bytes(writer, in->path);
}

bool jute_set_data_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_set_data_txn *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->data = jute_read_bytes(reader);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_set_data_txn_encode(struct jute_writer *writer, const struct jute_set_data_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_bytes(writer, in->data);
    jute_write_int(writer, in->version);
}

bool jute_check_version_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_check_version_txn *out)
{
    (void)arena;
    out->path = jute_read_bytes(reader);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_check_version_txn_encode(struct jute_writer *writer,
                                   const struct jute_check_version_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_write_int(writer, in->version);
}

bool jute_set_acl_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_set_acl_txn *out)
{
    out->path = jute_read_bytes(reader);
    jute_acl_vector_decode(reader, arena, &out->acl);
    out->version = jute_read_int(reader);
    return reader->ok;
}

void jute_set_acl_txn_encode(struct jute_writer *writer, const struct jute_set_acl_txn *in)
{
    jute_write_bytes(writer, in->path);
    jute_acl_vector_encode(writer, &in->acl);
    jute_write_int(writer, in->version);
}

bool jute_create_session_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_create_session_txn *out)
{
    (void)arena;
    out->time_out = jute_read_int(reader);
    return reader->ok;
}

void jute_create_session_txn_encode(struct jute_writer *writer,
                                    const struct jute_create_session_txn *in)
{
    jute_write_int(writer, in->time_out);
}

bool jute_close_session_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_close_session_txn *out)
{
    jute_string_vector_decode(reader, arena, &out->paths2_delete);
    return reader->ok;
}

void jute_close_session_txn_encode(struct jute_writer *writer,
                                   const struct jute_close_session_txn *in)
{
    jute_string_vector_encode(writer, &in->paths2_delete);
}

bool jute_error_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_error_txn *out)
{
    (void)arena;
    out->err = jute_read_int(reader);
    return reader->ok;
}

void jute_error_txn_encode(struct jute_writer *writer, const struct jute_error_txn *in)
{
    jute_write_int(writer, in->err);
}

bool jute_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                     struct jute_txn *out)
{
    (void)arena;
    out->type = jute_read_int(reader);
    out->data = jute_read_bytes(reader);
    return reader->ok;
}

void jute_txn_encode(struct jute_writer *writer, const struct jute_txn *in)
{
    jute_write_int(writer, in->type);
    jute_write_bytes(writer, in->data);
}

bool jute_multi_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_multi_txn *out)
{
    jute_txn_vector_decode(reader, arena, &out->txns);
    return reader->ok;
}

void jute_multi_txn_encode(struct jute_writer *writer, const struct jute_multi_txn *in)
{
    jute_txn_vector_encode(writer, &in->txns);
}

/* ---- ConnectRequest / ConnectResponse: optional trailing readOnly ------- */

bool jute_connect_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_connect_request *out)
{
    (void)arena;
    out->protocol_version = jute_read_int(reader);
    out->last_zxid_seen = jute_read_long(reader);
    out->time_out = jute_read_int(reader);
    out->session_id = jute_read_long(reader);
    out->passwd = jute_read_bytes(reader);
    /* Old clients stop here; ZooKeeper then treats the session as writable. */
    out->has_read_only = reader->ok && jute_reader_remaining(reader) >= 1;
    out->read_only = out->has_read_only ? jute_read_bool(reader) : false;
    return reader->ok;
}

void jute_connect_request_encode(struct jute_writer *writer, const struct jute_connect_request *in)
{
    jute_write_int(writer, in->protocol_version);
    jute_write_long(writer, in->last_zxid_seen);
    jute_write_int(writer, in->time_out);
    jute_write_long(writer, in->session_id);
    jute_write_bytes(writer, in->passwd);
    if (in->has_read_only) {
        jute_write_bool(writer, in->read_only);
    }
}

bool jute_connect_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_connect_response *out)
{
    (void)arena;
    out->protocol_version = jute_read_int(reader);
    out->time_out = jute_read_int(reader);
    out->session_id = jute_read_long(reader);
    out->passwd = jute_read_bytes(reader);
    out->has_read_only = reader->ok && jute_reader_remaining(reader) >= 1;
    out->read_only = out->has_read_only ? jute_read_bool(reader) : false;
    return reader->ok;
}

void jute_connect_response_encode(struct jute_writer *writer,
                                  const struct jute_connect_response *in)
{
    jute_write_int(writer, in->protocol_version);
    jute_write_int(writer, in->time_out);
    jute_write_long(writer, in->session_id);
    jute_write_bytes(writer, in->passwd);
    if (in->has_read_only) {
        jute_write_bool(writer, in->read_only);
    }
}

/* ---- multi request -------------------------------------------------------- */

enum multi_op_kind {
    MULTI_OP_UNKNOWN,
    MULTI_OP_READ,
    MULTI_OP_WRITE,
};

/* Op.OpKind of the op types MultiOperationRecord accepts. */
static enum multi_op_kind multi_op_kind_of(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
    case ZK_OP_CREATE_TTL:
    case ZK_OP_DELETE:
    case ZK_OP_SET_DATA:
    case ZK_OP_CHECK:
        return MULTI_OP_WRITE;
    case ZK_OP_GET_CHILDREN:
    case ZK_OP_GET_DATA:
        return MULTI_OP_READ;
    default:
        return MULTI_OP_UNKNOWN;
    }
}

static bool multi_op_body_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_multi_op *op)
{
    switch (op->type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
        return jute_create_request_decode(reader, arena, &op->u.create);
    case ZK_OP_CREATE_TTL:
        return jute_create_ttl_request_decode(reader, arena, &op->u.create_ttl);
    case ZK_OP_DELETE:
        return jute_delete_request_decode(reader, arena, &op->u.delete_);
    case ZK_OP_SET_DATA:
        return jute_set_data_request_decode(reader, arena, &op->u.set_data);
    case ZK_OP_CHECK:
        return jute_check_version_request_decode(reader, arena, &op->u.check);
    case ZK_OP_GET_CHILDREN:
        return jute_get_children_request_decode(reader, arena, &op->u.get_children);
    case ZK_OP_GET_DATA:
        return jute_get_data_request_decode(reader, arena, &op->u.get_data);
    default:
        reader->ok = false; /* "Invalid type of op" */
        return false;
    }
}

static void multi_op_body_encode(struct jute_writer *writer, const struct jute_multi_op *op)
{
    switch (op->type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
        jute_create_request_encode(writer, &op->u.create);
        break;
    case ZK_OP_CREATE_TTL:
        jute_create_ttl_request_encode(writer, &op->u.create_ttl);
        break;
    case ZK_OP_DELETE:
        jute_delete_request_encode(writer, &op->u.delete_);
        break;
    case ZK_OP_SET_DATA:
        jute_set_data_request_encode(writer, &op->u.set_data);
        break;
    case ZK_OP_CHECK:
        jute_check_version_request_encode(writer, &op->u.check);
        break;
    case ZK_OP_GET_CHILDREN:
        jute_get_children_request_encode(writer, &op->u.get_children);
        break;
    case ZK_OP_GET_DATA:
        jute_get_data_request_encode(writer, &op->u.get_data);
        break;
    default:
        writer->ok = false; /* "Invalid type of op" */
        break;
    }
}

/* Reads one (header, op) entry. Returns false at the end marker or on
 * failure (then reader->ok is false). `kind` tracks the first op's kind. */
static bool multi_op_next(struct jute_reader *reader, struct jute_arena *arena,
                          enum multi_op_kind *kind, struct jute_multi_op *op)
{
    struct jute_multi_header header;
    if (!jute_multi_header_decode(reader, arena, &header) || header.done) {
        return false;
    }
    enum multi_op_kind op_kind = multi_op_kind_of(header.type);
    if (op_kind == MULTI_OP_UNKNOWN || (*kind != MULTI_OP_UNKNOWN && op_kind != *kind)) {
        reader->ok = false; /* unknown op, or read and write ops mixed */
        return false;
    }
    *kind = op_kind;
    op->type = header.type;
    return multi_op_body_decode(reader, arena, op);
}

/* Two passes: the first counts the ops (decoding into a scratch op, then
 * giving its arena space back), the second decodes them into one array.
 * Each entry consumes at least its 9-byte MultiHeader, so both passes are
 * bounded by the input size. */
bool jute_multi_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_multi_request *out)
{
    out->count = 0;
    out->ops = NULL;
    struct jute_reader counter = *reader;
    size_t arena_mark = arena->used_bytes;
    enum multi_op_kind kind = MULTI_OP_UNKNOWN;
    size_t count = 0;
    struct jute_multi_op scratch;
    while (multi_op_next(&counter, arena, &kind, &scratch)) {
        count++;
    }
    arena->used_bytes = arena_mark;
    if (!counter.ok) {
        reader->ok = false;
        return false;
    }
    assert(count <= INT32_MAX);
    if (count > 0) {
        out->ops = jute_arena_alloc(arena, count, sizeof *out->ops);
        if (!out->ops) {
            reader->ok = false;
            return false;
        }
    }
    kind = MULTI_OP_UNKNOWN;
    for (size_t i = 0; i < count; i++) {
        bool more = multi_op_next(reader, arena, &kind, &out->ops[i]);
        assert(more || !reader->ok);
        if (!more) {
            return false;
        }
    }
    struct jute_multi_header end;
    jute_multi_header_decode(reader, arena, &end);
    assert(!reader->ok || end.done);
    out->count = reader->ok ? (int32_t)count : 0;
    return reader->ok;
}

void jute_multi_request_encode(struct jute_writer *writer, const struct jute_multi_request *in)
{
    assert(in->count == 0 || in->ops != NULL);
    for (int32_t i = 0; i < in->count; i++) {
        struct jute_multi_header header = {in->ops[i].type, false, -1};
        jute_multi_header_encode(writer, &header);
        multi_op_body_encode(writer, &in->ops[i]);
    }
    struct jute_multi_header end = {-1, true, -1};
    jute_multi_header_encode(writer, &end);
}

/* ---- multi response ------------------------------------------------------- */

/* Reads one (header, result) entry; false at the end marker or on failure. */
static bool multi_result_next(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_multi_result *result)
{
    struct jute_multi_header header;
    if (!jute_multi_header_decode(reader, arena, &header) || header.done) {
        return false;
    }
    result->type = header.type;
    result->err = 0;
    switch (header.type) {
    case ZK_OP_CREATE:
        return jute_create_response_decode(reader, arena, &result->u.create);
    case ZK_OP_CREATE2:
        return jute_create2_response_decode(reader, arena, &result->u.create2);
    case ZK_OP_DELETE:
    case ZK_OP_CHECK:
        return true;
    case ZK_OP_SET_DATA:
        return jute_set_data_response_decode(reader, arena, &result->u.set_data);
    case ZK_OP_GET_CHILDREN:
        return jute_get_children_response_decode(reader, arena, &result->u.get_children);
    case ZK_OP_GET_DATA:
        return jute_get_data_response_decode(reader, arena, &result->u.get_data);
    case ZK_OP_ERROR: {
        struct jute_error_response error;
        jute_error_response_decode(reader, arena, &error);
        result->err = error.err;
        return reader->ok;
    }
    default:
        reader->ok = false; /* "Invalid type in MultiResponse" */
        return false;
    }
}

bool jute_multi_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_multi_response *out)
{
    out->count = 0;
    out->results = NULL;
    struct jute_reader counter = *reader;
    size_t arena_mark = arena->used_bytes;
    size_t count = 0;
    struct jute_multi_result scratch;
    while (multi_result_next(&counter, arena, &scratch)) {
        count++;
    }
    arena->used_bytes = arena_mark;
    if (!counter.ok) {
        reader->ok = false;
        return false;
    }
    assert(count <= INT32_MAX);
    if (count > 0) {
        out->results = jute_arena_alloc(arena, count, sizeof *out->results);
        if (!out->results) {
            reader->ok = false;
            return false;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!multi_result_next(reader, arena, &out->results[i])) {
            assert(!reader->ok);
            return false;
        }
    }
    struct jute_multi_header end;
    jute_multi_header_decode(reader, arena, &end);
    assert(!reader->ok || end.done);
    out->count = reader->ok ? (int32_t)count : 0;
    return reader->ok;
}

static void multi_result_encode(struct jute_writer *writer, const struct jute_multi_result *result)
{
    struct jute_multi_header header = {result->type, false,
                                       result->type == ZK_OP_ERROR ? result->err : 0};
    jute_multi_header_encode(writer, &header);
    switch (result->type) {
    case ZK_OP_CREATE:
        jute_create_response_encode(writer, &result->u.create);
        break;
    case ZK_OP_CREATE2:
        jute_create2_response_encode(writer, &result->u.create2);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_CHECK:
        break;
    case ZK_OP_SET_DATA:
        jute_set_data_response_encode(writer, &result->u.set_data);
        break;
    case ZK_OP_GET_CHILDREN:
        jute_get_children_response_encode(writer, &result->u.get_children);
        break;
    case ZK_OP_GET_DATA:
        jute_get_data_response_encode(writer, &result->u.get_data);
        break;
    case ZK_OP_ERROR: {
        struct jute_error_response error = {result->err};
        jute_error_response_encode(writer, &error);
        break;
    }
    default:
        writer->ok = false; /* "Invalid type in MultiResponse" */
        break;
    }
}

void jute_multi_response_encode(struct jute_writer *writer, const struct jute_multi_response *in)
{
    assert(in->count == 0 || in->results != NULL);
    for (int32_t i = 0; i < in->count; i++) {
        multi_result_encode(writer, &in->results[i]);
    }
    struct jute_multi_header end = {-1, true, -1};
    jute_multi_header_encode(writer, &end);
}

/* ---- whole client requests ---------------------------------------------- */

/* Decodes the body that the header's type selects. */
/* Returns 1 (decoded), 0 (malformed) or JUTE_DECODE_UNKNOWN_OPCODE. */
static int request_body_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_request *out)
{
    switch (out->header.type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
        return jute_create_request_decode(reader, arena, &out->body.create);
    case ZK_OP_CREATE_TTL:
        return jute_create_ttl_request_decode(reader, arena, &out->body.create_ttl);
    case ZK_OP_DELETE:
        return jute_delete_request_decode(reader, arena, &out->body.delete_);
    case ZK_OP_EXISTS:
        return jute_exists_request_decode(reader, arena, &out->body.exists);
    case ZK_OP_GET_DATA:
        return jute_get_data_request_decode(reader, arena, &out->body.get_data);
    case ZK_OP_SET_DATA:
        return jute_set_data_request_decode(reader, arena, &out->body.set_data);
    case ZK_OP_GET_ACL:
        return jute_get_acl_request_decode(reader, arena, &out->body.get_acl);
    case ZK_OP_SET_ACL:
        return jute_set_acl_request_decode(reader, arena, &out->body.set_acl);
    case ZK_OP_GET_CHILDREN:
        return jute_get_children_request_decode(reader, arena, &out->body.get_children);
    case ZK_OP_SYNC:
        return jute_sync_request_decode(reader, arena, &out->body.sync);
    case ZK_OP_GET_CHILDREN2:
        return jute_get_children2_request_decode(reader, arena, &out->body.get_children2);
    case ZK_OP_CHECK:
        return jute_check_version_request_decode(reader, arena, &out->body.check);
    case ZK_OP_MULTI:
    case ZK_OP_MULTI_READ:
        return jute_multi_request_decode(reader, arena, &out->body.multi);
    case ZK_OP_RECONFIG:
        return jute_reconfig_request_decode(reader, arena, &out->body.reconfig);
    case ZK_OP_CHECK_WATCHES:
        return jute_check_watches_request_decode(reader, arena, &out->body.check_watches);
    case ZK_OP_REMOVE_WATCHES:
        return jute_remove_watches_request_decode(reader, arena, &out->body.remove_watches);
    case ZK_OP_AUTH:
        return jute_auth_packet_decode(reader, arena, &out->body.auth);
    case ZK_OP_SET_WATCHES:
        return jute_set_watches_decode(reader, arena, &out->body.set_watches);
    case ZK_OP_SET_WATCHES2:
        return jute_set_watches2_decode(reader, arena, &out->body.set_watches2);
    case ZK_OP_SASL:
        return jute_get_sasl_request_decode(reader, arena, &out->body.sasl);
    case ZK_OP_GET_EPHEMERALS:
        return jute_get_ephemerals_request_decode(reader, arena, &out->body.get_ephemerals);
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
        return jute_get_all_children_number_request_decode(reader, arena,
                                                           &out->body.get_all_children_number);
    case ZK_OP_ADD_WATCH:
        return jute_add_watch_request_decode(reader, arena, &out->body.add_watch);
    case ZK_OP_PING:
    case ZK_OP_CLOSE_SESSION:
    case ZK_OP_WHO_AM_I:
        return true;
    default:
        return JUTE_DECODE_UNKNOWN_OPCODE;
    }
}

int jute_request_decode(const uint8_t *payload, size_t size, struct jute_arena *arena,
                        struct jute_request *out)
{
    struct jute_reader reader;
    jute_reader_init(&reader, payload, size);
    memset(out, 0, sizeof *out);
    if (!jute_request_header_decode(&reader, arena, &out->header)) {
        return JUTE_DECODE_MALFORMED;
    }
    int decoded = request_body_decode(&reader, arena, out);
    if (decoded == JUTE_DECODE_UNKNOWN_OPCODE) {
        return JUTE_DECODE_UNKNOWN_OPCODE;
    }
    return decoded && reader.ok ? JUTE_DECODE_OK : JUTE_DECODE_MALFORMED;
}

static bool request_body_encode(struct jute_writer *writer, const struct jute_request *in)
{
    switch (in->header.type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATE_CONTAINER:
        jute_create_request_encode(writer, &in->body.create);
        return true;
    case ZK_OP_CREATE_TTL:
        jute_create_ttl_request_encode(writer, &in->body.create_ttl);
        return true;
    case ZK_OP_DELETE:
        jute_delete_request_encode(writer, &in->body.delete_);
        return true;
    case ZK_OP_EXISTS:
        jute_exists_request_encode(writer, &in->body.exists);
        return true;
    case ZK_OP_GET_DATA:
        jute_get_data_request_encode(writer, &in->body.get_data);
        return true;
    case ZK_OP_SET_DATA:
        jute_set_data_request_encode(writer, &in->body.set_data);
        return true;
    case ZK_OP_GET_ACL:
        jute_get_acl_request_encode(writer, &in->body.get_acl);
        return true;
    case ZK_OP_SET_ACL:
        jute_set_acl_request_encode(writer, &in->body.set_acl);
        return true;
    case ZK_OP_GET_CHILDREN:
        jute_get_children_request_encode(writer, &in->body.get_children);
        return true;
    case ZK_OP_SYNC:
        jute_sync_request_encode(writer, &in->body.sync);
        return true;
    case ZK_OP_GET_CHILDREN2:
        jute_get_children2_request_encode(writer, &in->body.get_children2);
        return true;
    case ZK_OP_CHECK:
        jute_check_version_request_encode(writer, &in->body.check);
        return true;
    case ZK_OP_MULTI:
    case ZK_OP_MULTI_READ:
        jute_multi_request_encode(writer, &in->body.multi);
        return true;
    case ZK_OP_RECONFIG:
        jute_reconfig_request_encode(writer, &in->body.reconfig);
        return true;
    case ZK_OP_CHECK_WATCHES:
        jute_check_watches_request_encode(writer, &in->body.check_watches);
        return true;
    case ZK_OP_REMOVE_WATCHES:
        jute_remove_watches_request_encode(writer, &in->body.remove_watches);
        return true;
    case ZK_OP_AUTH:
        jute_auth_packet_encode(writer, &in->body.auth);
        return true;
    case ZK_OP_SET_WATCHES:
        jute_set_watches_encode(writer, &in->body.set_watches);
        return true;
    case ZK_OP_SET_WATCHES2:
        jute_set_watches2_encode(writer, &in->body.set_watches2);
        return true;
    case ZK_OP_SASL:
        jute_get_sasl_request_encode(writer, &in->body.sasl);
        return true;
    case ZK_OP_GET_EPHEMERALS:
        jute_get_ephemerals_request_encode(writer, &in->body.get_ephemerals);
        return true;
    case ZK_OP_GET_ALL_CHILDREN_NUMBER:
        jute_get_all_children_number_request_encode(writer, &in->body.get_all_children_number);
        return true;
    case ZK_OP_ADD_WATCH:
        jute_add_watch_request_encode(writer, &in->body.add_watch);
        return true;
    case ZK_OP_PING:
    case ZK_OP_CLOSE_SESSION:
    case ZK_OP_WHO_AM_I:
        return true;
    default:
        return false;
    }
}

bool jute_request_encode(struct jute_writer *writer, const struct jute_request *in)
{
    size_t start_bytes = writer->size;
    jute_request_header_encode(writer, &in->header);
    if (!request_body_encode(writer, in)) {
        writer->size = start_bytes; /* unknown type: leave nothing behind */
        return false;
    }
    return writer->ok;
}
