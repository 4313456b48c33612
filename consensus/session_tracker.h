/*
 * The session tracker: ZooKeeper 3.8's SessionTrackerImpl with its
 * ExpiryQueue, as a pure state machine. Time arrives as arguments (elapsed
 * milliseconds from a monotonic clock, ZooKeeper's Time.currentElapsedTime);
 * nothing here reads a clock, sleeps or locks. The consensus core is its only
 * user.
 *
 * Semantics (SessionTrackerImpl.java, ExpiryQueue.java):
 * - Session ids start at initializeNextSessionId(serverId) and go up by one.
 * - Expiry is bucketed by tickTime: touching a session with timeout T at time
 *   `now` moves it to the bucket roundToNextInterval(now + T) =
 *   ((now + T) / tick + 1) * tick.
 * - Buckets expire in time order, one per tick, starting at
 *   roundToNextInterval(creation time): a bucket expires once `now` reaches
 *   its time. Expired sessions are marked closing (as SessionTrackerImpl.run
 *   does before calling the expirer) and stay tracked until removed (after
 *   their closeSession commits).
 * - A closing session cannot be touched (touch returns false: the request
 *   fails with SESSIONEXPIRED).
 * - Bounded: at most `sessions_max` sessions.
 */
#ifndef CHEETAH_CONSENSUS_SESSION_TRACKER_H
#define CHEETAH_CONSENSUS_SESSION_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct session_tracker;

/* EphemeralType.CONTAINER_EPHEMERAL_OWNER: never handed out as a session id. */
#define ZK_CONTAINER_EPHEMERAL_OWNER INT64_MIN

/* SessionTrackerImpl.initializeNextSessionId: server id in the top byte, the
 * elapsed time's low 40 bits below it, low 16 bits zero:
 * ((now << 24) >>> 8) | (serverId << 56), skipping the container owner. */
int64_t zk_initialize_next_session_id(int64_t server_id, int64_t now_elapsed_ms);

/* `tick_ms` > 0 is the bucket width (tickTime); `sessions_max` >= 1. NULL on
 * allocation failure. */
struct session_tracker *session_tracker_create(int64_t server_id, int64_t now_elapsed_ms,
                                               int32_t tick_ms, size_t sessions_max);
void session_tracker_destroy(struct session_tracker *tracker);

/* createSession: the next id, tracked with `timeout_ms` and touched at `now`.
 * Returns 0 when sessions_max sessions are tracked (nothing changes then; 0
 * is never a valid id since the id carries a non-zero time). */
int64_t session_tracker_create_session(struct session_tracker *tracker, int32_t timeout_ms,
                                       int64_t now_elapsed_ms);

/* trackSession (sessions from a snapshot, or created by another server): adds
 * the session if absent, then touches it with `timeout_ms` either way.
 * Returns 1 if added, 0 if it was already tracked, -1 when full. */
int session_tracker_track(struct session_tracker *tracker, int64_t session_id, int32_t timeout_ms,
                          int64_t now_elapsed_ms);

/* touchSession(id, timeout): false if the session is unknown or closing. */
bool session_tracker_touch_timeout(struct session_tracker *tracker, int64_t session_id,
                                   int32_t timeout_ms, int64_t now_elapsed_ms);
/* touchSession with the session's own timeout (what every request and ping
 * does: the connection's timeout is the session's negotiated one). */
bool session_tracker_touch(struct session_tracker *tracker, int64_t session_id,
                           int64_t now_elapsed_ms);
/* ZooKeeperServer.revalidateSession (a client reconnecting with a valid
 * password): touchSession with the timeout the reconnect negotiated. */
bool session_tracker_revalidate(struct session_tracker *tracker, int64_t session_id,
                                int32_t timeout_ms, int64_t now_elapsed_ms);

/* setSessionClosing: no effect on an unknown session. */
void session_tracker_set_closing(struct session_tracker *tracker, int64_t session_id);
/* removeSession: true if it was tracked. */
bool session_tracker_remove(struct session_tracker *tracker, int64_t session_id);

/* Lookup: false if unknown; else the session's timeout (the one it was
 * created or tracked with) and whether it is closing (either may be NULL). */
bool session_tracker_lookup(const struct session_tracker *tracker, int64_t session_id,
                            int32_t *timeout_ms, bool *closing);
size_t session_tracker_count(const struct session_tracker *tracker);
/* The id createSession would hand out next. */
int64_t session_tracker_next_session_id(const struct session_tracker *tracker);

/* ExpiryQueue.poll, repeated while a bucket is due: writes the ids of the
 * sessions whose bucket time is <= now into `out` (at most `out_max`), marks
 * them closing and returns how many. Bucket by bucket in time order. If
 * `out` fills up in the middle of a bucket, the rest of it stays due and
 * comes out on the next call. */
size_t session_tracker_expired(struct session_tracker *tracker, int64_t now_elapsed_ms,
                               int64_t *out, size_t out_max);
/* ExpiryQueue.getWaitTime: ms until the next bucket is due, 0 if due now. */
int64_t session_tracker_next_expiry_ms(const struct session_tracker *tracker,
                                       int64_t now_elapsed_ms);

/* For dump ("Session Sets (N)/(M):"): the expiry buckets in time order, each
 * with its sessions. `visit_bucket` is called once per bucket (also for empty
 * ones, which ZooKeeper keeps until their time comes), then `visit_session`
 * once per session in it. Either callback may be NULL. */
size_t session_tracker_bucket_count(const struct session_tracker *tracker);
void session_tracker_foreach_bucket(const struct session_tracker *tracker,
                                    void (*visit_bucket)(void *ctx, int64_t expiry_time_ms,
                                                         size_t session_count),
                                    void (*visit_session)(void *ctx, int64_t session_id,
                                                          int32_t timeout_ms),
                                    void *ctx);

#endif
