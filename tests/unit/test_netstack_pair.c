/* Two real netstacks talking: a server (listen_port 2181) and a client-only
 * stack (listen_port 0, netstack_connect) joined by a simulated Ethernet
 * link of frames, in a deterministic event loop: virtual time in
 * microseconds, a fixed-seed PRNG, bounded steps and bounded virtual time.
 *
 * The link, per direction: loss, duplication, reordering (a random extra
 * delay), a base delay, and corruption (one random bit flipped inside the
 * IPv4 packet: the receiving stack's checksum counters must account for
 * every such frame, and no corrupted byte may reach an application).
 *
 * Scenarios, each over several seeds: ZooKeeper-like request/response on 20
 * connections; 1 MiB each way on 4 connections over 5% loss, 5%
 * duplication and reordering; receive paused on some connections (zero
 * windows, probes) then resumed; every connection ends by a close from the
 * client, a close from the server, or a RST from either (the send-buffer-
 * full path), and at the end both stacks hold nothing: no connection, no
 * timer, opened == closed. A SYN flood against the server while the real
 * connections work, and new connections opened during the flood, once the
 * server's SYN queue is full: SYN cookies let them in at once (without
 * them they would wait for the flood's entries to give up, 63 s). The
 * client reaches the server by ARP first: its first SYNs are dropped for
 * want of a route and leave when the reply comes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/netstack/netstack.h"

#define IPV4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define SERVER_IPV4 IPV4(10, 0, 0, 1)
#define CLIENT_IPV4 IPV4(10, 0, 0, 2)
#define NETMASK IPV4(255, 255, 255, 0)
#define SERVER_PORT 2181u
#define US_PER_MS 1000ull
#define US_PER_S 1000000ull

#define SERVER 0
#define CLIENT 1
#define NODES 2
#define PAIRS_MAX 24u
/* Late pairs open once this many flood SYNs found the SYN queue full. */
#define LATE_OPEN_AFTER_BACKLOG_FULL 100u
/* ... and the server must have accepted all of them within this (far
 * below the 63 s a full queue of never-answered SYNs lasts). */
#define LATE_ACCEPT_US_MAX (10ull * 1000000ull)
#define FRAME_BYTES_MAX 2048u          /* MTU 1500, no TSO */
#define LINK_FRAMES_MAX 20000u         /* frames in flight; beyond: tail drop */
#define STEPS_MAX 20000000ull          /* event loop iterations, per run */
#define PPM 1000000u

/* ---- a deterministic PRNG (splitmix64) ---- */

static uint64_t prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool chance_ppm(uint64_t *state, uint32_t ppm)
{
    return ppm > 0 && prng_next(state) % PPM < ppm;
}

/* ---- the simulation ---- */

enum close_kind {
    CLOSE_BY_CLIENT, /* client netstack_close: client LOCAL, server PEER */
    CLOSE_BY_SERVER, /* server netstack_close: server LOCAL, client PEER */
    RESET_BY_CLIENT, /* client overfills its send buffer: SEND_FULL / ERROR */
    RESET_BY_SERVER,
    CLOSE_KINDS,
};

enum workload {
    WORKLOAD_REQUESTS, /* framed requests, echoed back transformed */
    WORKLOAD_BULK,     /* a fixed number of pattern bytes each way */
};

/* One side of one connection, as the application sees it. */
struct endpoint {
    struct node *node;
    unsigned pair;
    struct netstack_connection *handle; /* valid while open */
    bool open;
    bool ever_accepted;
    int closed_calls;
    enum netstack_close_reason closed_reason;
    bool close_done; /* this side closed or reset (its part is over) */
    /* receive side: a stream of frames [u32 length][bytes] (requests) or a
     * pattern (bulk); every byte is checked as it arrives */
    uint64_t received_bytes;
    uint8_t header[4];
    uint32_t header_have;
    uint32_t frame_bytes;
    uint32_t frame_have;
    uint32_t frames_received;
    /* send side */
    uint64_t sent_bytes;        /* bulk: pattern bytes queued */
    uint32_t requests_sent;     /* client: requests fully queued */
    uint32_t request_bytes_sent; /* of the request being queued */
    uint64_t next_request_us;    /* think time: not before this */
    bool paused;
};

struct node {
    struct sim *sim;
    int index;
    struct netstack *stack;
    struct netstack_config config;
    uint8_t *tx;  /* the frame begun */
    size_t tx_bytes_max;
    uint64_t next_timer_us;
    uint64_t corrupted_delivered; /* corrupted frames handed to this stack */
    uint64_t frames_delivered;
    struct endpoint endpoints[PAIRS_MAX];
};

struct link_direction {
    uint32_t loss_ppm;
    uint32_t duplicate_ppm;
    uint32_t reorder_ppm;
    uint32_t corrupt_ppm;
    uint64_t delay_us;       /* every frame */
    uint64_t reorder_max_us; /* extra delay of a reordered or duplicated frame */
};

struct link_event {
    uint64_t at_us;
    uint64_t order; /* FIFO among equal times */
    int to;
    bool corrupted;
    size_t size;
    uint8_t *bytes;
};

struct scenario {
    const char *name;
    enum workload workload;
    unsigned pairs;
    uint32_t requests_per_pair;  /* WORKLOAD_REQUESTS */
    uint32_t request_bytes_max;  /* the largest request (1 .. this) */
    uint64_t request_interval_us; /* think time between a client's requests (0: none) */
    uint64_t bulk_bytes;         /* WORKLOAD_BULK, each way */
    bool bulk_server_sends;      /* bulk both ways, or client to server only */
    struct link_direction link;  /* both directions alike */
    /* receive pause: pairs with pair % pause_every == 0 (0: none), on the
     * server, from pause_at to resume_at */
    unsigned pause_every;
    uint64_t pause_at_us;
    uint64_t resume_at_us;
    /* SYN flood against the server: flood_syns frames, flood_per_ms each
     * millisecond, from flood_delay_us after every first pair is up (its
     * never-answered SYNs keep the backlog full for 63 s: the working
     * connections must not be harmed, and new ones get in by SYN cookies) */
    uint32_t flood_syns;
    uint64_t flood_delay_us;
    uint32_t flood_per_ms;
    uint32_t server_syn_backlog_max;
    /* The last late_pairs of `pairs` are opened only during the flood,
     * after LATE_OPEN_AFTER_BACKLOG_FULL SYNs found the server's queue
     * full: they get in by SYN cookies. */
    unsigned late_pairs;
    uint64_t virtual_us_max;
};

struct sim {
    const struct scenario *scenario;
    uint64_t prng;
    uint64_t now_us;
    struct node nodes[NODES];
    struct link_event *events; /* a binary min-heap on (at_us, order) */
    size_t event_count;
    uint64_t event_order;
    uint64_t link_lost, link_duplicated, link_reordered, link_corrupted, link_overflow;
    uint64_t link_unroutable; /* to a MAC nobody has (the flood's SYN-ACKs) */
    uint32_t flood_sent;
    uint64_t flood_first_us;  /* when the first flood SYN went in */
    uint64_t work_done_us;    /* when every endpoint had finished its work (0: not yet) */
    uint64_t all_accepted_us; /* when the server had accepted every first pair (0: not yet) */
    bool flood_started;
    uint64_t flood_next_us;
    uint64_t late_opened_us;   /* when the late pairs were opened (0: not yet) */
    uint64_t late_accepted_us; /* when the server had accepted them all (0: not yet) */
    bool paused_done, resumed_done;
    uint8_t *oversize; /* a buffer larger than any send buffer */
    size_t oversize_bytes;
};

static const uint8_t server_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t client_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---- the link: a heap of frames in flight ---- */

static bool event_before(const struct link_event *a, const struct link_event *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->order < b->order);
}

static void heap_push(struct sim *sim, struct link_event event)
{
    assert_true(sim->event_count < LINK_FRAMES_MAX);
    size_t index = sim->event_count++;
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!event_before(&event, &sim->events[parent]))
            break;
        sim->events[index] = sim->events[parent];
        index = parent;
    }
    sim->events[index] = event;
}

static struct link_event heap_pop(struct sim *sim)
{
    assert_true(sim->event_count > 0);
    struct link_event top = sim->events[0];
    struct link_event last = sim->events[--sim->event_count];
    size_t index = 0;
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= sim->event_count)
            break;
        if (child + 1 < sim->event_count &&
            event_before(&sim->events[child + 1], &sim->events[child]))
            child++;
        if (!event_before(&sim->events[child], &last))
            break;
        sim->events[index] = sim->events[child];
        index = child;
    }
    if (sim->event_count > 0)
        sim->events[index] = last;
    return top;
}

static uint16_t get16(const uint8_t *at)
{
    return (uint16_t)(at[0] << 8 | at[1]);
}

/* One copy of a frame onto the wire toward `to`, with this direction's
 * fate: lost, delayed, reordered, corrupted. */
static void link_carry(struct sim *sim, int to, const uint8_t *frame, size_t size,
                       uint64_t extra_us)
{
    const struct link_direction *link = &sim->scenario->link;
    if (chance_ppm(&sim->prng, link->loss_ppm)) {
        sim->link_lost++;
        return;
    }
    if (sim->event_count >= LINK_FRAMES_MAX) {
        sim->link_overflow++;
        return;
    }
    struct link_event event = {.to = to, .size = size, .order = sim->event_order++};
    event.at_us = sim->now_us + link->delay_us + extra_us;
    if (chance_ppm(&sim->prng, link->reorder_ppm) && link->reorder_max_us > 0) {
        event.at_us += prng_next(&sim->prng) % link->reorder_max_us;
        sim->link_reordered++;
    }
    event.bytes = malloc(size);
    assert_non_null(event.bytes);
    memcpy(event.bytes, frame, size);
    /* Only IPv4 frames: ARP has no checksum to catch a flip (a real link's
     * CRC would have dropped it; a flip in the padding is invisible). */
    if (size >= 34 && get16(frame + 12) == 0x0800 &&
        chance_ppm(&sim->prng, link->corrupt_ppm)) {
        size_t ipv4_bytes = get16(frame + 14 + 2);
        assert_true(ipv4_bytes >= 20 && 14 + ipv4_bytes <= size);
        size_t bit = prng_next(&sim->prng) % (ipv4_bytes * 8);
        event.bytes[14 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
        event.corrupted = true;
        sim->link_corrupted++;
    }
    heap_push(sim, event);
}

static void link_send(struct sim *sim, int from, const uint8_t *frame, size_t size)
{
    int to = -1;
    if (memcmp(frame, server_mac, 6) == 0)
        to = SERVER;
    else if (memcmp(frame, client_mac, 6) == 0)
        to = CLIENT;
    else if (memcmp(frame, broadcast_mac, 6) == 0)
        to = NODES - 1 - from;
    if (to < 0 || to == from) {
        sim->link_unroutable++;
        return;
    }
    link_carry(sim, to, frame, size, 0);
    const struct link_direction *link = &sim->scenario->link;
    if (chance_ppm(&sim->prng, link->duplicate_ppm)) {
        sim->link_duplicated++;
        link_carry(sim, to, frame, size,
                   link->reorder_max_us ? prng_next(&sim->prng) % link->reorder_max_us : 0);
    }
}

/* ---- the ports of the two stacks ---- */

static uint8_t *port_frame_begin(void *context, size_t bytes_max)
{
    struct node *node = context;
    assert_null(node->tx);
    assert_true(bytes_max <= FRAME_BYTES_MAX);
    node->tx = malloc(bytes_max);
    assert_non_null(node->tx);
    node->tx_bytes_max = bytes_max;
    return node->tx;
}

static void port_frame_commit(void *context, size_t bytes,
                              const struct netstack_tx_offload *offload)
{
    struct node *node = context;
    assert_non_null(node->tx);
    assert_true(bytes <= node->tx_bytes_max);
    assert_int_equal(offload->flags, 0); /* no offloads configured */
    link_send(node->sim, node->index, node->tx, bytes);
    free(node->tx);
    node->tx = NULL;
}

/* ---- what the applications send: every byte a function of its place ---- */

static uint8_t request_byte(unsigned pair, uint32_t request, uint32_t offset)
{
    uint32_t x = pair * 0x9e3779b1u ^ request * 0x85ebca6bu ^ offset * 0xc2b2ae35u;
    x ^= x >> 15;
    x *= 0x2c1b3c6du;
    return (uint8_t)(x >> 24);
}

/* The server's transformation of a request byte into its response byte. */
static uint8_t transform(uint8_t byte, uint32_t offset)
{
    return (uint8_t)(byte ^ 0x5a ^ (uint8_t)offset);
}

static uint8_t bulk_byte(unsigned pair, int from, uint64_t offset)
{
    uint64_t x = (offset + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)pair << 40) ^
                 ((uint64_t)from << 56);
    x ^= x >> 29;
    return (uint8_t)(x * 0xbf58476d1ce4e5b9ull >> 56);
}

/* The size of request `request` of `pair`: mostly small, one in four up to
 * request_bytes_max (ZooKeeper's data limit is 1 MiB; ours 100 KiB). */
static uint32_t request_size(const struct scenario *scenario, unsigned pair, uint32_t request)
{
    uint64_t state = (uint64_t)pair << 32 | request;
    uint64_t r = prng_next(&state);
    uint32_t limit = (r & 3u) == 0 ? scenario->request_bytes_max : 512u;
    if (limit > scenario->request_bytes_max)
        limit = scenario->request_bytes_max;
    return 1u + (uint32_t)((r >> 8) % limit);
}

/* ---- callbacks ---- */

static struct endpoint *endpoint_of_port(struct node *node, uint16_t peer_port)
{
    unsigned pair = (unsigned)peer_port - NETSTACK_EPHEMERAL_PORT_FIRST;
    if (peer_port < NETSTACK_EPHEMERAL_PORT_FIRST || pair >= node->sim->scenario->pairs)
        return NULL;
    return &node->endpoints[pair];
}

static void *on_accepted(void *context, struct netstack_connection *connection,
                         uint32_t peer_ipv4, uint16_t peer_port)
{
    struct node *node = context;
    struct endpoint *endpoint = NULL;
    if (node->index == SERVER) {
        /* The client opens pair i from port FIRST + i (all at once, first
         * free port). The flood never completes a handshake. */
        assert_int_equal(peer_ipv4, CLIENT_IPV4);
        endpoint = endpoint_of_port(node, peer_port);
        assert_non_null(endpoint);
        assert_false(endpoint->ever_accepted);
    } else {
        assert_int_equal(peer_ipv4, SERVER_IPV4);
        assert_int_equal(peer_port, SERVER_PORT);
        for (unsigned i = 0; i < node->sim->scenario->pairs; i++)
            if (node->endpoints[i].handle == connection)
                endpoint = &node->endpoints[i];
        assert_non_null(endpoint);
        assert_false(endpoint->ever_accepted);
    }
    endpoint->handle = connection;
    endpoint->open = true;
    endpoint->ever_accepted = true;
    return endpoint;
}

static void receive_bulk(struct endpoint *endpoint, const uint8_t *data, size_t size)
{
    int from = NODES - 1 - endpoint->node->index;
    for (size_t i = 0; i < size; i++) {
        uint8_t expected = bulk_byte(endpoint->pair, from, endpoint->received_bytes + i);
        if (data[i] != expected)
            fail_msg("pair %u at %d: bulk byte %llu is %u, not %u", endpoint->pair,
                     endpoint->node->index,
                     (unsigned long long)(endpoint->received_bytes + i), data[i], expected);
    }
    endpoint->received_bytes += size;
    assert_true(endpoint->received_bytes <= endpoint->node->sim->scenario->bulk_bytes);
}

static void server_send(struct endpoint *endpoint, const void *data, size_t size)
{
    if (!netstack_send(endpoint->node->stack, endpoint->handle, data, size))
        fail_msg("pair %u: server send buffer full", endpoint->pair);
}

/* Requests and responses share the framing; the server echoes each
 * request's bytes transformed as they arrive, the client checks them. */
static void receive_frames(struct endpoint *endpoint, const uint8_t *data, size_t size)
{
    bool server = endpoint->node->index == SERVER;
    uint8_t out[2048];
    size_t at = 0;
    while (at < size) {
        if (endpoint->header_have < 4) {
            endpoint->header[endpoint->header_have++] = data[at++];
            if (endpoint->header_have < 4)
                continue;
            endpoint->frame_bytes = (uint32_t)endpoint->header[0] << 24 |
                                    (uint32_t)endpoint->header[1] << 16 |
                                    (uint32_t)endpoint->header[2] << 8 | endpoint->header[3];
            uint32_t expected =
                request_size(endpoint->node->sim->scenario, endpoint->pair,
                             endpoint->frames_received);
            if (endpoint->frame_bytes != expected)
                fail_msg("pair %u frame %u: length %u, not %u", endpoint->pair,
                         endpoint->frames_received, endpoint->frame_bytes, expected);
            endpoint->frame_have = 0;
            if (server)
                server_send(endpoint, endpoint->header, 4);
            continue;
        }
        size_t take = endpoint->frame_bytes - endpoint->frame_have;
        if (take > size - at)
            take = size - at;
        if (take > sizeof out)
            take = sizeof out;
        for (size_t i = 0; i < take; i++) {
            uint32_t offset = endpoint->frame_have + (uint32_t)i;
            uint8_t byte = request_byte(endpoint->pair, endpoint->frames_received, offset);
            uint8_t expected = server ? byte : transform(byte, offset);
            if (data[at + i] != expected)
                fail_msg("pair %u frame %u: byte %u wrong at %s", endpoint->pair,
                         endpoint->frames_received, offset, server ? "server" : "client");
            out[i] = transform(data[at + i], offset);
        }
        if (server)
            server_send(endpoint, out, take);
        endpoint->frame_have += (uint32_t)take;
        at += take;
        if (endpoint->frame_have == endpoint->frame_bytes) {
            endpoint->frames_received++;
            endpoint->header_have = 0;
        }
    }
    endpoint->received_bytes += size;
}

static void on_received(void *context, void *user, const uint8_t *data, size_t size)
{
    struct node *node = context;
    struct endpoint *endpoint = user;
    assert_ptr_equal(endpoint->node, node);
    assert_true(endpoint->open);
    assert_false(endpoint->paused);
    if (node->sim->scenario->workload == WORKLOAD_BULK)
        receive_bulk(endpoint, data, size);
    else
        receive_frames(endpoint, data, size);
}

static void on_closed(void *context, void *user, enum netstack_close_reason reason)
{
    struct node *node = context;
    struct endpoint *endpoint = user;
    assert_ptr_equal(endpoint->node, node);
    endpoint->closed_calls++;
    endpoint->closed_reason = reason;
    endpoint->open = false;
    endpoint->handle = NULL;
}

/* ---- the applications' own steps (outside callbacks) ---- */

static enum close_kind close_kind_of(unsigned pair)
{
    return (enum close_kind)(pair % CLOSE_KINDS);
}

static void fill_bulk(uint8_t *chunk, unsigned pair, int from, uint64_t offset, size_t size)
{
    for (size_t i = 0; i < size; i++)
        chunk[i] = bulk_byte(pair, from, offset + i);
}

#define BULK_QUEUE_BYTES_MAX (256u * 1024u) /* the application keeps at most this queued */
#define BULK_CHUNK_BYTES (64u * 1024u)

static void bulk_send_some(struct endpoint *endpoint)
{
    const struct scenario *scenario = endpoint->node->sim->scenario;
    static uint8_t chunk[BULK_CHUNK_BYTES];
    for (unsigned round = 0; round < 8 && endpoint->sent_bytes < scenario->bulk_bytes; round++) {
        if (netstack_queued_bytes(endpoint->node->stack, endpoint->handle) >
            BULK_QUEUE_BYTES_MAX - BULK_CHUNK_BYTES)
            return;
        uint64_t left = scenario->bulk_bytes - endpoint->sent_bytes;
        size_t size = left < BULK_CHUNK_BYTES ? (size_t)left : BULK_CHUNK_BYTES;
        fill_bulk(chunk, endpoint->pair, endpoint->node->index, endpoint->sent_bytes, size);
        assert_true(netstack_send(endpoint->node->stack, endpoint->handle, chunk, size));
        endpoint->sent_bytes += size;
    }
}

static void client_send_requests(struct endpoint *endpoint)
{
    const struct scenario *scenario = endpoint->node->sim->scenario;
    /* Two requests outstanding at most (a pipelining ZooKeeper client). */
    static uint8_t chunk[16384];
    for (unsigned round = 0; round < 64; round++) {
        if (endpoint->requests_sent >= scenario->requests_per_pair ||
            endpoint->requests_sent >= endpoint->frames_received + 2)
            return;
        uint32_t size = request_size(scenario, endpoint->pair, endpoint->requests_sent);
        if (endpoint->request_bytes_sent == 0 &&
            endpoint->node->sim->now_us < endpoint->next_request_us)
            return;
        if (endpoint->request_bytes_sent == 0) {
            uint8_t header[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16),
                                 (uint8_t)(size >> 8), (uint8_t)size};
            assert_true(netstack_send(endpoint->node->stack, endpoint->handle, header, 4));
        }
        if (netstack_queued_bytes(endpoint->node->stack, endpoint->handle) > 512u * 1024u)
            return;
        uint32_t take = size - endpoint->request_bytes_sent;
        if (take > sizeof chunk)
            take = sizeof chunk;
        for (uint32_t i = 0; i < take; i++)
            chunk[i] = request_byte(endpoint->pair, endpoint->requests_sent,
                                    endpoint->request_bytes_sent + i);
        assert_true(netstack_send(endpoint->node->stack, endpoint->handle, chunk, take));
        endpoint->request_bytes_sent += take;
        if (endpoint->request_bytes_sent == size) {
            endpoint->requests_sent++;
            endpoint->request_bytes_sent = 0;
            endpoint->next_request_us =
                endpoint->node->sim->now_us + scenario->request_interval_us;
        }
    }
}

/* This side's work is done and what it sent is in (acknowledged where it
 * ends with a RST, which would discard queued bytes). */
static bool endpoint_finished(const struct endpoint *endpoint)
{
    const struct scenario *scenario = endpoint->node->sim->scenario;
    bool server = endpoint->node->index == SERVER;
    if (scenario->workload == WORKLOAD_BULK) {
        bool sends = !server || scenario->bulk_server_sends;
        bool receives = server || scenario->bulk_server_sends;
        return (!sends || endpoint->sent_bytes == scenario->bulk_bytes) &&
               (!receives || endpoint->received_bytes == scenario->bulk_bytes);
    }
    return endpoint->frames_received == scenario->requests_per_pair &&
           (server || endpoint->requests_sent == scenario->requests_per_pair);
}

static void endpoint_end(struct endpoint *endpoint)
{
    struct sim *sim = endpoint->node->sim;
    bool server = endpoint->node->index == SERVER;
    enum close_kind kind = close_kind_of(endpoint->pair);
    bool mine = (server && (kind == CLOSE_BY_SERVER || kind == RESET_BY_SERVER)) ||
                (!server && (kind == CLOSE_BY_CLIENT || kind == RESET_BY_CLIENT));
    if (!mine)
        return;
    if (kind == CLOSE_BY_CLIENT || kind == CLOSE_BY_SERVER) {
        netstack_close(endpoint->node->stack, endpoint->handle);
        endpoint->close_done = true;
        return;
    }
    /* A RST discards what is queued or held: only once the peer's
     * application has it all (its protocol would say so; here the test
     * looks). */
    const struct endpoint *peer = &sim->nodes[NODES - 1 - endpoint->node->index]
                                       .endpoints[endpoint->pair];
    if (netstack_queued_bytes(endpoint->node->stack, endpoint->handle) > 0 ||
        !endpoint_finished(peer))
        return;
    assert_false(netstack_send(endpoint->node->stack, endpoint->handle, sim->oversize,
                               sim->oversize_bytes));
    endpoint->close_done = true;
}

static void application_step(struct sim *sim)
{
    const struct scenario *scenario = sim->scenario;
    for (int n = 0; n < NODES; n++) {
        struct node *node = &sim->nodes[n];
        for (unsigned i = 0; i < scenario->pairs; i++) {
            struct endpoint *endpoint = &node->endpoints[i];
            if (!endpoint->open || !endpoint->ever_accepted || endpoint->close_done)
                continue;
            if (n == SERVER && scenario->pause_every && i % scenario->pause_every == 0) {
                bool pause = sim->now_us >= scenario->pause_at_us &&
                             sim->now_us < scenario->resume_at_us;
                if (pause != endpoint->paused) {
                    netstack_set_receive_paused(node->stack, endpoint->handle, pause);
                    endpoint->paused = pause;
                }
            }
            if (scenario->workload == WORKLOAD_BULK) {
                if (n == CLIENT || scenario->bulk_server_sends)
                    bulk_send_some(endpoint);
            } else if (n == CLIENT) {
                client_send_requests(endpoint);
            }
            if (endpoint_finished(endpoint))
                endpoint_end(endpoint);
        }
    }
}

/* ---- the SYN flood: frames built here, never from the stack ---- */

static void put16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static void put32(uint8_t *at, uint32_t value)
{
    put16(at, (uint16_t)(value >> 16));
    put16(at + 2, (uint16_t)value);
}

static uint16_t checksum(uint32_t sum, const uint8_t *bytes, size_t size)
{
    for (size_t i = 0; i + 1 < size; i += 2)
        sum += (uint32_t)bytes[i] << 8 | bytes[i + 1];
    if (size & 1)
        sum += (uint32_t)bytes[size - 1] << 8;
    while (sum > 0xffffu)
        sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A SYN from a random host (on the subnet, or beyond it) and port. */
static void flood_syn(struct sim *sim)
{
    uint8_t frame[60] = {0};
    uint64_t r = prng_next(&sim->prng);
    uint32_t source = (r & 1) ? IPV4(10, 0, 0, 3 + (unsigned)(r >> 8) % 250)
                              : IPV4(192, 0, 2, 1 + (unsigned)(r >> 8) % 250);
    memcpy(frame, server_mac, 6);
    uint8_t attacker_mac[6] = {0x02, 0xaa, (uint8_t)(r >> 16), (uint8_t)(r >> 24), 0x00, 0x01};
    memcpy(frame + 6, attacker_mac, 6);
    put16(frame + 12, 0x0800);
    uint8_t *ip = frame + 14;
    ip[0] = 0x45;
    put16(ip + 2, 40);
    put16(ip + 6, 0x4000);
    ip[8] = 64;
    ip[9] = 6;
    put32(ip + 12, source);
    put32(ip + 16, SERVER_IPV4);
    put16(ip + 10, checksum(0, ip, 20));
    uint8_t *tcp = ip + 20;
    put16(tcp, (uint16_t)(1024 + (r >> 32) % 60000));
    put16(tcp + 2, SERVER_PORT);
    put32(tcp + 4, (uint32_t)(r >> 13));
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    put16(tcp + 14, 64240);
    uint32_t pseudo = (source >> 16) + (source & 0xffffu) + (SERVER_IPV4 >> 16) +
                      (SERVER_IPV4 & 0xffffu) + 6u + 20u;
    put16(tcp + 16, checksum(pseudo, tcp, 20));
    struct node *server = &sim->nodes[SERVER];
    if (sim->flood_sent == 0)
        sim->flood_first_us = sim->now_us;
    netstack_input(server->stack, frame, sizeof frame, 0, sim->now_us);
    sim->flood_sent++;
}

/* ---- the loop ---- */

static bool all_pairs_closed(const struct sim *sim)
{
    for (int n = 0; n < NODES; n++)
        for (unsigned i = 0; i < sim->scenario->pairs; i++)
            if (sim->nodes[n].endpoints[i].closed_calls == 0)
                return false;
    return true;
}

/* The pairs opened at the start (the late ones come during the flood). */
static unsigned first_pairs(const struct scenario *scenario)
{
    assert_true(scenario->late_pairs <= scenario->pairs);
    return scenario->pairs - scenario->late_pairs;
}

/* Pairs [first, end) accepted at `node`. */
static bool pairs_accepted(const struct sim *sim, int node, unsigned first, unsigned end)
{
    for (unsigned i = first; i < end; i++)
        if (!sim->nodes[node].endpoints[i].ever_accepted)
            return false;
    return true;
}

static bool all_pairs_accepted(const struct sim *sim, int node)
{
    for (unsigned i = 0; i < first_pairs(sim->scenario); i++)
        if (!sim->nodes[node].endpoints[i].ever_accepted)
            return false;
    return true;
}

static bool all_work_done(const struct sim *sim)
{
    for (int n = 0; n < NODES; n++)
        for (unsigned i = 0; i < sim->scenario->pairs; i++)
            if (!endpoint_finished(&sim->nodes[n].endpoints[i]))
                return false;
    return true;
}

static bool quiet(const struct sim *sim)
{
    return sim->event_count == 0 && sim->nodes[SERVER].next_timer_us == UINT64_MAX &&
           sim->nodes[CLIENT].next_timer_us == UINT64_MAX;
}

/* NETSTACK_PAIR_TRACE=path: every TCP frame delivered, one line each (for
 * reading a failure; the test never needs it). */
static FILE *trace_file;

static void trace(const struct sim *sim, const struct link_event *event)
{
    if (!trace_file || event->size < 54 || get16(event->bytes + 12) != 0x0800 ||
        event->bytes[23] != 6)
        return;
    const uint8_t *tcp = event->bytes + 34;
    uint32_t seq = (uint32_t)get16(tcp + 4) << 16 | get16(tcp + 6);
    uint32_t ack = (uint32_t)get16(tcp + 8) << 16 | get16(tcp + 10);
    size_t len = get16(event->bytes + 16) - 20 - (size_t)(tcp[12] >> 4) * 4;
    fprintf(trace_file, "%llu to %s %s %u>%u flags %02x seq %u ack %u len %zu win %u\n",
            (unsigned long long)sim->now_us, event->to == SERVER ? "server" : "client",
            event->corrupted ? "corrupted" : "ok", get16(tcp), get16(tcp + 2), tcp[13], seq, ack,
            len, get16(tcp + 14));
}

static void deliver(struct sim *sim, const struct link_event *event)
{
    trace(sim, event);
    struct node *node = &sim->nodes[event->to];
    node->frames_delivered++;
    if (event->corrupted)
        node->corrupted_delivered++;
    netstack_input(node->stack, event->bytes, event->size, 0, sim->now_us);
}

/* Pairs [first, end) connect now, each from the first free ephemeral port:
 * FIRST + its index, while every pair before it still holds its own. */
static void open_pairs(struct sim *sim, unsigned first, unsigned end)
{
    struct node *client = &sim->nodes[CLIENT];
    for (unsigned i = first; i < end; i++) {
        struct endpoint *endpoint = &client->endpoints[i];
        endpoint->handle = netstack_connect(client->stack, SERVER_IPV4, SERVER_PORT, endpoint,
                                            sim->now_us);
        assert_non_null(endpoint->handle);
        endpoint->open = true;
    }
}

/* Runs until all pairs are closed on both sides and nothing is left (no
 * frame in flight, no timer armed), within the scenario's virtual time. */
static void sim_run(struct sim *sim)
{
    const struct scenario *scenario = sim->scenario;
    const struct netstack_counters *sc = netstack_counters(sim->nodes[SERVER].stack);
    for (uint64_t step = 0; step < STEPS_MAX; step++) {
        if (scenario->flood_syns && !sim->flood_started && all_pairs_accepted(sim, SERVER)) {
            sim->flood_started = true;
            sim->flood_next_us = sim->now_us + scenario->flood_delay_us;
        }
        if (scenario->late_pairs && sim->late_opened_us == 0 &&
            sc->tcp_syn_backlog_full >= LATE_OPEN_AFTER_BACKLOG_FULL) {
            /* The early pairs work for seconds yet: ports FIRST + 0.. are
             * all taken, so the late ones get theirs by index. */
            for (unsigned i = 0; i < first_pairs(scenario); i++)
                assert_true(sim->nodes[CLIENT].endpoints[i].open);
            sim->late_opened_us = sim->now_us;
            open_pairs(sim, first_pairs(scenario), scenario->pairs);
        }
        if (sim->late_opened_us && sim->late_accepted_us == 0 &&
            pairs_accepted(sim, SERVER, first_pairs(scenario), scenario->pairs))
            sim->late_accepted_us = sim->now_us;
        application_step(sim);
        if (sim->work_done_us == 0 && all_work_done(sim))
            sim->work_done_us = sim->now_us;
        if (sim->all_accepted_us == 0 && all_pairs_accepted(sim, SERVER))
            sim->all_accepted_us = sim->now_us;
        for (int n = 0; n < NODES; n++)
            sim->nodes[n].next_timer_us = netstack_poll(sim->nodes[n].stack, sim->now_us);
        if (all_pairs_closed(sim) && quiet(sim))
            return;
        uint64_t next = UINT64_MAX;
        if (sim->event_count > 0)
            next = sim->events[0].at_us;
        for (int n = 0; n < NODES; n++)
            if (sim->nodes[n].next_timer_us < next)
                next = sim->nodes[n].next_timer_us;
        if (sim->flood_sent < scenario->flood_syns && sim->flood_next_us < next)
            next = sim->flood_next_us;
        /* Clients with think time act at the earliest time one may. */
        for (unsigned i = 0; scenario->request_interval_us && i < scenario->pairs; i++) {
            const struct endpoint *endpoint = &sim->nodes[CLIENT].endpoints[i];
            if (endpoint->open && endpoint->requests_sent < scenario->requests_per_pair &&
                endpoint->next_request_us > sim->now_us && endpoint->next_request_us < next)
                next = endpoint->next_request_us;
        }
        /* Pause and resume are moments the application acts at. */
        if (scenario->pause_every) {
            if (sim->now_us < scenario->pause_at_us && scenario->pause_at_us < next)
                next = scenario->pause_at_us;
            if (sim->now_us < scenario->resume_at_us && scenario->resume_at_us < next)
                next = scenario->resume_at_us;
        }
        if (next == UINT64_MAX)
            fail_msg("%s: stalled at %llu us with pairs open", scenario->name,
                     (unsigned long long)sim->now_us);
        assert_true(next >= sim->now_us);
        if (next > scenario->virtual_us_max)
            fail_msg("%s: not done within %llu s of virtual time", scenario->name,
                     (unsigned long long)(scenario->virtual_us_max / US_PER_S));
        sim->now_us = next;
        /* Everything due now: frames (in order), then the flood. */
        for (unsigned burst = 0; sim->event_count > 0 && sim->events[0].at_us <= sim->now_us;
             burst++) {
            assert_true(burst < LINK_FRAMES_MAX * 2);
            struct link_event event = heap_pop(sim);
            deliver(sim, &event);
            free(event.bytes);
        }
        if (sim->flood_sent < scenario->flood_syns && sim->flood_next_us <= sim->now_us) {
            for (uint32_t i = 0; i < scenario->flood_per_ms && sim->flood_sent < scenario->flood_syns;
                 i++)
                flood_syn(sim);
            sim->flood_next_us = sim->now_us + US_PER_MS;
        }
    }
    fail_msg("%s: more than %llu steps", scenario->name, (unsigned long long)STEPS_MAX);
}

static void node_config(struct netstack_config *config, int index,
                        const struct scenario *scenario)
{
    netstack_config_defaults(config);
    memcpy(config->mac, index == SERVER ? server_mac : client_mac, 6);
    config->ipv4_address = index == SERVER ? SERVER_IPV4 : CLIENT_IPV4;
    config->ipv4_netmask = NETMASK;
    config->listen_port = index == SERVER ? SERVER_PORT : 0;
    config->send_buffer_bytes_max = 1u << 20;
    /* Keepalive finds a peer whose RST was lost (RESET_BY_* on a lossy
     * link) long before the scenario's time runs out. */
    config->keepalive_idle_ms = 10000;
    config->keepalive_interval_ms = 1000;
    config->keepalive_probes_max = 5;
    if (index == SERVER && scenario->server_syn_backlog_max)
        config->syn_backlog_max = scenario->server_syn_backlog_max;
    for (unsigned i = 0; i < sizeof config->isn_secret; i++)
        config->isn_secret[i] = (uint8_t)(i * 11 + 3 + (unsigned)index);
}

static const struct netstack_io port_io = {
    .frame_begin = port_frame_begin,
    .frame_commit = port_frame_commit,
};
static const struct netstack_callbacks app_callbacks = {
    .accepted = on_accepted,
    .received = on_received,
    .closed = on_closed,
};

static struct sim *sim_create(const struct scenario *scenario, uint64_t seed)
{
    struct sim *sim = calloc(1, sizeof *sim);
    assert_non_null(sim);
    sim->scenario = scenario;
    sim->prng = seed;
    sim->now_us = 1 * US_PER_S;
    sim->flood_next_us = UINT64_MAX;
    sim->events = calloc(LINK_FRAMES_MAX, sizeof *sim->events);
    assert_non_null(sim->events);
    sim->oversize_bytes = (1u << 20) + 1u;
    sim->oversize = calloc(1, sim->oversize_bytes);
    assert_non_null(sim->oversize);
    assert_true(scenario->pairs <= PAIRS_MAX);
    for (int n = 0; n < NODES; n++) {
        struct node *node = &sim->nodes[n];
        node->sim = sim;
        node->index = n;
        node_config(&node->config, n, scenario);
        struct netstack_io io = port_io;
        io.context = node;
        char error[256] = "";
        node->stack = netstack_create(&node->config, &io, &app_callbacks, node, error,
                                      sizeof error);
        if (!node->stack)
            fail_msg("netstack_create: %s", error);
        for (unsigned i = 0; i < scenario->pairs; i++) {
            node->endpoints[i].node = node;
            node->endpoints[i].pair = i;
        }
    }
    return sim;
}

static void sim_destroy(struct sim *sim)
{
    while (sim->event_count > 0) {
        struct link_event event = heap_pop(sim);
        free(event.bytes);
    }
    for (int n = 0; n < NODES; n++) {
        netstack_destroy(sim->nodes[n].stack);
        free(sim->nodes[n].tx);
    }
    free(sim->events);
    free(sim->oversize);
    free(sim);
}

static enum netstack_close_reason expected_reason(enum close_kind kind, int node)
{
    switch (kind) {
    case CLOSE_BY_CLIENT:
        return node == CLIENT ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_PEER;
    case CLOSE_BY_SERVER:
        return node == SERVER ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_PEER;
    case RESET_BY_CLIENT:
        return node == CLIENT ? NETSTACK_CLOSE_SEND_FULL : NETSTACK_CLOSE_ERROR;
    default:
        return node == SERVER ? NETSTACK_CLOSE_SEND_FULL : NETSTACK_CLOSE_ERROR;
    }
}

/* Opens every pair, runs to the end, checks what both stacks and both
 * applications saw. */
static void run_scenario(const struct scenario *scenario, uint64_t seed)
{
    struct sim *sim = sim_create(scenario, seed);
    if (trace_file)
        fprintf(trace_file, "# %s, seed %llu\n", scenario->name, (unsigned long long)seed);
    struct node *client = &sim->nodes[CLIENT];
    struct node *server = &sim->nodes[SERVER];
    /* All at once, before the client knows the server's MAC. */
    open_pairs(sim, 0, first_pairs(scenario));
    const struct netstack_counters *cc = netstack_counters(client->stack);
    const struct netstack_counters *sc = netstack_counters(server->stack);
    assert_int_equal(cc->arp_requests_sent, 1);
    assert_int_equal(cc->tx_frames_dropped_no_route, first_pairs(scenario));
    sim_run(sim);

    for (int n = 0; n < NODES; n++) {
        const struct netstack_counters *counters = netstack_counters(sim->nodes[n].stack);
        for (unsigned i = 0; i < scenario->pairs; i++) {
            const struct endpoint *endpoint = &sim->nodes[n].endpoints[i];
            if (!endpoint->ever_accepted)
                fail_msg("%s seed %llu: pair %u never connected at %d", scenario->name,
                         (unsigned long long)seed, i, n);
            assert_int_equal(endpoint->closed_calls, 1);
            if (endpoint->closed_reason != expected_reason(close_kind_of(i), n)) {
                const struct netstack_counters *other =
                    netstack_counters(sim->nodes[NODES - 1 - n].stack);
                /* What ended it, for the reader (NETSTACK_PAIR_TRACE says more). */
                print_message("this side: resets in %llu out %llu, keepalive timeouts %llu, "
                              "RTOs %llu; the peer: resets in %llu out %llu, keepalive "
                              "timeouts %llu\n",
                              (unsigned long long)counters->tcp_resets_received,
                              (unsigned long long)counters->tcp_resets_sent,
                              (unsigned long long)counters->tcp_keepalive_timeouts,
                              (unsigned long long)counters->tcp_retransmission_timeouts,
                              (unsigned long long)other->tcp_resets_received,
                              (unsigned long long)other->tcp_resets_sent,
                              (unsigned long long)other->tcp_keepalive_timeouts);
                fail_msg("%s seed %llu: pair %u at %d closed with %d, not %d", scenario->name,
                         (unsigned long long)seed, i, n, endpoint->closed_reason,
                         expected_reason(close_kind_of(i), n));
            }
            assert_true(endpoint_finished(endpoint));
        }
        /* Nothing left: no connection, no timer, every handle given back. */
        assert_int_equal(counters->tcp_connections_established, 0);
        assert_int_equal(counters->tcp_connections_opened, counters->tcp_connections_closed);
        assert_int_equal(counters->tcp_connections_opened, scenario->pairs);
        assert_int_equal(netstack_poll(sim->nodes[n].stack, sim->now_us), UINT64_MAX);
        /* Every corrupted frame was dropped by a checksum (or as malformed,
         * when the flip broke the IPv4 header's shape), never delivered. */
        uint64_t caught =
            counters->ipv4_checksum_bad + counters->tcp_checksum_bad + counters->frames_malformed;
        assert_int_equal(caught, sim->nodes[n].corrupted_delivered);
    }
    /* The first SYNs waited for ARP and left with its reply, one round
     * trip later, not at their retransmission (1 s). */
    if (scenario->link.loss_ppm == 0)
        assert_true(sim->all_accepted_us < 1 * US_PER_S + 20 * US_PER_MS);
    if (scenario->link.loss_ppm)
        assert_true(sim->link_lost > 0);
    if (scenario->link.corrupt_ppm)
        assert_true(server->corrupted_delivered + client->corrupted_delivered > 0);
    if (scenario->pause_every)
        assert_true(cc->tcp_zero_window_probes > 0);
    if (scenario->flood_syns) {
        assert_int_equal(sim->flood_sent, scenario->flood_syns);
        /* At most the backlog was admitted (a flood SYN that repeats a
         * half-open tuple is not new: a few such collisions allowed). */
        assert_true(sc->tcp_syn_backlog_full + scenario->server_syn_backlog_max + 16 >=
                    scenario->flood_syns);
        /* The flood's neighbours pushed entries out of the server's ARP
         * cache (the client's among them, asked for again). */
        assert_true(sc->arp_cache_evictions > 0);
        /* The flood came while the connections worked, and lasted. */
        assert_true(sim->flood_first_us < sim->work_done_us);
        assert_true(sim->flood_first_us + US_PER_S / 2 < sim->work_done_us);
    }
    if (scenario->late_pairs) {
        /* Opened while the flood was on and the queue full; in at once,
         * every one by a cookie (its ACK, or its first data when the ACK
         * was lost). (Rejected cookies are no failure: a stray ACK of a
         * connection the server reset counts as one while cookies are
         * recent, and gets its RST as before.) */
        assert_true(sim->late_opened_us > sim->flood_first_us);
        assert_true(sim->late_opened_us <
                    sim->flood_first_us + scenario->flood_syns / scenario->flood_per_ms * US_PER_MS);
        assert_true(sim->late_accepted_us > 0);
        if (sim->late_accepted_us - sim->late_opened_us > LATE_ACCEPT_US_MAX)
            fail_msg("%s seed %llu: the late pairs took %.1f s to be accepted", scenario->name,
                     (unsigned long long)seed,
                     (double)(sim->late_accepted_us - sim->late_opened_us) / US_PER_S);
        assert_int_equal(sc->tcp_syn_cookies_accepted, scenario->late_pairs);
        assert_true(sc->tcp_syn_cookies_sent >= scenario->late_pairs);
    }
    print_message("  %s seed %llu: %.1f s virtual, frames %llu/%llu, lost %llu dup %llu "
                  "reordered %llu corrupted %llu, retransmissions %llu/%llu, probes %llu, "
                  "backlog full %llu, cookies sent %llu accepted %llu, late pairs in %.3f s, "
                  "server ARP requests %llu\n",
                  scenario->name, (unsigned long long)seed, (double)sim->now_us / US_PER_S,
                  (unsigned long long)server->frames_delivered,
                  (unsigned long long)client->frames_delivered,
                  (unsigned long long)sim->link_lost, (unsigned long long)sim->link_duplicated,
                  (unsigned long long)sim->link_reordered,
                  (unsigned long long)sim->link_corrupted,
                  (unsigned long long)sc->tcp_retransmissions,
                  (unsigned long long)cc->tcp_retransmissions,
                  (unsigned long long)cc->tcp_zero_window_probes,
                  (unsigned long long)sc->tcp_syn_backlog_full,
                  (unsigned long long)sc->tcp_syn_cookies_sent,
                  (unsigned long long)sc->tcp_syn_cookies_accepted,
                  sim->late_opened_us
                      ? (double)(sim->late_accepted_us - sim->late_opened_us) / US_PER_S
                      : 0.0,
                  (unsigned long long)sc->arp_requests_sent);
    assert_int_equal(sim->link_overflow, 0);
    sim_destroy(sim);
}

static const uint64_t seeds[] = {1, 0xc0ffee, 20261125, 77, 4242, 9, 31337, 0xdecade};
#define SEEDS (sizeof seeds / sizeof seeds[0])

static void run_seeds(const struct scenario *scenario)
{
    for (size_t i = 0; i < SEEDS; i++)
        run_scenario(scenario, seeds[i]);
}

/* ---- the scenarios ---- */

static void test_requests_clean_link(void **state)
{
    (void)state;
    const struct scenario scenario = {
        .name = "requests, clean link",
        .workload = WORKLOAD_REQUESTS,
        .pairs = 20,
        .requests_per_pair = 24,
        .request_bytes_max = 100u * 1024u,
        .link = {.delay_us = 50},
        .virtual_us_max = 3600 * US_PER_S,
    };
    run_seeds(&scenario);
}

static void test_requests_hostile_link(void **state)
{
    (void)state;
    const struct scenario scenario = {
        .name = "requests, hostile link",
        .workload = WORKLOAD_REQUESTS,
        .pairs = 20,
        .requests_per_pair = 24,
        .request_bytes_max = 100u * 1024u,
        .link = {.loss_ppm = 20000, .duplicate_ppm = 20000, .reorder_ppm = 50000,
                 .corrupt_ppm = 10000, .delay_us = 200, .reorder_max_us = 3000},
        .virtual_us_max = 3600 * US_PER_S,
    };
    run_seeds(&scenario);
}

static void test_bulk_both_ways_lossy(void **state)
{
    (void)state;
    const struct scenario scenario = {
        .name = "bulk 1 MiB both ways",
        .workload = WORKLOAD_BULK,
        .pairs = 4,
        .bulk_bytes = 1u << 20,
        .bulk_server_sends = true,
        .link = {.loss_ppm = 50000, .duplicate_ppm = 50000, .reorder_ppm = 100000,
                 .corrupt_ppm = 5000, .delay_us = 500, .reorder_max_us = 5000},
        .virtual_us_max = 3600 * US_PER_S,
    };
    run_seeds(&scenario);
}

static void test_receive_paused_then_resumed(void **state)
{
    (void)state;
    const struct scenario scenario = {
        .name = "paused receivers",
        .workload = WORKLOAD_BULK,
        .pairs = 4,
        .bulk_bytes = 768u * 1024u, /* beyond the 256 KiB window: it closes */
        .bulk_server_sends = false,
        .link = {.loss_ppm = 10000, .duplicate_ppm = 10000, .reorder_ppm = 20000,
                 .delay_us = 300, .reorder_max_us = 2000},
        .pause_every = 2,
        .pause_at_us = 1 * US_PER_S,
        .resume_at_us = 30 * US_PER_S,
        .virtual_us_max = 3600 * US_PER_S,
    };
    run_seeds(&scenario);
}

static void test_syn_flood_while_working(void **state)
{
    (void)state;
    const struct scenario scenario = {
        .name = "SYN flood",
        .workload = WORKLOAD_REQUESTS,
        .pairs = 24, /* 20 from the start, 4 opened during the flood */
        .late_pairs = 4,
        .requests_per_pair = 20,
        .request_bytes_max = 16u * 1024u,
        .request_interval_us = 100 * US_PER_MS, /* 2 s of work per connection */
        .link = {.loss_ppm = 10000, .duplicate_ppm = 10000, .reorder_ppm = 20000,
                 .corrupt_ppm = 5000, .delay_us = 200, .reorder_max_us = 2000},
        /* 4000 SYNs, 4 a millisecond, from 5 ms after the 20 are up. */
        .flood_syns = 4000,
        .flood_delay_us = 5 * US_PER_MS,
        .flood_per_ms = 4,
        .server_syn_backlog_max = 64,
        .virtual_us_max = 3600 * US_PER_S,
    };
    run_seeds(&scenario);
}

int main(void)
{
    const char *trace_path = getenv("NETSTACK_PAIR_TRACE");
    if (trace_path && !(trace_file = fopen(trace_path, "w")))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_clean_link),
        cmocka_unit_test(test_requests_hostile_link),
        cmocka_unit_test(test_bulk_both_ways_lossy),
        cmocka_unit_test(test_receive_paused_then_resumed),
        cmocka_unit_test(test_syn_flood_while_working),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (trace_file)
        fclose(trace_file);
    return failed;
}
