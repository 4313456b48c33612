/*
 * java.util.Random, bit for bit: the same seed gives the same numbers as the
 * JVM's. ZooKeeper derives a session's password from it, so a client that
 * reconnects with the password Apache ZooKeeper gave it (or one Cheetah gave
 * it, on either server of a mixed ensemble) is accepted. Pure: no state
 * outside the struct.
 */
#ifndef CHEETAH_CONSENSUS_JAVA_RANDOM_H
#define CHEETAH_CONSENSUS_JAVA_RANDOM_H

#include <stddef.h>
#include <stdint.h>

struct java_random {
    uint64_t seed; /* the 48-bit LCG state */
};

/* new Random(seed): seed = (seed ^ 0x5DEECE66D) & ((1 << 48) - 1). */
void java_random_init(struct java_random *random, int64_t seed);
/* Random.next(bits), 1 <= bits <= 32. */
int32_t java_random_next(struct java_random *random, int bits);
int32_t java_random_next_int(struct java_random *random);
/* nextInt(bound), bound > 0. */
int32_t java_random_next_int_bounded(struct java_random *random, int32_t bound);
int64_t java_random_next_long(struct java_random *random);
/* nextBytes: each nextInt() fills up to 4 bytes, low byte first. */
void java_random_next_bytes(struct java_random *random, uint8_t *bytes, size_t len);

/* ZooKeeper's superSecret (ZooKeeperServer, 3.8). */
#define ZK_SESSION_SUPER_SECRET INT64_C(0xB3415C00)
#define ZK_SESSION_PASSWORD_BYTES 16

/* ZooKeeperServer.generatePasswd: new Random(sessionId ^ superSecret)
 * .nextBytes(new byte[16]). */
void zk_session_password(int64_t session_id, uint8_t out[ZK_SESSION_PASSWORD_BYTES]);

#endif
