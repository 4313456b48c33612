/* TCP (tcp.h): the connection table, the state machine of a passive opener
 * and of an active one (RFC 9293; SYN_SENT for netstack_connect, after
 * which both are alike), RFC 6298 retransmission timers, NewReno
 * congestion control (RFC 5681, RFC 6582, restart after idle), RFC 5961's
 * defences (challenge ACKs, rate-limited), delayed ACKs, zero-window
 * probes, keepalive and TIME_WAIT.
 *
 * Memory: one pool of connection structures sized at creation
 * (connections_max + syn_backlog_max + time_wait_max), each class bounded by
 * its own limit, so the pool never runs dry. Buffers are allocated only when
 * needed: the send ring starts small and doubles up to
 * send_buffer_bytes_max; the receive ring (bytes held while paused, and
 * out-of-order bytes placed where they belong) exists only while it holds
 * something.
 *
 * Safety of callbacks: `accepted`, `received` and `closed` run only from
 * tcp_input and tcp_poll. tcp_send / tcp_close / tcp_set_receive_paused only
 * mark the connection and put it on the pending list; tcp_poll does the
 * work. A connection that must go is marked `dead` and freed by the
 * top-level function that dispatched it, after every callback returned.
 */
#include "dataplane/netstack/tcp.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- limits and timers (Linux's values where it has one) ---- */

#define TCP_NEVER_US UINT64_MAX
#define TCP_US_PER_MS 1000u
#define TCP_MSS_DEFAULT 536u              /* RFC 9293: no MSS option */
#define TCP_HEADERS_BYTES 40u              /* IPv4 + TCP without options */
#define TCP_WINDOW_SCALE_MAX 14u           /* RFC 7323 */
#define TCP_WINDOW_FIELD_MAX 65535u
#define TCP_SYNACK_TIMEOUT_US 1000000u     /* first SYN-ACK resend after 1 s */
#define TCP_SYNACK_RETRIES_MAX 5u          /* tcp_synack_retries */
#define TCP_SYN_RETRIES_MAX 6u             /* tcp_syn_retries: gives up after 127 s */
#define TCP_RTO_INITIAL_US 1000000u        /* RFC 6298 */
#define TCP_RTO_MIN_US 200000u             /* Linux's TCP_RTO_MIN */
#define TCP_RTO_MAX_US 120000000u          /* Linux's TCP_RTO_MAX */
#define TCP_CLOCK_GRANULARITY_US 1000u     /* RFC 6298's G */
#define TCP_BACKOFF_SHIFT_MAX 16u          /* 200 ms << 16 is past RTO_MAX already */
#define TCP_FIN_WAIT_2_TIMEOUT_US 60000000u /* tcp_fin_timeout */
#define TCP_INITIAL_WINDOW_SEGMENTS 10u    /* RFC 6928 */
#define TCP_US_PER_S 1000000u
/* RFC 5961 7: challenge ACKs per second, per table (Linux's
 * tcp_challenge_ack_limit before it became per socket). */
#define TCP_CHALLENGE_ACKS_PER_SECOND 1000u
/* Linux's tcp_invalid_ratelimit: per connection, at most one ACK in this
 * interval in reply to out-of-window segments without data. */
#define TCP_INVALID_ACK_INTERVAL_US 500000u
#define TCP_DUPACK_THRESHOLD 3u            /* RFC 5681 fast retransmit */
#define TCP_CWND_MAX_BYTES (1u << 30)      /* keeps cwnd arithmetic far from overflow */
#define TCP_SEND_RING_START_BYTES 4096u    /* first allocation of a send ring */
#define TCP_RECEIVE_RING_START_BYTES 8192u /* first allocation of a receive ring */
/* Bounds on loops whose progress is otherwise guaranteed; reaching one is a
 * bug (asserted) or a pathological peer (the work resumes next poll). */
#define TCP_TRANSMIT_SEGMENTS_MAX 4096u
#define TCP_PENDING_PASSES_MAX 4u

enum tcp_state {
    TCP_SYN_SENT,        /* active open: our SYN out, waiting for the SYN-ACK */
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_CLOSE_WAIT,
    TCP_LAST_ACK,
    TCP_FIN_WAIT_1,
    TCP_FIN_WAIT_2,
    TCP_CLOSING,
    TCP_TIME_WAIT,
};

/* Which pool limit a connection counts against. */
enum tcp_class {
    TCP_CLASS_NONE,
    TCP_CLASS_SYN,       /* syn_backlog_max */
    TCP_CLASS_CONNECTING, /* connections_max, with ACTIVE: SYN_SENT */
    TCP_CLASS_ACTIVE,    /* connections_max */
    TCP_CLASS_TIME_WAIT, /* time_wait_max */
};

/* A ring of bytes; `head` is the first byte held. */
struct byte_ring {
    uint8_t *bytes;
    uint32_t capacity;
    uint32_t head;
    uint32_t length;
};

/* Out-of-order bytes held in the receive ring: [start, end) in sequence
 * space, sorted, disjoint and not adjacent. */
struct sequence_range {
    uint32_t start;
    uint32_t end;
};

struct netstack_connection {
    uint32_t remote_ipv4;
    uint32_t local_ipv4;
    uint16_t remote_port;
    uint16_t local_port;
    uint8_t state;       /* enum tcp_state */
    uint8_t pool_class;  /* enum tcp_class */
    bool in_use;
    bool dead;           /* free at the next safe point */
    bool syn_unsent;     /* SYN_SENT: our last SYN did not leave (no route yet) */

    /* links */
    struct netstack_connection *hash_next;
    struct netstack_connection *pending_prev, *pending_next;
    bool on_pending;
    struct netstack_connection *time_wait_prev, *time_wait_next;
    uint32_t heap_index; /* UINT32_MAX: not in the timer heap */
    uint64_t deadline_us;

    /* the shard's view */
    void *user;
    bool shard_holds;     /* accepted and `closed` not yet called */
    bool close_requested; /* tcp_close: closed(LOCAL) at the next poll */
    bool send_failed;     /* tcp_send overflowed: RST + closed(SEND_FULL) */
    bool paused;

    /* send side */
    uint32_t iss;
    uint32_t snd_una;
    uint32_t snd_nxt;
    uint32_t snd_max;     /* highest sequence sent + 1 (snd_nxt rewinds on RTO) */
    uint32_t snd_wnd;     /* scaled */
    uint32_t max_snd_wnd;
    uint32_t snd_wl1;
    uint32_t snd_wl2;
    uint8_t snd_shift;
    uint8_t rcv_shift;
    bool window_scaling;  /* both SYNs carried the option */
    uint16_t send_mss;
    bool fin_queued;      /* our FIN follows the send ring's bytes */
    struct byte_ring send;
    uint32_t cwnd;
    uint32_t ssthresh;
    uint32_t bytes_acked_avoidance; /* congestion avoidance accumulator */
    uint32_t dupacks;
    bool in_recovery;
    bool recover_armed;   /* recover matters until an ACK passes it (no wrap) */
    uint32_t recover;     /* RFC 6582: highest sequence sent when loss was seen */

    /* RTT (RFC 6298), one timed segment at a time */
    bool rtt_timing;
    uint32_t rtt_seq;
    uint64_t rtt_sent_us;
    bool have_rtt;
    uint64_t srtt_us;
    uint64_t rttvar_us;
    uint64_t rto_base_us;
    uint32_t backoff_shift;
    uint32_t retransmit_count;  /* consecutive timeouts */
    uint32_t persist_probes;    /* unanswered zero-window probes */
    bool invalid_ack_sent;      /* invalid_ack_sent_us is meaningful */
    uint64_t invalid_ack_sent_us; /* last ACK to an out-of-window segment */
    bool data_sent;             /* data_sent_us is meaningful */
    uint64_t data_sent_us;      /* last data segment sent (RFC 5681 4.1's idle) */
    uint32_t keepalive_probes;  /* unanswered keepalive probes */
    uint32_t synack_retries;    /* SYN-ACK resends, or SYN resends in SYN_SENT */
    uint64_t synack_sent_us;    /* when the first SYN-ACK (or SYN) went out */

    /* timers (TCP_NEVER_US when off) */
    uint64_t retransmit_at_us;  /* SYN-ACK or RTO */
    uint64_t persist_at_us;
    uint64_t delayed_ack_at_us;
    uint64_t keepalive_at_us;
    uint64_t state_timer_at_us; /* TIME_WAIT end, FIN_WAIT_2 give-up */

    /* receive side */
    uint32_t irs;
    uint32_t rcv_nxt;
    uint32_t rcv_adv;           /* right edge of the window we advertised */
    uint32_t rcv_mss;           /* largest segment seen: "full-sized" */
    uint32_t ack_pending_bytes; /* received since our last ACK */
    bool ack_now;
    struct byte_ring receive;   /* capacity = the window maximum when allocated */
    struct sequence_range *ooo;
    uint32_t ooo_count;
    bool fin_received;          /* in order: rcv_nxt counts it */
    bool fin_out_of_order;
    uint32_t fin_out_of_order_seq;
};

/* Cookies remembered as spent (a power of two; a collision forgets the
 * older one, which then could open a ghost again: rare, and bounded by the
 * session timeout). */
#define TCP_SPENT_COOKIES 1024u

struct tcp_spent_cookie {
    uint32_t cookie;
    uint32_t remote_ipv4;
    uint16_t remote_port;
    bool used;
};

struct tcp_table {
    struct netstack_config config;
    struct tcp_output output;
    struct netstack_callbacks callbacks;
    void *context;
    struct netstack_counters *counters;

    uint16_t our_mss;
    uint8_t our_shift;            /* used when the peer offers scaling */
    uint32_t receive_window_max;  /* receive_buffer_bytes_max */

    struct netstack_connection *pool;
    uint32_t pool_slots;
    uint32_t pool_high_water;     /* slots below this have been touched */
    struct netstack_connection *free_list; /* linked through hash_next */
    uint32_t count_syn;
    uint32_t count_connecting;
    uint32_t syns_unsent;         /* connections with syn_unsent */
    uint32_t count_active;
    uint32_t count_time_wait;

    struct netstack_connection **buckets;
    uint32_t bucket_mask;

    struct netstack_connection **heap;
    uint32_t heap_count;

    struct netstack_connection *pending_head, *pending_tail;
    struct netstack_connection *time_wait_head, *time_wait_tail; /* oldest first */

    uint64_t challenge_second_start_us; /* RFC 5961 7's one-second window */
    uint32_t challenge_acks_this_second;

    /* SYN cookies: an ACK is checked as a cookie only while one sent lately
     * can still be answered (Linux's tcp_synq_no_recent_overflow): with no
     * flood, blind guesses at the 25-bit check get no chance at all. */
    bool cookie_sent;             /* cookie_sent_us is meaningful */
    uint64_t cookie_sent_us;      /* the last cookie SYN-ACK that left */
    /* Cookies that opened a connection, direct-mapped by cookie value: a
     * cookie opens one connection. Without this, the handshake's ACK or
     * first data segment arriving again after that connection is gone (a
     * duplicate, or reordered behind the client's RST) would open a ghost
     * that only the session timeout closes. */
    struct tcp_spent_cookie spent_cookies[TCP_SPENT_COOKIES];
};

/* ---- sequence numbers ---- */

static bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---- SipHash-2-4 (RFC 6528's keyed hash for initial sequence numbers) ---- */

static uint64_t rotate_left_64(uint64_t value, unsigned bits)
{
    return (value << bits) | (value >> (64u - bits));
}

static uint64_t load_le64(const uint8_t *bytes)
{
    uint64_t value = 0;
    for (unsigned i = 0; i < 8; i++)
        value |= (uint64_t)bytes[i] << (8u * i);
    return value;
}

#define SIPHASH_ROUND(v0, v1, v2, v3)                                                   \
    do {                                                                                \
        v0 += v1; v1 = rotate_left_64(v1, 13); v1 ^= v0; v0 = rotate_left_64(v0, 32);   \
        v2 += v3; v3 = rotate_left_64(v3, 16); v3 ^= v2;                                \
        v0 += v3; v3 = rotate_left_64(v3, 21); v3 ^= v0;                                \
        v2 += v1; v1 = rotate_left_64(v1, 17); v1 ^= v2; v2 = rotate_left_64(v2, 32);   \
    } while (0)

static uint64_t siphash24(const uint8_t key[16], const uint8_t *message, size_t size)
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull;
    uint64_t v3 = k1 ^ 0x7465646279746573ull;
    size_t whole = size - size % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(message + i);
        v3 ^= m;
        SIPHASH_ROUND(v0, v1, v2, v3);
        SIPHASH_ROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(size & 0xff) << 56;
    for (size_t i = 0; i < size % 8; i++)
        last |= (uint64_t)message[whole + i] << (8u * i);
    v3 ^= last;
    SIPHASH_ROUND(v0, v1, v2, v3);
    SIPHASH_ROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (unsigned i = 0; i < 4; i++)
        SIPHASH_ROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 microsecond clock. */
static uint32_t initial_sequence(const struct tcp_table *table, const struct tcp_segment *segment,
                                 uint64_t now_us)
{
    uint8_t tuple[12];
    uint32_t words[3] = {segment->local_ipv4, segment->remote_ipv4,
                         ((uint32_t)segment->local_port << 16) | segment->remote_port};
    for (unsigned w = 0; w < 3; w++)
        for (unsigned b = 0; b < 4; b++)
            tuple[w * 4 + b] = (uint8_t)(words[w] >> (8u * b));
    uint64_t hash = siphash24(table->config.isn_secret, tuple, sizeof tuple);
    return (uint32_t)hash + (uint32_t)(now_us / 4u);
}

/* ---- SYN cookies (RFC 4987 3.6, as Linux's tcp_syncookies = 1) ----
 *
 * When the SYN queue is full, a SYN is answered with a SYN-ACK whose ISN
 * encodes what the handshake needs, and no state is kept; the ACK that
 * returns it (ack - 1 = the cookie) opens the connection directly. The
 * cookie's 32 bits:
 *
 *   31..27  counter mod 32: the 64 s period it was made in (Linux's unit)
 *   26..2   25 bits of SipHash-2-4 (isn_secret) over a domain tag (so it
 *           is independent of the ISN hash), the 4-tuple, the client's ISN,
 *           the full counter and the MSS index
 *    1..0   index into cookie_mss_table: the largest MSS not above the
 *           peer's (536 when it offers no option, and, as in Linux, also
 *           when it offers less)
 *
 * A cookie is valid in the period it was made and the next (it lives 64 to
 * 128 s). The client's ISN is in the hash, so only a segment at exactly
 * ISN + 1 is accepted: a later segment (the ACK and the first data lost)
 * cannot open the connection past bytes never seen; it gets a RST, as in
 * Linux. What the cookie cannot carry is lost: window scaling (it would
 * need timestamps, which we do not implement), so the SYN-ACK offers none
 * and the connection runs unscaled both ways (at most a 64 KiB window);
 * SACK and timestamps we never offer anyway; and the SYN-ACK is never
 * retransmitted (the client's SYN retransmission asks again). */
#define TCP_COOKIE_PERIOD_US (64ull * TCP_US_PER_S)
#define TCP_COOKIE_PERIODS_VALID 2u        /* the current and the previous */
#define TCP_COOKIE_COUNTER_BITS 5u
#define TCP_COOKIE_MSS_BITS 2u
#define TCP_COOKIE_HASH_BITS (32u - TCP_COOKIE_COUNTER_BITS - TCP_COOKIE_MSS_BITS)
#define TCP_COOKIE_COUNTER_SHIFT (32u - TCP_COOKIE_COUNTER_BITS)
#define TCP_COOKIE_COUNTER_MASK ((1u << TCP_COOKIE_COUNTER_BITS) - 1u)
#define TCP_COOKIE_MSS_MASK ((1u << TCP_COOKIE_MSS_BITS) - 1u)
#define TCP_COOKIE_HASH_MASK ((1u << TCP_COOKIE_HASH_BITS) - 1u)
#define TCP_COOKIE_MESSAGE_BYTES 33u       /* tag 8, tuple 12, ISN 4, counter 8, MSS index 1 */

/* Common path MSS values (Linux's table, with 1220: IPv6's minimum MTU
 * tunnelled), ascending. */
static const uint16_t cookie_mss_table[1u << TCP_COOKIE_MSS_BITS] = {536, 1220, 1440, 1460};

static_assert(TCP_COOKIE_PERIODS_VALID <= (1u << TCP_COOKIE_COUNTER_BITS),
              "the counter bits tell every valid period apart");

static uint32_t cookie_mss_index(uint16_t peer_mss)
{
    uint32_t index = TCP_COOKIE_MSS_MASK;
    while (index > 0 && cookie_mss_table[index] > peer_mss)
        index--;
    return index;
}

static void put_le(uint8_t *bytes, uint64_t value, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        bytes[i] = (uint8_t)(value >> (8u * i));
}

/* The cookie for the SYN's 4-tuple and ISN, made in period `counter`. */
static uint32_t cookie_make(const struct tcp_table *table, const struct tcp_segment *segment,
                            uint32_t client_isn, uint64_t counter, uint32_t mss_index)
{
    assert(mss_index <= TCP_COOKIE_MSS_MASK);
    static const uint8_t domain_tag[8] = {'s', 'y', 'n', 'c', 'o', 'o', 'k', 1};
    uint8_t message[TCP_COOKIE_MESSAGE_BYTES];
    memcpy(message, domain_tag, sizeof domain_tag);
    put_le(message + 8, segment->local_ipv4, 4);
    put_le(message + 12, segment->remote_ipv4, 4);
    put_le(message + 16, ((uint32_t)segment->local_port << 16) | segment->remote_port, 4);
    put_le(message + 20, client_isn, 4);
    put_le(message + 24, counter, 8);
    message[32] = (uint8_t)mss_index;
    uint64_t hash = siphash24(table->config.isn_secret, message, sizeof message);
    return ((uint32_t)(counter & TCP_COOKIE_COUNTER_MASK) << TCP_COOKIE_COUNTER_SHIFT) |
           (((uint32_t)hash & TCP_COOKIE_HASH_MASK) << TCP_COOKIE_MSS_BITS) | mss_index;
}

/* True when the ACK returns a cookie we made for its 4-tuple, with
 * seq - 1 as the client's ISN, in this period or the previous one; then
 * *mss_index says which MSS the SYN offered. */
static bool cookie_valid(const struct tcp_table *table, const struct tcp_segment *segment,
                         uint64_t now_us, uint32_t *mss_index)
{
    uint32_t cookie = segment->ack - 1;
    uint64_t counter_now = now_us / TCP_COOKIE_PERIOD_US;
    uint32_t counter_low = cookie >> TCP_COOKIE_COUNTER_SHIFT;
    /* How many periods ago, modulo 32 (wraps of the low bits cancel). */
    uint32_t age = (uint32_t)((counter_now - counter_low) & TCP_COOKIE_COUNTER_MASK);
    if (age >= TCP_COOKIE_PERIODS_VALID || age > counter_now)
        return false;
    *mss_index = cookie & TCP_COOKIE_MSS_MASK;
    return cookie == cookie_make(table, segment, segment->seq - 1, counter_now - age, *mss_index);
}

/* Cookies are looked at only while one sent can still come back. */
static bool cookies_recently_sent(const struct tcp_table *table, uint64_t now_us)
{
    return table->cookie_sent &&
           now_us - table->cookie_sent_us < TCP_COOKIE_PERIODS_VALID * TCP_COOKIE_PERIOD_US;
}

/* ---- byte rings ---- */

static void ring_free(struct byte_ring *ring)
{
    free(ring->bytes);
    memset(ring, 0, sizeof *ring);
}

/* Grows to hold `needed` bytes, doubling, never past `capacity_max`. */
static bool ring_reserve(struct byte_ring *ring, uint32_t needed, uint32_t capacity_start,
                         uint32_t capacity_max)
{
    if (needed <= ring->capacity)
        return true;
    if (needed > capacity_max)
        return false;
    uint32_t capacity = ring->capacity ? ring->capacity : min_u32(capacity_start, capacity_max);
    while (capacity < needed)
        capacity = capacity > capacity_max / 2 ? capacity_max : capacity * 2;
    uint8_t *bytes = malloc(capacity);
    if (!bytes)
        return false;
    /* Linearise the whole old ring from the head: held bytes and any
     * out-of-order bytes past them keep their offsets. */
    if (ring->capacity) {
        uint32_t first = ring->capacity - ring->head;
        memcpy(bytes, ring->bytes + ring->head, first);
        memcpy(bytes + first, ring->bytes, ring->head);
    }
    free(ring->bytes);
    ring->bytes = bytes;
    ring->capacity = capacity;
    ring->head = 0;
    return true;
}

/* Copies `size` bytes to offset `offset` from the head (may be past length:
 * out-of-order bytes). The caller made sure it fits. */
static void ring_write_at(struct byte_ring *ring, uint32_t offset, const uint8_t *data,
                          uint32_t size)
{
    assert((uint64_t)offset + size <= ring->capacity);
    uint32_t position = (ring->head + offset) % ring->capacity;
    uint32_t first = min_u32(size, ring->capacity - position);
    memcpy(ring->bytes + position, data, first);
    memcpy(ring->bytes, data + first, size - first);
}

/* The head moves even when the ring empties: out-of-order bytes beyond the
 * end are placed relative to it. */
static void ring_consume(struct byte_ring *ring, uint32_t size)
{
    assert(size <= ring->length);
    ring->length -= size;
    if (ring->capacity)
        ring->head = (ring->head + size) % ring->capacity;
}

/* The bytes at [offset, offset + size) as up to two contiguous parts. */
static void ring_parts(const struct byte_ring *ring, uint32_t offset, uint32_t size,
                       const uint8_t *parts[2], uint32_t part_bytes[2])
{
    parts[0] = parts[1] = NULL;
    part_bytes[0] = part_bytes[1] = 0;
    if (!size)
        return;
    assert((uint64_t)offset + size <= ring->length);
    uint32_t position = (ring->head + offset) % ring->capacity;
    part_bytes[0] = min_u32(size, ring->capacity - position);
    parts[0] = ring->bytes + position;
    if (part_bytes[0] < size) {
        parts[1] = ring->bytes;
        part_bytes[1] = size - part_bytes[0];
    }
}

/* ---- the pool, the hash table, the lists ---- */

static uint32_t tuple_hash(uint32_t remote_ipv4, uint16_t remote_port, uint32_t local_ipv4,
                           uint16_t local_port)
{
    uint64_t key = ((uint64_t)remote_ipv4 << 32) ^ ((uint64_t)remote_port << 16) ^ local_port ^
                   ((uint64_t)local_ipv4 * 0x9e3779b97f4a7c15ull);
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (uint32_t)key;
}

static struct netstack_connection **bucket_of(struct tcp_table *table, uint32_t remote_ipv4,
                                              uint16_t remote_port, uint32_t local_ipv4,
                                              uint16_t local_port)
{
    return &table->buckets[tuple_hash(remote_ipv4, remote_port, local_ipv4, local_port) &
                           table->bucket_mask];
}

static struct netstack_connection *lookup(struct tcp_table *table,
                                          const struct tcp_segment *segment)
{
    struct netstack_connection *c = *bucket_of(table, segment->remote_ipv4, segment->remote_port,
                                               segment->local_ipv4, segment->local_port);
    for (; c; c = c->hash_next)
        if (c->remote_ipv4 == segment->remote_ipv4 && c->remote_port == segment->remote_port &&
            c->local_ipv4 == segment->local_ipv4 && c->local_port == segment->local_port)
            return c;
    return NULL;
}

static void pending_remove(struct tcp_table *table, struct netstack_connection *c)
{
    if (!c->on_pending)
        return;
    if (c->pending_prev)
        c->pending_prev->pending_next = c->pending_next;
    else
        table->pending_head = c->pending_next;
    if (c->pending_next)
        c->pending_next->pending_prev = c->pending_prev;
    else
        table->pending_tail = c->pending_prev;
    c->pending_prev = c->pending_next = NULL;
    c->on_pending = false;
}

static void pending_add(struct tcp_table *table, struct netstack_connection *c)
{
    if (c->on_pending)
        return;
    c->on_pending = true;
    c->pending_next = NULL;
    c->pending_prev = table->pending_tail;
    if (table->pending_tail)
        table->pending_tail->pending_next = c;
    else
        table->pending_head = c;
    table->pending_tail = c;
}

static void time_wait_unlink(struct tcp_table *table, struct netstack_connection *c)
{
    if (c->time_wait_prev)
        c->time_wait_prev->time_wait_next = c->time_wait_next;
    else if (table->time_wait_head == c)
        table->time_wait_head = c->time_wait_next;
    if (c->time_wait_next)
        c->time_wait_next->time_wait_prev = c->time_wait_prev;
    else if (table->time_wait_tail == c)
        table->time_wait_tail = c->time_wait_prev;
    c->time_wait_prev = c->time_wait_next = NULL;
}

/* ---- the timer heap (a binary min-heap on deadline_us) ---- */

static void heap_place(struct tcp_table *table, uint32_t index, struct netstack_connection *c)
{
    table->heap[index] = c;
    c->heap_index = index;
}

static void heap_sift_up(struct tcp_table *table, uint32_t index)
{
    struct netstack_connection *c = table->heap[index];
    while (index > 0) {
        uint32_t parent = (index - 1) / 2;
        if (table->heap[parent]->deadline_us <= c->deadline_us)
            break;
        heap_place(table, index, table->heap[parent]);
        index = parent;
    }
    heap_place(table, index, c);
}

static void heap_sift_down(struct tcp_table *table, uint32_t index)
{
    struct netstack_connection *c = table->heap[index];
    for (;;) {
        uint32_t child = 2 * index + 1;
        if (child >= table->heap_count)
            break;
        if (child + 1 < table->heap_count &&
            table->heap[child + 1]->deadline_us < table->heap[child]->deadline_us)
            child++;
        if (table->heap[child]->deadline_us >= c->deadline_us)
            break;
        heap_place(table, index, table->heap[child]);
        index = child;
    }
    heap_place(table, index, c);
}

static void heap_remove(struct tcp_table *table, struct netstack_connection *c)
{
    if (c->heap_index == UINT32_MAX)
        return;
    uint32_t index = c->heap_index;
    assert(index < table->heap_count && table->heap[index] == c);
    c->heap_index = UINT32_MAX;
    table->heap_count--;
    if (index == table->heap_count)
        return;
    struct netstack_connection *moved = table->heap[table->heap_count];
    heap_place(table, index, moved);
    heap_sift_up(table, index);
    heap_sift_down(table, moved->heap_index);
}

static bool keepalive_applies(const struct tcp_table *table, const struct netstack_connection *c)
{
    return table->config.keepalive_idle_ms > 0 &&
           (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT);
}

/* Re-keys the connection in the heap after any of its timers changed. */
static void timers_changed(struct tcp_table *table, struct netstack_connection *c)
{
    uint64_t deadline = min_u64(min_u64(c->retransmit_at_us, c->persist_at_us),
                                min_u64(c->delayed_ack_at_us, c->state_timer_at_us));
    if (keepalive_applies(table, c))
        deadline = min_u64(deadline, c->keepalive_at_us);
    if (deadline == TCP_NEVER_US) {
        heap_remove(table, c);
        c->deadline_us = deadline;
        return;
    }
    if (c->heap_index == UINT32_MAX) {
        assert(table->heap_count < table->pool_slots);
        c->deadline_us = deadline;
        heap_place(table, table->heap_count++, c);
        heap_sift_up(table, c->heap_index);
        return;
    }
    uint64_t old = c->deadline_us;
    c->deadline_us = deadline;
    if (deadline < old)
        heap_sift_up(table, c->heap_index);
    else if (deadline > old)
        heap_sift_down(table, c->heap_index);
}

static void class_leave(struct tcp_table *table, struct netstack_connection *c)
{
    switch (c->pool_class) {
    case TCP_CLASS_SYN:
        assert(table->count_syn > 0);
        table->count_syn--;
        break;
    case TCP_CLASS_CONNECTING:
        assert(table->count_connecting > 0);
        table->count_connecting--;
        if (c->syn_unsent) {
            assert(table->syns_unsent > 0);
            table->syns_unsent--;
            c->syn_unsent = false;
        }
        break;
    case TCP_CLASS_ACTIVE:
        assert(table->count_active > 0);
        table->count_active--;
        table->counters->tcp_connections_established = table->count_active;
        break;
    case TCP_CLASS_TIME_WAIT:
        assert(table->count_time_wait > 0);
        table->count_time_wait--;
        time_wait_unlink(table, c);
        break;
    default:
        break;
    }
    c->pool_class = TCP_CLASS_NONE;
}

static void receive_buffers_free(struct netstack_connection *c)
{
    ring_free(&c->receive);
    free(c->ooo);
    c->ooo = NULL;
    c->ooo_count = 0;
}

/* Frees at once: only from the top-level functions (or for a connection no
 * one up the stack holds, such as a recycled TIME_WAIT). */
static void connection_free(struct tcp_table *table, struct netstack_connection *c)
{
    assert(c->in_use);
    assert(!c->shard_holds);
    struct netstack_connection **link = bucket_of(table, c->remote_ipv4, c->remote_port,
                                                  c->local_ipv4, c->local_port);
    while (*link != c) {
        assert(*link);
        link = &(*link)->hash_next;
    }
    *link = c->hash_next;
    class_leave(table, c);
    pending_remove(table, c);
    heap_remove(table, c);
    ring_free(&c->send);
    receive_buffers_free(c);
    memset(c, 0, sizeof *c);
    c->heap_index = UINT32_MAX;
    c->hash_next = table->free_list;
    table->free_list = c;
}

static struct netstack_connection *connection_allocate(struct tcp_table *table,
                                                       const struct tcp_segment *segment)
{
    struct netstack_connection *c = table->free_list;
    if (c) {
        table->free_list = c->hash_next;
    } else {
        /* The class limits sum to pool_slots, so a slot is always left. */
        assert(table->pool_high_water < table->pool_slots);
        c = &table->pool[table->pool_high_water++];
    }
    memset(c, 0, sizeof *c);
    c->in_use = true;
    c->heap_index = UINT32_MAX;
    c->remote_ipv4 = segment->remote_ipv4;
    c->local_ipv4 = segment->local_ipv4;
    c->remote_port = segment->remote_port;
    c->local_port = segment->local_port;
    c->retransmit_at_us = c->persist_at_us = c->delayed_ack_at_us = TCP_NEVER_US;
    c->keepalive_at_us = c->state_timer_at_us = c->deadline_us = TCP_NEVER_US;
    struct netstack_connection **bucket = bucket_of(table, c->remote_ipv4, c->remote_port,
                                                    c->local_ipv4, c->local_port);
    c->hash_next = *bucket;
    *bucket = c;
    return c;
}

/* ---- output ---- */

/* What we advertised and have not yet received (0 once a FIN took the
 * last byte of it). */
static uint32_t receive_window(const struct netstack_connection *c)
{
    return seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
}

static uint32_t receive_window_max(const struct tcp_table *table,
                                   const struct netstack_connection *c)
{
    return min_u32(table->receive_window_max, TCP_WINDOW_FIELD_MAX << c->rcv_shift);
}

/* The window field for a segment we send now. Receiver-side silly window
 * avoidance (RFC 9293 3.8.6.2.2): the right edge moves only by at least
 * min(half the buffer, one MSS), and never moves left. */
static uint16_t window_to_advertise(const struct tcp_table *table, struct netstack_connection *c)
{
    uint32_t maximum = receive_window_max(table, c);
    assert(c->receive.length <= maximum);
    uint32_t space = maximum - c->receive.length;
    space = (space >> c->rcv_shift) << c->rcv_shift;
    uint32_t edge = c->rcv_nxt + space;
    uint32_t threshold = min_u32(maximum / 2, table->our_mss);
    if (seq_lt(edge, c->rcv_adv) || (uint32_t)(edge - c->rcv_adv) < threshold)
        edge = seq_lt(c->rcv_adv, c->rcv_nxt) ? c->rcv_nxt : c->rcv_adv;
    c->rcv_adv = edge;
    uint32_t field = (edge - c->rcv_nxt) >> c->rcv_shift;
    return (uint16_t)min_u32(field, TCP_WINDOW_FIELD_MAX);
}

static void header_for(const struct netstack_connection *c, struct tcp_segment *header)
{
    memset(header, 0, sizeof *header);
    header->remote_ipv4 = c->remote_ipv4;
    header->local_ipv4 = c->local_ipv4;
    header->remote_port = c->remote_port;
    header->local_port = c->local_port;
}

static void ack_sent(struct netstack_connection *c)
{
    c->ack_pending_bytes = 0;
    c->ack_now = false;
    c->delayed_ack_at_us = TCP_NEVER_US;
}

/* False when the segment did not leave (no frame buffer, no route). */
static bool output_segment(struct tcp_table *table, struct tcp_segment_out *out,
                           uint32_t wire_segments)
{
    bool sent = table->output.segment(table->output.context, out);
    if (sent)
        table->counters->tcp_segments_sent += wire_segments;
    if (out->header.flags & TCP_FLAG_RST)
        table->counters->tcp_resets_sent++;
    return sent;
}

/* A segment of the connection: ACK always (we are past LISTEN), carrying
 * send ring bytes [offset, offset + size). */
static void emit(struct tcp_table *table, struct netstack_connection *c, uint32_t seq,
                 uint8_t flags, uint32_t offset, uint32_t size, uint16_t tso_segment_bytes)
{
    struct tcp_segment_out out;
    memset(&out, 0, sizeof out);
    header_for(c, &out.header);
    out.header.seq = seq;
    out.header.ack = c->rcv_nxt;
    out.header.flags = (uint8_t)(flags | TCP_FLAG_ACK);
    out.header.window = window_to_advertise(table, c);
    ring_parts(&c->send, offset, size, out.parts, out.part_bytes);
    out.tso_segment_bytes = tso_segment_bytes;
    uint32_t wire_segments = tso_segment_bytes ? (size + tso_segment_bytes - 1) / tso_segment_bytes
                                               : 1;
    ack_sent(c);
    output_segment(table, &out, wire_segments);
}

/* A pure ACK carries snd_max, not snd_nxt: after a timeout snd_nxt is
 * rewound to resend, and an ACK numbered there is old to the peer, which
 * answers it with its own ACK; with both ends rewound each answer is old to
 * the other, an endless ACK war (BSD's tcp_output does the same). */
static void send_ack(struct tcp_table *table, struct netstack_connection *c)
{
    emit(table, c, c->snd_max, 0, 0, 0, 0);
}

/* A probe the peer must answer with an ACK: an old sequence number, no
 * data (Linux's zero-window probe and keepalive). */
static void send_probe(struct tcp_table *table, struct netstack_connection *c)
{
    emit(table, c, c->snd_una - 1, 0, 0, 0, 0);
}

static void send_reset(struct tcp_table *table, struct netstack_connection *c)
{
    emit(table, c, c->snd_max, TCP_FLAG_RST, 0, 0, 0);
}

static void send_synack(struct tcp_table *table, struct netstack_connection *c, uint64_t now_us)
{
    struct tcp_segment_out out;
    memset(&out, 0, sizeof out);
    header_for(c, &out.header);
    out.header.seq = c->iss;
    out.header.ack = c->rcv_nxt;
    out.header.flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
    /* RFC 7323: the window of a SYN segment is never scaled. */
    uint32_t window = min_u32(receive_window_max(table, c), TCP_WINDOW_FIELD_MAX);
    out.header.window = (uint16_t)window;
    c->rcv_adv = c->rcv_nxt + window;
    out.header.mss = table->our_mss;
    out.header.has_window_scale = c->window_scaling;
    out.header.window_scale = c->rcv_shift;
    c->synack_sent_us = now_us;
    ack_sent(c);
    output_segment(table, &out, 1);
}

/* Our SYN (active open): MSS and window scale offered (the scale is used
 * only if the SYN-ACK carries the option too, RFC 7323); no SACK or
 * timestamps, which we do not implement. */
static void send_syn(struct tcp_table *table, struct netstack_connection *c, uint64_t now_us)
{
    assert(c->state == TCP_SYN_SENT);
    struct tcp_segment_out out;
    memset(&out, 0, sizeof out);
    header_for(c, &out.header);
    out.header.seq = c->iss;
    out.header.flags = TCP_FLAG_SYN;
    /* RFC 7323: the window of a SYN segment is never scaled. */
    out.header.window = (uint16_t)min_u32(receive_window_max(table, c), TCP_WINDOW_FIELD_MAX);
    out.header.mss = table->our_mss;
    out.header.has_window_scale = true;
    out.header.window_scale = table->our_shift;
    bool sent = output_segment(table, &out, 1);
    /* Not sent (most often: the peer's MAC is being asked by ARP): resent
     * as soon as a neighbour is resolved (tcp_resend_unsent_syns), not a
     * whole RTO later. */
    if (sent && c->syn_unsent) {
        assert(table->syns_unsent > 0);
        table->syns_unsent--;
    } else if (!sent && !c->syn_unsent) {
        table->syns_unsent++;
    }
    c->syn_unsent = !sent;
    if (sent && c->synack_retries == 0)
        c->synack_sent_us = now_us; /* the RTT sample's start: when it really left */
}

/* RFC 9293: the reset for a segment that has no connection. */
static void send_reset_for_segment(struct tcp_table *table, const struct tcp_segment *segment)
{
    if (segment->flags & TCP_FLAG_RST)
        return;
    struct tcp_segment_out out;
    memset(&out, 0, sizeof out);
    out.header.remote_ipv4 = segment->remote_ipv4;
    out.header.local_ipv4 = segment->local_ipv4;
    out.header.remote_port = segment->remote_port;
    out.header.local_port = segment->local_port;
    if (segment->flags & TCP_FLAG_ACK) {
        out.header.seq = segment->ack;
        out.header.flags = TCP_FLAG_RST;
    } else {
        uint32_t length = segment->payload_bytes + ((segment->flags & TCP_FLAG_SYN) ? 1u : 0u) +
                          ((segment->flags & TCP_FLAG_FIN) ? 1u : 0u);
        out.header.seq = 0;
        out.header.ack = segment->seq + length;
        out.header.flags = TCP_FLAG_RST | TCP_FLAG_ACK;
    }
    output_segment(table, &out, 1);
}

/* The window a cookie SYN-ACK advertises: unscaled (no window scale
 * option), so at most 65535; the connection keeps it as rcv_adv. */
static uint32_t cookie_window(const struct tcp_table *table)
{
    return min_u32(table->receive_window_max, TCP_WINDOW_FIELD_MAX);
}

/* The SYN found the queue full: a SYN-ACK with a cookie for ISN, no state. */
static void send_cookie_synack(struct tcp_table *table, const struct tcp_segment *syn,
                               uint64_t now_us)
{
    uint16_t peer_mss = syn->mss ? syn->mss : TCP_MSS_DEFAULT;
    uint64_t counter = now_us / TCP_COOKIE_PERIOD_US;
    struct tcp_segment_out out;
    memset(&out, 0, sizeof out);
    out.header.remote_ipv4 = syn->remote_ipv4;
    out.header.local_ipv4 = syn->local_ipv4;
    out.header.remote_port = syn->remote_port;
    out.header.local_port = syn->local_port;
    out.header.seq = cookie_make(table, syn, syn->seq, counter, cookie_mss_index(peer_mss));
    out.header.ack = syn->seq + 1;
    out.header.flags = TCP_FLAG_SYN | TCP_FLAG_ACK;
    out.header.window = (uint16_t)cookie_window(table);
    out.header.mss = table->our_mss;
    out.header.has_window_scale = false; /* a cookie cannot remember a shift */
    if (!output_segment(table, &out, 1))
        return; /* no route or no buffer: the client's SYN retransmission asks again */
    table->counters->tcp_syn_cookies_sent++;
    table->cookie_sent = true;
    table->cookie_sent_us = now_us;
}

/* ---- ACKs to segments we refuse (rate limits) ---- */

/* True when an ACK in reply to this out-of-window segment must not go:
 * one went less than TCP_INVALID_ACK_INTERVAL_US ago. Two ends that each
 * find the other's ACKs out of window would answer each other without end;
 * segments with data are never part of such a loop and always answered. */
static bool out_of_window_ack_limited(struct tcp_table *table, struct netstack_connection *c,
                                      const struct tcp_segment *segment, uint64_t now_us)
{
    if (segment->payload_bytes > 0 && !(segment->flags & TCP_FLAG_SYN))
        return false;
    if (c->invalid_ack_sent && now_us - c->invalid_ack_sent_us < TCP_INVALID_ACK_INTERVAL_US) {
        table->counters->tcp_out_of_window_acks_limited++;
        return true;
    }
    c->invalid_ack_sent = true;
    c->invalid_ack_sent_us = now_us;
    return false;
}

/* The ACK owed to an unacceptable segment (RFC 9293), unless limited. */
static void out_of_window_ack(struct tcp_table *table, struct netstack_connection *c,
                              const struct tcp_segment *segment, uint64_t now_us)
{
    if (!out_of_window_ack_limited(table, c, segment, now_us))
        c->ack_now = true;
}

/* RFC 5961's challenge ACK (an in-window RST or SYN, an ACK of unsent
 * data), at most TCP_CHALLENGE_ACKS_PER_SECOND per table (section 7): a
 * blind attacker must not turn us into a reflector. */
static void challenge_ack(struct tcp_table *table, struct netstack_connection *c,
                          const struct tcp_segment *segment, uint64_t now_us)
{
    if (out_of_window_ack_limited(table, c, segment, now_us))
        return;
    if (now_us - table->challenge_second_start_us >= TCP_US_PER_S) {
        table->challenge_second_start_us = now_us;
        table->challenge_acks_this_second = 0;
    }
    if (table->challenge_acks_this_second >= TCP_CHALLENGE_ACKS_PER_SECOND) {
        table->counters->tcp_challenge_acks_limited++;
        return;
    }
    table->challenge_acks_this_second++;
    c->ack_now = true;
}

/* ---- RTT and RTO (RFC 6298) ---- */

static uint64_t rto_us(const struct netstack_connection *c)
{
    uint32_t shift = min_u32(c->backoff_shift, TCP_BACKOFF_SHIFT_MAX);
    return min_u64(c->rto_base_us << shift, TCP_RTO_MAX_US);
}

static void rtt_sample(struct netstack_connection *c, uint64_t sample_us)
{
    if (!c->have_rtt) {
        c->srtt_us = sample_us;
        c->rttvar_us = sample_us / 2;
        c->have_rtt = true;
    } else {
        uint64_t difference = c->srtt_us > sample_us ? c->srtt_us - sample_us
                                                     : sample_us - c->srtt_us;
        c->rttvar_us = (3 * c->rttvar_us + difference) / 4;
        c->srtt_us = (7 * c->srtt_us + sample_us) / 8;
    }
    uint64_t rto = c->srtt_us + max_u64(TCP_CLOCK_GRANULARITY_US, 4 * c->rttvar_us);
    c->rto_base_us = min_u64(max_u64(rto, TCP_RTO_MIN_US), TCP_RTO_MAX_US);
}

/* ---- sending data ---- */

static uint32_t flight_bytes(const struct netstack_connection *c)
{
    return c->snd_nxt - c->snd_una;
}

static bool sending_state(const struct netstack_connection *c)
{
    return c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT ||
           c->state == TCP_FIN_WAIT_1 || c->state == TCP_CLOSING || c->state == TCP_LAST_ACK;
}

static void arm_retransmit(struct netstack_connection *c, uint64_t now_us)
{
    c->retransmit_at_us = now_us + rto_us(c);
}

static void fin_sent(struct netstack_connection *c)
{
    if (c->state == TCP_ESTABLISHED)
        c->state = TCP_FIN_WAIT_1;
    else if (c->state == TCP_CLOSE_WAIT)
        c->state = TCP_LAST_ACK;
}

/* RFC 5681 4.1: after no data was sent for longer than the RTO, the ACK
 * clock is gone and cwnd says nothing about the path now: start again from
 * at most the restart window (min(IW, cwnd)), not a burst of the old cwnd. */
static void restart_after_idle(struct netstack_connection *c, uint64_t now_us)
{
    uint32_t restart_window = TCP_INITIAL_WINDOW_SEGMENTS * c->send_mss;
    if (c->data_sent && c->snd_una == c->snd_max && c->cwnd > restart_window &&
        now_us - c->data_sent_us > rto_us(c))
        c->cwnd = restart_window;
}

/* Sends what min(cwnd, peer window) allows, from snd_nxt: new data, or
 * after a timeout the bytes again from snd_una. No Nagle: a partial segment
 * goes at once when it is the end of the queued bytes. */
static void transmit(struct tcp_table *table, struct netstack_connection *c, uint64_t now_us)
{
    if (!sending_state(c) || c->dead)
        return;
    bool tso = table->config.tso_bytes_max > 0 &&
               (table->config.tx_offload_flags & NETSTACK_TX_TCP_SEGMENT);
    restart_after_idle(c, now_us);
    for (uint32_t round = 0; round < TCP_TRANSMIT_SEGMENTS_MAX; round++) {
        uint32_t data_end = c->snd_una + c->send.length;
        assert(seq_le(c->snd_una, c->snd_nxt) && seq_le(c->snd_nxt, c->snd_max));
        bool fin_due = c->fin_queued && c->snd_nxt == data_end;
        uint32_t unsent = seq_lt(c->snd_nxt, data_end) ? data_end - c->snd_nxt : 0;
        if (!unsent && !fin_due)
            break;
        uint32_t limit = min_u32(c->cwnd, c->snd_wnd);
        uint32_t flight = flight_bytes(c);
        uint32_t usable = limit > flight ? limit - flight : 0;
        uint32_t size_max = c->send_mss;
        if (tso && table->config.tso_bytes_max > c->send_mss)
            size_max = table->config.tso_bytes_max;
        uint32_t size = min_u32(min_u32(unsent, usable), size_max);
        if (unsent && size == 0) {
            if (c->snd_wnd == 0 && flight == 0 && c->retransmit_at_us == TCP_NEVER_US &&
                c->persist_at_us == TCP_NEVER_US)
                c->persist_at_us = now_us + rto_us(c);
            break;
        }
        /* Sender-side silly window avoidance: a small window-limited piece
         * waits for the window to open while something is in flight. */
        if (unsent && size < unsent && size < c->send_mss && flight > 0 &&
            size < c->max_snd_wnd / 2)
            break;
        if (size > c->send_mss) /* TSO: whole segments unless it is the end */
            if (size < unsent)
                size -= size % c->send_mss;
        uint8_t flags = 0;
        if (size && size == unsent)
            flags |= TCP_FLAG_PSH;
        if (c->fin_queued && c->snd_nxt + size == data_end)
            flags |= TCP_FLAG_FIN;
        uint32_t seq = c->snd_nxt;
        bool retransmission = seq_lt(seq, c->snd_max);
        emit(table, c, seq, flags, seq - c->snd_una, size,
             size > c->send_mss ? c->send_mss : 0);
        if (size) {
            c->data_sent = true;
            c->data_sent_us = now_us;
        }
        if (retransmission) {
            table->counters->tcp_retransmissions++;
            if (c->rtt_timing && seq_le(seq, c->rtt_seq))
                c->rtt_timing = false; /* Karn */
        } else if (!c->rtt_timing && size) {
            c->rtt_timing = true;
            c->rtt_seq = seq;
            c->rtt_sent_us = now_us;
        }
        c->snd_nxt = seq + size + ((flags & TCP_FLAG_FIN) ? 1u : 0u);
        if (seq_gt(c->snd_nxt, c->snd_max))
            c->snd_max = c->snd_nxt;
        if (flags & TCP_FLAG_FIN)
            fin_sent(c);
        c->persist_at_us = TCP_NEVER_US;
        if (c->retransmit_at_us == TCP_NEVER_US)
            arm_retransmit(c, now_us);
    }
}

/* Fast retransmit and NewReno's partial ACKs: the first unacknowledged
 * segment again, snd_nxt unchanged. */
static void retransmit_first(struct tcp_table *table, struct netstack_connection *c)
{
    uint32_t size = min_u32(c->send.length, c->send_mss);
    uint8_t flags = 0;
    if (size == c->send.length && c->fin_queued && seq_gt(c->snd_max, c->snd_una + size))
        flags |= TCP_FLAG_FIN;
    if (!size && !(flags & TCP_FLAG_FIN))
        return;
    if (size && size == c->send.length)
        flags |= TCP_FLAG_PSH;
    emit(table, c, c->snd_una, flags, 0, size, 0);
    table->counters->tcp_retransmissions++;
    c->rtt_timing = false; /* Karn */
}

/* ---- closing ---- */

/* The shard loses the handle: `closed` once, from tcp_input or tcp_poll. */
static void deliver_closed(struct tcp_table *table, struct netstack_connection *c,
                           enum netstack_close_reason reason)
{
    if (!c->shard_holds)
        return;
    c->shard_holds = false;
    table->counters->tcp_connections_closed++;
    if (table->callbacks.closed)
        table->callbacks.closed(table->context, c->user, reason);
}

/* Reset by us: RST out, `closed` to the shard, freed at the safe point. */
static void abort_connection(struct tcp_table *table, struct netstack_connection *c,
                             enum netstack_close_reason reason)
{
    if (c->dead)
        return;
    /* In SYN_SENT the peer has nothing synchronized to reset (and we know
     * no sequence number of its own to put in the ACK field). */
    if (c->state != TCP_SYN_SENT)
        send_reset(table, c);
    c->dead = true;
    deliver_closed(table, c, c->close_requested ? NETSTACK_CLOSE_LOCAL : reason);
}

static void enter_time_wait(struct tcp_table *table, struct netstack_connection *c,
                            uint64_t now_us)
{
    assert(!c->shard_holds);
    class_leave(table, c);
    c->state = TCP_TIME_WAIT;
    ring_free(&c->send);
    receive_buffers_free(c);
    c->retransmit_at_us = c->persist_at_us = c->delayed_ack_at_us = TCP_NEVER_US;
    c->keepalive_at_us = TCP_NEVER_US;
    if (table->config.time_wait_max == 0) {
        c->dead = true;
        return;
    }
    if (table->count_time_wait >= table->config.time_wait_max) {
        struct netstack_connection *oldest = table->time_wait_head;
        assert(oldest && oldest != c);
        table->counters->tcp_time_wait_recycled++;
        connection_free(table, oldest);
    }
    c->pool_class = TCP_CLASS_TIME_WAIT;
    table->count_time_wait++;
    c->time_wait_prev = table->time_wait_tail;
    c->time_wait_next = NULL;
    if (table->time_wait_tail)
        table->time_wait_tail->time_wait_next = c;
    else
        table->time_wait_head = c;
    table->time_wait_tail = c;
    c->state_timer_at_us = now_us + (uint64_t)table->config.time_wait_ms * TCP_US_PER_MS;
}

/* After the peer's FIN and every byte before it reached the shard. */
static void maybe_deliver_peer_close(struct tcp_table *table, struct netstack_connection *c)
{
    if (!c->fin_received || !c->shard_holds || c->close_requested || c->send_failed ||
        c->receive.length > 0)
        return;
    deliver_closed(table, c, NETSTACK_CLOSE_PEER);
    c->fin_queued = true;
}

/* ---- receiving data ---- */

static bool shard_wants_data(const struct netstack_connection *c)
{
    return c->shard_holds && !c->close_requested && !c->send_failed && !c->dead;
}

/* Hands held in-order bytes to the shard until paused or empty. */
static void deliver_held(struct tcp_table *table, struct netstack_connection *c)
{
    /* Each round consumes at least one byte: the window bounds the rounds
     * (at most two per wrap of the ring). */
    uint32_t rounds_max = 2u + table->receive_window_max;
    for (uint32_t round = 0; c->receive.length > 0 && !c->paused && shard_wants_data(c);
         round++) {
        assert(round < rounds_max);
        uint32_t size = min_u32(c->receive.length, c->receive.capacity - c->receive.head);
        const uint8_t *data = c->receive.bytes + c->receive.head;
        /* Consume first: a callback may pause; the bytes stay valid
         * (nothing writes the ring during the call). */
        ring_consume(&c->receive, size);
        if (table->callbacks.received)
            table->callbacks.received(table->context, c->user, data, size);
    }
    /* Empty, or the shard is gone (held and out-of-order bytes have no
     * reader; later bytes are acknowledged and dropped): no buffers. */
    if (!shard_wants_data(c) || (c->receive.length == 0 && c->ooo_count == 0))
        receive_buffers_free(c);
}

/* Room for `extent` bytes from the head (held plus out-of-order): the ring
 * grows by doubling up to the window. */
static bool receive_ring_ready(struct tcp_table *table, struct netstack_connection *c,
                               uint32_t extent)
{
    return ring_reserve(&c->receive, extent, TCP_RECEIVE_RING_START_BYTES,
                        receive_window_max(table, c));
}

/* Ranges that rcv_nxt reached become in-order held bytes. */
static void ooo_absorb(struct netstack_connection *c)
{
    uint32_t removed = 0;
    while (removed < c->ooo_count && seq_le(c->ooo[removed].start, c->rcv_nxt)) {
        if (seq_gt(c->ooo[removed].end, c->rcv_nxt)) {
            uint32_t gain = c->ooo[removed].end - c->rcv_nxt;
            c->receive.length += gain;
            c->rcv_nxt += gain;
        }
        removed++;
    }
    if (removed) {
        memmove(c->ooo, c->ooo + removed, (c->ooo_count - removed) * sizeof *c->ooo);
        c->ooo_count -= removed;
    }
}

/* Adds [start, end) to the sorted ranges, merging; false when it would need
 * a new range beyond out_of_order_segments_max. */
static bool ooo_insert(struct tcp_table *table, struct netstack_connection *c, uint32_t start,
                       uint32_t end)
{
    uint32_t first = 0;
    while (first < c->ooo_count && seq_lt(c->ooo[first].end, start))
        first++;
    uint32_t last = first; /* one past the last range that touches [start, end] */
    while (last < c->ooo_count && seq_le(c->ooo[last].start, end))
        last++;
    if (last == first) {
        if (c->ooo_count >= table->config.out_of_order_segments_max)
            return false;
        memmove(c->ooo + first + 1, c->ooo + first, (c->ooo_count - first) * sizeof *c->ooo);
        c->ooo[first].start = start;
        c->ooo[first].end = end;
        c->ooo_count++;
        return true;
    }
    struct sequence_range merged = {
        seq_lt(c->ooo[first].start, start) ? c->ooo[first].start : start,
        seq_gt(c->ooo[last - 1].end, end) ? c->ooo[last - 1].end : end,
    };
    c->ooo[first] = merged;
    memmove(c->ooo + first + 1, c->ooo + last, (c->ooo_count - last) * sizeof *c->ooo);
    c->ooo_count -= last - first - 1;
    return true;
}

static void fin_in_order(struct tcp_table *table, struct netstack_connection *c, uint64_t now_us)
{
    c->fin_out_of_order = false;
    c->fin_received = true;
    c->rcv_nxt++;
    c->ack_now = true;
    switch (c->state) {
    case TCP_ESTABLISHED:
        c->state = TCP_CLOSE_WAIT;
        break;
    case TCP_FIN_WAIT_1:
        c->state = TCP_CLOSING;
        break;
    case TCP_FIN_WAIT_2:
        /* ACK the FIN before the buffers go. */
        send_ack(table, c);
        enter_time_wait(table, c, now_us);
        return;
    default:
        break;
    }
    maybe_deliver_peer_close(table, c);
}

/* Payload of an acceptable segment, already trimmed to the window and
 * starting at or after rcv_nxt. */
static void receive_payload(struct tcp_table *table, struct netstack_connection *c,
                            uint32_t seq, const uint8_t *payload, uint32_t size)
{
    assert(seq_ge(seq, c->rcv_nxt) && seq_le(seq + size, c->rcv_adv));
    if (seq == c->rcv_nxt) {
        bool had_gap = c->ooo_count > 0;
        if (!shard_wants_data(c)) {
            /* Nobody reads: acknowledge and discard so the peer's FIN can
             * arrive. */
            c->rcv_nxt += size;
        } else if (!c->paused && c->receive.length == 0 && !had_gap) {
            c->rcv_nxt += size;
            if (table->callbacks.received)
                table->callbacks.received(table->context, c->user, payload, size);
        } else {
            if (!receive_ring_ready(table, c, c->receive.length + size)) {
                table->counters->tcp_receive_buffer_full++;
                return; /* not acknowledged: the peer resends */
            }
            ring_write_at(&c->receive, c->receive.length, payload, size);
            c->receive.length += size;
            c->rcv_nxt += size;
            ooo_absorb(c);
            deliver_held(table, c);
        }
        if (had_gap) {
            c->ack_now = true; /* RFC 5681: a segment that fills a hole */
        } else {
            c->ack_pending_bytes += size;
            if (c->ack_pending_bytes >= 2 * c->rcv_mss)
                c->ack_now = true;
        }
        return;
    }
    /* Out of order: hold it where it belongs, answer with a duplicate ACK. */
    c->ack_now = true;
    if (!shard_wants_data(c))
        return;
    if (!receive_ring_ready(table, c, c->receive.length + (seq - c->rcv_nxt) + size)) {
        table->counters->tcp_receive_buffer_full++;
        return;
    }
    if (!c->ooo) {
        c->ooo = calloc(max_u32(table->config.out_of_order_segments_max, 1), sizeof *c->ooo);
        if (!c->ooo) {
            table->counters->tcp_out_of_order_dropped++;
            return;
        }
    }
    if (!ooo_insert(table, c, seq, seq + size)) {
        table->counters->tcp_out_of_order_dropped++;
        return;
    }
    table->counters->tcp_segments_out_of_order++;
    ring_write_at(&c->receive, c->receive.length + (seq - c->rcv_nxt), payload, size);
}

/* ---- the ACK field ---- */

static void congestion_on_new_ack(struct tcp_table *table, struct netstack_connection *c,
                                  uint32_t acked, uint32_t ack)
{
    uint32_t mss = c->send_mss;
    if (c->in_recovery) {
        if (seq_gt(ack, c->recover)) {
            /* Full ACK (RFC 6582 3.2 step 3). */
            uint32_t flight = c->snd_max - ack;
            c->cwnd = min_u32(c->ssthresh, max_u32(flight, mss) + mss);
            c->in_recovery = false;
            c->dupacks = 0;
        } else {
            /* Partial ACK: resend the next hole, deflate. */
            retransmit_first(table, c);
            c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
            if (acked >= mss)
                c->cwnd += mss;
            c->cwnd = max_u32(c->cwnd, mss);
        }
        return;
    }
    c->dupacks = 0;
    if (c->cwnd < c->ssthresh) {
        c->cwnd += min_u32(acked, mss); /* slow start, RFC 3465 L = 1 */
    } else {
        c->bytes_acked_avoidance += acked;
        if (c->bytes_acked_avoidance >= c->cwnd) {
            c->bytes_acked_avoidance -= c->cwnd;
            c->cwnd += mss;
        }
    }
    c->cwnd = min_u32(c->cwnd, TCP_CWND_MAX_BYTES);
}

static void on_duplicate_ack(struct tcp_table *table, struct netstack_connection *c,
                             uint32_t ack, uint64_t now_us)
{
    uint32_t mss = c->send_mss;
    c->dupacks++;
    if (c->in_recovery) {
        c->cwnd = min_u32(c->cwnd + mss, TCP_CWND_MAX_BYTES); /* inflate */
        return;
    }
    if (c->dupacks != TCP_DUPACK_THRESHOLD)
        return;
    if (c->recover_armed && !seq_gt(ack, c->recover))
        return; /* RFC 6582: this loss belongs to a window already handled */
    uint32_t flight = c->snd_max - c->snd_una;
    c->ssthresh = max_u32(flight / 2, 2 * mss);
    c->recover = c->snd_max - 1;
    c->recover_armed = true;
    c->in_recovery = true;
    table->counters->tcp_fast_retransmissions++;
    retransmit_first(table, c);
    c->cwnd = c->ssthresh + TCP_DUPACK_THRESHOLD * mss;
    arm_retransmit(c, now_us);
}

/* Returns false when the segment must be dropped after this. */
static bool process_ack(struct tcp_table *table, struct netstack_connection *c,
                        const struct tcp_segment *segment, uint64_t now_us)
{
    uint32_t ack = segment->ack;
    if (seq_gt(ack, c->snd_max)) {
        challenge_ack(table, c, segment, now_us); /* acknowledges what we never sent */
        return false;
    }
    bool window_changed = false;
    uint32_t window_before = c->snd_wnd;
    if (seq_le(c->snd_una, ack) &&
        (seq_lt(c->snd_wl1, segment->seq) ||
         (c->snd_wl1 == segment->seq && seq_le(c->snd_wl2, ack)))) {
        uint32_t window = (uint32_t)segment->window << c->snd_shift;
        window_changed = window != c->snd_wnd;
        c->snd_wnd = window;
        c->max_snd_wnd = max_u32(c->max_snd_wnd, window);
        c->snd_wl1 = segment->seq;
        c->snd_wl2 = ack;
    }
    c->persist_probes = 0;
    if (c->snd_wnd > 0)
        c->persist_at_us = TCP_NEVER_US;
    if (window_before == 0 && c->snd_wnd > 0)
        c->backoff_shift = 0; /* the probes' backoff ends with them */
    if (ack == c->snd_una) {
        /* RFC 5681's duplicate ACK; a closed window explains repeats. */
        if (segment->payload_bytes == 0 && !(segment->flags & (TCP_FLAG_FIN | TCP_FLAG_SYN)) &&
            !window_changed && c->snd_max != c->snd_una && c->snd_wnd > 0)
            on_duplicate_ack(table, c, ack, now_us);
        return true;
    }
    if (seq_lt(ack, c->snd_una))
        return true; /* old */

    if (c->recover_armed && seq_gt(ack, c->recover) && !c->in_recovery)
        c->recover_armed = false;
    uint32_t acked = ack - c->snd_una;
    uint32_t data_acked = min_u32(acked, c->send.length);
    bool fin_acked = acked > c->send.length;
    assert(!fin_acked || (c->fin_queued && acked == c->send.length + 1));
    if (c->rtt_timing && seq_gt(ack, c->rtt_seq)) {
        rtt_sample(c, now_us - c->rtt_sent_us);
        c->rtt_timing = false;
    }
    ring_consume(&c->send, data_acked);
    if (c->send.length == 0 && c->send.capacity > TCP_SEND_RING_START_BYTES)
        ring_free(&c->send); /* idle connections hold no grown buffer */
    c->snd_una = ack;
    if (seq_lt(c->snd_nxt, c->snd_una))
        c->snd_nxt = c->snd_una;
    c->retransmit_count = 0;
    c->backoff_shift = 0;
    congestion_on_new_ack(table, c, acked, ack);
    if (c->snd_una == c->snd_max)
        c->retransmit_at_us = TCP_NEVER_US;
    else
        arm_retransmit(c, now_us);
    if (fin_acked) {
        switch (c->state) {
        case TCP_FIN_WAIT_1:
            c->state = TCP_FIN_WAIT_2;
            c->state_timer_at_us = now_us + TCP_FIN_WAIT_2_TIMEOUT_US;
            break;
        case TCP_CLOSING:
            enter_time_wait(table, c, now_us);
            return false;
        case TCP_LAST_ACK:
            c->dead = true;
            return false;
        default:
            break;
        }
    }
    return true;
}

/* ---- segment arrival by state ---- */

/* Port 0 is never a listening port: a client-only stack has none. */
static bool listening_on(const struct tcp_table *table, uint16_t local_port)
{
    return table->config.listen_port != 0 && local_port == table->config.listen_port;
}

static uint32_t segment_length(const struct tcp_segment *segment)
{
    return segment->payload_bytes + ((segment->flags & TCP_FLAG_SYN) ? 1u : 0u) +
           ((segment->flags & TCP_FLAG_FIN) ? 1u : 0u);
}

/* RFC 9293 3.10.7.4's acceptability test. */
static bool acceptable(const struct netstack_connection *c, uint32_t seq, uint32_t length)
{
    uint32_t window = receive_window(c);
    if (length == 0) {
        if (window == 0)
            return seq == c->rcv_nxt;
        return seq_le(c->rcv_nxt, seq) && seq_lt(seq, c->rcv_nxt + window);
    }
    if (window == 0)
        return false;
    uint32_t last = seq + length - 1;
    return (seq_le(c->rcv_nxt, seq) && seq_lt(seq, c->rcv_nxt + window)) ||
           (seq_le(c->rcv_nxt, last) && seq_lt(last, c->rcv_nxt + window));
}

static void synchronized_input(struct tcp_table *table, struct netstack_connection *c,
                               const struct tcp_segment *segment, uint64_t now_us)
{
    uint32_t length = segment_length(segment);
    if (segment->flags & TCP_FLAG_RST) {
        /* RFC 5961 3.2 */
        uint32_t window = max_u32(receive_window(c), 1);
        if (segment->seq == c->rcv_nxt) {
            table->counters->tcp_resets_received++;
            c->dead = true;
            deliver_closed(table, c,
                           c->close_requested ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_ERROR);
        } else if (seq_le(c->rcv_nxt, segment->seq) &&
                   seq_lt(segment->seq, c->rcv_nxt + window)) {
            challenge_ack(table, c, segment, now_us);
        }
        return;
    }
    c->keepalive_probes = 0;
    c->keepalive_at_us = now_us + (uint64_t)table->config.keepalive_idle_ms * TCP_US_PER_MS;
    if (segment->flags & TCP_FLAG_SYN) {
        challenge_ack(table, c, segment, now_us); /* RFC 5961 4.2 */
        return;
    }
    bool in_window = acceptable(c, segment->seq, length);
    if (!in_window) {
        table->counters->tcp_segments_out_of_window++;
        out_of_window_ack(table, c, segment, now_us);
        /* A closed window still takes the ACK field (RFC 9293). */
        if (!(segment->seq == c->rcv_nxt && (segment->flags & TCP_FLAG_ACK)))
            return;
        process_ack(table, c, segment, now_us);
        return;
    }
    if (!(segment->flags & TCP_FLAG_ACK))
        return;
    if (!process_ack(table, c, segment, now_us) || c->dead)
        return;
    if (c->state == TCP_TIME_WAIT)
        return;

    /* Trim to [rcv_nxt, rcv_adv). */
    uint32_t seq = segment->seq;
    const uint8_t *payload = segment->payload;
    uint32_t size = segment->payload_bytes;
    bool fin = (segment->flags & TCP_FLAG_FIN) != 0;
    if (seq_lt(seq, c->rcv_nxt)) {
        uint32_t skip = c->rcv_nxt - seq;
        if (skip > size && fin) {
            fin = false; /* a FIN already counted in rcv_nxt */
            c->ack_now = true;
        }
        payload += min_u32(skip, size);
        size -= min_u32(skip, size);
        seq = c->rcv_nxt;
    }
    uint32_t room = seq_lt(seq, c->rcv_adv) ? c->rcv_adv - seq : 0;
    if (size > room) {
        table->counters->tcp_receive_buffer_full++;
        size = room;
        fin = false;
    }
    bool receives_data = c->state == TCP_ESTABLISHED || c->state == TCP_FIN_WAIT_1 ||
                         c->state == TCP_FIN_WAIT_2;
    if (size > 0 && receives_data) {
        if (size > c->rcv_mss)
            c->rcv_mss = min_u32(size, table->our_mss);
        receive_payload(table, c, seq, payload, size);
        if (c->dead)
            return;
    } else if (size > 0) {
        c->ack_now = true; /* data after the peer's FIN: just acknowledge */
    }
    if (fin && receives_data) {
        uint32_t fin_seq = seq + size;
        if (fin_seq == c->rcv_nxt) {
            fin_in_order(table, c, now_us);
        } else {
            c->fin_out_of_order = true;
            c->fin_out_of_order_seq = fin_seq;
            c->ack_now = true;
        }
    } else if (fin) {
        c->ack_now = true; /* a repeated FIN */
    }
    if (c->fin_out_of_order && c->rcv_nxt == c->fin_out_of_order_seq && !c->dead &&
        c->state != TCP_TIME_WAIT)
        fin_in_order(table, c, now_us);
}

/* Either open's handshake is complete: ESTABLISHED, in the class that
 * connections_max bounds (the caller checked there is room). */
static void enter_established(struct tcp_table *table, struct netstack_connection *c,
                              uint64_t now_us)
{
    c->pool_class = TCP_CLASS_ACTIVE;
    table->count_active++;
    table->counters->tcp_connections_established = table->count_active;
    c->state = TCP_ESTABLISHED;
    c->retransmit_at_us = TCP_NEVER_US;
    c->cwnd = TCP_INITIAL_WINDOW_SEGMENTS * c->send_mss;
    c->keepalive_at_us = now_us + (uint64_t)table->config.keepalive_idle_ms * TCP_US_PER_MS;
}

/* The shard's `accepted`: its pointer becomes the user pointer. Refused
 * (NULL): a RST, no `closed` (the shard said no), the connection dies;
 * returns false. */
static bool offer_to_shard(struct tcp_table *table, struct netstack_connection *c)
{
    void *user = table->callbacks.accepted
                     ? table->callbacks.accepted(table->context, c, c->remote_ipv4,
                                                 c->remote_port)
                     : NULL;
    if (!user) {
        c->shard_holds = false;
        table->counters->tcp_connections_refused++;
        send_reset(table, c);
        c->dead = true;
        return false;
    }
    c->user = user;
    return true;
}

/* A passive open's handshake is complete (the SYN_RECEIVED entry's ACK, or a
 * cookie's): ESTABLISHED, counted against connections_max (checked by the
 * caller), the shard's `accepted`, then the ACK itself (its window, data and
 * FIN) as any segment. */
static void passive_open_established(struct tcp_table *table, struct netstack_connection *c,
                                     const struct tcp_segment *segment, uint64_t now_us)
{
    assert(c->pool_class == TCP_CLASS_NONE && c->snd_una == segment->ack);
    assert(table->count_active + table->count_connecting < table->config.connections_max);
    enter_established(table, c, now_us);
    /* The shard holds the handle during `accepted` already: it may send or
     * close from inside it. */
    c->shard_holds = true;
    if (!offer_to_shard(table, c)) {
        return;
    }
    table->counters->tcp_connections_opened++;
    synchronized_input(table, c, segment, now_us);
}

/* An ACK to the listening port for no connection: a SYN cookie coming back
 * opens the connection (returned, for the caller to settle); anything else
 * gets a RST, as RFC 9293 says. */
static struct netstack_connection *cookie_ack_input(struct tcp_table *table,
                                                    const struct tcp_segment *segment,
                                                    uint64_t now_us)
{
    assert((segment->flags & TCP_FLAG_ACK) && !(segment->flags & (TCP_FLAG_SYN | TCP_FLAG_RST)));
    if (!cookies_recently_sent(table, now_us)) {
        send_reset_for_segment(table, segment);
        return NULL;
    }
    uint32_t mss_index = 0;
    if (!cookie_valid(table, segment, now_us, &mss_index)) {
        table->counters->tcp_syn_cookies_rejected++;
        send_reset_for_segment(table, segment);
        return NULL;
    }
    struct tcp_spent_cookie *spent =
        &table->spent_cookies[(segment->ack - 1u) & (TCP_SPENT_COOKIES - 1u)];
    if (spent->used && spent->cookie == segment->ack - 1u &&
        spent->remote_ipv4 == segment->remote_ipv4 && spent->remote_port == segment->remote_port) {
        table->counters->tcp_syn_cookies_rejected++; /* its connection came and went */
        send_reset_for_segment(table, segment);
        return NULL;
    }
    table->counters->tcp_syn_cookies_accepted++;
    if (table->count_active + table->count_connecting >= table->config.connections_max) {
        table->counters->tcp_connections_refused++;
        send_reset_for_segment(table, segment); /* seq = its ack: our ISN + 1 */
        return NULL;
    }
    *spent = (struct tcp_spent_cookie){.cookie = segment->ack - 1u,
                                       .remote_ipv4 = segment->remote_ipv4,
                                       .remote_port = segment->remote_port,
                                       .used = true};
    /* Only the class limits bound the pool: connections_max has room, so
     * a slot does too (connection_allocate asserts it). */
    struct netstack_connection *c = connection_allocate(table, segment);
    c->irs = segment->seq - 1;
    c->rcv_nxt = segment->seq;
    c->rcv_adv = c->rcv_nxt + cookie_window(table); /* what the SYN-ACK offered */
    c->iss = segment->ack - 1;
    c->snd_una = c->snd_nxt = c->snd_max = segment->ack;
    c->recover = c->iss;
    c->snd_wl1 = c->irs; /* the ACK's own window is taken as an update */
    c->snd_wl2 = c->iss;
    uint16_t peer_mss = cookie_mss_table[mss_index];
    c->send_mss = (uint16_t)min_u32(peer_mss, table->our_mss);
    c->rcv_mss = min_u32(min_u32(table->our_mss, peer_mss), TCP_MSS_DEFAULT);
    /* No window scaling either way (snd_shift = rcv_shift = 0), and no RTT
     * sample: nothing remembers when the SYN-ACK left. */
    c->rto_base_us = TCP_RTO_INITIAL_US;
    c->ssthresh = TCP_CWND_MAX_BYTES;
    passive_open_established(table, c, segment, now_us);
    return c;
}

/* A segment to the listening port that has no connection. Returns a
 * connection a cookie opened (the caller settles it), else NULL. */
static struct netstack_connection *listen_input(struct tcp_table *table,
                                                const struct tcp_segment *segment,
                                                uint64_t now_us)
{
    assert(listening_on(table, segment->local_port));
    if (segment->flags & TCP_FLAG_RST)
        return NULL;
    if ((segment->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_ACK)
        return cookie_ack_input(table, segment, now_us);
    if ((segment->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN) {
        send_reset_for_segment(table, segment);
        return NULL;
    }
    if (table->count_syn >= table->config.syn_backlog_max) {
        /* Linux's tcp_syncookies = 1: cookies only when the queue is full,
         * so a flood of half-open entries that never complete cannot keep
         * new clients out for their SYN-ACK retries (63 s). */
        table->counters->tcp_syn_backlog_full++;
        send_cookie_synack(table, segment, now_us);
        return NULL;
    }
    struct netstack_connection *c = connection_allocate(table, segment);
    c->pool_class = TCP_CLASS_SYN;
    table->count_syn++;
    c->state = TCP_SYN_RECEIVED;
    c->irs = segment->seq;
    c->rcv_nxt = segment->seq + 1;
    c->rcv_adv = c->rcv_nxt;
    c->iss = initial_sequence(table, segment, now_us);
    c->snd_una = c->iss;
    c->snd_nxt = c->snd_max = c->iss + 1;
    c->recover = c->iss;
    c->snd_wl1 = c->irs;
    c->snd_wl2 = c->iss;
    uint16_t peer_mss = segment->mss ? segment->mss : TCP_MSS_DEFAULT;
    c->send_mss = (uint16_t)min_u32(peer_mss, table->our_mss);
    /* "Full-sized" starts at the smallest MSS and grows with what arrives. */
    c->rcv_mss = min_u32(min_u32(table->our_mss, peer_mss), TCP_MSS_DEFAULT);
    if (segment->has_window_scale) { /* RFC 7323: only if the SYN offered it */
        c->window_scaling = true;
        c->snd_shift = (uint8_t)min_u32(segment->window_scale, TCP_WINDOW_SCALE_MAX);
        c->rcv_shift = table->our_shift;
    }
    c->snd_wnd = segment->window; /* a SYN's window is never scaled */
    c->rto_base_us = TCP_RTO_INITIAL_US;
    c->ssthresh = TCP_CWND_MAX_BYTES;
    send_synack(table, c, now_us);
    c->retransmit_at_us = now_us + TCP_SYNACK_TIMEOUT_US;
    timers_changed(table, c);
    return NULL;
}

static void syn_received_input(struct tcp_table *table, struct netstack_connection *c,
                               const struct tcp_segment *segment, uint64_t now_us)
{
    if (segment->flags & TCP_FLAG_RST) {
        if (segment->seq == c->rcv_nxt) { /* back to LISTEN, quietly */
            table->counters->tcp_resets_received++;
            c->dead = true;
        }
        return;
    }
    if (segment->flags & TCP_FLAG_SYN) {
        send_synack(table, c, now_us); /* the client's SYN again */
        return;
    }
    if (!(segment->flags & TCP_FLAG_ACK))
        return;
    if (segment->ack != c->iss + 1) {
        send_reset_for_segment(table, segment);
        return;
    }
    if (!acceptable(c, segment->seq, segment_length(segment))) {
        /* RFC 9293 3.10.7.4: an ACK in reply (SYN_RECEIVED has no delayed
         * ACK to fold it into: now, unless limited). */
        table->counters->tcp_segments_out_of_window++;
        if (!out_of_window_ack_limited(table, c, segment, now_us))
            send_ack(table, c);
        return;
    }
    if (table->count_active + table->count_connecting >= table->config.connections_max) {
        table->counters->tcp_connections_refused++;
        c->snd_una = segment->ack;
        send_reset(table, c);
        c->dead = true;
        return;
    }
    class_leave(table, c);
    c->snd_una = segment->ack;
    if (c->synack_retries == 0) /* Karn: only an unrepeated SYN-ACK times the path */
        rtt_sample(c, now_us - c->synack_sent_us);
    passive_open_established(table, c, segment, now_us);
}

/* The SYN-ACK of our SYN: ESTABLISHED, the shard's `accepted`, our ACK. */
static void syn_sent_established(struct tcp_table *table, struct netstack_connection *c,
                                 const struct tcp_segment *segment, uint64_t now_us)
{
    c->irs = segment->seq;
    c->rcv_nxt = segment->seq + 1;
    c->snd_una = segment->ack;
    c->snd_wl1 = segment->seq;
    c->snd_wl2 = segment->ack;
    uint16_t peer_mss = segment->mss ? segment->mss : TCP_MSS_DEFAULT;
    c->send_mss = (uint16_t)min_u32(peer_mss, table->our_mss);
    c->rcv_mss = min_u32(min_u32(table->our_mss, peer_mss), TCP_MSS_DEFAULT);
    if (segment->has_window_scale) { /* both SYNs carried it (ours always does) */
        c->window_scaling = true;
        c->snd_shift = (uint8_t)min_u32(segment->window_scale, TCP_WINDOW_SCALE_MAX);
        c->rcv_shift = table->our_shift;
    } else {
        c->rcv_shift = 0;
    }
    c->snd_wnd = segment->window; /* a SYN's window is never scaled */
    c->max_snd_wnd = c->snd_wnd;
    /* What our SYN advertised (unscaled): the peer may fill it already. */
    c->rcv_adv = c->rcv_nxt + min_u32(receive_window_max(table, c), TCP_WINDOW_FIELD_MAX);
    class_leave(table, c);
    enter_established(table, c, now_us);
    if (c->synack_retries == 0) /* Karn: only an unrepeated SYN times the path */
        rtt_sample(c, now_us - c->synack_sent_us);
    /* The handshake's last ACK goes out when the event settles, carrying
     * any bytes queued before or during `accepted`. Data or a FIN on the
     * SYN-ACK itself is not taken: unacknowledged, the peer resends it. */
    c->ack_now = true;
    if (!offer_to_shard(table, c)) {
        /* A RST instead of the ACK; netstack_connect counted it opened, so
         * it counts as closed (opened == closed). */
        table->counters->tcp_connections_closed++;
    }
}

/* RFC 9293 3.10.7.3, SYN_SENT. */
static void syn_sent_input(struct tcp_table *table, struct netstack_connection *c,
                           const struct tcp_segment *segment, uint64_t now_us)
{
    bool has_ack = (segment->flags & TCP_FLAG_ACK) != 0;
    /* The only acceptable ACK covers our SYN exactly: ISS < ACK <= SND.NXT. */
    if (has_ack && segment->ack != c->iss + 1) {
        send_reset_for_segment(table, segment); /* never in reply to a RST */
        return;
    }
    if (segment->flags & TCP_FLAG_RST) {
        if (!has_ack)
            return; /* RFC 5961 3.2: an unacknowledging RST is ignored */
        table->counters->tcp_resets_received++;
        c->dead = true;
        deliver_closed(table, c,
                       c->close_requested ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_ERROR);
        return;
    }
    if (!(segment->flags & TCP_FLAG_SYN))
        return;
    if (!has_ack) {
        /* A SYN crossing ours (simultaneous open) is refused with a RST: we
         * connect from ephemeral ports to a listener, where it cannot
         * happen except by a forged or confused peer. Our SYN goes on. */
        send_reset_for_segment(table, segment);
        return;
    }
    syn_sent_established(table, c, segment, now_us);
}

static void time_wait_input(struct tcp_table *table, struct netstack_connection *c,
                            const struct tcp_segment *segment, uint64_t now_us)
{
    if (segment->flags & TCP_FLAG_RST)
        return; /* RFC 1337: TIME_WAIT ignores resets */
    if ((segment->flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
        seq_gt(segment->seq, c->rcv_nxt) && listening_on(table, c->local_port)) {
        /* A new incarnation (RFC 9293 3.10.7.4 / RFC 6191): reuse the tuple. */
        connection_free(table, c);
        struct netstack_connection *opened = listen_input(table, segment, now_us);
        assert(!opened); /* a SYN never opens a connection by itself */
        (void)opened;
        return;
    }
    if (segment->flags & TCP_FLAG_FIN) {
        /* The peer lost our ACK of its FIN: again, and restart 2 MSL. */
        c->state_timer_at_us = now_us + (uint64_t)table->config.time_wait_ms * TCP_US_PER_MS;
        send_ack(table, c);
    } else if (segment->payload_bytes || (segment->flags & TCP_FLAG_SYN)) {
        send_ack(table, c);
    }
    timers_changed(table, c);
}

/* Past the handshake and not in TIME_WAIT: data, ACKs and windows flow. */
static bool synchronized(const struct netstack_connection *c)
{
    return c->state != TCP_SYN_SENT && c->state != TCP_SYN_RECEIVED &&
           c->state != TCP_TIME_WAIT;
}

/* What holds between events, whatever happened. */
static void connection_check(const struct tcp_table *table, const struct netstack_connection *c)
{
    assert(c->in_use && !c->dead);
    assert(seq_le(c->snd_una, c->snd_nxt) && seq_le(c->snd_nxt, c->snd_max));
    /* Sent but unacknowledged: the ring's bytes plus at most our FIN. */
    assert(c->snd_max - c->snd_una <= c->send.length + (c->fin_queued ? 1u : 0u) ||
           c->state == TCP_SYN_SENT || c->state == TCP_SYN_RECEIVED ||
           c->state == TCP_TIME_WAIT);
    assert(c->send.length <= table->config.send_buffer_bytes_max);
    assert(c->receive.length <= receive_window_max(table, c));
    assert(c->ooo_count <= table->config.out_of_order_segments_max);
    assert(!c->shard_holds || (c->state != TCP_SYN_RECEIVED && c->state != TCP_TIME_WAIT));
    assert((c->pool_class == TCP_CLASS_SYN) == (c->state == TCP_SYN_RECEIVED));
    assert((c->pool_class == TCP_CLASS_CONNECTING) == (c->state == TCP_SYN_SENT));
    assert(c->state != TCP_SYN_SENT || c->shard_holds);
    assert((c->pool_class == TCP_CLASS_TIME_WAIT) == (c->state == TCP_TIME_WAIT));
}

/* After an event: free if dead, else send what is owed and re-arm. */
static void connection_settle(struct tcp_table *table, struct netstack_connection *c,
                              uint64_t now_us)
{
    if (c->dead) {
        connection_free(table, c);
        return;
    }
    connection_check(table, c);
    if (!synchronized(c)) {
        timers_changed(table, c);
        return;
    }
    transmit(table, c, now_us);
    if (c->ack_now || (c->ack_pending_bytes > 0 && table->config.delayed_ack_ms == 0)) {
        send_ack(table, c);
    } else if (c->ack_pending_bytes > 0 && c->delayed_ack_at_us == TCP_NEVER_US) {
        c->delayed_ack_at_us = now_us + (uint64_t)table->config.delayed_ack_ms * TCP_US_PER_MS;
    }
    timers_changed(table, c);
}

void tcp_input(struct tcp_table *table, const struct tcp_segment *segment, uint64_t now_us)
{
    assert(table && segment);
    table->counters->tcp_segments_received++;
    if (segment->payload_bytes && !segment->payload)
        return; /* malformed: the parser gave a length without bytes */
    /* A known connection (passive, or one we opened: its segments come from
     * the peer's port to our ephemeral one), else the listening port. */
    struct netstack_connection *c = lookup(table, segment);
    if (!c) {
        if (listening_on(table, segment->local_port)) {
            c = listen_input(table, segment, now_us);
            if (c) /* a SYN cookie's ACK opened it */
                connection_settle(table, c, now_us);
        } else {
            table->counters->frames_not_for_us++;
            send_reset_for_segment(table, segment);
        }
        return;
    }
    switch (c->state) {
    case TCP_SYN_SENT:
        syn_sent_input(table, c, segment, now_us);
        break;
    case TCP_SYN_RECEIVED:
        syn_received_input(table, c, segment, now_us);
        break;
    case TCP_TIME_WAIT:
        time_wait_input(table, c, segment, now_us);
        return; /* may have freed c */
    default:
        synchronized_input(table, c, segment, now_us);
        break;
    }
    connection_settle(table, c, now_us);
}

/* ---- timers ---- */

static void retransmission_timeout(struct tcp_table *table, struct netstack_connection *c,
                                   uint64_t now_us)
{
    c->retransmit_at_us = TCP_NEVER_US;
    if (c->state == TCP_SYN_SENT) {
        if (c->synack_retries >= TCP_SYN_RETRIES_MAX) {
            /* No answer: the attempt failed (no RST: nothing synchronized). */
            table->counters->tcp_retransmission_timeouts++;
            c->dead = true;
            deliver_closed(table, c,
                           c->close_requested ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_ERROR);
            return;
        }
        c->synack_retries++;
        table->counters->tcp_retransmissions++;
        send_syn(table, c, now_us);
        /* RFC 6298 5.5: the initial RTO, doubled per resend. */
        c->retransmit_at_us = now_us + ((uint64_t)TCP_RTO_INITIAL_US << c->synack_retries);
        return;
    }
    if (c->state == TCP_SYN_RECEIVED) {
        if (c->synack_retries >= TCP_SYNACK_RETRIES_MAX) {
            c->dead = true; /* the client went away: drop quietly */
            return;
        }
        c->synack_retries++;
        table->counters->tcp_retransmissions++;
        send_synack(table, c, now_us);
        c->retransmit_at_us = now_us + ((uint64_t)TCP_SYNACK_TIMEOUT_US << c->synack_retries);
        return;
    }
    if (c->snd_una == c->snd_max)
        return;
    if (c->retransmit_count >= table->config.retransmissions_max) {
        abort_connection(table, c, NETSTACK_CLOSE_ERROR);
        return;
    }
    table->counters->tcp_retransmission_timeouts++;
    c->retransmit_count++;
    c->backoff_shift = min_u32(c->backoff_shift + 1, TCP_BACKOFF_SHIFT_MAX);
    uint32_t flight = c->snd_max - c->snd_una;
    c->ssthresh = max_u32(flight / 2, 2u * c->send_mss);
    c->cwnd = c->send_mss;
    c->bytes_acked_avoidance = 0;
    c->in_recovery = false;
    c->dupacks = 0;
    c->recover = c->snd_max - 1;
    c->recover_armed = true;
    c->rtt_timing = false;
    c->snd_nxt = c->snd_una; /* go back: resend from the first unacknowledged byte */
    transmit(table, c, now_us);
    /* Nothing went (the peer's window is zero): the persist timer, armed
     * by transmit, probes instead; a live peer answering probes is not a
     * failure to count toward retransmissions_max. */
    if (c->snd_nxt != c->snd_una && c->retransmit_at_us == TCP_NEVER_US)
        arm_retransmit(c, now_us);
}

static void persist_timeout(struct tcp_table *table, struct netstack_connection *c,
                            uint64_t now_us)
{
    c->persist_at_us = TCP_NEVER_US;
    /* snd_nxt, not snd_max: after a timeout into a zero window the bytes
     * past snd_una count as not sent. */
    bool waiting = c->snd_wnd == 0 && c->snd_nxt == c->snd_una &&
                   (c->send.length > 0 || c->fin_queued);
    if (!waiting)
        return;
    /* Unanswered probes end any connection. An orphan (the shard already
     * had `closed`) also ends when the backoff says it waited long enough
     * though answered: a peer that never opens its window must not keep
     * the slot (Linux's orphan rule). */
    uint32_t orphan_backoff_max = min_u32(table->config.retransmissions_max, TCP_BACKOFF_SHIFT_MAX);
    if (c->persist_probes >= table->config.retransmissions_max ||
        (!c->shard_holds && c->backoff_shift >= orphan_backoff_max)) {
        abort_connection(table, c, NETSTACK_CLOSE_ERROR);
        return;
    }
    c->persist_probes++;
    c->backoff_shift = min_u32(c->backoff_shift + 1, TCP_BACKOFF_SHIFT_MAX);
    table->counters->tcp_zero_window_probes++;
    send_probe(table, c);
    c->persist_at_us = now_us + rto_us(c);
}

static void keepalive_timeout(struct tcp_table *table, struct netstack_connection *c,
                              uint64_t now_us)
{
    uint64_t interval_us =
        max_u64((uint64_t)table->config.keepalive_interval_ms * TCP_US_PER_MS, TCP_US_PER_MS);
    if (c->snd_una != c->snd_max || c->send.length > 0) {
        /* Data in flight: the retransmission timer watches the peer. */
        c->keepalive_at_us = now_us + (uint64_t)table->config.keepalive_idle_ms * TCP_US_PER_MS;
        return;
    }
    if (c->keepalive_probes >= table->config.keepalive_probes_max) {
        table->counters->tcp_keepalive_timeouts++;
        abort_connection(table, c, NETSTACK_CLOSE_ERROR);
        return;
    }
    c->keepalive_probes++;
    table->counters->tcp_keepalive_probes++;
    send_probe(table, c);
    c->keepalive_at_us = now_us + interval_us;
}

static void connection_timers(struct tcp_table *table, struct netstack_connection *c,
                              uint64_t now_us)
{
    if (c->state_timer_at_us <= now_us) {
        /* TIME_WAIT over, or FIN_WAIT_2 gave up waiting for the peer. */
        c->state_timer_at_us = TCP_NEVER_US;
        c->dead = true;
        return;
    }
    if (c->retransmit_at_us <= now_us) {
        retransmission_timeout(table, c, now_us);
        if (c->dead)
            return;
    }
    if (c->persist_at_us <= now_us) {
        persist_timeout(table, c, now_us);
        if (c->dead)
            return;
    }
    if (c->delayed_ack_at_us <= now_us) {
        c->delayed_ack_at_us = TCP_NEVER_US;
        if (synchronized(c))
            send_ack(table, c);
    }
    if (keepalive_applies(table, c) && c->keepalive_at_us <= now_us)
        keepalive_timeout(table, c, now_us);
}

/* ---- deferred work from tcp_send / tcp_close / tcp_set_receive_paused ---- */

static void connection_service(struct tcp_table *table, struct netstack_connection *c)
{
    if (c->state == TCP_SYN_SENT) {
        /* RFC 9293: CLOSE in SYN_SENT deletes the connection; nothing is
         * synchronized, so no FIN and no RST. Bytes sent meanwhile wait in
         * the ring for the handshake. */
        if (c->shard_holds && (c->close_requested || c->send_failed)) {
            c->dead = true;
            deliver_closed(table, c,
                           c->close_requested ? NETSTACK_CLOSE_LOCAL : NETSTACK_CLOSE_SEND_FULL);
        }
        return;
    }
    if (c->shard_holds && c->send_failed) {
        abort_connection(table, c, NETSTACK_CLOSE_SEND_FULL);
        return;
    }
    if (c->shard_holds && c->close_requested) {
        deliver_closed(table, c, NETSTACK_CLOSE_LOCAL);
        c->fin_queued = true;
        receive_buffers_free(c); /* held bytes have no reader now */
    } else if (c->shard_holds && !c->paused && c->receive.length > 0) {
        uint32_t window_before = receive_window(c);
        deliver_held(table, c);
        if (c->dead || !c->shard_holds)
            return;
        /* A window update when the window opened enough to matter. */
        uint32_t maximum = receive_window_max(table, c);
        uint32_t space = maximum - c->receive.length;
        if (space - window_before >= min_u32(maximum / 2, table->our_mss))
            c->ack_now = true;
    }
    maybe_deliver_peer_close(table, c);
}

uint64_t tcp_poll(struct tcp_table *table, uint64_t now_us)
{
    assert(table);
    /* Pending work, in the order it was asked for. A callback may add more
     * (also for this connection): bounded passes over the pool. */
    uint64_t budget = (uint64_t)table->pool_slots * TCP_PENDING_PASSES_MAX + 16u;
    while (table->pending_head && budget-- > 0) {
        struct netstack_connection *c = table->pending_head;
        pending_remove(table, c);
        connection_service(table, c);
        connection_settle(table, c, now_us);
    }
    uint64_t timer_budget = (uint64_t)table->heap_count * 4u + 16u;
    while (table->heap_count > 0 && table->heap[0]->deadline_us <= now_us &&
           timer_budget-- > 0) {
        struct netstack_connection *c = table->heap[0];
        connection_timers(table, c, now_us);
        connection_settle(table, c, now_us);
    }
    if (table->pending_head)
        return now_us;
    return table->heap_count > 0 ? table->heap[0]->deadline_us : TCP_NEVER_US;
}

/* ---- the shard's calls ---- */

void tcp_resend_unsent_syns(struct tcp_table *table, uint64_t now_us)
{
    assert(table);
    /* Bounded by the slots ever used; skipped at once when none waits. */
    for (uint32_t i = 0; i < table->pool_high_water && table->syns_unsent > 0; i++) {
        struct netstack_connection *c = &table->pool[i];
        if (!c->in_use || c->dead || !c->syn_unsent)
            continue;
        assert(c->state == TCP_SYN_SENT);
        send_syn(table, c, now_us);
        if (!c->syn_unsent && c->synack_retries == 0) {
            /* The first SYN really left now: its RTO counts from now. */
            c->retransmit_at_us = now_us + TCP_RTO_INITIAL_US;
            timers_changed(table, c);
        }
    }
}

/* The first ephemeral port with no connection (of any state, TIME_WAIT
 * included) to remote_ipv4:remote_port, or 0. */
static uint16_t ephemeral_port(struct tcp_table *table, struct tcp_segment *tuple)
{
    for (uint32_t port = NETSTACK_EPHEMERAL_PORT_FIRST; port <= NETSTACK_EPHEMERAL_PORT_LAST;
         port++) {
        if (listening_on(table, (uint16_t)port))
            continue;
        tuple->local_port = (uint16_t)port;
        if (!lookup(table, tuple))
            return (uint16_t)port;
    }
    return 0;
}

struct netstack_connection *tcp_connect(struct tcp_table *table, uint32_t remote_ipv4,
                                        uint16_t remote_port, void *user, uint64_t now_us)
{
    assert(table);
    struct tcp_segment tuple;
    memset(&tuple, 0, sizeof tuple);
    tuple.remote_ipv4 = remote_ipv4;
    tuple.remote_port = remote_port;
    tuple.local_ipv4 = table->config.ipv4_address;
    if (remote_port == 0 ||
        table->count_active + table->count_connecting >= table->config.connections_max ||
        ephemeral_port(table, &tuple) == 0) {
        table->counters->tcp_connections_refused++;
        return NULL;
    }
    struct netstack_connection *c = connection_allocate(table, &tuple);
    c->pool_class = TCP_CLASS_CONNECTING;
    table->count_connecting++;
    c->state = TCP_SYN_SENT;
    c->user = user;
    c->shard_holds = true; /* `closed` if the attempt fails */
    table->counters->tcp_connections_opened++;
    c->iss = initial_sequence(table, &tuple, now_us);
    c->snd_una = c->iss;
    c->snd_nxt = c->snd_max = c->iss + 1;
    c->recover = c->iss;
    c->rcv_shift = table->our_shift; /* offered; dropped if the peer does not scale */
    c->rto_base_us = TCP_RTO_INITIAL_US;
    c->ssthresh = TCP_CWND_MAX_BYTES;
    c->synack_sent_us = now_us;
    send_syn(table, c, now_us);
    c->retransmit_at_us = now_us + TCP_RTO_INITIAL_US;
    timers_changed(table, c);
    return c;
}

bool tcp_send(struct tcp_table *table, struct netstack_connection *connection, const void *data,
              size_t size)
{
    assert(table && connection && connection->in_use);
    struct netstack_connection *c = connection;
    /* !shard_holds: called from inside `closed` (the handle is still
     * valid until it returns): nothing to do. */
    if (!c->shard_holds || c->send_failed || c->close_requested || c->fin_queued)
        return false;
    if (size == 0)
        return true;
    uint64_t needed = (uint64_t)c->send.length + size;
    if (needed > table->config.send_buffer_bytes_max ||
        !ring_reserve(&c->send, (uint32_t)needed, TCP_SEND_RING_START_BYTES,
                      table->config.send_buffer_bytes_max)) {
        table->counters->tcp_send_buffer_full++;
        c->send_failed = true;
        pending_add(table, c);
        return false;
    }
    ring_write_at(&c->send, c->send.length, data, (uint32_t)size);
    c->send.length += (uint32_t)size;
    pending_add(table, c);
    return true;
}

void tcp_close(struct tcp_table *table, struct netstack_connection *connection)
{
    assert(table && connection && connection->in_use);
    if (!connection->shard_holds)
        return; /* from inside `closed`: already closed for the shard */
    connection->close_requested = true;
    pending_add(table, connection);
}

void tcp_set_receive_paused(struct tcp_table *table, struct netstack_connection *connection,
                            bool paused)
{
    assert(table && connection && connection->in_use);
    if (!connection->shard_holds)
        return;
    connection->paused = paused;
    if (!paused)
        pending_add(table, connection);
}

size_t tcp_queued_bytes(const struct tcp_table *table,
                        const struct netstack_connection *connection)
{
    assert(table && connection && connection->in_use);
    return connection->send.length;
}

/* ---- creation ---- */

struct tcp_table *tcp_create(const struct netstack_config *config,
                             const struct tcp_output *output,
                             const struct netstack_callbacks *callbacks, void *context,
                             struct netstack_counters *counters, char *error,
                             size_t error_bytes)
{
    const char *problem = NULL;
    if (!config || !output || !output->segment || !callbacks || !counters)
        problem = "tcp: missing config, output, callbacks or counters";
    else if (config->mtu < NETSTACK_MTU_MIN || config->mtu > NETSTACK_MTU_MAX)
        problem = "tcp: mtu out of range";
    else if (config->connections_max == 0 || config->syn_backlog_max == 0)
        problem = "tcp: connections_max and syn_backlog_max must be positive";
    else if (config->receive_buffer_bytes_max == 0 || config->send_buffer_bytes_max == 0)
        problem = "tcp: buffer limits must be positive";
    else if ((uint64_t)config->connections_max + config->syn_backlog_max +
                 config->time_wait_max > (1u << 24))
        problem = "tcp: connection limits too large";
    else if (config->receive_buffer_bytes_max > (TCP_WINDOW_FIELD_MAX << TCP_WINDOW_SCALE_MAX))
        problem = "tcp: receive_buffer_bytes_max beyond what window scaling can advertise";
    if (problem) {
        if (error && error_bytes)
            snprintf(error, error_bytes, "%s", problem);
        return NULL;
    }
    struct tcp_table *table = calloc(1, sizeof *table);
    if (!table)
        goto out_of_memory;
    table->config = *config;
    table->output = *output;
    table->callbacks = *callbacks;
    table->context = context;
    table->counters = counters;
    table->our_mss = (uint16_t)(config->mtu - TCP_HEADERS_BYTES);
    table->receive_window_max = config->receive_buffer_bytes_max;
    while (table->our_shift < TCP_WINDOW_SCALE_MAX &&
           (config->receive_buffer_bytes_max >> table->our_shift) > TCP_WINDOW_FIELD_MAX)
        table->our_shift++;
    table->pool_slots = config->connections_max + config->syn_backlog_max + config->time_wait_max;
    uint32_t buckets = 1;
    while (buckets < table->pool_slots)
        buckets *= 2;
    table->bucket_mask = buckets - 1;
    /* calloc: pages of slots never used are never touched. */
    table->pool = calloc(table->pool_slots, sizeof *table->pool);
    table->buckets = calloc(buckets, sizeof *table->buckets);
    table->heap = calloc(table->pool_slots, sizeof *table->heap);
    if (!table->pool || !table->buckets || !table->heap) {
        tcp_destroy(table);
        goto out_of_memory;
    }
    return table;
out_of_memory:
    if (error && error_bytes)
        snprintf(error, error_bytes, "tcp: out of memory");
    return NULL;
}

void tcp_destroy(struct tcp_table *table)
{
    if (!table)
        return;
    if (table->pool) {
        for (uint32_t i = 0; i < table->pool_high_water; i++) {
            struct netstack_connection *c = &table->pool[i];
            if (!c->in_use)
                continue;
            ring_free(&c->send);
            receive_buffers_free(c);
        }
    }
    free(table->pool);
    free(table->buckets);
    free(table->heap);
    free(table);
}
