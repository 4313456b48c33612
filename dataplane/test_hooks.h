/* Fault-injection hooks for tests, read once from the environment at start.
 *
 * They let a test widen a race window and show that a guarantee fails
 * without the mechanism that provides it (tests/integration/test_guarantees.py).
 * Production runs never set them; the server logs a warning when one is set.
 *
 *   CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US=N  the core sleeps N us between
 *       applying a commit to the tree and handing it to the shards, so reads
 *       on the shards can see the new node before its watch events.
 *   CHEETAH_TEST_SKIP_WATCH_CATCH_UP=1  shards answer reads without first
 *       firing the watches of the commits they can see (breaks guarantee 4).
 *   CHEETAH_TEST_HOLD_PROPOSALS_FILE=PATH  while PATH exists, a leader logs
 *       its proposals but does not send them, so its log gets a tail no
 *       other server has (a later leader TRUNCs it: tests/integration).
 */
#ifndef CHEETAH_TEST_HOOKS_H
#define CHEETAH_TEST_HOOKS_H

#include <stdbool.h>
#include <stdint.h>

#define TEST_HOOKS_DELAY_US_MAX 1000000u

#define TEST_HOOKS_PATH_BYTES_MAX 1024u

struct test_hooks {
    uint32_t commit_delivery_delay_us;
    bool skip_watch_catch_up;
    char hold_proposals_file[TEST_HOOKS_PATH_BYTES_MAX]; /* "" = off */
};

/* Reads the environment on first use; the result never changes after. */
const struct test_hooks *test_hooks_get(void);

#endif
