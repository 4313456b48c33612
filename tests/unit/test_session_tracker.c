/* java.util.Random and ZooKeeper's session passwords against golden values
 * printed by the JVM (OpenJDK 17, `java Gen.java`) and read off a real
 * ZooKeeper 3.8.0; the session tracker against SessionTrackerImpl and
 * ExpiryQueue's rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "consensus/java_random.h"
#include "consensus/session_tracker.h"

/* ---- java.util.Random ---------------------------------------------------- */

struct random_golden {
    int64_t seed;
    int32_t ints[3];            /* nextInt() x3 */
    int64_t longs[2];           /* then nextLong() x2 */
    int32_t bounded[6];         /* then nextInt(b) for the bounds below */
    uint8_t bytes[7];           /* then nextBytes(new byte[7]) */
};

static const int32_t golden_bounds[6] = {1, 7, 16, 1000, 2147483647, 1073741825};

static const struct random_golden random_goldens[] = {
    {INT64_C(0), {-1155484576, -723955400, 1033096058}, {INT64_C(-7261648964369397258), INT64_C(5700976833288827063)}, {0, 6, 12, 77, 542832677, 827187473}, {0x4d, 0xe9, 0xef, 0x9c, 0x2f, 0x93, 0x1e}},
    {INT64_C(1), {-1155869325, 431529176, 1761283695}, {INT64_C(7515937759503895804), INT64_C(668424937071768037)}, {0, 3, 11, 569, 327998473, 342691263}, {0xb4, 0x04, 0x9b, 0xf0, 0xe4, 0xae, 0xd7}},
    {INT64_C(-1), {1155099827, 1887904451, 52699159}, {INT64_C(-8337289232527761815), INT64_C(-7364023878800395366)}, {0, 3, 0, 808, 665220512, 121954317}, {0x89, 0xfe, 0xd2, 0x11, 0xcc, 0x43, 0x16}},
    {INT64_C(42), {-1170105035, 234785527, -1360544799}, {INT64_C(884324181205335268), INT64_C(-1068554554583376509)}, {0, 6, 1, 182, 969067502, 791955276}, {0x88, 0x5c, 0xb3, 0x61, 0xf8, 0x6c, 0x97}},
    {INT64_C(25214903917), {0, 4232237, 178803790}, {INT64_C(3258481617619292844), INT64_C(1684752427500229010)}, {0, 2, 7, 873, 1785185521, 109160704}, {0xfd, 0x76, 0x5d, 0xc4, 0xbe, 0x99, 0xd7}},
    {INT64_MIN, {-1155484576, -723955400, 1033096058}, {INT64_C(-7261648964369397258), INT64_C(5700976833288827063)}, {0, 6, 12, 77, 542832677, 827187473}, {0x4d, 0xe9, 0xef, 0x9c, 0x2f, 0x93, 0x1e}},
    {INT64_MAX, {1155099827, 1887904451, 52699159}, {INT64_C(-8337289232527761815), INT64_C(-7364023878800395366)}, {0, 3, 0, 808, 665220512, 121954317}, {0x89, 0xfe, 0xd2, 0x11, 0xcc, 0x43, 0x16}},
    {INT64_C(123456789012345), {-1421006947, -2071311287, -583755257}, {INT64_C(-7209970155878752358), INT64_C(-2963259256110309240)}, {0, 3, 6, 823, 1323480031, 146958768}, {0x01, 0xe6, 0xa0, 0x47, 0xb2, 0x02, 0xf6}},
};

static void test_java_random_matches_jvm(void **state)
{
    (void)state;
    for (size_t g = 0; g < sizeof random_goldens / sizeof random_goldens[0]; g++) {
        const struct random_golden *golden = &random_goldens[g];
        struct java_random random;
        java_random_init(&random, golden->seed);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(java_random_next_int(&random), golden->ints[i]);
        }
        for (int i = 0; i < 2; i++) {
            assert_true(java_random_next_long(&random) == golden->longs[i]);
        }
        for (int i = 0; i < 6; i++) {
            assert_int_equal(java_random_next_int_bounded(&random, golden_bounds[i]),
                             golden->bounded[i]);
        }
        uint8_t bytes[7];
        java_random_next_bytes(&random, bytes, sizeof bytes);
        assert_memory_equal(bytes, golden->bytes, sizeof bytes);
    }
}

struct password_golden {
    int64_t session_id;
    uint8_t password[16];
};

static const struct password_golden password_goldens[] = {
    {INT64_C(0), {0xf2, 0x2a, 0xcd, 0x4a, 0x97, 0xe6, 0x9d, 0x6d, 0x20, 0xa4, 0x9b, 0xb6, 0x38, 0xea, 0xdb, 0x38}},
    {INT64_C(1), {0x05, 0x4c, 0xc7, 0x4a, 0x37, 0x32, 0x7d, 0xb2, 0x15, 0xe7, 0x02, 0xe2, 0x0c, 0x73, 0xf0, 0x05}},
    /* These two are what a real ZooKeeper 3.8.0 (standalone) sent in its
     * ConnectResponse for sessions 0x100000cdb8d0000 and 0x100000cdb8d0001. */
    {INT64_C(0x100000cdb8d0000), {0xe9, 0x55, 0xbb, 0xa9, 0xc2, 0x1b, 0x54, 0xa1, 0x6f, 0xe9, 0x98, 0xbc, 0xdb, 0x66, 0xcb, 0xb8}},
    {INT64_C(0x100000cdb8d0001), {0xfc, 0x76, 0xb5, 0xa9, 0x62, 0x67, 0x33, 0xe6, 0x64, 0x2c, 0x00, 0xe8, 0xaf, 0xef, 0xdf, 0x85}},
    {INT64_C(-1), {0x20, 0xf6, 0x2c, 0xb5, 0x64, 0x8d, 0xc2, 0xd7, 0x71, 0x47, 0x1c, 0x8a, 0x24, 0x86, 0xa9, 0xee}},
    {INT64_MAX, {0x20, 0xf6, 0x2c, 0xb5, 0x64, 0x8d, 0xc2, 0xd7, 0x71, 0x47, 0x1c, 0x8a, 0x24, 0x86, 0xa9, 0xee}},
    {INT64_C(0x0123456789abcdef), {0xf7, 0xcd, 0x1b, 0x8b, 0x3f, 0x94, 0x6c, 0x47, 0x74, 0x25, 0xd4, 0x1b, 0xe3, 0xf6, 0x67, 0xc6}},
};

static void test_session_password_matches_zookeeper(void **state)
{
    (void)state;
    for (size_t g = 0; g < sizeof password_goldens / sizeof password_goldens[0]; g++) {
        uint8_t password[ZK_SESSION_PASSWORD_BYTES];
        memset(password, 0xaa, sizeof password);
        zk_session_password(password_goldens[g].session_id, password);
        assert_memory_equal(password, password_goldens[g].password, sizeof password);
    }
}

/* ---- session ids ----------------------------------------------------------- */

static void test_initialize_next_session_id(void **state)
{
    (void)state;
    /* Golden values from the JVM running SessionTrackerImpl's expression. */
    assert_true(zk_initialize_next_session_id(1, INT64_C(123456789)) == INT64_C(72065684902051840));
    assert_true(zk_initialize_next_session_id(0, 0) == 0);
    assert_true(zk_initialize_next_session_id(255, INT64_C(1099511627775)) == INT64_C(-65536));
    assert_true(zk_initialize_next_session_id(3, INT64_C(140737488355327)) ==
                INT64_C(288230376151646208));
    /* Server 128 at time 0 would be the container owner: skipped. */
    assert_true(zk_initialize_next_session_id(128, 0) == INT64_MIN + 1);
    /* Time bits beyond 40 are dropped; the server id owns the top byte. */
    assert_true(zk_initialize_next_session_id(1, INT64_C(1) << 41) == (INT64_C(1) << 56));
}

static void test_create_session_ids_increase(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 123456789, 2000, 100);
    assert_non_null(tracker);
    int64_t first = INT64_C(72065684902051840);
    assert_true(session_tracker_next_session_id(tracker) == first);
    for (int64_t n = 0; n < 5; n++) {
        int64_t id = session_tracker_create_session(tracker, (int32_t)(4000 + n), 123456789);
        assert_true(id == first + n);
        int32_t timeout_ms = 0;
        bool closing = true;
        assert_true(session_tracker_lookup(tracker, id, &timeout_ms, &closing));
        assert_int_equal(timeout_ms, 4000 + n);
        assert_false(closing);
    }
    assert_int_equal(session_tracker_count(tracker), 5);
    assert_false(session_tracker_lookup(tracker, first + 5, NULL, NULL));
    session_tracker_destroy(tracker);
}

/* ---- expiry ---------------------------------------------------------------- */

static void test_expiry_is_rounded_up_to_the_tick(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 1000, 2000, 100);
    int64_t out[8];
    /* now 1000 + timeout 5000 = 6000 -> next interval after 6000: 8000. */
    int64_t id = session_tracker_create_session(tracker, 5000, 1000);
    assert_true(id != 0);
    assert_int_equal(session_tracker_expired(tracker, 7999, out, 8), 0);
    assert_true(session_tracker_next_expiry_ms(tracker, 7000) == 1000);
    assert_true(session_tracker_next_expiry_ms(tracker, 9000) == 0);
    assert_int_equal(session_tracker_expired(tracker, 8000, out, 8), 1);
    assert_true(out[0] == id);
    /* Expired means closing, still tracked until removed. */
    bool closing = false;
    assert_true(session_tracker_lookup(tracker, id, NULL, &closing));
    assert_true(closing);
    assert_false(session_tracker_touch(tracker, id, 8000));
    assert_int_equal(session_tracker_expired(tracker, 100000, out, 8), 0); /* not twice */
    assert_true(session_tracker_remove(tracker, id));
    assert_false(session_tracker_remove(tracker, id));
    assert_int_equal(session_tracker_count(tracker), 0);
    assert_true(session_tracker_next_expiry_ms(tracker, 100000) == INT64_MAX);
    session_tracker_destroy(tracker);
}

static void test_touch_moves_expiry(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 0, 2000, 100);
    int64_t out[8];
    int64_t id = session_tracker_create_session(tracker, 5000, 1000); /* bucket 8000 */
    assert_true(session_tracker_touch(tracker, id, 3000));           /* 8000 -> 10000 */
    assert_int_equal(session_tracker_expired(tracker, 9999, out, 8), 0);
    assert_true(session_tracker_touch_timeout(tracker, id, 20000, 9000)); /* -> 30000 */
    assert_int_equal(session_tracker_expired(tracker, 29999, out, 8), 0);
    assert_true(session_tracker_revalidate(tracker, id, 1000, 29000)); /* -> 32000 */
    assert_int_equal(session_tracker_expired(tracker, 31999, out, 8), 0);
    assert_int_equal(session_tracker_expired(tracker, 32000, out, 8), 1);
    /* The stored timeout is the creation one; touch without a timeout uses it. */
    int32_t timeout_ms = 0;
    assert_true(session_tracker_lookup(tracker, id, &timeout_ms, NULL));
    assert_int_equal(timeout_ms, 5000);
    assert_false(session_tracker_touch(tracker, 999, 0)); /* unknown */
    assert_false(session_tracker_revalidate(tracker, 999, 1000, 0));
    session_tracker_destroy(tracker);
}

static void test_closing_session_is_not_touchable(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 0, 2000, 100);
    int64_t out[8];
    int64_t id = session_tracker_create_session(tracker, 4000, 0); /* bucket 6000 */
    session_tracker_set_closing(tracker, id);
    session_tracker_set_closing(tracker, 12345); /* unknown: no effect */
    assert_false(session_tracker_touch(tracker, id, 1000));
    assert_false(session_tracker_touch_timeout(tracker, id, 4000, 1000));
    assert_false(session_tracker_revalidate(tracker, id, 4000, 1000));
    /* Closing does not take it out of the expiry queue (ZooKeeper neither). */
    assert_int_equal(session_tracker_expired(tracker, 6000, out, 8), 1);
    assert_true(out[0] == id);
    session_tracker_destroy(tracker);
}

/* Buckets come out oldest first; within one, in the order sessions entered. */
static void test_expiry_order_and_bounded_output(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 0, 1000, 100);
    int64_t out[8];
    int64_t late = session_tracker_create_session(tracker, 9000, 0);  /* 10000 */
    int64_t early = session_tracker_create_session(tracker, 2000, 0); /* 3000 */
    int64_t mid1 = session_tracker_create_session(tracker, 5000, 0);  /* 6000 */
    int64_t mid2 = session_tracker_create_session(tracker, 5500, 0);  /* 6000 */
    int64_t mid3 = session_tracker_create_session(tracker, 5000, 0);  /* 6000 */
    /* Touching mid1 into the bucket it is already in changes nothing. */
    assert_true(session_tracker_touch_timeout(tracker, mid1, 5000, 100));
    assert_int_equal(session_tracker_bucket_count(tracker), 3);
    assert_int_equal(session_tracker_expired(tracker, 20000, out, 2), 2);
    assert_true(out[0] == early);
    assert_true(out[1] == mid1);
    assert_int_equal(session_tracker_expired(tracker, 20000, out, 2), 2);
    assert_true(out[0] == mid2);
    assert_true(out[1] == mid3);
    assert_int_equal(session_tracker_expired(tracker, 20000, out, 2), 1);
    assert_true(out[0] == late);
    assert_int_equal(session_tracker_expired(tracker, 20000, out, 2), 0);
    assert_int_equal(session_tracker_bucket_count(tracker), 0);
    /* Moving a session to a later bucket lets others expire first. */
    int64_t a = session_tracker_create_session(tracker, 2000, 20000); /* 23000 */
    int64_t b = session_tracker_create_session(tracker, 2000, 20000); /* 23000 */
    assert_true(session_tracker_touch(tracker, a, 21500));            /* 24000 */
    assert_int_equal(session_tracker_expired(tracker, 23000, out, 8), 1);
    assert_true(out[0] == b);
    assert_int_equal(session_tracker_expired(tracker, 24000, out, 8), 1);
    assert_true(out[0] == a);
    session_tracker_destroy(tracker);
}

struct bucket_listing {
    int64_t times[8];
    size_t counts[8];
    size_t buckets;
    int64_t sessions[8];
    size_t session_count;
};

static void visit_bucket(void *ctx, int64_t expiry_time_ms, size_t session_count)
{
    struct bucket_listing *listing = ctx;
    assert_true(listing->buckets < 8);
    listing->times[listing->buckets] = expiry_time_ms;
    listing->counts[listing->buckets++] = session_count;
}

static void visit_session(void *ctx, int64_t session_id, int32_t timeout_ms)
{
    struct bucket_listing *listing = ctx;
    (void)timeout_ms;
    assert_true(listing->session_count < 8);
    listing->sessions[listing->session_count++] = session_id;
}

/* ZooKeeper leaves an emptied bucket in expiryMap until its time (dump shows
 * it in "Sets (N)"); it disappears once due, expiring nobody. */
static void test_empty_bucket_kept_until_due(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 0, 2000, 100);
    int64_t out[8];
    int64_t id = session_tracker_create_session(tracker, 4000, 0); /* 6000 */
    assert_true(session_tracker_touch(tracker, id, 1000));          /* still 6000 */
    assert_int_equal(session_tracker_bucket_count(tracker), 1);
    assert_true(session_tracker_touch(tracker, id, 2500)); /* 8000 */
    assert_int_equal(session_tracker_bucket_count(tracker), 2);
    struct bucket_listing listing = {.buckets = 0};
    session_tracker_foreach_bucket(tracker, visit_bucket, visit_session, &listing);
    assert_int_equal(listing.buckets, 2);
    assert_true(listing.times[0] == 6000 && listing.counts[0] == 0);
    assert_true(listing.times[1] == 8000 && listing.counts[1] == 1);
    assert_int_equal(listing.session_count, 1);
    assert_true(listing.sessions[0] == id);
    assert_true(session_tracker_next_expiry_ms(tracker, 5000) == 1000);
    assert_int_equal(session_tracker_expired(tracker, 6000, out, 8), 0);
    assert_int_equal(session_tracker_bucket_count(tracker), 1);
    assert_int_equal(session_tracker_expired(tracker, 8000, out, 8), 1);
    session_tracker_destroy(tracker);
}

static void test_sessions_max(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(2, 77, 1000, 3);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = session_tracker_create_session(tracker, 3000, 0);
        assert_true(ids[i] != 0);
    }
    assert_true(session_tracker_create_session(tracker, 3000, 0) == 0);
    assert_int_equal(session_tracker_count(tracker), 3);
    assert_int_equal(session_tracker_track(tracker, 999, 3000, 0), -1);
    assert_true(session_tracker_remove(tracker, ids[1]));
    int64_t next = session_tracker_create_session(tracker, 3000, 0);
    assert_true(next == ids[2] + 1); /* ids are never reused */
    session_tracker_destroy(tracker);
}

static void test_track_session(void **state)
{
    (void)state;
    struct session_tracker *tracker = session_tracker_create(1, 0, 1000, 10);
    int64_t out[8];
    int64_t id = INT64_C(0x0500000000000007);
    assert_int_equal(session_tracker_track(tracker, id, 3000, 0), 1); /* 4000 */
    assert_int_equal(session_tracker_track(tracker, id, 9000, 0), 0); /* touched: 10000 */
    int32_t timeout_ms = 0;
    assert_true(session_tracker_lookup(tracker, id, &timeout_ms, NULL));
    assert_int_equal(timeout_ms, 3000); /* the session keeps its first timeout */
    assert_int_equal(session_tracker_expired(tracker, 9999, out, 8), 0);
    assert_int_equal(session_tracker_expired(tracker, 10000, out, 8), 1);
    /* createSession skips an id that is already tracked. */
    struct session_tracker *second = session_tracker_create(1, 5, 1000, 10);
    int64_t first_id = session_tracker_next_session_id(second);
    assert_int_equal(session_tracker_track(second, first_id, 3000, 0), 1);
    assert_true(session_tracker_create_session(second, 3000, 0) == first_id + 1);
    session_tracker_destroy(second);
    session_tracker_destroy(tracker);
}

/* Many sessions across many buckets: all expire once, in time order. */
static void test_many_sessions(void **state)
{
    (void)state;
    enum { SESSIONS = 20000 };
    struct session_tracker *tracker = session_tracker_create(1, 0, 10, SESSIONS);
    for (int i = 0; i < SESSIONS; i++) {
        assert_true(session_tracker_create_session(tracker, 1000 + (i * 37) % 5000, i % 100) != 0);
    }
    assert_true(session_tracker_create_session(tracker, 1000, 0) == 0);
    static int64_t out[SESSIONS];
    size_t total = 0;
    for (int64_t now = 0; now <= 7000; now += 50) {
        size_t count = session_tracker_expired(tracker, now, out + total, SESSIONS - total);
        for (size_t k = total; k < total + count; k++) {
            int32_t timeout_ms = 0;
            bool closing = false;
            assert_true(session_tracker_lookup(tracker, out[k], &timeout_ms, &closing));
            assert_true(closing);
        }
        total += count;
    }
    assert_int_equal(total, SESSIONS);
    for (size_t k = 0; k < total; k++) {
        assert_true(session_tracker_remove(tracker, out[k]));
    }
    assert_int_equal(session_tracker_count(tracker), 0);
    session_tracker_destroy(tracker);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java_random_matches_jvm),
        cmocka_unit_test(test_session_password_matches_zookeeper),
        cmocka_unit_test(test_initialize_next_session_id),
        cmocka_unit_test(test_create_session_ids_increase),
        cmocka_unit_test(test_expiry_is_rounded_up_to_the_tick),
        cmocka_unit_test(test_touch_moves_expiry),
        cmocka_unit_test(test_closing_session_is_not_touchable),
        cmocka_unit_test(test_expiry_order_and_bounded_output),
        cmocka_unit_test(test_empty_bucket_kept_until_due),
        cmocka_unit_test(test_sessions_max),
        cmocka_unit_test(test_track_session),
        cmocka_unit_test(test_many_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
