/* Building transactions in store tests: a tree with extended types, the
 * open ACL, a super user, request bodies, and store_prepare at a given zxid.
 * Header-only, no test framework calls (the threaded tests check results
 * their own way): every function returns what it got. */
#ifndef CHEETAH_STORE_TEST_WRITES_H
#define CHEETAH_STORE_TEST_WRITES_H

#include <stdint.h>

#include "jute/records.h"
#include "store/store.h"

static const struct jute_acl store_test_open_acl_items[] = {
    {ZK_PERM_ALL, {{(const uint8_t *)"world", 5}, {(const uint8_t *)"anyone", 6}}}};
static const struct jute_acl_vector store_test_open_acl = {
    1, (struct jute_acl *)store_test_open_acl_items};
static const struct store_auth store_test_super_auth = {.is_super = true, .id_count = 0};

/* A tree as the tests want it (TTL nodes allowed). NULL when out of memory. */
static inline struct store_tree *store_test_tree_new(void)
{
    struct store_config config = {
        .extended_types_enabled = true,
        .jute_maxbuffer_bytes = JUTE_MAXBUFFER_DEFAULT_BYTES,
        .config_node_text = "",
    };
    return store_tree_create(&config);
}

/* store_prepare of `body` (the request after its header) as the super user. */
static inline int store_test_prepare(struct store_tree *tree, struct store_txn *txn,
                                     const struct jute_writer *body, int64_t session_id,
                                     int32_t cxid, int32_t opcode, int64_t zxid, int64_t now_ms)
{
    struct store_prepare_input input = {
        .session_id = session_id,
        .cxid = cxid,
        .opcode = opcode,
        .body = jute_bytes_of(body->data, (int32_t)body->size),
        .auth = &store_test_super_auth,
        .zxid = zxid,
        .now_ms = now_ms,
    };
    return store_prepare(tree, &input, txn);
}

/* Request bodies, each replacing what `body` held. */
static inline void store_test_encode_create(struct jute_writer *body, const char *path,
                                            struct jute_bytes data,
                                            const struct jute_acl_vector *acl, int32_t flags)
{
    jute_writer_reset(body);
    struct jute_create_request request = {jute_bytes_cstr(path), data, *acl, flags};
    jute_create_request_encode(body, &request);
}

static inline void store_test_encode_set_data(struct jute_writer *body, const char *path,
                                              struct jute_bytes data)
{
    jute_writer_reset(body);
    struct jute_set_data_request request = {jute_bytes_cstr(path), data, -1};
    jute_set_data_request_encode(body, &request);
}

static inline void store_test_encode_set_acl(struct jute_writer *body, const char *path,
                                             const struct jute_acl_vector *acl)
{
    jute_writer_reset(body);
    struct jute_set_acl_request request = {jute_bytes_cstr(path), *acl, -1};
    jute_set_acl_request_encode(body, &request);
}

static inline void store_test_encode_delete(struct jute_writer *body, const char *path)
{
    jute_writer_reset(body);
    struct jute_delete_request request = {jute_bytes_cstr(path), -1};
    jute_delete_request_encode(body, &request);
}

#endif
