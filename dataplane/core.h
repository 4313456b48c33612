/* The consensus core thread: runs the sequencer (the only writer of the
 * tree), fed by the shards' rings, and blocks in the kernel when idle.
 */
#ifndef CHEETAH_CORE_H
#define CHEETAH_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "consensus/sequencer.h"

struct core;
struct shard;

struct core *core_create(struct store_tree *tree, const struct sequencer_config *config,
                         struct shard **shards, uint32_t shard_count);
void core_destroy(struct core *core);
/* The thread body: runs until core_stop. */
int core_run(struct core *core);
void core_stop(struct core *core);
/* Thread-safe and cheap: wakes the core if it sleeps. */
void core_wake(struct core *core);
/* Read by four-letter words from any thread. */
int64_t core_last_zxid(const struct core *core);
int64_t core_session_count(const struct core *core);

#endif
