/* java.util.Random (see java_random.h). Java's arithmetic is two's-complement
 * and wraps; here every step is done on uint64_t so that it wraps the same
 * way without signed overflow. */
#include "consensus/java_random.h"

#include <assert.h>

#define JAVA_RANDOM_MULTIPLIER UINT64_C(0x5DEECE66D)
#define JAVA_RANDOM_ADDEND UINT64_C(0xB)
#define JAVA_RANDOM_MASK ((UINT64_C(1) << 48) - 1)

void java_random_init(struct java_random *random, int64_t seed)
{
    random->seed = ((uint64_t)seed ^ JAVA_RANDOM_MULTIPLIER) & JAVA_RANDOM_MASK;
}

int32_t java_random_next(struct java_random *random, int bits)
{
    assert(bits >= 1 && bits <= 32);
    random->seed = (random->seed * JAVA_RANDOM_MULTIPLIER + JAVA_RANDOM_ADDEND) & JAVA_RANDOM_MASK;
    /* (int)(seed >>> (48 - bits)): keep the low 32 bits, as the cast does. */
    return (int32_t)(uint32_t)(random->seed >> (48 - bits));
}

int32_t java_random_next_int(struct java_random *random)
{
    return java_random_next(random, 32);
}

int32_t java_random_next_int_bounded(struct java_random *random, int32_t bound)
{
    assert(bound > 0);
    if ((bound & -bound) == bound) { /* a power of two: take the high bits */
        return (int32_t)(((int64_t)bound * (int64_t)java_random_next(random, 31)) >> 31);
    }
    /* Reject the values that would make the modulo uneven, as Java does;
     * the check is Java's int overflow test, done in 64 bits. */
    for (;;) {
        int32_t bits = java_random_next(random, 31);
        int32_t value = bits % bound;
        if ((int64_t)bits - value + (bound - 1) <= INT32_MAX) {
            return value;
        }
    }
}

int64_t java_random_next_long(struct java_random *random)
{
    /* ((long)next(32) << 32) + next(32), with the second one sign-extended. */
    uint64_t high = (uint64_t)(int64_t)java_random_next(random, 32) << 32;
    uint64_t low = (uint64_t)(int64_t)java_random_next(random, 32);
    return (int64_t)(high + low);
}

void java_random_next_bytes(struct java_random *random, uint8_t *bytes, size_t len)
{
    size_t index = 0;
    while (index < len) {
        uint32_t value = (uint32_t)java_random_next_int(random);
        for (int taken = 0; taken < 4 && index < len; taken++) {
            bytes[index++] = (uint8_t)value;
            value >>= 8;
        }
    }
}

void zk_session_password(int64_t session_id, uint8_t out[ZK_SESSION_PASSWORD_BYTES])
{
    struct java_random random;
    java_random_init(&random, session_id ^ ZK_SESSION_SUPER_SECRET);
    java_random_next_bytes(&random, out, ZK_SESSION_PASSWORD_BYTES);
}
