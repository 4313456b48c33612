/* Every record of zookeeper.jute (ZooKeeper 3.8) that Cheetah sends, receives
 * or stores, built from the primitives in jute/jute.h.
 *
 * Naming: record `FooBar` is `struct jute_foo_bar`; its fields are the jute
 * names in snake_case. ustring and buffer are `struct jute_bytes`; nested
 * records are held by value.
 *
 * Every record has
 *   bool jute_<name>_decode(struct jute_reader *reader, struct jute_arena *arena,
 *                           struct jute_<name> *out);   (returns reader->ok)
 *   void jute_<name>_encode(struct jute_writer *writer, const struct jute_<name> *in);
 * Decoders are zero-copy: strings and buffers point into the reader's input.
 * Vectors are carved from `arena`; a vector that cannot fit in the arena or
 * whose count cannot fit in the remaining bytes fails the decode. On failure
 * the contents of `out` are unspecified and must not be used.
 *
 * Trailing bytes after a record are not an error here, as in ZooKeeper
 * (records are deserialized from a ByteBuffer that is never checked for
 * exhaustion).
 */
#ifndef CHEETAH_JUTE_RECORDS_H
#define CHEETAH_JUTE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute/jute.h"

/* ---- vectors -------------------------------------------------------------
 * count == -1 is jute's null vector (items NULL); it encodes as -1. */

struct jute_id;
struct jute_acl;
struct jute_txn;
struct jute_client_info;

struct jute_string_vector {
    int32_t count;
    struct jute_bytes *items;
};
struct jute_acl_vector {
    int32_t count;
    struct jute_acl *items;
};
struct jute_id_vector {
    int32_t count;
    struct jute_id *items;
};
struct jute_txn_vector {
    int32_t count;
    struct jute_txn *items;
};
struct jute_client_info_vector {
    int32_t count;
    struct jute_client_info *items;
};

bool jute_string_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_string_vector *out);
void jute_string_vector_encode(struct jute_writer *writer, const struct jute_string_vector *in);
bool jute_acl_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_acl_vector *out);
void jute_acl_vector_encode(struct jute_writer *writer, const struct jute_acl_vector *in);
bool jute_id_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_id_vector *out);
void jute_id_vector_encode(struct jute_writer *writer, const struct jute_id_vector *in);
bool jute_txn_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_vector *out);
void jute_txn_vector_encode(struct jute_writer *writer, const struct jute_txn_vector *in);
bool jute_client_info_vector_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_client_info_vector *out);
void jute_client_info_vector_encode(struct jute_writer *writer,
                                    const struct jute_client_info_vector *in);

/* ---- module org.apache.zookeeper.data ---------------------------------- */

struct jute_id {
    struct jute_bytes scheme;
    struct jute_bytes id;
};
bool jute_id_decode(struct jute_reader *reader, struct jute_arena *arena,
                    struct jute_id *out);
void jute_id_encode(struct jute_writer *writer, const struct jute_id *in);

struct jute_acl {
    int32_t perms;
    struct jute_id id;
};
bool jute_acl_decode(struct jute_reader *reader, struct jute_arena *arena,
                     struct jute_acl *out);
void jute_acl_encode(struct jute_writer *writer, const struct jute_acl *in);

struct jute_stat {
    int64_t czxid;
    int64_t mzxid;
    int64_t ctime;
    int64_t mtime;
    int32_t version;
    int32_t cversion;
    int32_t aversion;
    int64_t ephemeral_owner;
    int32_t data_length;
    int32_t num_children;
    int64_t pzxid;
};
bool jute_stat_decode(struct jute_reader *reader, struct jute_arena *arena,
                      struct jute_stat *out);
void jute_stat_encode(struct jute_writer *writer, const struct jute_stat *in);
#define JUTE_STAT_BYTES 68u

struct jute_stat_persisted {
    int64_t czxid;
    int64_t mzxid;
    int64_t ctime;
    int64_t mtime;
    int32_t version;
    int32_t cversion;
    int32_t aversion;
    int64_t ephemeral_owner;
    int64_t pzxid;
};
bool jute_stat_persisted_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_stat_persisted *out);
void jute_stat_persisted_encode(struct jute_writer *writer, const struct jute_stat_persisted *in);

/* ClientInfo (3.7+; the WhoAmI reply). */
struct jute_client_info {
    struct jute_bytes auth_scheme;
    struct jute_bytes user;
};
bool jute_client_info_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_client_info *out);
void jute_client_info_encode(struct jute_writer *writer, const struct jute_client_info *in);

/* ---- module org.apache.zookeeper.proto --------------------------------- */

/* Hand-written: the trailing `bool readOnly` is optional on the wire (old
 * clients omit it). 44 bytes without it, 45 with (passwd of 16 bytes).
 * Decode sets has_read_only when at least one byte remains after passwd;
 * encode writes read_only only when has_read_only. A ConnectRequest is a
 * frame body on its own: no RequestHeader precedes it. */
struct jute_connect_request {
    int32_t protocol_version;
    int64_t last_zxid_seen;
    int32_t time_out;
    int64_t session_id;
    struct jute_bytes passwd;
    bool read_only;
    bool has_read_only;
};
bool jute_connect_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_connect_request *out);
void jute_connect_request_encode(struct jute_writer *writer, const struct jute_connect_request *in);

/* Same optional trailing readOnly as ConnectRequest. */
struct jute_connect_response {
    int32_t protocol_version;
    int32_t time_out;
    int64_t session_id;
    struct jute_bytes passwd;
    bool read_only;
    bool has_read_only;
};
bool jute_connect_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_connect_response *out);
void jute_connect_response_encode(struct jute_writer *writer,
                                  const struct jute_connect_response *in);

struct jute_set_watches {
    int64_t relative_zxid;
    struct jute_string_vector data_watches;
    struct jute_string_vector exist_watches;
    struct jute_string_vector child_watches;
};
bool jute_set_watches_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_set_watches *out);
void jute_set_watches_encode(struct jute_writer *writer, const struct jute_set_watches *in);

struct jute_set_watches2 {
    int64_t relative_zxid;
    struct jute_string_vector data_watches;
    struct jute_string_vector exist_watches;
    struct jute_string_vector child_watches;
    struct jute_string_vector persistent_watches;
    struct jute_string_vector persistent_recursive_watches;
};
bool jute_set_watches2_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_set_watches2 *out);
void jute_set_watches2_encode(struct jute_writer *writer, const struct jute_set_watches2 *in);

struct jute_request_header {
    int32_t xid;
    int32_t type;
};
bool jute_request_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_request_header *out);
void jute_request_header_encode(struct jute_writer *writer, const struct jute_request_header *in);

struct jute_multi_header {
    int32_t type;
    bool done;
    int32_t err;
};
bool jute_multi_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_multi_header *out);
void jute_multi_header_encode(struct jute_writer *writer, const struct jute_multi_header *in);

struct jute_auth_packet {
    int32_t type;
    struct jute_bytes scheme;
    struct jute_bytes auth;
};
bool jute_auth_packet_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_auth_packet *out);
void jute_auth_packet_encode(struct jute_writer *writer, const struct jute_auth_packet *in);

struct jute_reply_header {
    int32_t xid;
    int64_t zxid;
    int32_t err;
};
bool jute_reply_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_reply_header *out);
void jute_reply_header_encode(struct jute_writer *writer, const struct jute_reply_header *in);
#define JUTE_REPLY_HEADER_BYTES 16u

struct jute_get_data_request {
    struct jute_bytes path;
    bool watch;
};
bool jute_get_data_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_data_request *out);
void jute_get_data_request_encode(struct jute_writer *writer,
                                  const struct jute_get_data_request *in);

struct jute_set_data_request {
    struct jute_bytes path;
    struct jute_bytes data;
    int32_t version;
};
bool jute_set_data_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_data_request *out);
void jute_set_data_request_encode(struct jute_writer *writer,
                                  const struct jute_set_data_request *in);

struct jute_reconfig_request {
    struct jute_bytes joining_servers;
    struct jute_bytes leaving_servers;
    struct jute_bytes new_members;
    int64_t cur_config_id;
};
bool jute_reconfig_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_reconfig_request *out);
void jute_reconfig_request_encode(struct jute_writer *writer,
                                  const struct jute_reconfig_request *in);

struct jute_set_data_response {
    struct jute_stat stat;
};
bool jute_set_data_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_set_data_response *out);
void jute_set_data_response_encode(struct jute_writer *writer,
                                   const struct jute_set_data_response *in);

struct jute_get_sasl_request {
    struct jute_bytes token;
};
bool jute_get_sasl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_sasl_request *out);
void jute_get_sasl_request_encode(struct jute_writer *writer,
                                  const struct jute_get_sasl_request *in);

struct jute_set_sasl_request {
    struct jute_bytes token;
};
bool jute_set_sasl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_sasl_request *out);
void jute_set_sasl_request_encode(struct jute_writer *writer,
                                  const struct jute_set_sasl_request *in);

struct jute_set_sasl_response {
    struct jute_bytes token;
};
bool jute_set_sasl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_set_sasl_response *out);
void jute_set_sasl_response_encode(struct jute_writer *writer,
                                   const struct jute_set_sasl_response *in);

struct jute_create_request {
    struct jute_bytes path;
    struct jute_bytes data;
    struct jute_acl_vector acl;
    int32_t flags;
};
bool jute_create_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_create_request *out);
void jute_create_request_encode(struct jute_writer *writer, const struct jute_create_request *in);

struct jute_create_ttl_request {
    struct jute_bytes path;
    struct jute_bytes data;
    struct jute_acl_vector acl;
    int32_t flags;
    int64_t ttl;
};
bool jute_create_ttl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_create_ttl_request *out);
void jute_create_ttl_request_encode(struct jute_writer *writer,
                                    const struct jute_create_ttl_request *in);

struct jute_delete_request {
    struct jute_bytes path;
    int32_t version;
};
bool jute_delete_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_delete_request *out);
void jute_delete_request_encode(struct jute_writer *writer, const struct jute_delete_request *in);

struct jute_get_children_request {
    struct jute_bytes path;
    bool watch;
};
bool jute_get_children_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                      struct jute_get_children_request *out);
void jute_get_children_request_encode(struct jute_writer *writer,
                                      const struct jute_get_children_request *in);

struct jute_get_all_children_number_request {
    struct jute_bytes path;
};
bool jute_get_all_children_number_request_decode(struct jute_reader *reader,
                                                 struct jute_arena *arena,
                                                 struct jute_get_all_children_number_request *out);
void jute_get_all_children_number_request_encode(struct jute_writer *writer,
                                                 const struct jute_get_all_children_number_request *in);

struct jute_get_children2_request {
    struct jute_bytes path;
    bool watch;
};
bool jute_get_children2_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_get_children2_request *out);
void jute_get_children2_request_encode(struct jute_writer *writer,
                                       const struct jute_get_children2_request *in);

struct jute_check_version_request {
    struct jute_bytes path;
    int32_t version;
};
bool jute_check_version_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_check_version_request *out);
void jute_check_version_request_encode(struct jute_writer *writer,
                                       const struct jute_check_version_request *in);

struct jute_sync_request {
    struct jute_bytes path;
};
bool jute_sync_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_sync_request *out);
void jute_sync_request_encode(struct jute_writer *writer, const struct jute_sync_request *in);

struct jute_sync_response {
    struct jute_bytes path;
};
bool jute_sync_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_sync_response *out);
void jute_sync_response_encode(struct jute_writer *writer, const struct jute_sync_response *in);

struct jute_get_acl_request {
    struct jute_bytes path;
};
bool jute_get_acl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_get_acl_request *out);
void jute_get_acl_request_encode(struct jute_writer *writer, const struct jute_get_acl_request *in);

struct jute_set_acl_request {
    struct jute_bytes path;
    struct jute_acl_vector acl;
    int32_t version;
};
bool jute_set_acl_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_set_acl_request *out);
void jute_set_acl_request_encode(struct jute_writer *writer, const struct jute_set_acl_request *in);

struct jute_set_acl_response {
    struct jute_stat stat;
};
bool jute_set_acl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_set_acl_response *out);
void jute_set_acl_response_encode(struct jute_writer *writer,
                                  const struct jute_set_acl_response *in);

struct jute_add_watch_request {
    struct jute_bytes path;
    int32_t mode;
};
bool jute_add_watch_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_add_watch_request *out);
void jute_add_watch_request_encode(struct jute_writer *writer,
                                   const struct jute_add_watch_request *in);

struct jute_watcher_event {
    int32_t type;
    int32_t state;
    struct jute_bytes path;
};
bool jute_watcher_event_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_watcher_event *out);
void jute_watcher_event_encode(struct jute_writer *writer, const struct jute_watcher_event *in);

struct jute_error_response {
    int32_t err;
};
bool jute_error_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_error_response *out);
void jute_error_response_encode(struct jute_writer *writer, const struct jute_error_response *in);

struct jute_create_response {
    struct jute_bytes path;
};
bool jute_create_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_create_response *out);
void jute_create_response_encode(struct jute_writer *writer, const struct jute_create_response *in);

struct jute_create2_response {
    struct jute_bytes path;
    struct jute_stat stat;
};
bool jute_create2_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_create2_response *out);
void jute_create2_response_encode(struct jute_writer *writer,
                                  const struct jute_create2_response *in);

struct jute_exists_request {
    struct jute_bytes path;
    bool watch;
};
bool jute_exists_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_exists_request *out);
void jute_exists_request_encode(struct jute_writer *writer, const struct jute_exists_request *in);

struct jute_exists_response {
    struct jute_stat stat;
};
bool jute_exists_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                 struct jute_exists_response *out);
void jute_exists_response_encode(struct jute_writer *writer, const struct jute_exists_response *in);

struct jute_get_data_response {
    struct jute_bytes data;
    struct jute_stat stat;
};
bool jute_get_data_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_get_data_response *out);
void jute_get_data_response_encode(struct jute_writer *writer,
                                   const struct jute_get_data_response *in);

struct jute_get_children_response {
    struct jute_string_vector children;
};
bool jute_get_children_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_get_children_response *out);
void jute_get_children_response_encode(struct jute_writer *writer,
                                       const struct jute_get_children_response *in);

struct jute_get_all_children_number_response {
    int32_t total_number;
};
bool jute_get_all_children_number_response_decode(struct jute_reader *reader,
                                                  struct jute_arena *arena,
                                                  struct jute_get_all_children_number_response *out);
void jute_get_all_children_number_response_encode(struct jute_writer *writer,
                                                  const struct jute_get_all_children_number_response *in);

struct jute_get_children2_response {
    struct jute_string_vector children;
    struct jute_stat stat;
};
bool jute_get_children2_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_get_children2_response *out);
void jute_get_children2_response_encode(struct jute_writer *writer,
                                        const struct jute_get_children2_response *in);

struct jute_get_acl_response {
    struct jute_acl_vector acl;
    struct jute_stat stat;
};
bool jute_get_acl_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                  struct jute_get_acl_response *out);
void jute_get_acl_response_encode(struct jute_writer *writer,
                                  const struct jute_get_acl_response *in);

struct jute_check_watches_request {
    struct jute_bytes path;
    int32_t type;
};
bool jute_check_watches_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                       struct jute_check_watches_request *out);
void jute_check_watches_request_encode(struct jute_writer *writer,
                                       const struct jute_check_watches_request *in);

struct jute_remove_watches_request {
    struct jute_bytes path;
    int32_t type;
};
bool jute_remove_watches_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_remove_watches_request *out);
void jute_remove_watches_request_encode(struct jute_writer *writer,
                                        const struct jute_remove_watches_request *in);

struct jute_get_ephemerals_request {
    struct jute_bytes prefix_path;
};
bool jute_get_ephemerals_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                                        struct jute_get_ephemerals_request *out);
void jute_get_ephemerals_request_encode(struct jute_writer *writer,
                                        const struct jute_get_ephemerals_request *in);

struct jute_get_ephemerals_response {
    struct jute_string_vector ephemerals;
};
bool jute_get_ephemerals_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                         struct jute_get_ephemerals_response *out);
void jute_get_ephemerals_response_encode(struct jute_writer *writer,
                                         const struct jute_get_ephemerals_response *in);

struct jute_who_am_i_response {
    struct jute_client_info_vector client_info;
};
bool jute_who_am_i_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_who_am_i_response *out);
void jute_who_am_i_response_encode(struct jute_writer *writer,
                                   const struct jute_who_am_i_response *in);

/* ---- module org.apache.zookeeper.server.quorum ------------------------- */

struct jute_learner_info {
    int64_t serverid;
    int32_t protocol_version;
    int64_t config_version;
};
bool jute_learner_info_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_learner_info *out);
void jute_learner_info_encode(struct jute_writer *writer, const struct jute_learner_info *in);

struct jute_quorum_packet {
    int32_t type;
    int64_t zxid;
    struct jute_bytes data;
    struct jute_id_vector authinfo;
};
bool jute_quorum_packet_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_quorum_packet *out);
void jute_quorum_packet_encode(struct jute_writer *writer, const struct jute_quorum_packet *in);

/* ---- module org.apache.zookeeper.server.persistence -------------------- */

struct jute_file_header {
    int32_t magic;
    int32_t version;
    int64_t dbid;
};
bool jute_file_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_file_header *out);
void jute_file_header_encode(struct jute_writer *writer, const struct jute_file_header *in);

/* ---- module org.apache.zookeeper.txn ----------------------------------- */

struct jute_txn_digest {
    int32_t version;
    int64_t tree_digest;
};
bool jute_txn_digest_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_digest *out);
void jute_txn_digest_encode(struct jute_writer *writer, const struct jute_txn_digest *in);

struct jute_txn_header {
    int64_t client_id;
    int32_t cxid;
    int64_t zxid;
    int64_t time;
    int32_t type;
};
bool jute_txn_header_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_txn_header *out);
void jute_txn_header_encode(struct jute_writer *writer, const struct jute_txn_header *in);

struct jute_create_txn {
    struct jute_bytes path;
    struct jute_bytes data;
    struct jute_acl_vector acl;
    bool ephemeral;
    int32_t parent_c_version;
};
bool jute_create_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_create_txn *out);
void jute_create_txn_encode(struct jute_writer *writer, const struct jute_create_txn *in);

struct jute_create_ttl_txn {
    struct jute_bytes path;
    struct jute_bytes data;
    struct jute_acl_vector acl;
    int32_t parent_c_version;
    int64_t ttl;
};
bool jute_create_ttl_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_create_ttl_txn *out);
void jute_create_ttl_txn_encode(struct jute_writer *writer, const struct jute_create_ttl_txn *in);

struct jute_create_container_txn {
    struct jute_bytes path;
    struct jute_bytes data;
    struct jute_acl_vector acl;
    int32_t parent_c_version;
};
bool jute_create_container_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                      struct jute_create_container_txn *out);
void jute_create_container_txn_encode(struct jute_writer *writer,
                                      const struct jute_create_container_txn *in);

struct jute_delete_txn {
    struct jute_bytes path;
};
bool jute_delete_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                            struct jute_delete_txn *out);
void jute_delete_txn_encode(struct jute_writer *writer, const struct jute_delete_txn *in);

struct jute_set_data_txn {
    struct jute_bytes path;
    struct jute_bytes data;
    int32_t version;
};
bool jute_set_data_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                              struct jute_set_data_txn *out);
void jute_set_data_txn_encode(struct jute_writer *writer, const struct jute_set_data_txn *in);

struct jute_check_version_txn {
    struct jute_bytes path;
    int32_t version;
};
bool jute_check_version_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_check_version_txn *out);
void jute_check_version_txn_encode(struct jute_writer *writer,
                                   const struct jute_check_version_txn *in);

struct jute_set_acl_txn {
    struct jute_bytes path;
    struct jute_acl_vector acl;
    int32_t version;
};
bool jute_set_acl_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                             struct jute_set_acl_txn *out);
void jute_set_acl_txn_encode(struct jute_writer *writer, const struct jute_set_acl_txn *in);

struct jute_create_session_txn {
    int32_t time_out;
};
bool jute_create_session_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                    struct jute_create_session_txn *out);
void jute_create_session_txn_encode(struct jute_writer *writer,
                                    const struct jute_create_session_txn *in);

struct jute_close_session_txn {
    struct jute_string_vector paths2_delete;
};
bool jute_close_session_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                                   struct jute_close_session_txn *out);
void jute_close_session_txn_encode(struct jute_writer *writer,
                                   const struct jute_close_session_txn *in);

struct jute_error_txn {
    int32_t err;
};
bool jute_error_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_error_txn *out);
void jute_error_txn_encode(struct jute_writer *writer, const struct jute_error_txn *in);

/* One sub-transaction of a MultiTxn: `data` is the encoded record named by
 * `type` (CreateTxn, DeleteTxn, ..., ErrorTxn). */
struct jute_txn {
    int32_t type;
    struct jute_bytes data;
};
bool jute_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                     struct jute_txn *out);
void jute_txn_encode(struct jute_writer *writer, const struct jute_txn *in);

struct jute_multi_txn {
    struct jute_txn_vector txns;
};
bool jute_multi_txn_decode(struct jute_reader *reader, struct jute_arena *arena,
                           struct jute_multi_txn *out);
void jute_multi_txn_encode(struct jute_writer *writer, const struct jute_multi_txn *in);

/* ---- multi (MultiOperationRecord.java, MultiResponse.java) -------------
 *
 * Request wire form: for each op, MultiHeader{type, done=false, err=-1} then
 * the op's request record; ended by MultiHeader{type=-1, done=true, err=-1}.
 * Decoding stops at the first header with done=true (its type and err are not
 * checked, as in ZooKeeper) and, like ZooKeeper, fails on an op type it does
 * not know and on a request that mixes read ops (getChildren, getData) with
 * write ops ("Mixing different kind of ops"). Op type -> record:
 *   create(1), create2(15), createContainer(19) -> CreateRequest  (u.create)
 *   createTTL(21)                               -> CreateTTLRequest (u.create_ttl)
 *   delete(2)                                   -> DeleteRequest  (u.delete_)
 *   setData(5)                                  -> SetDataRequest (u.set_data)
 *   check(13)                                   -> CheckVersionRequest (u.check)
 *   getChildren(8)                              -> GetChildrenRequest (u.get_children)
 *   getData(4)                                  -> GetDataRequest (u.get_data)
 * `type` is the type on the wire. Note for the server: ZooKeeper rebuilds each
 * op with Op.create(path, data, acl, flags), so a create2 inside a multi
 * is answered as a plain create (CreateResult without stat), and the watch
 * flag of getChildren/getData inside a multi is ignored. */
struct jute_multi_op {
    int32_t type;
    union {
        struct jute_create_request create;
        struct jute_create_ttl_request create_ttl;
        struct jute_delete_request delete_;
        struct jute_set_data_request set_data;
        struct jute_check_version_request check;
        struct jute_get_data_request get_data;
        struct jute_get_children_request get_children;
    } u;
};

struct jute_multi_request {
    int32_t count;
    struct jute_multi_op *ops;
};
bool jute_multi_request_decode(struct jute_reader *reader, struct jute_arena *arena,
                               struct jute_multi_request *out);
void jute_multi_request_encode(struct jute_writer *writer, const struct jute_multi_request *in);

/* Response wire form: for each result, MultiHeader{type, done=false,
 * err = (type == -1 ? err : 0)} then the body; ended by
 * MultiHeader{-1, true, -1}. Result type -> body:
 *   create(1)      CreateResponse{path}            u.create
 *   create2(15)    Create2Response{path, stat}     u.create2
 *   delete(2), check(13)   nothing
 *   setData(5)     SetDataResponse{stat}           u.set_data
 *   getChildren(8) GetChildrenResponse{children}   u.get_children
 *   getData(4)     GetDataResponse{data, stat}     u.get_data
 *   error(-1)      ErrorResponse{err}              `err`
 * Encoding a result of another type latches writer->ok = false (ZooKeeper
 * throws "Invalid type in MultiResponse"); decoding one fails. */
struct jute_multi_result {
    int32_t type;
    int32_t err; /* the error code of an error(-1) result; 0 otherwise */
    union {
        struct jute_create_response create;
        struct jute_create2_response create2;
        struct jute_set_data_response set_data;
        struct jute_get_children_response get_children;
        struct jute_get_data_response get_data;
    } u;
};

struct jute_multi_response {
    int32_t count;
    struct jute_multi_result *results;
};
bool jute_multi_response_decode(struct jute_reader *reader, struct jute_arena *arena,
                                struct jute_multi_response *out);
void jute_multi_response_encode(struct jute_writer *writer, const struct jute_multi_response *in);

/* ---- whole client requests ----------------------------------------------- */

/* What ZooKeeper 3.8.0 answers (probed on a live server):
 *   MALFORMED with a header (size >= 8): reply {xid, zxid, MARSHALLINGERROR
 *     (-5)} with no body; the connection stays open. This covers truncated
 *     bodies, and multi with an unknown op, mixed read/write ops or no end.
 *   MALFORMED without a header (size < 8, e.g. a zero-length frame): the
 *     connection is closed.
 *   UNKNOWN_OPCODE: reply UNIMPLEMENTED (-6), except deleteContainer (20),
 *     which gets BADARGUMENTS (-8).
 * Semantic checks are the server's, not the decoder's: multi(14) holding
 * only read ops is answered MARSHALLINGERROR with no body; multiRead(22)
 * holding a write op is answered MARSHALLINGERROR with an empty
 * MultiResponse body (just the end marker). */
enum jute_decode_result {
    JUTE_DECODE_OK = 0,
    JUTE_DECODE_MALFORMED = -1,      /* truncated or invalid body */
    JUTE_DECODE_UNKNOWN_OPCODE = -2, /* header decoded; out->header is valid */
};

/* A request frame's payload decoded: the RequestHeader and the body record
 * that its type selects. Opcode -> body member:
 *   create(1), create2(15), createContainer(19) -> create (CreateRequest)
 *   createTTL(21) -> create_ttl        delete(2) -> delete_
 *   exists(3) -> exists                getData(4) -> get_data
 *   setData(5) -> set_data             getACL(6) -> get_acl
 *   setACL(7) -> set_acl               getChildren(8) -> get_children
 *   sync(9) -> sync                    getChildren2(12) -> get_children2
 *   check(13) -> check (CheckVersionRequest)
 *   multi(14), multiRead(22) -> multi  reconfig(16) -> reconfig
 *   checkWatches(17) -> check_watches  removeWatches(18) -> remove_watches
 *   auth(100) -> auth (AuthPacket)     setWatches(101) -> set_watches
 *   sasl(102) -> sasl (GetSASLRequest) getEphemerals(103) -> get_ephemerals
 *   getAllChildrenNumber(104) -> get_all_children_number
 *   setWatches2(105) -> set_watches2   addWatch(106) -> add_watch
 *   ping(11), closeSession(-11), whoAmI(107): no body (body zeroed).
 * deleteContainer(20), createSession(-10) and any other type are
 * JUTE_DECODE_UNKNOWN_OPCODE: clients never send them. */
struct jute_request {
    struct jute_request_header header;
    union {
        struct jute_create_request create;
        struct jute_create_ttl_request create_ttl;
        struct jute_delete_request delete_;
        struct jute_exists_request exists;
        struct jute_get_data_request get_data;
        struct jute_set_data_request set_data;
        struct jute_get_acl_request get_acl;
        struct jute_set_acl_request set_acl;
        struct jute_get_children_request get_children;
        struct jute_get_children2_request get_children2;
        struct jute_sync_request sync;
        struct jute_check_version_request check;
        struct jute_multi_request multi;
        struct jute_reconfig_request reconfig;
        struct jute_check_watches_request check_watches;
        struct jute_remove_watches_request remove_watches;
        struct jute_auth_packet auth;
        struct jute_set_watches set_watches;
        struct jute_set_watches2 set_watches2;
        struct jute_get_sasl_request sasl;
        struct jute_get_ephemerals_request get_ephemerals;
        struct jute_get_all_children_number_request get_all_children_number;
        struct jute_add_watch_request add_watch;
    } body;
};

/* payload = the frame after its 4-byte length: RequestHeader then body.
 * Bytes after the body are ignored, as ZooKeeper ignores them. Returns a
 * jute_decode_result. out->header is valid whenever size >= 8, even when the
 * body is malformed (ZooKeeper answers a malformed body of a known request
 * with its xid and MARSHALLINGERROR rather than dropping the connection). */
int jute_request_decode(const uint8_t *payload, size_t size, struct jute_arena *arena,
                        struct jute_request *out);

/* Encodes header and body (no frame length). Returns false, writing
 * nothing, if header.type has no known body mapping (see above); otherwise
 * returns writer->ok. */
bool jute_request_encode(struct jute_writer *writer, const struct jute_request *in);

#endif
