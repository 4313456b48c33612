#include "dataplane/disk_faults.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_count(const char *text, uint64_t *value)
{
    if (*text < '0' || *text > '9') {
        return false;
    }
    errno = 0;
    char *end;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *value = parsed;
    return true;
}

bool disk_fault_plan_parse(const char *text, struct disk_fault_plan *plan, char *error,
                           size_t error_bytes)
{
    char copy[128];
    if (strlen(text) >= sizeof(copy)) {
        snprintf(error, error_bytes, "%s is too long", DISK_FAULT_ENV);
        return false;
    }
    snprintf(copy, sizeof(copy), "%s", text);
    char *fields[4] = {0};
    size_t field_count = 0;
    char *save = NULL;
    for (char *field = strtok_r(copy, ":", &save); field && field_count < 4;
         field = strtok_r(NULL, ":", &save)) {
        fields[field_count++] = field;
    }
    memset(plan, 0, sizeof(*plan));
    const char *usage = "expected <write|fsync>:<n>:<eio|enospc|tear>[:<bytes>]";
    if (field_count < 3) {
        snprintf(error, error_bytes, "%s='%s': %s", DISK_FAULT_ENV, text, usage);
        return false;
    }
    if (strcmp(fields[0], "write") == 0) {
        plan->op = DISK_FAULT_OP_WRITE;
    } else if (strcmp(fields[0], "fsync") == 0) {
        plan->op = DISK_FAULT_OP_FSYNC;
    } else {
        snprintf(error, error_bytes, "%s='%s': unknown operation '%s'; %s", DISK_FAULT_ENV, text,
                 fields[0], usage);
        return false;
    }
    if (!parse_count(fields[1], &plan->nth) || plan->nth == 0) {
        snprintf(error, error_bytes, "%s='%s': n must be a whole number >= 1", DISK_FAULT_ENV,
                 text);
        return false;
    }
    if (strcmp(fields[2], "eio") == 0) {
        plan->action = DISK_FAULT_EIO;
    } else if (strcmp(fields[2], "enospc") == 0) {
        plan->action = DISK_FAULT_ENOSPC;
    } else if (strcmp(fields[2], "tear") == 0) {
        plan->action = DISK_FAULT_TEAR;
    } else {
        snprintf(error, error_bytes, "%s='%s': unknown action '%s'; %s", DISK_FAULT_ENV, text,
                 fields[2], usage);
        return false;
    }
    if (plan->action == DISK_FAULT_TEAR) {
        if (plan->op != DISK_FAULT_OP_WRITE || field_count != 4 ||
            !parse_count(fields[3], &plan->tear_bytes)) {
            snprintf(error, error_bytes, "%s='%s': tear applies to writes and needs a byte count "
                     "(write:<n>:tear:<bytes>)", DISK_FAULT_ENV, text);
            return false;
        }
    } else if (field_count != 3) {
        snprintf(error, error_bytes, "%s='%s': %s", DISK_FAULT_ENV, text, usage);
        return false;
    }
    return true;
}

bool disk_faults_from_environment(struct disk_faults *faults, char *error, size_t error_bytes)
{
    memset(faults, 0, sizeof(*faults));
    const char *text = getenv(DISK_FAULT_ENV);
    if (!text || !*text) {
        return true;
    }
    if (!disk_fault_plan_parse(text, &faults->plan, error, error_bytes)) {
        return false;
    }
    faults->active = true;
    return true;
}

enum disk_fault_action disk_faults_next(struct disk_faults *faults, enum disk_fault_op op,
                                        uint64_t *tear_bytes)
{
    uint64_t count = ++faults->counts[op];
    if (!faults->active || faults->plan.op != op || faults->plan.nth != count) {
        return DISK_FAULT_NONE;
    }
    *tear_bytes = faults->plan.tear_bytes;
    return faults->plan.action;
}
