/*
 * The session tracker (see session_tracker.h).
 *
 * Sessions live in a hash table by id. Expiry buckets (ExpiryQueue's
 * expiryMap: time -> set of sessions) live in a hash table by time and in a
 * list sorted by time, so the due buckets are always at the head. A session
 * is in at most one bucket, linked into its list.
 *
 * ZooKeeper's ExpiryQueue polls one bucket per tick, at nextExpirationTime,
 * and its thread keeps polling until it has caught up with the clock. Every
 * bucket time is a multiple of tickTime that was in the future when the
 * bucket was made, so "the bucket at nextExpirationTime, once now reaches it"
 * is the same as "every bucket whose time is <= now, oldest first", which is
 * what this does without stepping through empty ticks.
 */
#include "consensus/session_tracker.h"

#include <assert.h>
#include <stdlib.h>

/* Hash tables start at this many buckets and double when full (load <= 1). */
#define SESSION_HASH_SLOTS_MIN 64u
/* createSession skips at most this many ids that are already tracked. */
#define SESSION_ID_SKIP_MAX 1024

struct expiry_bucket;

struct session {
    struct session *hash_next;
    int64_t id;
    int32_t timeout_ms;
    bool closing;
    bool has_expiry; /* ExpiryQueue.elemMap has an entry */
    int64_t expiry_time_ms;
    struct expiry_bucket *bucket; /* NULL once its bucket was polled */
    struct session *bucket_prev, *bucket_next;
};

struct expiry_bucket {
    struct expiry_bucket *hash_next;
    int64_t time_ms;
    struct session *head, *tail;
    size_t count;
    struct expiry_bucket *older, *newer; /* the time-sorted list */
};

struct session_tracker {
    struct session **session_slots;
    size_t session_mask;
    size_t session_count;
    size_t sessions_max;
    struct expiry_bucket **bucket_slots;
    size_t bucket_mask;
    size_t bucket_count;
    struct expiry_bucket *oldest, *newest;
    int32_t tick_ms;
    int64_t next_session_id;
};

static uint64_t mix64(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

int64_t zk_initialize_next_session_id(int64_t server_id, int64_t now_elapsed_ms)
{
    /* Java: (now << 24) >>> 8 keeps the low 40 bits of now at bits 16..55;
     * the unsigned shift leaves the top byte to the server id. */
    uint64_t next = ((uint64_t)now_elapsed_ms << 24) >> 8;
    next |= (uint64_t)server_id << 56;
    int64_t id = (int64_t)next;
    if (id == ZK_CONTAINER_EPHEMERAL_OWNER) {
        id++;
    }
    return id;
}

/* ExpiryQueue.roundToNextInterval (Java long division; time >= 0). */
static int64_t round_to_next_interval(const struct session_tracker *tracker, int64_t time_ms)
{
    return (time_ms / tracker->tick_ms + 1) * tracker->tick_ms;
}

/* ---- sessions by id ---------------------------------------------------- */

static size_t session_slot(const struct session_tracker *tracker, int64_t id)
{
    return (size_t)mix64((uint64_t)id) & tracker->session_mask;
}

static struct session *session_find(const struct session_tracker *tracker, int64_t id)
{
    for (struct session *session = tracker->session_slots[session_slot(tracker, id)];
         session != NULL; session = session->hash_next) {
        if (session->id == id) {
            return session;
        }
    }
    return NULL;
}

/* Doubling is best effort: if memory is short the chains get longer. */
static void session_table_grow(struct session_tracker *tracker)
{
    size_t slots = (tracker->session_mask + 1) * 2;
    struct session **grown = calloc(slots, sizeof(*grown));
    if (grown == NULL) {
        return;
    }
    for (size_t i = 0; i <= tracker->session_mask; i++) {
        struct session *session = tracker->session_slots[i];
        while (session != NULL) {
            struct session *next = session->hash_next;
            size_t slot = (size_t)mix64((uint64_t)session->id) & (slots - 1);
            session->hash_next = grown[slot];
            grown[slot] = session;
            session = next;
        }
    }
    free(tracker->session_slots);
    tracker->session_slots = grown;
    tracker->session_mask = slots - 1;
}

static void session_insert(struct session_tracker *tracker, struct session *session)
{
    if (tracker->session_count >= tracker->session_mask + 1) {
        session_table_grow(tracker);
    }
    size_t slot = session_slot(tracker, session->id);
    session->hash_next = tracker->session_slots[slot];
    tracker->session_slots[slot] = session;
    tracker->session_count++;
}

static void session_unhash(struct session_tracker *tracker, struct session *session)
{
    struct session **link = &tracker->session_slots[session_slot(tracker, session->id)];
    while (*link != session) {
        assert(*link != NULL);
        link = &(*link)->hash_next;
    }
    *link = session->hash_next;
    tracker->session_count--;
}

/* ---- expiry buckets ------------------------------------------------------ */

static size_t bucket_slot(const struct session_tracker *tracker, int64_t time_ms)
{
    return (size_t)mix64((uint64_t)time_ms) & tracker->bucket_mask;
}

static struct expiry_bucket *bucket_find(const struct session_tracker *tracker, int64_t time_ms)
{
    for (struct expiry_bucket *bucket = tracker->bucket_slots[bucket_slot(tracker, time_ms)];
         bucket != NULL; bucket = bucket->hash_next) {
        if (bucket->time_ms == time_ms) {
            return bucket;
        }
    }
    return NULL;
}

static void bucket_table_grow(struct session_tracker *tracker)
{
    size_t slots = (tracker->bucket_mask + 1) * 2;
    struct expiry_bucket **grown = calloc(slots, sizeof(*grown));
    if (grown == NULL) {
        return;
    }
    for (size_t i = 0; i <= tracker->bucket_mask; i++) {
        struct expiry_bucket *bucket = tracker->bucket_slots[i];
        while (bucket != NULL) {
            struct expiry_bucket *next = bucket->hash_next;
            size_t slot = (size_t)mix64((uint64_t)bucket->time_ms) & (slots - 1);
            bucket->hash_next = grown[slot];
            grown[slot] = bucket;
            bucket = next;
        }
    }
    free(tracker->bucket_slots);
    tracker->bucket_slots = grown;
    tracker->bucket_mask = slots - 1;
}

static struct expiry_bucket *bucket_get_or_create(struct session_tracker *tracker, int64_t time_ms)
{
    struct expiry_bucket *bucket = bucket_find(tracker, time_ms);
    if (bucket != NULL) {
        return bucket;
    }
    bucket = calloc(1, sizeof(*bucket));
    if (bucket == NULL) {
        return NULL;
    }
    bucket->time_ms = time_ms;
    if (tracker->bucket_count >= tracker->bucket_mask + 1) {
        bucket_table_grow(tracker);
    }
    size_t slot = bucket_slot(tracker, time_ms);
    bucket->hash_next = tracker->bucket_slots[slot];
    tracker->bucket_slots[slot] = bucket;
    tracker->bucket_count++;
    /* Sorted insert from the newest end: a new expiry is usually the latest. */
    struct expiry_bucket *older = tracker->newest;
    while (older != NULL && older->time_ms > time_ms) {
        older = older->older;
    }
    bucket->older = older;
    bucket->newer = older != NULL ? older->newer : tracker->oldest;
    if (bucket->newer != NULL) {
        bucket->newer->older = bucket;
    } else {
        tracker->newest = bucket;
    }
    if (older != NULL) {
        older->newer = bucket;
    } else {
        tracker->oldest = bucket;
    }
    return bucket;
}

static void bucket_free(struct session_tracker *tracker, struct expiry_bucket *bucket)
{
    assert(bucket->count == 0);
    struct expiry_bucket **link = &tracker->bucket_slots[bucket_slot(tracker, bucket->time_ms)];
    while (*link != bucket) {
        assert(*link != NULL);
        link = &(*link)->hash_next;
    }
    *link = bucket->hash_next;
    if (bucket->older != NULL) {
        bucket->older->newer = bucket->newer;
    } else {
        tracker->oldest = bucket->newer;
    }
    if (bucket->newer != NULL) {
        bucket->newer->older = bucket->older;
    } else {
        tracker->newest = bucket->older;
    }
    tracker->bucket_count--;
    free(bucket);
}

static void bucket_append(struct expiry_bucket *bucket, struct session *session)
{
    session->bucket = bucket;
    session->bucket_next = NULL;
    session->bucket_prev = bucket->tail;
    if (bucket->tail != NULL) {
        bucket->tail->bucket_next = session;
    } else {
        bucket->head = session;
    }
    bucket->tail = session;
    bucket->count++;
}

/* Takes the session out of its bucket. ZooKeeper leaves an emptied set in
 * expiryMap until its time (it shows in dump's "Sets (N)"), and so does this,
 * unless that would let empty buckets outnumber the session bound. */
static void bucket_unlink(struct session_tracker *tracker, struct session *session)
{
    struct expiry_bucket *bucket = session->bucket;
    if (bucket == NULL) {
        return;
    }
    if (session->bucket_prev != NULL) {
        session->bucket_prev->bucket_next = session->bucket_next;
    } else {
        bucket->head = session->bucket_next;
    }
    if (session->bucket_next != NULL) {
        session->bucket_next->bucket_prev = session->bucket_prev;
    } else {
        bucket->tail = session->bucket_prev;
    }
    session->bucket = NULL;
    session->bucket_prev = session->bucket_next = NULL;
    bucket->count--;
    if (bucket->count == 0 && tracker->bucket_count > tracker->sessions_max) {
        bucket_free(tracker, bucket);
    }
}

/* ExpiryQueue.update: false only when a new bucket could not be allocated
 * (the session then keeps its previous expiry). */
static bool expiry_update(struct session_tracker *tracker, struct session *session,
                          int32_t timeout_ms, int64_t now_elapsed_ms)
{
    int64_t expiry_ms = round_to_next_interval(tracker, now_elapsed_ms + timeout_ms);
    if (session->has_expiry && session->expiry_time_ms == expiry_ms) {
        return true; /* no change */
    }
    struct expiry_bucket *bucket = bucket_get_or_create(tracker, expiry_ms);
    if (bucket == NULL) {
        return false;
    }
    bucket_unlink(tracker, session);
    bucket_append(bucket, session);
    session->has_expiry = true;
    session->expiry_time_ms = expiry_ms;
    return true;
}

/* ---- the tracker --------------------------------------------------------- */

struct session_tracker *session_tracker_create(int64_t server_id, int64_t now_elapsed_ms,
                                               int32_t tick_ms, size_t sessions_max)
{
    assert(tick_ms > 0);
    assert(sessions_max >= 1);
    struct session_tracker *tracker = calloc(1, sizeof(*tracker));
    if (tracker == NULL) {
        return NULL;
    }
    tracker->tick_ms = tick_ms;
    tracker->sessions_max = sessions_max;
    tracker->next_session_id = zk_initialize_next_session_id(server_id, now_elapsed_ms);
    tracker->session_slots = calloc(SESSION_HASH_SLOTS_MIN, sizeof(*tracker->session_slots));
    tracker->session_mask = SESSION_HASH_SLOTS_MIN - 1;
    tracker->bucket_slots = calloc(SESSION_HASH_SLOTS_MIN, sizeof(*tracker->bucket_slots));
    tracker->bucket_mask = SESSION_HASH_SLOTS_MIN - 1;
    if (tracker->session_slots == NULL || tracker->bucket_slots == NULL) {
        session_tracker_destroy(tracker);
        return NULL;
    }
    return tracker;
}

void session_tracker_destroy(struct session_tracker *tracker)
{
    if (tracker == NULL) {
        return;
    }
    if (tracker->session_slots != NULL) {
        for (size_t i = 0; i <= tracker->session_mask; i++) {
            struct session *session = tracker->session_slots[i];
            while (session != NULL) {
                struct session *next = session->hash_next;
                free(session);
                session = next;
            }
        }
    }
    struct expiry_bucket *bucket = tracker->oldest;
    while (bucket != NULL) {
        struct expiry_bucket *newer = bucket->newer;
        free(bucket);
        bucket = newer;
    }
    free(tracker->session_slots);
    free(tracker->bucket_slots);
    free(tracker);
}

static struct session *session_add(struct session_tracker *tracker, int64_t session_id,
                                   int32_t timeout_ms)
{
    if (tracker->session_count >= tracker->sessions_max) {
        return NULL;
    }
    struct session *session = calloc(1, sizeof(*session));
    if (session == NULL) {
        return NULL;
    }
    session->id = session_id;
    session->timeout_ms = timeout_ms;
    session_insert(tracker, session);
    return session;
}

static void session_delete(struct session_tracker *tracker, struct session *session)
{
    bucket_unlink(tracker, session);
    session_unhash(tracker, session);
    free(session);
}

int session_tracker_track(struct session_tracker *tracker, int64_t session_id, int32_t timeout_ms,
                          int64_t now_elapsed_ms)
{
    struct session *session = session_find(tracker, session_id);
    int added = 0;
    if (session == NULL) {
        session = session_add(tracker, session_id, timeout_ms);
        if (session == NULL) {
            return -1;
        }
        added = 1;
    }
    if (!expiry_update(tracker, session, timeout_ms, now_elapsed_ms)) {
        if (added) {
            session_delete(tracker, session);
        }
        return -1;
    }
    return added;
}

int64_t session_tracker_create_session(struct session_tracker *tracker, int32_t timeout_ms,
                                       int64_t now_elapsed_ms)
{
    /* An id can already be tracked when it came from a snapshot of an earlier
     * run whose elapsed clock (it restarts at boot) was close to this one's.
     * ZooKeeper would hand it out again; skipping it keeps ids unique. */
    for (int attempt = 0; attempt < SESSION_ID_SKIP_MAX; attempt++) {
        int64_t session_id = tracker->next_session_id;
        tracker->next_session_id = (int64_t)((uint64_t)session_id + 1);
        if (session_id == ZK_CONTAINER_EPHEMERAL_OWNER || session_id == 0 ||
            session_find(tracker, session_id) != NULL) {
            continue;
        }
        if (session_tracker_track(tracker, session_id, timeout_ms, now_elapsed_ms) != 1) {
            tracker->next_session_id = session_id; /* full: the id is not used up */
            return 0;
        }
        return session_id;
    }
    return 0;
}

bool session_tracker_touch_timeout(struct session_tracker *tracker, int64_t session_id,
                                   int32_t timeout_ms, int64_t now_elapsed_ms)
{
    struct session *session = session_find(tracker, session_id);
    if (session == NULL || session->closing) {
        return false;
    }
    /* An allocation failure keeps the old expiry: the session stays valid. */
    (void)expiry_update(tracker, session, timeout_ms, now_elapsed_ms);
    return true;
}

bool session_tracker_touch(struct session_tracker *tracker, int64_t session_id,
                           int64_t now_elapsed_ms)
{
    const struct session *session = session_find(tracker, session_id);
    if (session == NULL) {
        return false;
    }
    return session_tracker_touch_timeout(tracker, session_id, session->timeout_ms, now_elapsed_ms);
}

bool session_tracker_revalidate(struct session_tracker *tracker, int64_t session_id,
                                int32_t timeout_ms, int64_t now_elapsed_ms)
{
    return session_tracker_touch_timeout(tracker, session_id, timeout_ms, now_elapsed_ms);
}

void session_tracker_set_closing(struct session_tracker *tracker, int64_t session_id)
{
    struct session *session = session_find(tracker, session_id);
    if (session != NULL) {
        session->closing = true;
    }
}

bool session_tracker_remove(struct session_tracker *tracker, int64_t session_id)
{
    struct session *session = session_find(tracker, session_id);
    if (session == NULL) {
        return false;
    }
    session_delete(tracker, session);
    return true;
}

bool session_tracker_lookup(const struct session_tracker *tracker, int64_t session_id,
                            int32_t *timeout_ms, bool *closing)
{
    const struct session *session = session_find(tracker, session_id);
    if (session == NULL) {
        return false;
    }
    if (timeout_ms != NULL) {
        *timeout_ms = session->timeout_ms;
    }
    if (closing != NULL) {
        *closing = session->closing;
    }
    return true;
}

size_t session_tracker_count(const struct session_tracker *tracker)
{
    return tracker->session_count;
}

int64_t session_tracker_next_session_id(const struct session_tracker *tracker)
{
    return tracker->next_session_id;
}

size_t session_tracker_expired(struct session_tracker *tracker, int64_t now_elapsed_ms,
                               int64_t *out, size_t out_max)
{
    size_t count = 0;
    /* Each pass either frees a bucket or stops: bounded by the bucket count. */
    while (tracker->oldest != NULL && tracker->oldest->time_ms <= now_elapsed_ms) {
        struct expiry_bucket *bucket = tracker->oldest;
        while (bucket->head != NULL) {
            if (count == out_max) {
                return count; /* the rest of this bucket stays due */
            }
            struct session *session = bucket->head;
            /* poll() takes the whole set out of expiryMap; elemMap keeps the
             * session's expiry time, and run() marks it closing. */
            session->bucket = NULL;
            bucket->head = session->bucket_next;
            if (bucket->head != NULL) {
                bucket->head->bucket_prev = NULL;
            } else {
                bucket->tail = NULL;
            }
            session->bucket_prev = session->bucket_next = NULL;
            bucket->count--;
            session->closing = true;
            out[count++] = session->id;
        }
        bucket_free(tracker, bucket);
    }
    return count;
}

int64_t session_tracker_next_expiry_ms(const struct session_tracker *tracker,
                                       int64_t now_elapsed_ms)
{
    if (tracker->oldest == NULL) {
        /* Nothing can expire before a session is touched again. */
        return INT64_MAX;
    }
    int64_t wait_ms = tracker->oldest->time_ms - now_elapsed_ms;
    return wait_ms > 0 ? wait_ms : 0;
}

size_t session_tracker_bucket_count(const struct session_tracker *tracker)
{
    return tracker->bucket_count;
}

void session_tracker_foreach_bucket(const struct session_tracker *tracker,
                                    void (*visit_bucket)(void *ctx, int64_t expiry_time_ms,
                                                         size_t session_count),
                                    void (*visit_session)(void *ctx, int64_t session_id,
                                                          int32_t timeout_ms),
                                    void *ctx)
{
    for (const struct expiry_bucket *bucket = tracker->oldest; bucket != NULL;
         bucket = bucket->newer) {
        if (visit_bucket != NULL) {
            visit_bucket(ctx, bucket->time_ms, bucket->count);
        }
        if (visit_session != NULL) {
            for (const struct session *session = bucket->head; session != NULL;
                 session = session->bucket_next) {
                visit_session(ctx, session->id, session->timeout_ms);
            }
        }
    }
}
