#include "dataplane/test_hooks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "dataplane/log.h"

static struct test_hooks hooks;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void hooks_read(void)
{
    const char *delay = getenv("CHEETAH_TEST_COMMIT_DELIVERY_DELAY_US");
    if (delay && *delay) {
        unsigned long value = strtoul(delay, NULL, 10);
        hooks.commit_delivery_delay_us =
            value > TEST_HOOKS_DELAY_US_MAX ? TEST_HOOKS_DELAY_US_MAX : (uint32_t)value;
        log_warn("test hook: commits reach the shards %u us after they are applied",
                 hooks.commit_delivery_delay_us);
    }
    const char *skip = getenv("CHEETAH_TEST_SKIP_WATCH_CATCH_UP");
    if (skip && *skip == '1') {
        hooks.skip_watch_catch_up = true;
        log_warn("test hook: reads do not wait for watch events (guarantee 4 is OFF)");
    }
    const char *hold = getenv("CHEETAH_TEST_HOLD_PROPOSALS_FILE");
    if (hold && *hold) {
        snprintf(hooks.hold_proposals_file, sizeof(hooks.hold_proposals_file), "%s", hold);
        log_warn("test hook: while %s exists, proposals are logged but not sent",
                 hooks.hold_proposals_file);
    }
}

const struct test_hooks *test_hooks_get(void)
{
    pthread_once(&hooks_once, hooks_read);
    return &hooks;
}
