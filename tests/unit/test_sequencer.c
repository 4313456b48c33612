/* The sequencer driven step by step: no threads, no clocks. Each test feeds
 * core_requests with explicit times and inspects the shard_messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "consensus/sequencer.h"
#include "jute/records.h"
#include "store/snapshot.h"

#define TEST_SHARDS 2
#define TEST_MESSAGES_MAX 256
#define TEST_TICK_MS 100

struct captured {
    uint32_t shard_index;
    struct shard_message *message;
};

struct fixture {
    /* Records the sequencer handed to the log, in order (not owned). */
    struct log_record *logged[TEST_MESSAGES_MAX];
    size_t logged_count;
    struct store_tree *tree;
    struct sequencer *sequencer;
    struct captured messages[TEST_MESSAGES_MAX];
    size_t message_count;
    int64_t now_ms;
};

static void capture(void *context, uint32_t shard_index, struct shard_message *message)
{
    struct fixture *fixture = context;
    assert_true(fixture->message_count < TEST_MESSAGES_MAX);
    fixture->messages[fixture->message_count].shard_index = shard_index;
    fixture->messages[fixture->message_count].message = message;
    fixture->message_count++;
}

static void capture_log(void *context, struct log_record *record)
{
    struct fixture *fixture = context;
    assert_true(fixture->logged_count < TEST_MESSAGES_MAX);
    fixture->logged[fixture->logged_count++] = record;
}

static void clear_messages(struct fixture *fixture)
{
    for (size_t index = 0; index < fixture->message_count; index++) {
        shard_message_free(fixture->messages[index].message);
    }
    fixture->message_count = 0;
}

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    struct store_config store_config = {.jute_maxbuffer_bytes = 1048575, .config_node_text = ""};
    fixture->tree = store_tree_create(&store_config);
    struct sequencer_config config = {
        .server_id = 0,
        .tick_ms = TEST_TICK_MS,
        .shard_count = TEST_SHARDS,
        .jute_maxbuffer_bytes = 1048575,
        .container_check_interval_ms = 60000,
        .container_max_per_minute = 10000,
        .sessions_max = 64,
    };
    struct sequencer_output output = {.deliver = capture, .context = fixture};
    fixture->now_ms = 1000000;
    fixture->sequencer = sequencer_create(fixture->tree, &config, &output, fixture->now_ms);
    assert_non_null(fixture->sequencer);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    clear_messages(fixture);
    sequencer_destroy(fixture->sequencer);
    store_tree_destroy(fixture->tree);
    free(fixture);
    return 0;
}

static int64_t connect_session(struct fixture *fixture, uint32_t shard, int32_t timeout_ms)
{
    struct core_request *request = calloc(1, sizeof(*request));
    request->kind = CORE_REQUEST_CONNECT;
    request->shard_index = shard;
    request->connection_id = 7;
    request->timeout_ms = timeout_ms;
    sequencer_handle(fixture->sequencer, request, fixture->now_ms, fixture->now_ms);
    /* createSession commits (one message per shard), then CONNECTED. */
    struct shard_message *last = fixture->messages[fixture->message_count - 1].message;
    assert_int_equal(last->kind, SHARD_MESSAGE_CONNECTED);
    assert_true(last->session_valid);
    int64_t session_id = last->session_id;
    assert_int_not_equal(session_id, 0);
    clear_messages(fixture);
    return session_id;
}

static void send_write(struct fixture *fixture, uint32_t shard, int64_t session_id, int32_t xid,
                       int32_t opcode, const struct jute_writer *body)
{
    _Alignas(max_align_t) uint8_t auth_bytes[sizeof(struct store_auth) +
                                             sizeof(struct store_auth_id)];
    struct store_auth *auth = (struct store_auth *)auth_bytes;
    auth->is_super = false;
    auth->id_count = 1;
    auth->ids[0].scheme = jute_bytes_cstr("ip");
    auth->ids[0].id = jute_bytes_cstr("127.0.0.1");
    struct core_request *request = calloc(1, sizeof(*request));
    request->kind = CORE_REQUEST_WRITE;
    request->shard_index = shard;
    request->connection_id = 7;
    request->session_id = session_id;
    request->xid = xid;
    request->opcode = opcode;
    request->auth = store_auth_copy(auth);
    if (body && body->size > 0) {
        request->body = malloc(body->size);
        memcpy(request->body, body->data, body->size);
        request->body_bytes = body->size;
    }
    sequencer_handle(fixture->sequencer, request, fixture->now_ms, fixture->now_ms);
}

static void encode_create(struct jute_writer *out, const char *path, int32_t flags)
{
    static struct jute_acl open_acl;
    open_acl.perms = 31;
    open_acl.id.scheme = jute_bytes_cstr("world");
    open_acl.id.id = jute_bytes_cstr("anyone");
    struct jute_create_request create = {
        .path = jute_bytes_cstr(path),
        .data = jute_bytes_of("x", 1),
        .acl = {.count = 1, .items = &open_acl},
        .flags = flags,
    };
    jute_writer_init(out, 1 << 20);
    jute_create_request_encode(out, &create);
}

/* Reads the ReplyHeader of a reply frame. */
static void reply_header(const struct shard_message *message, struct jute_reply_header *header)
{
    struct jute_reader reader;
    jute_reader_init(&reader, message->reply_bytes + 4, message->reply_bytes_size - 4);
    assert_true(jute_reply_header_decode(&reader, NULL, header));
}

static void test_write_reaches_every_shard_and_replies_to_its_origin(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 1, 30000);
    struct jute_writer body;
    encode_create(&body, "/a", ZK_CREATE_PERSISTENT);
    send_write(fixture, 1, session_id, 5, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    int64_t zxid = fixture->messages[0].message->commit->zxid;
    for (size_t index = 0; index < TEST_SHARDS; index++) {
        struct shard_message *message = fixture->messages[index].message;
        assert_int_equal(message->kind, SHARD_MESSAGE_COMMIT);
        assert_ptr_equal(message->commit, fixture->messages[0].message->commit);
        /* Only the origin shard gets the reply. */
        assert_int_equal(message->has_reply, fixture->messages[index].shard_index == 1);
        /* NodeCreated on /a and NodeChildrenChanged on /. */
        assert_int_equal(message->commit->changes.count, 2);
        assert_int_equal(message->commit->changes.changes[0].event_type, ZK_EVENT_NODE_CREATED);
        assert_int_equal(message->commit->changes.changes[1].event_type,
                         ZK_EVENT_NODE_CHILDREN_CHANGED);
    }
    struct shard_message *reply = fixture->messages[1].message;
    struct jute_reply_header header;
    reply_header(reply, &header);
    assert_int_equal(header.xid, 5);
    assert_int_equal(header.err, ZK_OK);
    assert_int_equal(header.zxid, zxid);
    struct store_node_view view;
    int64_t visible;
    assert_int_equal(store_lookup(fixture->tree, jute_bytes_cstr("/a"), &view, &visible, NULL),
                     ZK_OK);
    assert_int_equal(view.stat.czxid, zxid);
}

static void test_failed_write_takes_a_zxid_as_an_error_txn(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    struct jute_writer body;
    encode_create(&body, "/missing/child", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, session_id, 9, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    struct shard_message *reply = fixture->messages[0].message;
    assert_true(reply->has_reply);
    struct jute_reply_header header;
    reply_header(reply, &header);
    assert_int_equal(header.err, ZK_NONODE);
    assert_int_equal(header.zxid, reply->commit->zxid);
    /* An error reply carries the header alone. */
    assert_int_equal(reply->reply_bytes_size, 4 + 16);
    assert_int_equal(reply->commit->changes.count, 0);
}

static void test_expired_session_deletes_its_ephemerals(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 2 * TEST_TICK_MS);
    struct jute_writer body;
    encode_create(&body, "/eph", ZK_CREATE_EPHEMERAL);
    send_write(fixture, 0, session_id, 1, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    clear_messages(fixture);
    /* Not yet due. */
    sequencer_tick(fixture->sequencer, fixture->now_ms, fixture->now_ms + TEST_TICK_MS);
    assert_int_equal(fixture->message_count, 0);
    /* Past the timeout rounded up to the next tick. */
    fixture->now_ms += 4 * TEST_TICK_MS;
    sequencer_tick(fixture->sequencer, fixture->now_ms, fixture->now_ms);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    struct commit_record *commit = fixture->messages[0].message->commit;
    assert_int_equal(commit->closed_session_id, session_id);
    assert_false(fixture->messages[0].message->has_reply);
    bool deleted = false;
    for (size_t index = 0; index < commit->changes.count; index++) {
        deleted |= commit->changes.changes[index].event_type == ZK_EVENT_NODE_DELETED &&
                   jute_bytes_equal(commit->changes.changes[index].path, jute_bytes_cstr("/eph"));
    }
    assert_true(deleted);
    struct store_node_view view;
    int64_t visible;
    assert_int_equal(store_lookup(fixture->tree, jute_bytes_cstr("/eph"), &view, &visible, NULL),
                     ZK_NONODE);
    /* A write on the expired session is refused. */
    clear_messages(fixture);
    encode_create(&body, "/late", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, session_id, 2, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    assert_int_equal(fixture->message_count, 1);
    struct jute_reply_header header;
    reply_header(fixture->messages[0].message, &header);
    assert_int_equal(header.err, ZK_SESSIONEXPIRED);
}

static void test_reconnect_moves_the_session_and_closes_the_old_connection(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    struct core_request *request = calloc(1, sizeof(*request));
    request->kind = CORE_REQUEST_CONNECT;
    request->shard_index = 1;
    request->connection_id = 99;
    request->session_id = session_id;
    request->timeout_ms = 30000;
    request->password_valid = true;
    sequencer_handle(fixture->sequencer, request, fixture->now_ms, fixture->now_ms);
    assert_int_equal(fixture->message_count, 2);
    struct shard_message *close = fixture->messages[0].message;
    assert_int_equal(close->kind, SHARD_MESSAGE_CLOSE_CONNECTION);
    assert_int_equal(fixture->messages[0].shard_index, 0);
    assert_int_equal(close->connection_id, 7);
    struct shard_message *connected = fixture->messages[1].message;
    assert_int_equal(connected->kind, SHARD_MESSAGE_CONNECTED);
    assert_true(connected->session_valid);
    assert_int_equal(connected->session_id, session_id);
}

static void test_wrong_password_closes_the_old_connection_and_keeps_the_session(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    struct core_request *request = calloc(1, sizeof(*request));
    request->kind = CORE_REQUEST_CONNECT;
    request->shard_index = 1;
    request->connection_id = 99;
    request->session_id = session_id;
    request->timeout_ms = 30000;
    request->password_valid = false;
    sequencer_handle(fixture->sequencer, request, fixture->now_ms, fixture->now_ms);
    assert_int_equal(fixture->message_count, 2);
    assert_int_equal(fixture->messages[0].message->kind, SHARD_MESSAGE_CLOSE_CONNECTION);
    assert_int_equal(fixture->messages[1].message->kind, SHARD_MESSAGE_CONNECTED);
    assert_false(fixture->messages[1].message->session_valid);
    struct sequencer_counters counters;
    sequencer_counters_get(fixture->sequencer, &counters);
    assert_int_equal(counters.session_count, 1);
}

static void test_close_session_replies_then_closes(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    send_write(fixture, 0, session_id, 3, ZK_OP_CLOSE_SESSION, NULL);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    struct shard_message *reply = fixture->messages[0].message;
    assert_true(reply->has_reply);
    assert_true(reply->close_after_reply);
    assert_int_equal(reply->commit->closed_session_id, session_id);
    struct sequencer_counters counters;
    sequencer_counters_get(fixture->sequencer, &counters);
    assert_int_equal(counters.session_count, 0);
}


/* ---- with a log: nothing is committed or answered before it is durable ---- */

static void test_write_waits_for_the_log_before_apply_and_reply(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    sequencer_set_log(fixture->sequencer, capture_log, fixture);
    struct jute_writer body;
    encode_create(&body, "/durable", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, session_id, 11, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    /* Handed to the log, not applied, not answered. */
    assert_int_equal(fixture->logged_count, 1);
    int64_t zxid = fixture->logged[0]->zxid;
    assert_int_equal(fixture->message_count, 0);
    struct store_node_view view;
    int64_t visible;
    assert_int_equal(store_lookup(fixture->tree, jute_bytes_cstr("/durable"), &view, &visible,
                                  NULL), ZK_NONODE);
    /* A second write prepares against the pending one (no NODEEXISTS race). */
    encode_create(&body, "/durable/child", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, session_id, 12, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    assert_int_equal(fixture->logged_count, 2);
    assert_int_equal(fixture->logged[1]->zxid, zxid + 1);
    /* Durable up to the first: only the first commits. */
    sequencer_durable(fixture->sequencer, zxid);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    assert_int_equal(store_lookup(fixture->tree, jute_bytes_cstr("/durable"), &view, &visible,
                                  NULL), ZK_OK);
    assert_int_equal(store_lookup(fixture->tree, jute_bytes_cstr("/durable/child"), &view,
                                  &visible, NULL), ZK_NONODE);
    clear_messages(fixture);
    sequencer_durable(fixture->sequencer, zxid + 1);
    assert_int_equal(fixture->message_count, TEST_SHARDS);
    struct jute_reply_header header;
    reply_header(fixture->messages[0].message, &header);
    assert_int_equal(header.xid, 12);
    assert_int_equal(header.err, ZK_OK);
    assert_int_equal(header.zxid, zxid + 1);
}

static void test_error_reply_waits_behind_a_pending_write(void **state)
{
    struct fixture *fixture = *state;
    int64_t session_id = connect_session(fixture, 0, 30000);
    sequencer_set_log(fixture->sequencer, capture_log, fixture);
    struct jute_writer body;
    encode_create(&body, "/first", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, session_id, 1, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    /* A request refused without a transaction (an unknown session): queued
     * behind the pending write. */
    encode_create(&body, "/second", ZK_CREATE_PERSISTENT);
    send_write(fixture, 0, 0x7777, 2, ZK_OP_CREATE, &body);
    jute_writer_free(&body);
    assert_int_equal(fixture->logged_count, 1);
    assert_int_equal(fixture->message_count, 0);
    int64_t zxid = fixture->logged[0]->zxid; /* the record is freed once committed */
    sequencer_durable(fixture->sequencer, zxid);
    /* The commit (one message per shard) and then the refusal, in order. */
    assert_int_equal(fixture->message_count, TEST_SHARDS + 1);
    struct jute_reply_header header;
    reply_header(fixture->messages[0].message, &header);
    assert_int_equal(header.xid, 1);
    struct shard_message *refusal = fixture->messages[TEST_SHARDS].message;
    assert_int_equal(refusal->kind, SHARD_MESSAGE_REPLY);
    reply_header(refusal, &header);
    assert_int_equal(header.xid, 2);
    assert_int_equal(header.err, ZK_SESSIONEXPIRED);
    assert_int_equal(header.zxid, zxid);
}

static void test_new_session_is_answered_once_durable(void **state)
{
    struct fixture *fixture = *state;
    sequencer_set_log(fixture->sequencer, capture_log, fixture);
    struct core_request *request = calloc(1, sizeof(*request));
    request->kind = CORE_REQUEST_CONNECT;
    request->shard_index = 1;
    request->connection_id = 9;
    request->timeout_ms = 30000;
    sequencer_handle(fixture->sequencer, request, fixture->now_ms, fixture->now_ms);
    assert_int_equal(fixture->logged_count, 1);
    assert_int_equal(fixture->message_count, 0);
    sequencer_durable(fixture->sequencer, fixture->logged[0]->zxid);
    struct shard_message *last = fixture->messages[fixture->message_count - 1].message;
    assert_int_equal(last->kind, SHARD_MESSAGE_CONNECTED);
    assert_true(last->session_valid);
    assert_int_equal(fixture->messages[fixture->message_count - 1].shard_index, 1);
}

static void test_sessions_copy_and_restore(void **state)
{
    struct fixture *fixture = *state;
    int64_t first = connect_session(fixture, 0, 30000);
    sequencer_restore_session(fixture->sequencer, 0x1234, 4000, fixture->now_ms);
    size_t count = 0;
    struct store_snapshot_session *sessions = sequencer_sessions_copy(fixture->sequencer, &count);
    assert_int_equal(count, 2);
    bool saw_first = false, saw_restored = false;
    for (size_t index = 0; index < count; index++) {
        saw_first |= sessions[index].session_id == first && sessions[index].timeout_ms == 30000;
        saw_restored |= sessions[index].session_id == 0x1234 && sessions[index].timeout_ms == 4000;
    }
    free(sessions);
    assert_true(saw_first && saw_restored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_reaches_every_shard_and_replies_to_its_origin,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_takes_a_zxid_as_an_error_txn, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expired_session_deletes_its_ephemerals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_reconnect_moves_the_session_and_closes_the_old_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_wrong_password_closes_the_old_connection_and_keeps_the_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_session_replies_then_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_waits_for_the_log_before_apply_and_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_reply_waits_behind_a_pending_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_session_is_answered_once_durable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sessions_copy_and_restore, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
