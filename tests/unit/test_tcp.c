/* The TCP state machine (dataplane/netstack/tcp.c), scripted segment by
 * segment in the spirit of packetdrill: a capturing tcp_output records every
 * emitted segment, recording callbacks keep what the shard saw, and each test
 * injects segments at chosen times and asserts what comes out. One test runs a
 * model client over a lossy, duplicating, reordering link (fixed-seed PRNG)
 * and checks every byte arrives once and in order both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dataplane/netstack/tcp.h"

#define SERVER_IP 0x0a000001u
#define CLIENT_IP 0x0a000002u
#define LISTEN_PORT 2181
#define CLIENT_PORT 40000
#define CLIENT_ISN 1000u
#define OUR_MSS 1460u
#define MS 1000ull
#define CAPTURE_MAX 8192u
#define RECORDS_MAX 64u
#define RECEIVED_BYTES_MAX (1u << 20)
#define CLOSED_NOT 99

struct captured {
    struct tcp_segment header;
    uint8_t *payload;
    uint32_t payload_bytes;
    uint16_t tso_segment_bytes;
};

struct record {
    struct netstack_connection *handle;
    uint32_t peer_ipv4;
    uint16_t peer_port;
    uint8_t *received;
    size_t received_bytes;
    size_t received_calls;
    int closed_reason; /* CLOSED_NOT until `closed` */
    int closed_calls;
};

struct harness {
    struct netstack_config config;
    struct netstack_counters counters;
    struct tcp_table *table;
    struct captured captured[CAPTURE_MAX];
    size_t captured_count;
    size_t captured_read;
    struct record records[RECORDS_MAX];
    size_t record_count;
    uint64_t now_us;
    /* behaviour of the shard's callbacks */
    bool refuse;
    bool close_in_received;
    bool pause_in_received;
    const char *reply_in_received;
    bool in_callback_forbidden; /* set around tcp_send/close/pause calls */
    const char *send_in_accepted;
    bool calls_in_closed;       /* tcp_send/close/pause from inside `closed` */
    bool anonymous_accept;      /* accept with `anonymous`, keeping no record */
    bool output_fails;          /* tcp_output reports every segment unsent (no route) */
    struct record anonymous;
    int accepted_calls;
};

static bool capture_segment(void *context, const struct tcp_segment_out *segment)
{
    struct harness *h = context;
    assert_true(h->captured_count < CAPTURE_MAX);
    struct captured *c = &h->captured[h->captured_count++];
    c->header = segment->header;
    c->payload_bytes = segment->part_bytes[0] + segment->part_bytes[1];
    c->payload = malloc(c->payload_bytes ? c->payload_bytes : 1);
    assert_non_null(c->payload);
    if (segment->part_bytes[0])
        memcpy(c->payload, segment->parts[0], segment->part_bytes[0]);
    if (segment->part_bytes[1])
        memcpy(c->payload + segment->part_bytes[0], segment->parts[1], segment->part_bytes[1]);
    c->tso_segment_bytes = segment->tso_segment_bytes;
    return !h->output_fails; /* recorded either way: the attempt is seen */
}

static void *on_accepted(void *context, struct netstack_connection *connection,
                         uint32_t peer_ipv4, uint16_t peer_port)
{
    struct harness *h = context;
    assert_false(h->in_callback_forbidden);
    h->accepted_calls++;
    if (h->refuse)
        return NULL;
    if (h->anonymous_accept)
        return &h->anonymous;
    assert_true(h->record_count < RECORDS_MAX);
    struct record *r = &h->records[h->record_count++];
    r->handle = connection;
    r->peer_ipv4 = peer_ipv4;
    r->peer_port = peer_port;
    r->received = malloc(RECEIVED_BYTES_MAX);
    assert_non_null(r->received);
    r->closed_reason = CLOSED_NOT;
    if (h->send_in_accepted)
        assert_true(tcp_send(h->table, connection, h->send_in_accepted,
                             strlen(h->send_in_accepted)));
    return r;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct harness *h = context;
    struct record *r = user;
    assert_false(h->in_callback_forbidden);
    assert_int_equal(r->closed_calls, 0);
    assert_true(size > 0);
    assert_true(r->received_bytes + size <= RECEIVED_BYTES_MAX);
    memcpy(r->received + r->received_bytes, data, size);
    r->received_bytes += size;
    r->received_calls++;
    if (h->reply_in_received)
        assert_true(tcp_send(h->table, r->handle, h->reply_in_received,
                             strlen(h->reply_in_received)));
    if (h->pause_in_received)
        tcp_set_receive_paused(h->table, r->handle, true);
    if (h->close_in_received)
        tcp_close(h->table, r->handle);
}

static void on_closed(void *context, void *user, enum netstack_close_reason reason)
{
    struct harness *h = context;
    struct record *r = user;
    assert_false(h->in_callback_forbidden);
    r->closed_calls++;
    r->closed_reason = (int)reason;
    if (h->calls_in_closed) {
        /* The handle is valid until `closed` returns; these do nothing. */
        assert_false(tcp_send(h->table, r->handle, "x", 1));
        tcp_set_receive_paused(h->table, r->handle, false);
        tcp_close(h->table, r->handle);
    }
}

static void harness_config(struct harness *h)
{
    struct netstack_config *c = &h->config;
    memset(c, 0, sizeof *c);
    c->ipv4_address = SERVER_IP;
    c->ipv4_netmask = 0xffffff00u;
    c->mtu = 1500;
    c->listen_port = LISTEN_PORT;
    c->connections_max = 8;
    c->syn_backlog_max = 8;
    c->time_wait_max = 8;
    c->send_buffer_bytes_max = 1u << 20;
    c->receive_buffer_bytes_max = 65536;
    c->out_of_order_segments_max = 8;
    c->time_wait_ms = 60000;
    c->delayed_ack_ms = 40;
    c->retransmissions_max = 3;
    c->keepalive_idle_ms = 0;
    c->keepalive_interval_ms = 75000;
    c->keepalive_probes_max = 9;
    for (unsigned i = 0; i < sizeof c->isn_secret; i++)
        c->isn_secret[i] = (uint8_t)(i * 7 + 1);
}

static struct harness *harness_start(struct harness *h)
{
    char error[128] = "";
    struct tcp_output output = {.context = h, .segment = capture_segment};
    struct netstack_callbacks callbacks = {on_accepted, on_received, on_closed};
    h->table = tcp_create(&h->config, &output, &callbacks, h, &h->counters, error, sizeof error);
    assert_non_null(h->table);
    return h;
}

static struct harness *harness_new(void)
{
    struct harness *h = calloc(1, sizeof *h);
    assert_non_null(h);
    harness_config(h);
    return h;
}

static void harness_free(struct harness *h)
{
    tcp_destroy(h->table);
    for (size_t i = 0; i < h->captured_count; i++)
        free(h->captured[i].payload);
    for (size_t i = 0; i < h->record_count; i++)
        free(h->records[i].received);
    free(h);
}

/* Forgets captured segments already read (long tests). */
static void capture_compact(struct harness *h)
{
    for (size_t i = 0; i < h->captured_read; i++)
        free(h->captured[i].payload);
    memmove(h->captured, h->captured + h->captured_read,
            (h->captured_count - h->captured_read) * sizeof h->captured[0]);
    h->captured_count -= h->captured_read;
    h->captured_read = 0;
}

struct inject {
    uint8_t flags;
    uint32_t seq;
    uint32_t ack;
    uint16_t window;
    const void *payload;
    uint32_t payload_bytes;
    uint16_t mss;
    bool has_window_scale;
    uint8_t window_scale;
    uint16_t remote_port; /* 0: CLIENT_PORT */
    uint16_t local_port;  /* 0: LISTEN_PORT */
};

static void inject(struct harness *h, struct inject in)
{
    if (h->captured_count > CAPTURE_MAX - 64 && h->captured_read > 0)
        capture_compact(h);
    struct tcp_segment s;
    memset(&s, 0, sizeof s);
    s.remote_ipv4 = CLIENT_IP;
    s.local_ipv4 = SERVER_IP;
    s.remote_port = in.remote_port ? in.remote_port : CLIENT_PORT;
    s.local_port = in.local_port ? in.local_port : LISTEN_PORT;
    s.seq = in.seq;
    s.ack = in.ack;
    s.flags = in.flags;
    s.window = in.window;
    s.mss = in.mss;
    s.has_window_scale = in.has_window_scale;
    s.window_scale = in.window_scale;
    s.payload = in.payload;
    s.payload_bytes = in.payload_bytes;
    tcp_input(h->table, &s, h->now_us);
}

static uint64_t poll_at(struct harness *h, uint64_t now_us)
{
    assert_true(now_us >= h->now_us);
    h->now_us = now_us;
    if (h->captured_count > CAPTURE_MAX - 64 && h->captured_read > 0)
        capture_compact(h);
    return tcp_poll(h->table, now_us);
}

static struct captured *next_segment(struct harness *h)
{
    assert_true(h->captured_read < h->captured_count);
    return &h->captured[h->captured_read++];
}

static void expect_no_segment(struct harness *h)
{
    assert_int_equal(h->captured_read, h->captured_count);
}

static void expect_segment(struct harness *h, uint8_t flags, uint32_t seq, uint32_t ack,
                           uint32_t payload_bytes)
{
    struct captured *c = next_segment(h);
    assert_int_equal(c->header.flags, flags);
    assert_int_equal(c->header.seq, seq);
    if (flags & TCP_FLAG_ACK)
        assert_int_equal(c->header.ack, ack);
    assert_int_equal(c->payload_bytes, payload_bytes);
    assert_int_equal(c->header.remote_ipv4, CLIENT_IP);
    assert_int_equal(c->header.local_ipv4, SERVER_IP);
}

/* A connection through the handshake. The client offers MSS 1460 and
 * window scale 7, and advertises 65535 << 7 afterwards. Returns the
 * server's ISN. */
struct client {
    uint16_t port;
    uint32_t seq;     /* next sequence number the client sends */
    uint32_t server;  /* next sequence number expected from the server */
    uint16_t window;
};

static struct client handshake_port(struct harness *h, uint16_t port, uint64_t ack_delay_us)
{
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                              .mss = 1460, .has_window_scale = true, .window_scale = 7,
                              .remote_port = port});
    struct captured *synack = next_segment(h);
    assert_int_equal(synack->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack->header.ack, CLIENT_ISN + 1);
    uint32_t iss = synack->header.seq;
    h->now_us += ack_delay_us;
    int accepted_before = h->accepted_calls;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1, .ack = iss + 1,
                              .window = 65535, .remote_port = port});
    assert_int_equal(h->accepted_calls, accepted_before + 1);
    expect_no_segment(h);
    return (struct client){.port = port, .seq = CLIENT_ISN + 1, .server = iss + 1,
                           .window = 65535};
}

static struct client handshake(struct harness *h)
{
    return handshake_port(h, CLIENT_PORT, 0);
}

static void client_send(struct harness *h, struct client *c, uint8_t flags, const void *data,
                        uint32_t size)
{
    inject(h, (struct inject){.flags = (uint8_t)(TCP_FLAG_ACK | flags), .seq = c->seq,
                              .ack = c->server, .window = c->window, .payload = data,
                              .payload_bytes = size, .remote_port = c->port});
    c->seq += size + ((flags & TCP_FLAG_FIN) ? 1u : 0u);
}

static void client_ack(struct harness *h, struct client *c, uint32_t ack)
{
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c->seq, .ack = ack,
                              .window = c->window, .remote_port = c->port});
}

static void fill_pattern(uint8_t *bytes, size_t size, uint32_t salt)
{
    for (size_t i = 0; i < size; i++)
        bytes[i] = (uint8_t)((i * 31u + salt * 17u + (i >> 8)) & 0xff);
}

/* ---- handshake ---- */

static void test_handshake_options_and_accept(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->now_us = 5 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 29200,
                              .mss = 1400, .has_window_scale = true, .window_scale = 7});
    struct captured *synack = next_segment(h);
    assert_int_equal(synack->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack->header.ack, CLIENT_ISN + 1);
    assert_int_equal(synack->header.mss, OUR_MSS);
    assert_true(synack->header.has_window_scale);
    /* 65536 bytes need a shift of 1 to fit 16 bits. */
    assert_int_equal(synack->header.window_scale, 1);
    assert_int_equal(synack->header.window, 65535); /* a SYN's window is unscaled */
    assert_false(synack->header.sack_permitted);
    assert_false(synack->header.has_timestamps);
    assert_int_equal(synack->payload_bytes, 0);
    assert_int_equal(synack->header.remote_port, CLIENT_PORT);
    assert_int_equal(synack->header.local_port, LISTEN_PORT);
    uint32_t iss = synack->header.seq;
    assert_int_equal(h->accepted_calls, 0);

    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1, .ack = iss + 1,
                              .window = 229});
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->records[0].peer_ipv4, CLIENT_IP);
    assert_int_equal(h->records[0].peer_port, CLIENT_PORT);
    assert_int_equal(h->counters.tcp_connections_opened, 1);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    expect_no_segment(h);

    /* Data out uses the peer's MSS (1400 < 1460) and its scaled window
     * (229 << 7 = 29312: room for 20 segments, cwnd allows 10). */
    static uint8_t data[20000];
    fill_pattern(data, sizeof data, 1);
    assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
    expect_no_segment(h); /* only at the next poll */
    poll_at(h, h->now_us);
    for (uint32_t i = 0; i < 10; i++) {
        struct captured *c = next_segment(h);
        assert_int_equal(c->header.seq, iss + 1 + i * 1400);
        assert_int_equal(c->payload_bytes, 1400);
        assert_memory_equal(c->payload, data + i * 1400, 1400);
        assert_int_equal(c->header.flags & TCP_FLAG_PSH, 0);
    }
    expect_no_segment(h); /* initial cwnd: 10 segments */
    harness_free(h);
}

static void test_handshake_without_window_scale(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 8192});
    struct captured *synack = next_segment(h);
    assert_false(synack->header.has_window_scale);
    assert_int_equal(synack->header.mss, OUR_MSS);
    uint32_t iss = synack->header.seq;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1, .ack = iss + 1,
                              .window = 8192});
    assert_int_equal(h->accepted_calls, 1);
    /* No MSS option: 536. Window 8192 unscaled: 15 segments' room, cwnd 10. */
    static uint8_t data[3000];
    assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
    poll_at(h, 0);
    expect_segment(h, TCP_FLAG_ACK, iss + 1, CLIENT_ISN + 1, 536);
    /* Our advertised window is unscaled too: at most 65535. */
    assert_int_equal(h->captured[h->captured_read - 1].header.window, 65535);
    harness_free(h);
}

static void test_isn_keyed_and_clocked(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->now_us = 1000000;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = 1111});
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = 2222});
    uint32_t iss_a = next_segment(h)->header.seq;
    uint32_t iss_b = next_segment(h)->header.seq;
    assert_int_not_equal(iss_a, iss_b);
    /* The same 4-tuple later: the hash plus now/4. */
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = 2, .remote_port = 1111});
    h->now_us += 4000;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = 1111});
    uint32_t iss_a2 = next_segment(h)->header.seq;
    assert_int_equal(iss_a2 - iss_a, 1000);
    /* Another secret gives other numbers. */
    struct harness *other = harness_new();
    other->config.isn_secret[0] ^= 1;
    harness_start(other);
    other->now_us = 1000000;
    inject(other, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = 1111});
    assert_int_not_equal(next_segment(other)->header.seq, iss_a);
    harness_free(other);
    harness_free(h);
}

static void test_data_on_handshake_ack(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->send_in_accepted = "welcome";
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 50, .window = 1000});
    uint32_t iss = next_segment(h)->header.seq;
    /* The handshake's ACK carries the first request. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK | TCP_FLAG_PSH, .seq = 51, .ack = iss + 1,
                              .window = 1000, .payload = "ruok", .payload_bytes = 4});
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->records[0].received_bytes, 4);
    assert_memory_equal(h->records[0].received, "ruok", 4);
    /* What `accepted` sent leaves at once, acknowledging the request. */
    struct captured *out = next_segment(h);
    assert_int_equal(out->header.seq, iss + 1);
    assert_int_equal(out->header.ack, 55);
    assert_int_equal(out->payload_bytes, 7);
    assert_memory_equal(out->payload, "welcome", 7);
    harness_free(h);
}

static void test_calls_from_inside_closed(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    h->calls_in_closed = true;
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    assert_int_equal(h->records[0].closed_calls, 1);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    poll_at(h, 1 * MS);
    expect_no_segment(h);
    assert_int_equal(h->records[0].closed_calls, 1);
    harness_free(h);
}

/* ---- receiving ---- */

static void test_receive_and_delayed_ack(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    h->now_us = 100 * MS;
    client_send(h, &c, TCP_FLAG_PSH, "hello", 5);
    assert_int_equal(r->received_bytes, 5);
    assert_memory_equal(r->received, "hello", 5);
    expect_no_segment(h); /* the ACK waits */
    uint64_t next = poll_at(h, 100 * MS);
    assert_int_equal(next, 140 * MS);
    poll_at(h, 139 * MS);
    expect_no_segment(h);
    poll_at(h, 140 * MS);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    /* Receiver-side silly window avoidance: 5 bytes consumed do not move
     * the right edge (65535 advertised in the SYN-ACK, scale 1). */
    assert_int_equal(h->captured[h->captured_read - 1].header.window, (65535 - 5) >> 1);

    /* Two full-sized segments: the second is acknowledged at once. */
    static uint8_t block[2 * OUR_MSS];
    fill_pattern(block, sizeof block, 2);
    client_send(h, &c, 0, block, OUR_MSS);
    expect_no_segment(h);
    client_send(h, &c, 0, block + OUR_MSS, OUR_MSS);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    /* Now the edge moved by more than an MSS: the whole buffer again. */
    assert_int_equal(h->captured[h->captured_read - 1].header.window, 65536 >> 1);
    assert_int_equal(r->received_bytes, 5 + 2 * OUR_MSS);
    assert_memory_equal(r->received + 5, block, sizeof block);
    /* Nothing left to acknowledge: no delayed ACK later. */
    poll_at(h, 1000 * MS);
    expect_no_segment(h);
    harness_free(h);
}

static void test_reply_piggybacks_ack(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    h->reply_in_received = "world";
    client_send(h, &c, TCP_FLAG_PSH, "hello", 5);
    /* The reply leaves with the ACK of the request, one segment. */
    struct captured *reply = next_segment(h);
    assert_int_equal(reply->header.flags, TCP_FLAG_ACK | TCP_FLAG_PSH);
    assert_int_equal(reply->header.ack, c.seq);
    assert_int_equal(reply->payload_bytes, 5);
    assert_memory_equal(reply->payload, "world", 5);
    expect_no_segment(h);
    poll_at(h, 50 * MS);
    expect_no_segment(h); /* the delayed ACK was cancelled */
    harness_free(h);
}

static void test_out_of_order_reassembly(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    uint8_t data[300];
    fill_pattern(data, sizeof data, 3);
    uint32_t base = c.seq;
    /* Segments 2 and 3 first: each gets an immediate duplicate ACK. */
    c.seq = base + 100;
    client_send(h, &c, 0, data + 100, 100);
    expect_segment(h, TCP_FLAG_ACK, c.server, base, 0);
    client_send(h, &c, 0, data + 200, 100);
    expect_segment(h, TCP_FLAG_ACK, c.server, base, 0);
    /* A duplicate of segment 3 changes nothing. */
    c.seq = base + 200;
    client_send(h, &c, 0, data + 200, 100);
    expect_segment(h, TCP_FLAG_ACK, c.server, base, 0);
    assert_int_equal(r->received_bytes, 0);
    assert_int_equal(h->counters.tcp_segments_out_of_order, 3);
    /* The gap fills: all 300 bytes in order, ACK at once. */
    c.seq = base;
    client_send(h, &c, 0, data, 100);
    assert_int_equal(r->received_bytes, 300);
    assert_memory_equal(r->received, data, 300);
    expect_segment(h, TCP_FLAG_ACK, c.server, base + 300, 0);
    /* Overlapping retransmission: only the new bytes are delivered. */
    uint8_t more[200];
    fill_pattern(more, sizeof more, 4);
    memcpy(more, data + 200, 100);
    c.seq = base + 200;
    client_send(h, &c, 0, more, 200);
    assert_int_equal(r->received_bytes, 400);
    assert_memory_equal(r->received + 300, more + 100, 100);
    harness_free(h);
}

static void test_out_of_order_limit(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.out_of_order_segments_max = 2;
    harness_start(h);
    struct client c = handshake(h);
    uint8_t data[10];
    memset(data, 'x', sizeof data);
    uint32_t base = c.seq;
    for (uint32_t i = 1; i <= 3; i++) { /* three separate holes */
        c.seq = base + i * 20;
        client_send(h, &c, 0, data, 10);
    }
    assert_int_equal(h->counters.tcp_segments_out_of_order, 2);
    assert_int_equal(h->counters.tcp_out_of_order_dropped, 1);
    harness_free(h);
}

static void test_pause_shrinks_window_and_resume_delivers(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.receive_buffer_bytes_max = 4096;
    harness_start(h);
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    h->in_callback_forbidden = true;
    tcp_set_receive_paused(h->table, r->handle, true);
    h->in_callback_forbidden = false;
    uint8_t data[4096 + 1024];
    fill_pattern(data, sizeof data, 5);
    client_send(h, &c, 0, data, 1024);
    client_send(h, &c, 0, data + 1024, 1024);
    struct captured *ack = next_segment(h);
    assert_int_equal(ack->header.ack, c.seq);
    assert_int_equal(ack->header.window, 2048); /* shift 0: 4096 fits */
    client_send(h, &c, 0, data + 2048, 1024);
    client_send(h, &c, 0, data + 3072, 1024);
    ack = next_segment(h);
    assert_int_equal(ack->header.ack, c.seq);
    assert_int_equal(ack->header.window, 0);
    assert_int_equal(r->received_bytes, 0);
    /* Beyond the zero window: not taken, answered with an ACK. */
    client_send(h, &c, 0, data + 4096, 1024);
    c.seq -= 1024;
    ack = next_segment(h);
    assert_int_equal(ack->header.ack, c.seq);
    assert_int_equal(ack->header.window, 0);
    assert_int_equal(h->counters.tcp_segments_out_of_window, 1);
    /* Resume: nothing inside the call, everything at the next poll. */
    h->in_callback_forbidden = true;
    tcp_set_receive_paused(h->table, r->handle, false);
    h->in_callback_forbidden = false;
    assert_int_equal(r->received_bytes, 0);
    expect_no_segment(h);
    poll_at(h, 1 * MS);
    assert_int_equal(r->received_bytes, 4096);
    assert_memory_equal(r->received, data, 4096);
    ack = next_segment(h); /* the window update */
    assert_int_equal(ack->header.ack, c.seq);
    assert_int_equal(ack->header.window, 4096);
    /* The rest flows. */
    client_send(h, &c, 0, data + 4096, 1024);
    assert_int_equal(r->received_bytes, 4096 + 1024);
    assert_memory_equal(r->received, data, sizeof data);
    harness_free(h);
}

static void test_receive_ring_grows_keeping_held_and_out_of_order(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new()); /* 64 KiB window */
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    static uint8_t data[30000];
    fill_pattern(data, sizeof data, 13);
    uint32_t base = c.seq;
    tcp_set_receive_paused(h->table, r->handle, true);
    /* 5000 held bytes (the ring starts at 8 KiB), then bytes ahead (it
     * grows to 16 KiB), further ahead (32 KiB, moving the held and the
     * out-of-order bytes), then the gaps in pieces. */
    for (uint32_t offset = 0; offset < 5000; offset += 1000)
        client_send(h, &c, 0, data + offset, 1000);
    c.seq = base + 10000;
    client_send(h, &c, 0, data + 10000, 1460);
    c.seq = base + 25000;
    client_send(h, &c, 0, data + 25000, 5000);
    c.seq = base + 5000;
    client_send(h, &c, 0, data + 5000, 5000);
    c.seq = base + 11460;
    for (uint32_t offset = 11460; offset < 25000; offset += 1460) {
        uint32_t size = 25000 - offset < 1460 ? 25000 - offset : 1460;
        client_send(h, &c, 0, data + offset, size);
    }
    assert_int_equal(r->received_bytes, 0);
    tcp_set_receive_paused(h->table, r->handle, false);
    poll_at(h, 1 * MS);
    assert_int_equal(r->received_bytes, sizeof data);
    assert_memory_equal(r->received, data, sizeof data);
    /* Everything acknowledged by now. */
    struct captured *last = &h->captured[h->captured_count - 1];
    assert_int_equal(last->header.ack, base + sizeof data);
    harness_free(h);
}

static void test_pause_inside_received(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    h->pause_in_received = true;
    client_send(h, &c, 0, "one", 3);
    client_send(h, &c, 0, "two", 3);
    assert_int_equal(r->received_bytes, 3);
    h->pause_in_received = false;
    tcp_set_receive_paused(h->table, r->handle, false);
    poll_at(h, 1 * MS);
    assert_int_equal(r->received_bytes, 6);
    assert_memory_equal(r->received, "onetwo", 6);
    harness_free(h);
}

/* ---- sending ---- */

static void test_send_psh_and_ack(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    static uint8_t data[3000];
    fill_pattern(data, sizeof data, 6);
    h->in_callback_forbidden = true;
    assert_true(tcp_send(h->table, r->handle, data, sizeof data));
    h->in_callback_forbidden = false;
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 3000);
    expect_no_segment(h);
    poll_at(h, 0);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 1460);
    expect_segment(h, TCP_FLAG_ACK, c.server + 1460, c.seq, 1460);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server + 2920, c.seq, 80);
    assert_memory_equal(h->captured[h->captured_read - 1].payload, data + 2920, 80);
    expect_no_segment(h);
    client_ack(h, &c, c.server + 1460);
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 1540);
    client_ack(h, &c, c.server + 3000);
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 0);
    expect_no_segment(h);
    /* Everything acknowledged: no timer left (keepalive is off). */
    assert_int_equal(poll_at(h, 10000 * MS), UINT64_MAX);
    expect_no_segment(h);
    harness_free(h);
}

static void test_tso_segment(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.tso_bytes_max = 65000;
    h->config.tx_offload_flags = NETSTACK_TX_TCP_SEGMENT;
    harness_start(h);
    struct client c = handshake(h);
    static uint8_t data[5000];
    fill_pattern(data, sizeof data, 7);
    assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
    poll_at(h, 0);
    struct captured *big = next_segment(h);
    assert_int_equal(big->payload_bytes, 5000);
    assert_int_equal(big->tso_segment_bytes, 1460);
    assert_int_equal(big->header.seq, c.server);
    assert_true(big->header.flags & TCP_FLAG_PSH);
    assert_memory_equal(big->payload, data, 5000);
    assert_int_equal(h->counters.tcp_segments_sent, 1 + 4); /* SYN-ACK + 4 on the wire */
    harness_free(h);
}

static void test_send_ring_wraps(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    /* Keep about 3000 bytes queued while acknowledging: the ring wraps. */
    static uint8_t data[40000];
    fill_pattern(data, sizeof data, 8);
    static uint8_t seen[40000];
    size_t sent = 0, got = 0;
    for (int round = 0; round < 200 && got < sizeof data; round++) {
        size_t chunk = sizeof data - sent < 1000 ? sizeof data - sent : 1000;
        if (chunk && tcp_queued_bytes(h->table, r->handle) < 3000) {
            assert_true(tcp_send(h->table, r->handle, data + sent, chunk));
            sent += chunk;
        }
        poll_at(h, h->now_us + MS);
        while (h->captured_read < h->captured_count) {
            struct captured *s = next_segment(h);
            if (s->payload_bytes && s->header.seq == c.server) {
                memcpy(seen + got, s->payload, s->payload_bytes);
                got += s->payload_bytes;
                c.server += s->payload_bytes;
            }
        }
        client_ack(h, &c, c.server);
    }
    assert_int_equal(got, sizeof data);
    assert_memory_equal(seen, data, sizeof data);
    harness_free(h);
}

/* ---- retransmission ---- */

static void test_rto_backoff_and_give_up(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h); /* RTT sample 0: RTO is the 200 ms floor */
    struct record *r = &h->records[0];
    assert_true(tcp_send(h->table, r->handle, "abc", 3));
    assert_int_equal(poll_at(h, 0), 200 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 3);
    poll_at(h, 199 * MS);
    expect_no_segment(h);
    assert_int_equal(poll_at(h, 200 * MS), 600 * MS); /* backoff: 400 ms */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 3);
    poll_at(h, 599 * MS);
    expect_no_segment(h);
    assert_int_equal(poll_at(h, 600 * MS), 1400 * MS); /* 800 ms */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 3);
    assert_int_equal(poll_at(h, 1400 * MS), 3000 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 3);
    assert_int_equal(h->counters.tcp_retransmission_timeouts, 3);
    assert_int_equal(h->counters.tcp_retransmissions, 3);
    assert_int_equal(r->closed_calls, 0);
    /* retransmissions_max = 3 spent: the next expiry resets. */
    assert_int_equal(poll_at(h, 3000 * MS), UINT64_MAX);
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, c.server + 3, c.seq, 0);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_ERROR);
    assert_int_equal(h->counters.tcp_resets_sent, 1);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    harness_free(h);
}

static void test_rto_collapses_cwnd_then_slow_start(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    static uint8_t data[10 * 1460];
    fill_pattern(data, sizeof data, 14);
    assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
    poll_at(h, 0);
    for (int i = 0; i < 10; i++)
        next_segment(h);
    /* Timeout: one segment (cwnd = 1 MSS) from snd_una. */
    poll_at(h, 200 * MS);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 1460);
    expect_no_segment(h);
    /* Its ACK: slow start, two segments, resent from where the ACK points. */
    h->now_us = 210 * MS;
    client_ack(h, &c, c.server + 1460);
    expect_segment(h, TCP_FLAG_ACK, c.server + 1460, c.seq, 1460);
    expect_segment(h, TCP_FLAG_ACK, c.server + 2920, c.seq, 1460);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_retransmissions, 3);
    /* A later ACK covering what the first flight delivered skips ahead. */
    client_ack(h, &c, c.server + 8 * 1460);
    expect_segment(h, TCP_FLAG_ACK, c.server + 8 * 1460, c.seq, 1460);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server + 9 * 1460, c.seq, 1460);
    expect_no_segment(h);
    harness_free(h);
}

/* After a timeout snd_nxt goes back to resend; a pure ACK still carries the
 * highest sequence sent (snd_max): numbered from the rewound point it would
 * be old to the peer, which answers old segments with an ACK, and two
 * rewound ends would answer each other forever (an ACK war; the stack-pair
 * test over a lossy link found it). */
static void test_pure_ack_after_timeout_carries_snd_max(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    static uint8_t data[3 * 1460];
    fill_pattern(data, sizeof data, 21);
    assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
    poll_at(h, 0);
    for (int i = 0; i < 3; i++)
        next_segment(h);
    poll_at(h, 200 * MS);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 1460); /* resent: snd_nxt rewound */
    /* Data from the peer; its delayed ACK is numbered past all we sent. */
    client_send(h, &c, 0, "abc", 3);
    poll_at(h, 240 * MS);
    expect_segment(h, TCP_FLAG_ACK, c.server + 3 * 1460, c.seq, 0);
    expect_no_segment(h);
    harness_free(h);
}

static void test_rtt_estimate_sets_rto(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    /* Handshake RTT 100 ms: SRTT 100, RTTVAR 50, RTO 100 + 4 * 50 = 300 ms. */
    h->now_us = 0;
    struct client c = handshake_port(h, CLIENT_PORT, 100 * MS);
    struct record *r = &h->records[0];
    uint64_t t0 = h->now_us;
    assert_true(tcp_send(h->table, r->handle, "a", 1));
    assert_int_equal(poll_at(h, t0), t0 + 300 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 1);
    /* Acknowledged after 500 ms: RTTVAR = (3 * 50 + 400) / 4 = 137.5,
     * SRTT = (7 * 100 + 500) / 8 = 150, RTO = 150 + 550 = 700 ms. */
    h->now_us = t0 + 500 * MS;
    client_ack(h, &c, c.server + 1);
    c.server += 1;
    uint64_t t1 = h->now_us;
    assert_true(tcp_send(h->table, r->handle, "b", 1));
    assert_int_equal(poll_at(h, t1), t1 + 700 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 1);
    poll_at(h, t1 + 699 * MS);
    expect_no_segment(h);
    poll_at(h, t1 + 700 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 1);
    /* Karn: the ACK of a retransmitted segment gives no sample; the RTO
     * stays 700 ms (backoff cleared by the new ACK). */
    h->now_us = t1 + 2000 * MS;
    client_ack(h, &c, c.server + 1);
    c.server += 1;
    uint64_t t2 = h->now_us;
    assert_true(tcp_send(h->table, r->handle, "c", 1));
    assert_int_equal(poll_at(h, t2), t2 + 700 * MS);
    harness_free(h);
}

static void test_fast_retransmit_and_newreno(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    static uint8_t data[8 * 1460];
    fill_pattern(data, sizeof data, 9);
    assert_true(tcp_send(h->table, r->handle, data, sizeof data));
    poll_at(h, 1 * MS);
    for (int i = 0; i < 8; i++)
        next_segment(h);
    expect_no_segment(h);
    /* Segments 2 and 5 are lost: ACK 1, then three duplicates. */
    client_ack(h, &c, c.server + 1460);
    client_ack(h, &c, c.server + 1460);
    client_ack(h, &c, c.server + 1460);
    expect_no_segment(h);
    client_ack(h, &c, c.server + 1460);
    struct captured *again = next_segment(h);
    assert_int_equal(again->header.seq, c.server + 1460);
    assert_int_equal(again->payload_bytes, 1460);
    assert_memory_equal(again->payload, data + 1460, 1460);
    assert_int_equal(h->counters.tcp_fast_retransmissions, 1);
    assert_int_equal(h->counters.tcp_retransmissions, 1);
    /* Partial ACK (up to the second hole): NewReno resends segment 5 at once. */
    client_ack(h, &c, c.server + 4 * 1460);
    again = next_segment(h);
    assert_int_equal(again->header.seq, c.server + 4 * 1460);
    assert_int_equal(h->counters.tcp_retransmissions, 2);
    assert_int_equal(h->counters.tcp_fast_retransmissions, 1);
    /* Full ACK ends recovery; nothing outstanding. */
    client_ack(h, &c, c.server + 8 * 1460);
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 0);
    assert_int_equal(h->counters.tcp_retransmission_timeouts, 0);
    harness_free(h);
}

static void test_peer_zero_window_persist(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    c.window = 0;
    client_ack(h, &c, c.server); /* the peer closes its window */
    assert_true(tcp_send(h->table, r->handle, "data", 4));
    assert_int_equal(poll_at(h, 0), 200 * MS);
    expect_no_segment(h);
    poll_at(h, 200 * MS);
    /* Probe: an old sequence number, no data. */
    expect_segment(h, TCP_FLAG_ACK, c.server - 1, c.seq, 0);
    assert_int_equal(h->counters.tcp_zero_window_probes, 1);
    poll_at(h, 599 * MS);
    expect_no_segment(h);
    poll_at(h, 600 * MS); /* backed off: 400 ms */
    expect_segment(h, TCP_FLAG_ACK, c.server - 1, c.seq, 0);
    assert_int_equal(h->counters.tcp_zero_window_probes, 2);
    /* Still closed: the answer keeps the probes going, without giving up. */
    client_ack(h, &c, c.server);
    expect_no_segment(h);
    /* The window opens: the data goes at once. */
    c.window = 1000;
    h->now_us = 700 * MS;
    client_ack(h, &c, c.server);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 4);
    assert_int_equal(r->closed_calls, 0);
    harness_free(h);
}

static void test_zero_window_with_data_in_flight(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    assert_true(tcp_send(h->table, r->handle, "0123456789", 10));
    poll_at(h, 0);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 10);
    /* The peer closes its window without taking the bytes. */
    c.window = 0;
    client_ack(h, &c, c.server);
    /* The timeout cannot resend into a zero window: probes instead, and a
     * peer that answers them is never given up on. */
    uint64_t at = poll_at(h, 0);
    assert_int_equal(at, 200 * MS);
    at = poll_at(h, at); /* the timeout: nothing fits the window */
    expect_no_segment(h);
    for (int i = 0; i < 12; i++) {
        poll_at(h, at);
        struct captured *probe = next_segment(h);
        assert_int_equal(probe->header.seq, c.server - 1);
        assert_int_equal(probe->payload_bytes, 0);
        expect_no_segment(h);
        client_ack(h, &c, c.server); /* the answer, window still 0 */
        expect_no_segment(h);
        at = poll_at(h, at);
    }
    assert_int_equal(r->closed_calls, 0);
    assert_true(h->counters.tcp_zero_window_probes >= 11);
    /* The window opens: the bytes go again. */
    c.window = 100;
    client_ack(h, &c, c.server);
    struct captured *again = next_segment(h);
    assert_int_equal(again->header.seq, c.server);
    assert_int_equal(again->payload_bytes, 10);
    client_ack(h, &c, c.server + 10);
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 0);
    harness_free(h);
}

static void test_orphan_in_zero_window_is_dropped(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new()); /* retransmissions_max 3 */
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    c.window = 0;
    client_ack(h, &c, c.server);
    assert_true(tcp_send(h->table, r->handle, "never read", 10));
    tcp_close(h->table, r->handle);
    uint64_t at = poll_at(h, 0);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_LOCAL);
    expect_no_segment(h);
    /* Answered probes keep a held connection alive; an orphan gets
     * retransmissions_max of them, then a RST. */
    for (int i = 0; i < 3; i++) {
        poll_at(h, at);
        struct captured *probe = next_segment(h);
        assert_int_equal(probe->header.seq, c.server - 1);
        client_ack(h, &c, c.server);
        at = poll_at(h, at);
    }
    assert_int_equal(h->counters.tcp_connections_established, 1);
    poll_at(h, at);
    struct captured *rst = next_segment(h);
    assert_true(rst->header.flags & TCP_FLAG_RST);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(r->closed_calls, 1);
    harness_free(h);
}

/* ---- closing ---- */

static void test_close_from_server(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    assert_true(tcp_send(h->table, r->handle, "bye", 3));
    h->in_callback_forbidden = true;
    tcp_close(h->table, r->handle);
    h->in_callback_forbidden = false;
    assert_int_equal(r->closed_calls, 0);
    expect_no_segment(h);
    poll_at(h, 1 * MS);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_LOCAL);
    /* Queued data, then our FIN, in one segment. */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN, c.server, c.seq, 3);
    /* FIN_WAIT_1 -> FIN_WAIT_2 */
    client_ack(h, &c, c.server + 4);
    expect_no_segment(h);
    c.server += 4;
    /* Data from the peer after our close is acknowledged and dropped. */
    h->now_us = 2 * MS;
    client_send(h, &c, TCP_FLAG_PSH, "late", 4);
    assert_int_equal(r->received_bytes, 0);
    /* The peer's FIN: acknowledged at once, TIME_WAIT. */
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    /* TIME_WAIT answers a repeated FIN with the ACK again. */
    h->now_us = 1000 * MS;
    c.seq -= 1;
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    /* 2 MSL after the last FIN: gone; then a stray ACK gets a RST. */
    assert_int_equal(poll_at(h, 1000 * MS), 61000 * MS);
    poll_at(h, 60999 * MS);
    client_ack(h, &c, c.server);
    expect_no_segment(h); /* still TIME_WAIT: a pure ACK is dropped */
    assert_int_equal(poll_at(h, 61000 * MS), UINT64_MAX);
    client_ack(h, &c, c.server);
    expect_segment(h, TCP_FLAG_RST, c.server, 0, 0);
    assert_int_equal(r->closed_calls, 1);
    harness_free(h);
}

static void test_close_from_client(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    assert_true(tcp_send(h->table, r->handle, "last", 4));
    /* Data and FIN arrive before the server's poll. */
    client_send(h, &c, TCP_FLAG_FIN | TCP_FLAG_PSH, "end", 3);
    assert_int_equal(r->received_bytes, 3);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_PEER);
    /* Our queued bytes, our FIN, and the ACK of theirs: one segment. */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH | TCP_FLAG_FIN, c.server, c.seq, 4);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_connections_established, 1); /* LAST_ACK */
    client_ack(h, &c, c.server + 5);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(poll_at(h, 1 * MS), UINT64_MAX);
    client_ack(h, &c, c.server + 5); /* gone: RST */
    expect_segment(h, TCP_FLAG_RST, c.server + 5, 0, 0);
    harness_free(h);
}

static void test_last_ack_retransmits_fin_then_gives_up(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_PEER);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    poll_at(h, 200 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    poll_at(h, 600 * MS);
    poll_at(h, 1400 * MS);
    next_segment(h);
    next_segment(h);
    poll_at(h, 3000 * MS);
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, c.server + 1, c.seq, 0);
    assert_int_equal(r->closed_calls, 1); /* no second `closed` */
    assert_int_equal(poll_at(h, 3001 * MS), UINT64_MAX);
    harness_free(h);
}

static void test_fin_while_paused_waits_for_data(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    tcp_set_receive_paused(h->table, r->handle, true);
    client_send(h, &c, TCP_FLAG_FIN, "tail", 4);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0); /* the FIN is acknowledged */
    assert_int_equal(r->closed_calls, 0);
    tcp_set_receive_paused(h->table, r->handle, false);
    assert_int_equal(r->closed_calls, 0);
    poll_at(h, 1 * MS);
    assert_int_equal(r->received_bytes, 4);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_PEER);
    harness_free(h);
}

static void test_fin_wait_2_timeout(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    tcp_close(h->table, h->records[0].handle);
    poll_at(h, 0);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    client_ack(h, &c, c.server + 1);
    assert_int_equal(poll_at(h, 1 * MS), 60000 * MS);
    poll_at(h, 60000 * MS);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    client_ack(h, &c, c.server + 1);
    expect_segment(h, TCP_FLAG_RST, c.server + 1, 0, 0);
    harness_free(h);
}

static void test_simultaneous_close(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    tcp_close(h->table, h->records[0].handle);
    poll_at(h, 0);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    /* Their FIN crosses ours (it does not acknowledge ours): CLOSING. */
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, c.server + 1, c.seq, 0);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    /* The ACK of our FIN: TIME_WAIT. */
    client_ack(h, &c, c.server + 1);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(poll_at(h, 0), 60000 * MS);
    harness_free(h);
}

static void test_fin_out_of_order(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    uint32_t base = c.seq;
    c.seq = base + 5;
    client_send(h, &c, TCP_FLAG_FIN, "world", 5); /* before "hello" */
    expect_segment(h, TCP_FLAG_ACK, c.server, base, 0);
    assert_int_equal(r->closed_calls, 0);
    c.seq = base;
    client_send(h, &c, 0, "hello", 5);
    assert_int_equal(r->received_bytes, 10);
    assert_memory_equal(r->received, "helloworld", 10);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_PEER);
    /* Our FIN acknowledges theirs. */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, base + 11, 0);
    harness_free(h);
}

static void test_time_wait_reused_by_new_syn(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    tcp_close(h->table, h->records[0].handle);
    poll_at(h, 0);
    next_segment(h);
    client_ack(h, &c, c.server + 1);
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    next_segment(h);
    /* An old SYN (not beyond what we received) gets an ACK only. */
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN});
    expect_segment(h, TCP_FLAG_ACK, c.server + 1, c.seq, 0);
    /* A new incarnation's SYN: a fresh handshake on the same tuple. */
    h->now_us = 1000 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = c.seq + 100000, .window = 100});
    struct captured *synack = next_segment(h);
    assert_int_equal(synack->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack->header.ack, c.seq + 100001);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq + 100001,
                              .ack = synack->header.seq + 1, .window = 100});
    assert_int_equal(h->accepted_calls, 2);
    harness_free(h);
}

static void test_time_wait_recycled(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.time_wait_max = 1;
    harness_start(h);
    for (uint16_t i = 0; i < 2; i++) {
        struct client c = handshake_port(h, (uint16_t)(5000 + i), 0);
        tcp_close(h->table, h->records[i].handle);
        poll_at(h, h->now_us);
        next_segment(h);
        client_ack(h, &c, c.server + 1);
        client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
        next_segment(h);
    }
    assert_int_equal(h->counters.tcp_time_wait_recycled, 1);
    /* The first tuple is gone (a stray ACK gets a RST); the second is not. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 5, .ack = 6, .remote_port = 5000});
    expect_segment(h, TCP_FLAG_RST, 6, 0, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 5, .ack = 6, .remote_port = 5001});
    expect_no_segment(h);
    harness_free(h);
}

static void test_close_inside_received(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    h->close_in_received = true;
    h->reply_in_received = "ok";
    client_send(h, &c, TCP_FLAG_PSH, "req", 3);
    assert_int_equal(r->received_bytes, 3);
    assert_int_equal(r->closed_calls, 0); /* closed(LOCAL) waits for the poll */
    /* The reply already left with the ACK. */
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, c.server, c.seq, 2);
    h->close_in_received = false;
    poll_at(h, 1 * MS);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_LOCAL);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server + 2, c.seq, 0);
    harness_free(h);
}

/* ---- resets ---- */

static void test_rst_exact_in_window_outside(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    /* In the window but not exact: challenge ACK, connection lives. */
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = c.seq + 100});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    assert_int_equal(r->closed_calls, 0);
    /* Outside the window: dropped silently. */
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = c.seq + 1000000});
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = c.seq - 10});
    expect_no_segment(h);
    assert_int_equal(r->closed_calls, 0);
    /* A SYN on the established connection: challenge ACK (500 ms after
     * the last: one such ACK per 500 ms per connection). */
    h->now_us += 500 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 777});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    assert_int_equal(r->closed_calls, 0);
    /* Exact: reset. */
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = c.seq});
    expect_no_segment(h);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_ERROR);
    assert_int_equal(h->counters.tcp_resets_received, 1);
    assert_int_equal(h->counters.tcp_resets_sent, 0);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    harness_free(h);
}

/* RFC 5961 7 and Linux's tcp_invalid_ratelimit: challenge ACKs and ACKs
 * to out-of-window segments without data are limited; data is always
 * answered. */
static void test_challenge_and_out_of_window_ack_limits(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    h->now_us = 10000 * MS;
    /* An old pure ACK (a duplicate from the past): one ACK, then none for
     * 500 ms, then one again. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq - 5, .ack = c.server,
                              .window = 100});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq - 5, .ack = c.server,
                              .window = 100});
    h->now_us += 499 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 777}); /* a challenge, limited */
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_out_of_window_acks_limited, 2);
    /* Old data (our ACK of it was lost) is answered every time. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq - 5, .ack = c.server,
                              .window = 100, .payload = "hello", .payload_bytes = 5});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq - 5, .ack = c.server,
                              .window = 100, .payload = "hello", .payload_bytes = 5});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    h->now_us += 1 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq - 5, .ack = c.server,
                              .window = 100});
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    harness_free(h);
}

/* RFC 5961 7: at most 1000 challenge ACKs a second over the whole table
 * (in-window RSTs spread over many connections, each under its own 500 ms
 * limit). */
static void test_challenge_acks_per_second(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.connections_max = 1001;
    harness_start(h);
    h->anonymous_accept = true;
    for (unsigned i = 0; i < 1001; i++)
        handshake_port(h, (uint16_t)(10000 + i), 0);
    h->now_us = 1000 * MS;
    uint64_t sent_before = h->counters.tcp_segments_sent;
    for (unsigned i = 0; i < 1001; i++)
        inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = CLIENT_ISN + 100,
                                  .remote_port = (uint16_t)(10000 + i)});
    assert_int_equal(h->counters.tcp_segments_sent - sent_before, 1000);
    assert_int_equal(h->counters.tcp_challenge_acks_limited, 1);
    assert_int_equal(h->counters.tcp_out_of_window_acks_limited, 0);
    /* A second later the count starts again. */
    h->now_us += 1000 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = CLIENT_ISN + 100,
                              .remote_port = 10000 + 1000});
    assert_int_equal(h->counters.tcp_segments_sent - sent_before, 1001);
    assert_int_equal(h->counters.tcp_connections_established, 1001);
    assert_int_equal(h->counters.tcp_resets_received, 0);
    harness_free(h);
}

/* Acknowledges every segment as it comes (each ACK may release more);
 * returns how many came. */
static unsigned acknowledge_all(struct harness *h, struct client *c)
{
    unsigned seen = 0;
    for (unsigned round = 0; round < 1000 && h->captured_read < h->captured_count; round++) {
        struct captured *segment = next_segment(h);
        seen++;
        client_ack(h, c, segment->header.seq + segment->payload_bytes);
        poll_at(h, h->now_us);
    }
    return seen;
}

/* RFC 5681 4.1: idle for longer than the RTO, cwnd restarts from the
 * restart window (IW, 10 segments); busy, it keeps what it grew to. */
static void test_cwnd_restart_after_idle(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    struct netstack_connection *handle = h->records[0].handle;
    static uint8_t data[25 * OUR_MSS];
    fill_pattern(data, sizeof data, 9);
    /* Grow cwnd past 25 segments (slow start, one MSS per ACK). */
    assert_true(tcp_send(h->table, handle, data, sizeof data));
    poll_at(h, h->now_us);
    assert_int_equal(h->captured_count - h->captured_read, 10);
    assert_int_equal(acknowledge_all(h, &c), 25);
    /* 100 ms later (within the RTO): all 25 at once. */
    h->now_us += 100 * MS;
    assert_true(tcp_send(h->table, handle, data, sizeof data));
    poll_at(h, h->now_us);
    assert_int_equal(h->captured_count - h->captured_read, 25);
    assert_int_equal(acknowledge_all(h, &c), 25);
    /* Two seconds idle (the RTO is 200 ms): 10 segments, then the rest as
     * ACKs come back. */
    h->now_us += 2000 * MS;
    assert_true(tcp_send(h->table, handle, data, sizeof data));
    poll_at(h, h->now_us);
    assert_int_equal(h->captured_count - h->captured_read, 10);
    assert_int_equal(acknowledge_all(h, &c), 25);
    harness_free(h);
}

/* RFC 9293 3.10.7.4: an unacceptable segment in SYN_RECEIVED gets an ACK
 * (at most one per 500 ms), and the handshake still completes. */
static void test_syn_received_answers_unacceptable(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                              .mss = 1460});
    uint32_t iss = next_segment(h)->header.seq;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1 + 1000000,
                              .ack = iss + 1, .window = 65535});
    expect_segment(h, TCP_FLAG_ACK, iss + 1, CLIENT_ISN + 1, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1 + 1000000,
                              .ack = iss + 1, .window = 65535});
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_out_of_window_acks_limited, 1);
    assert_int_equal(h->counters.tcp_segments_out_of_window, 2);
    assert_int_equal(h->accepted_calls, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1, .ack = iss + 1,
                              .window = 65535});
    assert_int_equal(h->accepted_calls, 1);
    harness_free(h);
}

static void test_stray_segments_get_resets(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    /* SYN to another port: RST|ACK, seq 0, ack = their seq + 1. */
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 500, .local_port = 80});
    struct captured *rst = next_segment(h);
    assert_int_equal(rst->header.flags, TCP_FLAG_RST | TCP_FLAG_ACK);
    assert_int_equal(rst->header.seq, 0);
    assert_int_equal(rst->header.ack, 501);
    assert_int_equal(rst->header.local_port, 80);
    /* An ACK for no connection: RST with seq = their ack. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 9, .ack = 12345});
    expect_segment(h, TCP_FLAG_RST, 12345, 0, 0);
    /* Data without ACK to no connection: RST|ACK covering it. */
    inject(h, (struct inject){.flags = TCP_FLAG_FIN, .seq = 9, .payload = "ab",
                              .payload_bytes = 2});
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, 0, 12, 0);
    /* No RST in reply to a RST. */
    inject(h, (struct inject){.flags = TCP_FLAG_RST | TCP_FLAG_ACK, .seq = 1, .ack = 2});
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = 1, .local_port = 80});
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_resets_sent, 3);
    harness_free(h);
}

/* ---- limits ---- */

static void test_syn_backlog_full(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 2;
    harness_start(h);
    for (uint16_t port = 1; port <= 3; port++)
        inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = port,
                                  .has_window_scale = true, .window_scale = 7});
    /* Two queued (their SYN-ACKs offer window scaling), the third answered
     * with a cookie (none: it cannot be remembered) and not queued. */
    assert_true(next_segment(h)->header.has_window_scale);
    assert_true(next_segment(h)->header.has_window_scale);
    struct captured *cookie = next_segment(h);
    assert_int_equal(cookie->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_false(cookie->header.has_window_scale);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_syn_backlog_full, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_sent, 1);
    /* A retransmitted SYN of a queued one gets the SYN-ACK again. */
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .remote_port = 1});
    assert_int_equal(next_segment(h)->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    /* Only the queued ones are resent at 1 s: the cookie kept no state. */
    poll_at(h, 1000 * MS);
    assert_int_equal(next_segment(h)->header.remote_port, 1);
    assert_int_equal(next_segment(h)->header.remote_port, 2);
    expect_no_segment(h);
    harness_free(h);
}

/* ---- SYN cookies (the SYN queue full) ---- */

/* Fills the SYN queue: syn_backlog_max half-open entries from ports
 * 1, 2, ... (SYN-ACKs read). */
static void fill_syn_queue(struct harness *h)
{
    for (uint32_t i = 0; i < h->config.syn_backlog_max; i++) {
        inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .window = 1000,
                                  .remote_port = (uint16_t)(1 + i)});
        assert_int_equal(next_segment(h)->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    }
    assert_int_equal(h->counters.tcp_syn_backlog_full, 0);
}

/* A SYN from `port` (offering MSS `mss`, 0: no option, and window scale 7)
 * that finds the queue full: checks the cookie SYN-ACK, returns its ISN. */
static uint32_t cookie_synack(struct harness *h, uint16_t port, uint16_t mss)
{
    uint64_t sent_before = h->counters.tcp_syn_cookies_sent;
    uint64_t full_before = h->counters.tcp_syn_backlog_full;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                              .mss = mss, .has_window_scale = true, .window_scale = 7,
                              .remote_port = port});
    struct captured *synack = next_segment(h);
    assert_int_equal(synack->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
    assert_int_equal(synack->header.ack, CLIENT_ISN + 1);
    assert_int_equal(synack->header.mss, OUR_MSS);
    assert_false(synack->header.has_window_scale);
    assert_int_equal(synack->header.window, 65535); /* unscaled: at most 64 KiB */
    assert_false(synack->header.sack_permitted);
    assert_false(synack->header.has_timestamps);
    assert_int_equal(synack->payload_bytes, 0);
    assert_int_equal(synack->header.remote_port, port);
    assert_int_equal(synack->header.local_port, LISTEN_PORT);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_syn_backlog_full, full_before + 1);
    assert_int_equal(h->counters.tcp_syn_cookies_sent, sent_before + 1);
    return synack->header.seq;
}

/* The handshake's ACK for a cookie (window unscaled). */
static void cookie_ack(struct harness *h, uint16_t port, uint32_t seq, uint32_t cookie,
                       const void *payload, uint32_t payload_bytes)
{
    inject(h, (struct inject){.flags = (uint8_t)(TCP_FLAG_ACK | (payload_bytes ? TCP_FLAG_PSH : 0)),
                              .seq = seq, .ack = cookie + 1, .window = 1000, .payload = payload,
                              .payload_bytes = payload_bytes, .remote_port = port});
}

static void test_syn_cookie_opens_connection(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 2;
    harness_start(h);
    h->now_us = 3 * MS;
    fill_syn_queue(h);
    uint32_t cookie = cookie_synack(h, 7, 1460);
    assert_int_equal(cookie & 3u, 3); /* MSS index 3: 1460 */
    /* Stateless: the same SYN again gets the same cookie, and no timer is
     * armed for it (only the two queued SYN-ACKs, at 1 s). */
    assert_int_equal(cookie_synack(h, 7, 1460), cookie);
    assert_int_equal(poll_at(h, h->now_us), 1003 * MS);
    assert_int_equal(h->counters.tcp_connections_established, 0);

    h->now_us = 20 * MS;
    cookie_ack(h, 7, CLIENT_ISN + 1, cookie, NULL, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->records[0].peer_ipv4, CLIENT_IP);
    assert_int_equal(h->records[0].peer_port, 7);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_rejected, 0);
    assert_int_equal(h->counters.tcp_connections_opened, 1);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    expect_no_segment(h);
    struct record *r = &h->records[0];
    struct client c = {.port = 7, .seq = CLIENT_ISN + 1, .server = cookie + 1, .window = 1000};

    /* Client to server. */
    client_send(h, &c, TCP_FLAG_PSH, "ruok", 4);
    assert_int_equal(r->received_bytes, 4);
    assert_memory_equal(r->received, "ruok", 4);
    /* Server to client: our ISN is the cookie; the peer's window is not
     * scaled (1000 bytes, not 1000 << 7), ours neither (65535, not a
     * shifted value), and the ACK covers the request. */
    static uint8_t data[3000];
    fill_pattern(data, sizeof data, 5);
    assert_true(tcp_send(h->table, r->handle, data, sizeof data));
    poll_at(h, h->now_us);
    struct captured *out = next_segment(h);
    assert_int_equal(out->header.seq, cookie + 1);
    assert_int_equal(out->header.ack, CLIENT_ISN + 5);
    assert_int_equal(out->payload_bytes, 1000);
    assert_memory_equal(out->payload, data, 1000);
    /* The SYN-ACK's 65535 less the 4 bytes taken, in bytes (with our
     * shift of 1 it would read 32765). */
    assert_int_equal(out->header.window, 65531);
    expect_no_segment(h);
    client_ack(h, &c, cookie + 1 + 1000);
    struct captured *more = next_segment(h);
    assert_int_equal(more->header.seq, cookie + 1 + 1000);
    assert_int_equal(more->payload_bytes, 1000);
    c.window = 4000;
    client_ack(h, &c, cookie + 1 + 2000);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, cookie + 1 + 2000, CLIENT_ISN + 5, 1000);
    assert_memory_equal(h->captured[h->captured_read - 1].payload, data + 2000, 1000);
    client_ack(h, &c, cookie + 1 + 3000);
    expect_no_segment(h);
    c.server = cookie + 1 + 3000;

    /* Close from the server: FIN, FIN_WAIT_2, the peer's FIN, TIME_WAIT. */
    tcp_close(h->table, r->handle);
    poll_at(h, h->now_us);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_LOCAL);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_FIN, c.server, c.seq, 0);
    client_ack(h, &c, c.server + 1);
    c.server += 1;
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, c.server, c.seq, 0);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(h->counters.tcp_connections_closed, 1);
    harness_free(h);
}

/* The ACK carries the first request: delivered, answered with what
 * `accepted` queued; a FIN on it too. */
static void test_syn_cookie_ack_with_data(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 1;
    harness_start(h);
    fill_syn_queue(h);
    uint32_t cookie = cookie_synack(h, 9, 1400);
    h->send_in_accepted = "welcome";
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, "ruok", 4);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->records[0].received_bytes, 4);
    assert_memory_equal(h->records[0].received, "ruok", 4);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, cookie + 1, CLIENT_ISN + 5, 7);
    assert_memory_equal(h->captured[h->captured_read - 1].payload, "welcome", 7);
    /* A duplicate of the handshake's ACK now finds the connection. */
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 1);
    harness_free(h);
}

/* A cookie opens one connection: its handshake ACK (or first data)
 * arriving again after that connection was reset, a duplicate or one
 * reordered behind the client's RST, gets a RST and opens no ghost. */
static void test_syn_cookie_spent_after_reset(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 1;
    harness_start(h);
    fill_syn_queue(h);
    uint32_t cookie = cookie_synack(h, 10, 1460);
    cookie_ack(h, 10, CLIENT_ISN + 1, cookie, "ruok", 4);
    assert_int_equal(h->accepted_calls, 1);
    inject(h, (struct inject){.flags = TCP_FLAG_RST, .seq = CLIENT_ISN + 5, .remote_port = 10});
    assert_int_equal(h->counters.tcp_resets_received, 1);
    h->captured_read = h->captured_count;
    cookie_ack(h, 10, CLIENT_ISN + 1, cookie, "ruok", 4); /* the data again, late */
    expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_rejected, 1);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    harness_free(h);
}

/* Wrong cookies: an ACK off by one, another 4-tuple, another client ISN,
 * a cookie two periods old: RST, no connection, counted. */
static void test_syn_cookie_rejected(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 1;
    harness_start(h);
    /* No cookie sent yet: a stray ACK is a stray ACK (RST, not counted). */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 5, .ack = 77, .remote_port = 9});
    expect_segment(h, TCP_FLAG_RST, 77, 0, 0);
    assert_int_equal(h->counters.tcp_syn_cookies_rejected, 0);
    fill_syn_queue(h);
    uint32_t cookie = cookie_synack(h, 9, 1460);
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie + 1, NULL, 0); /* ack off by one */
    expect_segment(h, TCP_FLAG_RST, cookie + 2, 0, 0);
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie - 1, NULL, 0);
    expect_segment(h, TCP_FLAG_RST, cookie, 0, 0);
    cookie_ack(h, 10, CLIENT_ISN + 1, cookie, NULL, 0); /* another port */
    expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
    /* Another client ISN: a segment past lost ones (the ACK and the first
     * data) must not open the connection past bytes never seen. */
    cookie_ack(h, 9, CLIENT_ISN + 2, cookie, "x", 1);
    expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
    /* Another source address. */
    struct tcp_segment other;
    memset(&other, 0, sizeof other);
    other.remote_ipv4 = CLIENT_IP + 1;
    other.local_ipv4 = SERVER_IP;
    other.remote_port = 9;
    other.local_port = LISTEN_PORT;
    other.seq = CLIENT_ISN + 1;
    other.ack = cookie + 1;
    other.flags = TCP_FLAG_ACK;
    other.window = 1000;
    tcp_input(h->table, &other, h->now_us);
    struct captured *rst = next_segment(h);
    assert_int_equal(rst->header.flags, TCP_FLAG_RST);
    assert_int_equal(rst->header.remote_ipv4, CLIENT_IP + 1);
    assert_int_equal(h->counters.tcp_syn_cookies_rejected, 5);
    assert_int_equal(h->accepted_calls, 0);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 0);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    /* The right one still works. */
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
    assert_int_equal(h->accepted_calls, 1);
    expect_no_segment(h);
    harness_free(h);
}

/* A cookie lives in its 64 s period and the next: made at 10 s (period
 * 0), good at 127.999 s, not at 128 s (period 2), even with newer cookies
 * being sent then. */
static void test_syn_cookie_expires(void **state)
{
    (void)state;
    for (int late = 0; late <= 1; late++) {
        struct harness *h = harness_new();
        h->config.syn_backlog_max = 1;
        harness_start(h);
        h->now_us = 10000 * MS;
        fill_syn_queue(h);
        uint32_t cookie = cookie_synack(h, 9, 1460);
        uint64_t at = late ? 128000 * MS : 127999 * MS;
        /* Keep the queue full and a cookie recent at `at` (the first entry
         * gave up at 73 s). */
        poll_at(h, at - 1000 * MS);
        h->captured_read = h->captured_count;
        inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 1, .window = 1000,
                                  .remote_port = 1});
        next_segment(h);
        uint32_t fresh = cookie_synack(h, 11, 1460);
        assert_int_not_equal(fresh, cookie);
        h->now_us = at;
        cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
        if (late) {
            expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
            assert_int_equal(h->accepted_calls, 0);
            assert_int_equal(h->counters.tcp_syn_cookies_rejected, 1);
        } else {
            expect_no_segment(h);
            assert_int_equal(h->accepted_calls, 1);
            assert_int_equal(h->counters.tcp_syn_cookies_accepted, 1);
        }
        harness_free(h);
    }
}

/* Cookies are looked at only while one sent can come back: 128 s after
 * the last, even a valid-looking ACK is a stray one (RST, not counted). A
 * cookie SYN-ACK that could not leave (no route) does not count. */
static void test_syn_cookie_checked_only_after_recent_cookies(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 1;
    harness_start(h);
    fill_syn_queue(h);
    h->output_fails = true;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                              .mss = 1460, .remote_port = 9});
    uint32_t cookie = next_segment(h)->header.seq; /* recorded, did not leave */
    h->output_fails = false;
    assert_int_equal(h->counters.tcp_syn_backlog_full, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_sent, 0);
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
    expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
    assert_int_equal(h->counters.tcp_syn_cookies_rejected, 0);
    assert_int_equal(h->accepted_calls, 0);
    /* Sent: the same cookie (same period) now opens. */
    assert_int_equal(cookie_synack(h, 9, 1460), cookie);
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
    assert_int_equal(h->accepted_calls, 1);
    harness_free(h);
}

/* connections_max still holds, and the shard may still say no. */
static void test_syn_cookie_connections_max_and_refusal(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.connections_max = 1;
    h->config.syn_backlog_max = 1;
    harness_start(h);
    handshake_port(h, 100, 0);
    fill_syn_queue(h);
    uint32_t cookie = cookie_synack(h, 9, 1460);
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, "x", 1);
    expect_segment(h, TCP_FLAG_RST, cookie + 1, 0, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->counters.tcp_connections_refused, 1);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 1);
    /* Room again, but the shard refuses: RST, no record, nothing held. */
    struct client c = {.port = 100, .seq = CLIENT_ISN + 1,
                       .server = h->captured[0].header.seq + 1, .window = 65535};
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    poll_at(h, h->now_us);
    h->captured_read = h->captured_count;
    client_ack(h, &c, c.server + 1); /* LAST_ACK done */
    assert_int_equal(h->counters.tcp_connections_established, 0);
    h->refuse = true;
    cookie_ack(h, 9, CLIENT_ISN + 1, cookie, NULL, 0);
    assert_int_equal(h->accepted_calls, 2);
    struct captured *rst = next_segment(h);
    assert_true(rst->header.flags & TCP_FLAG_RST);
    assert_int_equal(rst->header.seq, cookie + 1);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_connections_refused, 2);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(h->counters.tcp_connections_opened, h->counters.tcp_connections_closed);
    harness_free(h);
}

/* The MSS the cookie remembers: the largest of 536, 1220, 1440, 1460 not
 * above the peer's (536 without the option), never above ours. */
static void test_syn_cookie_mss(void **state)
{
    (void)state;
    static const struct {
        uint16_t peer_mss;
        uint16_t mtu;
        uint32_t segment_bytes;
    } cases[] = {
        {536, 1500, 536},   {1400, 1500, 1220}, {1440, 1500, 1440}, {1460, 1500, 1460},
        {9000, 1500, 1460}, {0, 1500, 536},     {100, 1500, 536},   {1220, 1500, 1220},
        {9000, 1300, 1260}, /* our MTU 1300: MSS 1260 */
    };
    static uint8_t data[4000];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct harness *h = harness_new();
        h->config.syn_backlog_max = 1;
        h->config.mtu = cases[i].mtu;
        harness_start(h);
        fill_syn_queue(h);
        inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                                  .mss = cases[i].peer_mss, .remote_port = 9});
        struct captured *synack = next_segment(h);
        assert_int_equal(synack->header.mss, cases[i].mtu - 40);
        uint32_t cookie = synack->header.seq;
        inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1,
                                  .ack = cookie + 1, .window = 65535, .remote_port = 9});
        assert_int_equal(h->accepted_calls, 1);
        assert_true(tcp_send(h->table, h->records[0].handle, data, sizeof data));
        poll_at(h, h->now_us);
        struct captured *out = next_segment(h);
        if (out->payload_bytes != cases[i].segment_bytes)
            fail_msg("peer MSS %u: segments of %u, not %u", cases[i].peer_mss,
                     out->payload_bytes, cases[i].segment_bytes);
        harness_free(h);
    }
}

/* A SYN that finds room in the queue still goes there (state, window
 * scaling, SYN-ACK retransmission), and a cookie is never made for it. */
static void test_syn_cookie_not_when_queue_has_room(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.syn_backlog_max = 2;
    harness_start(h);
    struct client c = handshake_port(h, 5, 0);
    (void)c;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 65535,
                              .mss = 1460, .has_window_scale = true, .window_scale = 7,
                              .remote_port = 6});
    struct captured *synack = next_segment(h);
    assert_true(synack->header.has_window_scale);
    assert_int_equal(h->counters.tcp_syn_cookies_sent, 0);
    assert_int_equal(h->counters.tcp_syn_backlog_full, 0);
    poll_at(h, 1000 * MS);
    struct captured *again = next_segment(h);
    assert_int_equal(again->header.seq, synack->header.seq);
    assert_int_equal(again->header.remote_port, 6);
    /* Its ACK completes through the queue, not as a cookie. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1,
                              .ack = synack->header.seq + 1, .window = 100,
                              .remote_port = 6});
    assert_int_equal(h->accepted_calls, 2);
    assert_int_equal(h->counters.tcp_syn_cookies_accepted, 0);
    harness_free(h);
}

static void test_connections_max_refuses(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.connections_max = 1;
    harness_start(h);
    handshake_port(h, 1, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 50, .remote_port = 2});
    uint32_t iss = next_segment(h)->header.seq;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 51, .ack = iss + 1, .window = 100,
                              .remote_port = 2});
    struct captured *rst = next_segment(h);
    assert_true(rst->header.flags & TCP_FLAG_RST);
    assert_int_equal(rst->header.seq, iss + 1);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->counters.tcp_connections_refused, 1);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    harness_free(h);
}

static void test_accept_null_refuses(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->refuse = true;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 50});
    uint32_t iss = next_segment(h)->header.seq;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 51, .ack = iss + 1, .window = 100,
                              .payload = "x", .payload_bytes = 1});
    assert_int_equal(h->accepted_calls, 1);
    struct captured *rst = next_segment(h);
    assert_true(rst->header.flags & TCP_FLAG_RST);
    assert_int_equal(rst->header.seq, iss + 1);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_connections_refused, 1);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(poll_at(h, 10000 * MS), UINT64_MAX);
    harness_free(h);
}

static void test_send_buffer_full(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.send_buffer_bytes_max = 10000;
    harness_start(h);
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    static uint8_t data[10000];
    h->in_callback_forbidden = true;
    assert_true(tcp_send(h->table, r->handle, data, 6000));
    assert_true(tcp_send(h->table, r->handle, data, 4000)); /* grows to the max */
    assert_int_equal(tcp_queued_bytes(h->table, r->handle), 10000);
    assert_false(tcp_send(h->table, r->handle, data, 1));
    h->in_callback_forbidden = false;
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_send_buffer_full, 1);
    assert_int_equal(r->closed_calls, 0);
    poll_at(h, 1 * MS);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_SEND_FULL);
    struct captured *rst = next_segment(h);
    assert_true(rst->header.flags & TCP_FLAG_RST);
    assert_int_equal(rst->header.seq, c.server);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    harness_free(h);
}

static void test_keepalive_probes_and_timeout(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.keepalive_idle_ms = 1000;
    h->config.keepalive_interval_ms = 100;
    h->config.keepalive_probes_max = 3;
    harness_start(h);
    struct client c = handshake(h);
    struct record *r = &h->records[0];
    assert_int_equal(poll_at(h, 0), 1000 * MS);
    poll_at(h, 1000 * MS);
    expect_segment(h, TCP_FLAG_ACK, c.server - 1, c.seq, 0);
    /* An answer resets the idle time. */
    h->now_us = 1050 * MS;
    client_ack(h, &c, c.server);
    assert_int_equal(poll_at(h, 1050 * MS), 2050 * MS);
    expect_no_segment(h);
    for (uint64_t i = 0; i < 3; i++) {
        poll_at(h, 2050 * MS + i * 100 * MS);
        expect_segment(h, TCP_FLAG_ACK, c.server - 1, c.seq, 0);
    }
    assert_int_equal(r->closed_calls, 0);
    poll_at(h, 2350 * MS);
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, c.server, c.seq, 0);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_ERROR);
    assert_int_equal(h->counters.tcp_keepalive_probes, 4);
    assert_int_equal(h->counters.tcp_keepalive_timeouts, 1);
    harness_free(h);
}

static void test_synack_retransmission_and_drop(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 70, .window = 1000});
    uint32_t iss = next_segment(h)->header.seq;
    uint64_t at = 0;
    for (uint64_t i = 0; i < 5; i++) {
        uint64_t due = (1000 * MS) << i;
        at += due;
        assert_int_equal(poll_at(h, at - 1), at);
        expect_no_segment(h);
        poll_at(h, at);
        struct captured *again = next_segment(h);
        assert_int_equal(again->header.flags, TCP_FLAG_SYN | TCP_FLAG_ACK);
        assert_int_equal(again->header.seq, iss);
    }
    at += 32000 * MS; /* 63 s after the SYN: dropped quietly */
    assert_int_equal(poll_at(h, at), UINT64_MAX);
    expect_no_segment(h);
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 71, .ack = iss + 1});
    expect_segment(h, TCP_FLAG_RST, iss + 1, 0, 0);
    assert_int_equal(h->accepted_calls, 0);
    harness_free(h);
}

static void test_retransmitted_synack_skips_rtt_sample(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 70, .window = 1000});
    uint32_t iss = next_segment(h)->header.seq;
    poll_at(h, 1000 * MS);
    next_segment(h);
    h->now_us = 1010 * MS;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = 71, .ack = iss + 1, .window = 1000});
    assert_int_equal(h->accepted_calls, 1);
    /* No sample: the RTO is still the initial second. */
    assert_true(tcp_send(h->table, h->records[0].handle, "x", 1));
    assert_int_equal(poll_at(h, 1010 * MS), 2010 * MS);
    harness_free(h);
}

/* ---- active open (SYN_SENT) ---- */

#define SERVER_PORT 2181u   /* the peer's listening port, for our active opens */
#define EPHEMERAL_FIRST 32768u
#define PEER_ISN 5000u

/* A record that stands for the shard's pointer before the SYN-ACK: a failed
 * attempt's `closed` arrives with it. */
static struct record *connect_record(struct harness *h)
{
    assert_true(h->record_count < RECORDS_MAX);
    struct record *r = &h->records[h->record_count++];
    r->received = malloc(RECEIVED_BYTES_MAX);
    assert_non_null(r->received);
    r->closed_reason = CLOSED_NOT;
    return r;
}

/* tcp_connect to CLIENT_IP:SERVER_PORT; checks the SYN byte for byte and
 * returns it. */
static struct captured *connect_syn(struct harness *h, struct record *r,
                                    struct netstack_connection **handle, uint16_t port)
{
    *handle = tcp_connect(h->table, CLIENT_IP, SERVER_PORT, r, h->now_us);
    assert_non_null(*handle);
    struct captured *syn = next_segment(h);
    assert_int_equal(syn->header.flags, TCP_FLAG_SYN);
    assert_int_equal(syn->header.ack, 0);
    assert_int_equal(syn->header.remote_ipv4, CLIENT_IP);
    assert_int_equal(syn->header.local_ipv4, SERVER_IP);
    assert_int_equal(syn->header.remote_port, SERVER_PORT);
    assert_int_equal(syn->header.local_port, port);
    assert_int_equal(syn->header.mss, OUR_MSS);
    assert_true(syn->header.has_window_scale);
    assert_int_equal(syn->header.window_scale, 1); /* 65536 bytes need a shift of 1 */
    assert_int_equal(syn->header.window, 65535);   /* a SYN's window is never scaled */
    assert_false(syn->header.sack_permitted);
    assert_false(syn->header.has_timestamps);
    assert_int_equal(syn->payload_bytes, 0);
    expect_no_segment(h);
    return syn;
}

/* The peer's segment to our ephemeral port. */
static void peer_segment(struct harness *h, uint16_t port, uint8_t flags, uint32_t seq,
                         uint32_t ack, uint16_t window, const void *data, uint32_t size)
{
    inject(h, (struct inject){.flags = flags, .seq = seq, .ack = ack, .window = window,
                              .payload = data, .payload_bytes = size,
                              .remote_port = SERVER_PORT, .local_port = port});
}

static void peer_synack(struct harness *h, uint16_t port, uint32_t ack, bool window_scale)
{
    inject(h, (struct inject){.flags = TCP_FLAG_SYN | TCP_FLAG_ACK, .seq = PEER_ISN, .ack = ack,
                              .window = 65535, .mss = 1200, .has_window_scale = window_scale,
                              .window_scale = 7, .remote_port = SERVER_PORT,
                              .local_port = port});
}

static void test_connect_handshake_exact(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->now_us = 5000 * MS;
    struct record *attempt = connect_record(h);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST)->header.seq;
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(h->counters.tcp_connections_opened, 1);
    /* The SYN-ACK 30 ms later: ESTABLISHED, `accepted`, our ACK (scaled). */
    h->now_us += 30 * MS;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    assert_int_equal(h->accepted_calls, 1);
    struct record *r = &h->records[1];
    assert_ptr_equal(r->handle, handle);
    assert_int_equal(r->peer_ipv4, CLIENT_IP);
    assert_int_equal(r->peer_port, SERVER_PORT);
    struct captured *ack = next_segment(h);
    assert_int_equal(ack->header.flags, TCP_FLAG_ACK);
    assert_int_equal(ack->header.seq, iss + 1);
    assert_int_equal(ack->header.ack, PEER_ISN + 1);
    /* The right edge never moves left of what the SYN offered (65535), nor
     * right by less than an MSS (silly window avoidance): 65535 >> 1. */
    assert_int_equal(ack->header.window, 65535 >> 1);
    assert_int_equal(ack->header.local_port, EPHEMERAL_FIRST);
    assert_int_equal(ack->header.mss, 0);
    assert_false(ack->header.has_window_scale);
    expect_no_segment(h);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    /* The RTT of the SYN (30 ms) set the RTO: 30 + 4 * 15 = 90 -> 200 ms min. */
    assert_true(tcp_send(h->table, handle, "x", 1));
    assert_int_equal(poll_at(h, h->now_us), h->now_us + 200 * MS);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, iss + 1, PEER_ISN + 1, 1);
    /* The peer's MSS (1200) cuts our segments; its window (40 << 7) is scaled. */
    static uint8_t data[3000];
    fill_pattern(data, sizeof data, 3);
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_ACK, PEER_ISN + 1, iss + 2, 40, NULL, 0);
    assert_true(tcp_send(h->table, handle, data, sizeof data));
    poll_at(h, h->now_us);
    expect_segment(h, TCP_FLAG_ACK, iss + 2, PEER_ISN + 1, 1200);
    expect_segment(h, TCP_FLAG_ACK, iss + 1202, PEER_ISN + 1, 1200);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, iss + 2402, PEER_ISN + 1, 600);
    /* Bytes from the peer reach the shard. */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_ACK | TCP_FLAG_PSH, PEER_ISN + 1, iss + 3002, 40,
                 "hello", 5);
    assert_int_equal(r->received_bytes, 5);
    assert_memory_equal(r->received, "hello", 5);
    assert_int_equal(attempt->closed_calls, 0);
    /* A second connection to the same peer takes the next port; to another
     * port of the peer, the first port again. */
    struct netstack_connection *second = tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL,
                                                     h->now_us);
    assert_non_null(second);
    assert_int_equal(h->captured[h->captured_count - 1].header.local_port, EPHEMERAL_FIRST + 1);
    assert_non_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT + 1, NULL, h->now_us));
    assert_int_equal(h->captured[h->captured_count - 1].header.local_port, EPHEMERAL_FIRST);
    harness_free(h);
}

static void test_connect_without_window_scale(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, connect_record(h), &handle, EPHEMERAL_FIRST)->header.seq;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, false);
    struct captured *ack = next_segment(h);
    assert_int_equal(ack->header.flags, TCP_FLAG_ACK);
    assert_int_equal(ack->header.window, 65535); /* unscaled: capped at the field */
    /* The peer's window is unscaled too: 1000 means 1000 bytes. */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_ACK, PEER_ISN + 1, iss + 1, 1000, NULL, 0);
    static uint8_t data[3000];
    assert_true(tcp_send(h->table, handle, data, sizeof data));
    poll_at(h, h->now_us);
    expect_segment(h, TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 1000);
    expect_no_segment(h);
    harness_free(h);
}

static void test_connect_syn_retransmission_and_give_up(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct record *attempt = connect_record(h);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST)->header.seq;
    /* Resent after 1, 2, 4, 8, 16, 32 s (RFC 6298's initial RTO, doubling;
     * Linux's tcp_syn_retries = 6), the same SYN each time. */
    uint64_t at = 0;
    for (unsigned i = 0; i < 6; i++) {
        at += (1000 * MS) << i;
        assert_int_equal(poll_at(h, at - 1), at);
        expect_no_segment(h);
        poll_at(h, at);
        struct captured *again = next_segment(h);
        assert_int_equal(again->header.flags, TCP_FLAG_SYN);
        assert_int_equal(again->header.seq, iss);
        assert_int_equal(again->header.mss, OUR_MSS);
        expect_no_segment(h);
    }
    assert_int_equal(h->counters.tcp_retransmissions, 6);
    /* 64 s after the last: given up, `closed` (ERROR) with the user given
     * to tcp_connect, no RST (nothing was synchronized), no timer left. */
    at += 64000 * MS;
    assert_int_equal(poll_at(h, at - 1), at);
    assert_int_equal(attempt->closed_calls, 0);
    assert_int_equal(poll_at(h, at), UINT64_MAX);
    expect_no_segment(h);
    assert_int_equal(attempt->closed_calls, 1);
    assert_int_equal(attempt->closed_reason, NETSTACK_CLOSE_ERROR);
    assert_int_equal(h->accepted_calls, 0);
    assert_int_equal(h->counters.tcp_connections_opened, 1);
    assert_int_equal(h->counters.tcp_connections_closed, 1);
    assert_int_equal(h->counters.tcp_resets_sent, 0);
    /* The port is free again: a late SYN-ACK gets a RST. */
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    expect_segment(h, TCP_FLAG_RST, iss + 1, 0, 0);
    harness_free(h);
}

static void test_connect_reset(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct record *attempt = connect_record(h);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST)->header.seq;
    /* RFC 9293 / 5961: a RST without ACK, or whose ACK is not our SYN's, is
     * ignored (and never answered). */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_RST, 0, 0, 0, NULL, 0);
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_RST | TCP_FLAG_ACK, 0, iss + 7, 0, NULL, 0);
    expect_no_segment(h);
    assert_int_equal(attempt->closed_calls, 0);
    /* The refusal (a closed port's RST|ACK): closed(ERROR). */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_RST | TCP_FLAG_ACK, 0, iss + 1, 0, NULL, 0);
    expect_no_segment(h);
    assert_int_equal(attempt->closed_calls, 1);
    assert_int_equal(attempt->closed_reason, NETSTACK_CLOSE_ERROR);
    assert_int_equal(h->counters.tcp_resets_received, 1);
    assert_int_equal(h->counters.tcp_connections_closed, 1);
    assert_int_equal(poll_at(h, 10000 * MS), UINT64_MAX);
    expect_no_segment(h);
    harness_free(h);
}

static void test_connect_bad_ack_and_crossed_syn(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct record *attempt = connect_record(h);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST)->header.seq;
    /* A SYN-ACK acknowledging something else: RST with seq = its ACK, and
     * we stay in SYN_SENT. So for a bare ACK. */
    peer_synack(h, EPHEMERAL_FIRST, iss + 5, true);
    expect_segment(h, TCP_FLAG_RST, iss + 5, 0, 0);
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_ACK, PEER_ISN, iss, 100, NULL, 0);
    expect_segment(h, TCP_FLAG_RST, iss, 0, 0);
    /* A segment without SYN, RST or ACK is dropped. */
    peer_segment(h, EPHEMERAL_FIRST, 0, PEER_ISN, 0, 100, "zz", 2);
    expect_no_segment(h);
    /* A crossing SYN (simultaneous open) is refused with RST|ACK. */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_SYN, 777, 0, 100, NULL, 0);
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, 0, 778, 0);
    assert_int_equal(h->accepted_calls, 0);
    assert_int_equal(attempt->closed_calls, 0);
    /* Still connecting: the SYN is resent at 1 s, and the right SYN-ACK
     * then establishes (no RTT sample: the SYN was repeated). */
    poll_at(h, 1000 * MS);
    expect_segment(h, TCP_FLAG_SYN, iss, 0, 0);
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    expect_segment(h, TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_true(tcp_send(h->table, handle, "x", 1));
    assert_int_equal(poll_at(h, 1000 * MS), 2000 * MS);
    harness_free(h);
}

static void test_connect_refused_by_shard(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct record *attempt = connect_record(h);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST)->header.seq;
    h->refuse = true;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    /* A RST instead of the ACK, no `closed`. */
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 0);
    expect_no_segment(h);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(attempt->closed_calls, 0);
    assert_int_equal(h->counters.tcp_connections_refused, 1);
    assert_int_equal(h->counters.tcp_connections_opened, h->counters.tcp_connections_closed);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(poll_at(h, 0), UINT64_MAX);
    harness_free(h);
}

static void test_connect_send_and_close_while_connecting(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    /* Bytes sent while connecting wait for the handshake, then leave with
     * its last ACK. */
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, connect_record(h), &handle, EPHEMERAL_FIRST)->header.seq;
    assert_true(tcp_send(h->table, handle, "ruok", 4));
    poll_at(h, 0);
    expect_no_segment(h);
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    expect_segment(h, TCP_FLAG_ACK | TCP_FLAG_PSH, iss + 1, PEER_ISN + 1, 4);
    expect_no_segment(h);
    /* Close while connecting: closed(LOCAL) at the next poll, no FIN, no
     * RST; the port is free (a late SYN-ACK gets a RST). */
    struct record *attempt = connect_record(h);
    uint32_t iss2 = connect_syn(h, attempt, &handle, EPHEMERAL_FIRST + 1)->header.seq;
    tcp_close(h->table, handle);
    assert_int_equal(attempt->closed_calls, 0);
    poll_at(h, 0);
    assert_int_equal(attempt->closed_calls, 1);
    assert_int_equal(attempt->closed_reason, NETSTACK_CLOSE_LOCAL);
    expect_no_segment(h);
    peer_synack(h, EPHEMERAL_FIRST + 1, iss2 + 1, true);
    expect_segment(h, TCP_FLAG_RST, iss2 + 1, 0, 0);
    assert_int_equal(h->counters.tcp_connections_established, 1);
    harness_free(h);
}

static void test_connect_close_first_time_wait(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, connect_record(h), &handle, EPHEMERAL_FIRST)->header.seq;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    next_segment(h);
    struct record *r = &h->records[1];
    /* We close first: FIN, FIN_WAIT_1 -> 2 -> TIME_WAIT. */
    tcp_close(h->table, handle);
    poll_at(h, 0);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_LOCAL);
    expect_segment(h, TCP_FLAG_FIN | TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 0);
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_ACK, PEER_ISN + 1, iss + 2, 100, NULL, 0);
    expect_no_segment(h);
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_FIN | TCP_FLAG_ACK, PEER_ISN + 1, iss + 2, 100,
                 NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, iss + 2, PEER_ISN + 2, 0);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    /* In TIME_WAIT on our ephemeral port: a SYN there is not a listener's
     * (an ACK answers it), and the port is not reused for that peer. */
    peer_segment(h, EPHEMERAL_FIRST, TCP_FLAG_SYN, PEER_ISN + 100000, 0, 100, NULL, 0);
    expect_segment(h, TCP_FLAG_ACK, iss + 2, PEER_ISN + 2, 0);
    assert_int_equal(h->counters.tcp_syn_backlog_full + h->accepted_calls, 1);
    assert_non_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL, h->now_us));
    assert_int_equal(next_segment(h)->header.local_port, EPHEMERAL_FIRST + 1);
    /* After 2 MSL the port is free again. */
    assert_int_equal(poll_at(h, 1000 * MS), 3000 * MS); /* the second SYN's resend */
    next_segment(h);
    poll_at(h, 60000 * MS);
    while (h->captured_read < h->captured_count)
        next_segment(h);
    assert_non_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL, h->now_us));
    assert_int_equal(next_segment(h)->header.local_port, EPHEMERAL_FIRST);
    harness_free(h);
}

/* A SYN that could not leave (no route: ARP still asking) goes as soon as
 * tcp_resend_unsent_syns says a neighbour is known; its RTO and RTT count
 * from then. */
static void test_connect_unsent_syn_resent_on_resolution(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    h->output_fails = true;
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, connect_record(h), &handle, EPHEMERAL_FIRST)->header.seq;
    assert_int_equal(h->counters.tcp_segments_sent, 0);
    /* Another neighbour resolved: still no route, tried again. */
    h->now_us = 300 * MS;
    tcp_resend_unsent_syns(h->table, h->now_us);
    expect_segment(h, TCP_FLAG_SYN, iss, 0, 0);
    h->output_fails = false;
    h->now_us = 400 * MS;
    tcp_resend_unsent_syns(h->table, h->now_us);
    expect_segment(h, TCP_FLAG_SYN, iss, 0, 0);
    assert_int_equal(h->counters.tcp_segments_sent, 1);
    assert_int_equal(h->counters.tcp_retransmissions, 0);
    /* Sent: nothing more to resend; the RTO counts from 400 ms. */
    tcp_resend_unsent_syns(h->table, h->now_us);
    expect_no_segment(h);
    assert_int_equal(poll_at(h, h->now_us), 1400 * MS);
    /* The SYN-ACK 30 ms after the SYN really left: an RTT of 30 ms, so an
     * RTO of 200 ms (the minimum), not one from the first attempt. */
    h->now_us = 430 * MS;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    expect_segment(h, TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 0);
    assert_true(tcp_send(h->table, handle, "x", 1));
    assert_int_equal(poll_at(h, h->now_us), 630 * MS);
    harness_free(h);
}

static void test_connect_limits(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.connections_max = 2;
    harness_start(h);
    /* Connecting counts against connections_max. */
    assert_non_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL, 0));
    assert_non_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL, 0));
    assert_null(tcp_connect(h->table, CLIENT_IP, SERVER_PORT, NULL, 0));
    assert_int_equal(h->counters.tcp_connections_refused, 1);
    assert_null(tcp_connect(h->table, CLIENT_IP, 0, NULL, 0)); /* port 0: none */
    assert_int_equal(h->counters.tcp_connections_refused, 2);
    assert_int_equal(h->counters.tcp_connections_opened, 2);
    /* A passive open's last ACK is refused too while both connect. */
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = CLIENT_ISN, .window = 1000});
    uint32_t server_iss = h->captured[h->captured_count - 1].header.seq;
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = CLIENT_ISN + 1,
                              .ack = server_iss + 1, .window = 1000});
    assert_int_equal(h->accepted_calls, 0);
    assert_int_equal(h->counters.tcp_connections_refused, 3);
    harness_free(h);
}

/* A client-only table (listen_port 0): every SYN gets a RST. */
static void test_client_only_refuses_syns(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.listen_port = 0;
    harness_start(h);
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 41, .local_port = 2181});
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, 0, 42, 0);
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = 41, .local_port = EPHEMERAL_FIRST});
    expect_segment(h, TCP_FLAG_RST | TCP_FLAG_ACK, 0, 42, 0);
    assert_int_equal(h->counters.frames_not_for_us, 2);
    assert_int_equal(h->counters.tcp_syn_backlog_full, 0);
    struct netstack_connection *handle;
    uint32_t iss = connect_syn(h, connect_record(h), &handle, EPHEMERAL_FIRST)->header.seq;
    peer_synack(h, EPHEMERAL_FIRST, iss + 1, true);
    expect_segment(h, TCP_FLAG_ACK, iss + 1, PEER_ISN + 1, 0);
    assert_int_equal(h->accepted_calls, 1);
    assert_int_equal(h->counters.frames_not_for_us, 2);
    harness_free(h);
}

/* ---- odd input ---- */

static void test_sequence_wrap(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    uint32_t isn = 0xfffffff0u;
    inject(h, (struct inject){.flags = TCP_FLAG_SYN, .seq = isn, .window = 65535, .mss = 1460});
    uint32_t iss = next_segment(h)->header.seq;
    struct client c = {.port = CLIENT_PORT, .seq = isn + 1, .server = iss + 1, .window = 65535};
    client_ack(h, &c, c.server);
    struct record *r = &h->records[0];
    uint8_t data[64];
    fill_pattern(data, sizeof data, 11);
    /* Out of order across the wrap, then the first part. */
    c.seq = isn + 1 + 32;
    client_send(h, &c, 0, data + 32, 32);
    c.seq = isn + 1;
    client_send(h, &c, 0, data, 32);
    assert_int_equal(r->received_bytes, 64);
    assert_memory_equal(r->received, data, 64);
    c.seq = isn + 1 + 64;
    assert_int_equal(c.seq, 0x31u);
    client_send(h, &c, TCP_FLAG_FIN, NULL, 0);
    assert_int_equal(r->closed_reason, NETSTACK_CLOSE_PEER);
    harness_free(h);
}

static uint32_t prng_next(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t)(*state >> 16);
}

static void test_odd_segments_do_not_crash(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    struct client c = handshake(h);
    assert_true(tcp_send(h->table, h->records[0].handle, "pending", 7));
    poll_at(h, 0);
    /* Zero-length, no flags at all. */
    inject(h, (struct inject){.flags = 0, .seq = c.seq});
    /* A length without bytes is malformed: ignored. */
    inject(h, (struct inject){.flags = TCP_FLAG_ACK, .seq = c.seq, .ack = c.server,
                              .payload = NULL, .payload_bytes = 10});
    /* ACK of something never sent: an ACK in reply, nothing else. */
    size_t before = h->captured_count;
    client_ack(h, &c, c.server + 100000);
    assert_int_equal(h->captured_count, before + 1);
    uint64_t prng = 0x9e3779b97f4a7c15ull;
    static uint8_t junk[3000];
    fill_pattern(junk, sizeof junk, 12);
    for (int i = 0; i < 20000; i++) {
        uint32_t pick = prng_next(&prng);
        struct inject in = {
            .flags = (uint8_t)(prng_next(&prng) & 0x3f),
            .seq = (pick & 1) ? prng_next(&prng) : c.seq + (prng_next(&prng) % 200000) - 100000,
            .ack = (pick & 2) ? prng_next(&prng) : c.server + (prng_next(&prng) % 4000) - 2000,
            .window = (uint16_t)prng_next(&prng),
            .payload = junk,
            .payload_bytes = (pick & 4) ? prng_next(&prng) % sizeof junk : 0,
            .mss = (uint16_t)prng_next(&prng),
            .has_window_scale = (pick & 8) != 0,
            .window_scale = (uint8_t)prng_next(&prng),
            .remote_port = (uint16_t)(CLIENT_PORT + (prng_next(&prng) % 4)),
        };
        h->now_us += prng_next(&prng) % 50000;
        inject(h, in);
        if (i % 16 == 0)
            poll_at(h, h->now_us);
        if (h->captured_count > CAPTURE_MAX / 2) {
            h->captured_read = h->captured_count;
            capture_compact(h);
        }
    }
    poll_at(h, h->now_us + 1000000000ull);
    harness_free(h);
}

/* ---- a whole transfer over a bad link ---- */

#define LINK_QUEUE_MAX 4096u
#define TRANSFER_BYTES (64u * 1024u)
#define SIM_STEP_US 1000u
#define SIM_STEPS_MAX 400000u
#define CLIENT_RTO_US (300u * 1000u)
#define CLIENT_WINDOW_SEGMENTS 8u

struct in_flight {
    uint64_t deliver_at_us;
    uint64_t order; /* ties leave in the order they entered */
    struct tcp_segment header;
    uint8_t *payload;
    uint32_t payload_bytes;
};

struct link {
    struct in_flight items[LINK_QUEUE_MAX];
    uint32_t count;
    uint64_t entered;
};

struct sim {
    uint64_t prng;
    struct link to_server;
    struct link to_client;
    uint32_t loss_per_mille, duplicate_per_mille, jitter_us;
};

static void link_put(struct sim *s, struct link *l, const struct tcp_segment *header,
                     const uint8_t *payload, uint32_t payload_bytes, uint64_t now_us)
{
    int copies = 1;
    if (prng_next(&s->prng) % 1000 < s->loss_per_mille)
        copies = 0;
    else if (prng_next(&s->prng) % 1000 < s->duplicate_per_mille)
        copies = 2;
    for (int i = 0; i < copies && l->count < LINK_QUEUE_MAX; i++) {
        struct in_flight *f = &l->items[l->count++];
        f->deliver_at_us = now_us + 2000 + prng_next(&s->prng) % (s->jitter_us + 1);
        f->order = l->entered++;
        f->header = *header;
        f->payload_bytes = payload_bytes;
        f->payload = malloc(payload_bytes ? payload_bytes : 1);
        assert_non_null(f->payload);
        if (payload_bytes)
            memcpy(f->payload, payload, payload_bytes);
    }
}

/* Removes and returns one item due by now (the earliest), or false. */
static bool link_take(struct link *l, uint64_t now_us, struct in_flight *out)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < l->count; i++)
        if (l->items[i].deliver_at_us <= now_us &&
            (best == UINT32_MAX || l->items[i].deliver_at_us < l->items[best].deliver_at_us ||
             (l->items[i].deliver_at_us == l->items[best].deliver_at_us &&
              l->items[i].order < l->items[best].order)))
            best = i;
    if (best == UINT32_MAX)
        return false;
    *out = l->items[best];
    l->items[best] = l->items[--l->count];
    return true;
}

/* The model client: go-back-N sender with a fixed window, in-order-only
 * receiver that acknowledges every segment; its FIN goes once both
 * directions are done, first (`closes_first`) or after the server's. */
struct model_client {
    uint32_t iss;
    bool established;
    uint32_t snd_una, snd_nxt;
    uint32_t server_window; /* scaled by the server's shift */
    uint8_t server_shift;
    uint64_t rto_at_us;
    const uint8_t *to_send;
    uint32_t send_bytes;
    bool fin_sent;
    bool fin_acked;
    uint32_t rcv_nxt;
    uint8_t *received;
    uint32_t received_bytes;
    bool server_fin;
    bool closes_first;
};

static void client_emit(struct sim *s, struct model_client *m, uint8_t flags, uint32_t seq,
                        const uint8_t *payload, uint32_t size, uint64_t now_us)
{
    struct tcp_segment seg;
    memset(&seg, 0, sizeof seg);
    seg.remote_ipv4 = CLIENT_IP;
    seg.local_ipv4 = SERVER_IP;
    seg.remote_port = CLIENT_PORT;
    seg.local_port = LISTEN_PORT;
    seg.seq = seq;
    seg.ack = m->rcv_nxt;
    seg.flags = flags;
    seg.window = 65535; /* scale 0: the client always has room */
    if (flags & TCP_FLAG_SYN) {
        seg.mss = 1000;
        seg.has_window_scale = true;
        seg.window_scale = 0;
    }
    link_put(s, &s->to_server, &seg, payload, size, now_us);
}

static void client_transmit(struct sim *s, struct model_client *m, uint64_t now_us)
{
    if (!m->established)
        return;
    uint32_t window = m->server_window < CLIENT_WINDOW_SEGMENTS * 1000
                          ? m->server_window : CLIENT_WINDOW_SEGMENTS * 1000;
    uint32_t data_end = m->iss + 1 + m->send_bytes;
    for (int i = 0; i < 64; i++) {
        uint32_t flight = m->snd_nxt - m->snd_una;
        if ((int32_t)(m->snd_nxt - data_end) < 0) {
            uint32_t offset = m->snd_nxt - (m->iss + 1);
            uint32_t size = data_end - m->snd_nxt;
            if (size > 1000)
                size = 1000;
            if (flight + size > window)
                break;
            client_emit(s, m, TCP_FLAG_ACK, m->snd_nxt, m->to_send + offset, size, now_us);
            m->snd_nxt += size;
        } else if (m->snd_nxt == data_end && (m->server_fin || m->closes_first) &&
                   !m->fin_sent && m->received_bytes == TRANSFER_BYTES) {
            client_emit(s, m, TCP_FLAG_ACK | TCP_FLAG_FIN, m->snd_nxt, NULL, 0, now_us);
            m->snd_nxt += 1;
            m->fin_sent = true;
        } else {
            break;
        }
        if (m->rto_at_us == UINT64_MAX)
            m->rto_at_us = now_us + CLIENT_RTO_US;
    }
}

static void client_receive(struct sim *s, struct model_client *m, const struct in_flight *f,
                           uint64_t now_us)
{
    const struct tcp_segment *seg = &f->header;
    if (seg->flags & TCP_FLAG_RST) {
        /* Only a late duplicate reaching the server after it let the
         * connection go earns one: the client is in TIME_WAIT by then. */
        assert_true(m->fin_acked && m->server_fin);
        return;
    }
    if (seg->flags & TCP_FLAG_SYN) {
        assert_int_equal(seg->ack, m->iss + 1);
        if (!m->established) {
            m->established = true;
            m->rcv_nxt = seg->seq + 1;
            m->snd_una = m->snd_nxt = m->iss + 1;
            m->server_shift = seg->has_window_scale ? seg->window_scale : 0;
            m->server_window = seg->window;
            m->rto_at_us = UINT64_MAX;
        }
        client_emit(s, m, TCP_FLAG_ACK, m->snd_nxt, NULL, 0, now_us);
        return;
    }
    if (!m->established)
        return;
    if (seg->flags & TCP_FLAG_ACK) {
        if ((int32_t)(seg->ack - m->snd_una) > 0 && (int32_t)(seg->ack - m->snd_nxt) <= 0) {
            m->snd_una = seg->ack;
            m->rto_at_us = m->snd_una == m->snd_nxt ? UINT64_MAX : now_us + CLIENT_RTO_US;
            if (m->fin_sent && m->snd_una == m->snd_nxt)
                m->fin_acked = true;
        }
        if ((int32_t)(seg->ack - m->snd_una) >= 0)
            m->server_window = (uint32_t)seg->window << m->server_shift;
    }
    bool answer = f->payload_bytes > 0 || (seg->flags & TCP_FLAG_FIN);
    if (f->payload_bytes && seg->seq == m->rcv_nxt) {
        assert_true(m->received_bytes + f->payload_bytes <= TRANSFER_BYTES);
        memcpy(m->received + m->received_bytes, f->payload, f->payload_bytes);
        m->received_bytes += f->payload_bytes;
        m->rcv_nxt += f->payload_bytes;
    }
    if ((seg->flags & TCP_FLAG_FIN) && seg->seq + f->payload_bytes == m->rcv_nxt &&
        !m->server_fin) {
        m->server_fin = true;
        m->rcv_nxt += 1;
    }
    /* A probe (old sequence number) is answered too. */
    if (answer || (int32_t)(seg->seq - m->rcv_nxt) < 0)
        client_emit(s, m, TCP_FLAG_ACK, m->snd_nxt, NULL, 0, now_us);
}

static void run_lossy_transfer(uint64_t seed, uint32_t loss, uint32_t duplicate, uint32_t jitter,
                               bool pause_sometimes, bool client_closes)
{
    struct harness *h = harness_new();
    h->config.out_of_order_segments_max = 4;
    h->config.receive_buffer_bytes_max = 16384;
    h->config.retransmissions_max = 30;
    harness_start(h);
    struct sim *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->prng = seed;
    s->loss_per_mille = loss;
    s->duplicate_per_mille = duplicate;
    s->jitter_us = jitter;
    uint8_t *client_data = malloc(TRANSFER_BYTES), *server_data = malloc(TRANSFER_BYTES);
    assert_non_null(client_data);
    assert_non_null(server_data);
    fill_pattern(client_data, TRANSFER_BYTES, 21);
    fill_pattern(server_data, TRANSFER_BYTES, 22);
    struct model_client m = {.iss = 0xfffff000u, .to_send = client_data,
                             .send_bytes = TRANSFER_BYTES, .rto_at_us = 0,
                             .closes_first = client_closes};
    m.received = malloc(TRANSFER_BYTES);
    assert_non_null(m.received);
    uint32_t server_sent = 0;
    bool closed_seen = false, paused = false;
    uint64_t now = 0;
    uint32_t step;
    for (step = 0; step < SIM_STEPS_MAX; step++) {
        now = (uint64_t)step * SIM_STEP_US;
        h->now_us = now;
        /* Client: (re)send the SYN, or go back N on its timeout. */
        if (!m.established && now >= m.rto_at_us) {
            client_emit(s, &m, TCP_FLAG_SYN, m.iss, NULL, 0, now);
            m.rto_at_us = now + CLIENT_RTO_US;
        } else if (m.established && now >= m.rto_at_us) {
            m.snd_nxt = m.snd_una;
            if (m.fin_sent && !m.fin_acked)
                m.fin_sent = false;
            m.rto_at_us = UINT64_MAX;
        }
        client_transmit(s, &m, now);
        struct in_flight f;
        for (int i = 0; i < 256 && link_take(&s->to_server, now, &f); i++) {
            f.header.payload = f.payload;
            f.header.payload_bytes = f.payload_bytes;
            tcp_input(h->table, &f.header, now);
            free(f.payload);
        }
        /* The shard: sends its bytes as the buffer allows, pauses now and then. */
        if (h->record_count == 1 && h->records[0].closed_calls == 0) {
            struct record *r = &h->records[0];
            if (server_sent < TRANSFER_BYTES && tcp_queued_bytes(h->table, r->handle) < 20000) {
                uint32_t chunk = TRANSFER_BYTES - server_sent < 7000 ? TRANSFER_BYTES - server_sent
                                                                    : 7000;
                assert_true(tcp_send(h->table, r->handle, server_data + server_sent, chunk));
                server_sent += chunk;
            }
            if (pause_sometimes && prng_next(&s->prng) % 100 == 0) {
                paused = !paused;
                tcp_set_receive_paused(h->table, r->handle, paused);
            }
        }
        tcp_poll(h->table, now);
        while (h->captured_read < h->captured_count) {
            struct captured *c = next_segment(h);
            link_put(s, &s->to_client, &c->header, c->payload, c->payload_bytes, now);
        }
        capture_compact(h);
        for (int i = 0; i < 256 && link_take(&s->to_client, now, &f); i++) {
            client_receive(s, &m, &f, now);
            free(f.payload);
        }
        if (h->record_count == 1 && h->records[0].closed_calls == 1)
            closed_seen = true;
        /* Done: both directions delivered, both FINs acknowledged, the
         * server's connection out of the established count (gone, or in
         * TIME_WAIT after an active close). */
        if (closed_seen && m.fin_acked && m.server_fin &&
            h->counters.tcp_connections_established == 0 && s->to_server.count == 0)
            break;
        /* The active close, from what the shard sees: everything received
         * and everything it sent acknowledged. */
        if (!client_closes && server_sent == TRANSFER_BYTES && h->record_count == 1 &&
            h->records[0].closed_calls == 0 &&
            h->records[0].received_bytes == TRANSFER_BYTES &&
            tcp_queued_bytes(h->table, h->records[0].handle) == 0)
            tcp_close(h->table, h->records[0].handle);
    }
    assert_true(step < SIM_STEPS_MAX);
    struct record *r = &h->records[0];
    assert_int_equal(r->received_bytes, TRANSFER_BYTES);
    assert_memory_equal(r->received, client_data, TRANSFER_BYTES);
    assert_int_equal(m.received_bytes, TRANSFER_BYTES);
    assert_memory_equal(m.received, server_data, TRANSFER_BYTES);
    assert_int_equal(r->closed_calls, 1);
    assert_int_equal(r->closed_reason, client_closes ? NETSTACK_CLOSE_PEER : NETSTACK_CLOSE_LOCAL);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    if (loss > 0)
        assert_true(h->counters.tcp_retransmissions > 0);
    else /* a clean link needs no second copy of anything */
        assert_int_equal(h->counters.tcp_retransmissions, 0);
    /* Let any TIME_WAIT expire: nothing is left armed. */
    assert_int_equal(tcp_poll(h->table, now + 3600ull * 1000 * MS), UINT64_MAX);
    struct in_flight f;
    while (link_take(&s->to_server, UINT64_MAX, &f))
        free(f.payload);
    while (link_take(&s->to_client, UINT64_MAX, &f))
        free(f.payload);
    free(m.received);
    free(client_data);
    free(server_data);
    free(s);
    harness_free(h);
}

static void test_transfer_clean_link(void **state)
{
    (void)state;
    run_lossy_transfer(1, 0, 0, 0, false, false);
}

static void test_transfer_lossy_link(void **state)
{
    (void)state;
    run_lossy_transfer(0x1234567u, 50, 20, 3000, false, false);
}

static void test_transfer_lossy_link_with_pauses(void **state)
{
    (void)state;
    run_lossy_transfer(0xabcdefu, 80, 30, 5000, true, true);
}

/* Random segments at connections we opened, connecting or established
 * (SYN-ACKs with nearly right ACKs among them): nothing crashes, every
 * invariant holds (connection_check), and all ends with nothing left. */
static void test_connect_odd_segments_do_not_crash(void **state)
{
    (void)state;
    struct harness *h = harness_start(harness_new());
    enum { PORTS = 4, CONNECTS_MAX = 24 };
    uint32_t iss_of[PORTS] = {0};
    unsigned connects = 0;
    uint64_t prng = 0x1234567887654321ull;
    static uint8_t junk[3000];
    fill_pattern(junk, sizeof junk, 5);
    for (int i = 0; i < 20000; i++) {
        if (i % 500 == 0 && connects < CONNECTS_MAX) {
            struct record *r = connect_record(h);
            if (tcp_connect(h->table, CLIENT_IP, SERVER_PORT, r, h->now_us))
                connects++;
        }
        /* The SYNs' sequence numbers, per ephemeral port. */
        for (; h->captured_read < h->captured_count; h->captured_read++) {
            const struct captured *out = &h->captured[h->captured_read];
            unsigned port = out->header.local_port - EPHEMERAL_FIRST;
            if (out->header.flags == TCP_FLAG_SYN && port < PORTS)
                iss_of[port] = out->header.seq;
        }
        uint32_t pick = prng_next(&prng);
        unsigned port = prng_next(&prng) % PORTS;
        uint8_t flags = (uint8_t)(prng_next(&prng) & 0x3f);
        if ((pick & 48) == 0)
            flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
        struct inject in = {
            .flags = flags,
            .seq = (pick & 1) ? prng_next(&prng) : PEER_ISN + (prng_next(&prng) % 4000),
            .ack = (pick & 2) ? prng_next(&prng) : iss_of[port] + (prng_next(&prng) % 4),
            .window = (uint16_t)prng_next(&prng),
            .payload = junk,
            .payload_bytes = (pick & 4) ? prng_next(&prng) % sizeof junk : 0,
            .mss = (uint16_t)prng_next(&prng),
            .has_window_scale = (pick & 8) != 0,
            .window_scale = (uint8_t)prng_next(&prng),
            .remote_port = SERVER_PORT,
            .local_port = (uint16_t)(EPHEMERAL_FIRST + port),
        };
        h->now_us += prng_next(&prng) % 50000;
        inject(h, in);
        if (i % 16 == 0)
            poll_at(h, h->now_us);
        for (size_t r = 0; r < h->record_count && (pick & 0x300) == 0; r++)
            if (h->records[r].handle && h->records[r].closed_calls == 0 && (pick & 0x400))
                tcp_close(h->table, h->records[r].handle);
        if (h->captured_count > CAPTURE_MAX / 2) {
            h->captured_read = h->captured_count;
            capture_compact(h);
        }
    }
    assert_true(connects > 1);
    assert_true(h->accepted_calls > 0);
    /* Everything times out or closes; a day later nothing is left. */
    for (int i = 1; i <= 2000 && poll_at(h, h->now_us) != UINT64_MAX; i++) {
        h->now_us += 60000 * MS;
        if (h->captured_count > CAPTURE_MAX / 2) {
            h->captured_read = h->captured_count;
            capture_compact(h);
        }
    }
    assert_int_equal(poll_at(h, h->now_us), UINT64_MAX);
    assert_int_equal(h->counters.tcp_connections_established, 0);
    assert_int_equal(h->counters.tcp_connections_opened, h->counters.tcp_connections_closed);
    harness_free(h);
}

static void test_create_rejects_bad_config(void **state)
{
    (void)state;
    struct harness *h = harness_new();
    h->config.mtu = 100;
    char error[128] = "";
    struct tcp_output output = {.context = h, .segment = capture_segment};
    struct netstack_callbacks callbacks = {on_accepted, on_received, on_closed};
    assert_null(tcp_create(&h->config, &output, &callbacks, h, &h->counters, error, sizeof error));
    assert_true(strlen(error) > 0);
    harness_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_options_and_accept),
        cmocka_unit_test(test_handshake_without_window_scale),
        cmocka_unit_test(test_isn_keyed_and_clocked),
        cmocka_unit_test(test_data_on_handshake_ack),
        cmocka_unit_test(test_calls_from_inside_closed),
        cmocka_unit_test(test_receive_and_delayed_ack),
        cmocka_unit_test(test_reply_piggybacks_ack),
        cmocka_unit_test(test_out_of_order_reassembly),
        cmocka_unit_test(test_out_of_order_limit),
        cmocka_unit_test(test_pause_shrinks_window_and_resume_delivers),
        cmocka_unit_test(test_receive_ring_grows_keeping_held_and_out_of_order),
        cmocka_unit_test(test_pause_inside_received),
        cmocka_unit_test(test_send_psh_and_ack),
        cmocka_unit_test(test_tso_segment),
        cmocka_unit_test(test_send_ring_wraps),
        cmocka_unit_test(test_rto_backoff_and_give_up),
        cmocka_unit_test(test_rto_collapses_cwnd_then_slow_start),
        cmocka_unit_test(test_pure_ack_after_timeout_carries_snd_max),
        cmocka_unit_test(test_rtt_estimate_sets_rto),
        cmocka_unit_test(test_fast_retransmit_and_newreno),
        cmocka_unit_test(test_peer_zero_window_persist),
        cmocka_unit_test(test_zero_window_with_data_in_flight),
        cmocka_unit_test(test_orphan_in_zero_window_is_dropped),
        cmocka_unit_test(test_close_from_server),
        cmocka_unit_test(test_close_from_client),
        cmocka_unit_test(test_last_ack_retransmits_fin_then_gives_up),
        cmocka_unit_test(test_fin_while_paused_waits_for_data),
        cmocka_unit_test(test_fin_wait_2_timeout),
        cmocka_unit_test(test_simultaneous_close),
        cmocka_unit_test(test_fin_out_of_order),
        cmocka_unit_test(test_time_wait_reused_by_new_syn),
        cmocka_unit_test(test_time_wait_recycled),
        cmocka_unit_test(test_close_inside_received),
        cmocka_unit_test(test_rst_exact_in_window_outside),
        cmocka_unit_test(test_challenge_and_out_of_window_ack_limits),
        cmocka_unit_test(test_challenge_acks_per_second),
        cmocka_unit_test(test_cwnd_restart_after_idle),
        cmocka_unit_test(test_syn_received_answers_unacceptable),
        cmocka_unit_test(test_stray_segments_get_resets),
        cmocka_unit_test(test_syn_backlog_full),
        cmocka_unit_test(test_syn_cookie_opens_connection),
        cmocka_unit_test(test_syn_cookie_ack_with_data),
        cmocka_unit_test(test_syn_cookie_spent_after_reset),
        cmocka_unit_test(test_syn_cookie_rejected),
        cmocka_unit_test(test_syn_cookie_expires),
        cmocka_unit_test(test_syn_cookie_checked_only_after_recent_cookies),
        cmocka_unit_test(test_syn_cookie_connections_max_and_refusal),
        cmocka_unit_test(test_syn_cookie_mss),
        cmocka_unit_test(test_syn_cookie_not_when_queue_has_room),
        cmocka_unit_test(test_connections_max_refuses),
        cmocka_unit_test(test_accept_null_refuses),
        cmocka_unit_test(test_send_buffer_full),
        cmocka_unit_test(test_keepalive_probes_and_timeout),
        cmocka_unit_test(test_synack_retransmission_and_drop),
        cmocka_unit_test(test_retransmitted_synack_skips_rtt_sample),
        cmocka_unit_test(test_connect_handshake_exact),
        cmocka_unit_test(test_connect_without_window_scale),
        cmocka_unit_test(test_connect_syn_retransmission_and_give_up),
        cmocka_unit_test(test_connect_reset),
        cmocka_unit_test(test_connect_bad_ack_and_crossed_syn),
        cmocka_unit_test(test_connect_refused_by_shard),
        cmocka_unit_test(test_connect_send_and_close_while_connecting),
        cmocka_unit_test(test_connect_close_first_time_wait),
        cmocka_unit_test(test_connect_unsent_syn_resent_on_resolution),
        cmocka_unit_test(test_connect_limits),
        cmocka_unit_test(test_client_only_refuses_syns),
        cmocka_unit_test(test_sequence_wrap),
        cmocka_unit_test(test_odd_segments_do_not_crash),
        cmocka_unit_test(test_transfer_clean_link),
        cmocka_unit_test(test_transfer_lossy_link),
        cmocka_unit_test(test_transfer_lossy_link_with_pauses),
        cmocka_unit_test(test_connect_odd_segments_do_not_crash),
        cmocka_unit_test(test_create_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
