/*
 * The command-line flags shared by `copy` and `verify` (cmd/copy.c,
 * cmd/verify.c), and the steps both take: open the two stores from their
 * specs, write the termination message. Kept here so the two commands parse
 * alike and the parsing has unit tests.
 */
#ifndef QSO_STOR_CLI_H
#define QSO_STOR_CLI_H

#include <stdint.h>

#include "stor_backend.h"
#include "stor_layout.h"
#include "stor_shard.h"

enum stor_cli_command { STOR_CLI_COPY, STOR_CLI_VERIFY };

#define STOR_CLI_HELP 1

struct stor_cli {
    enum stor_cli_command command;
    const char *source, *destination; /* borrowed from argv / environ */
    struct stor_shard shard;
    enum stor_layout layout;
    unsigned concurrency;
    uint64_t max_bps;
    int verify_content, dry_run, probe, no_server_side;
    unsigned max_attempts;
    double backoff_base;
    double progress_interval;
    const char *termination_log; /* NULL: /dev/termination-log when writable */
    unsigned sample;             /* verify */
    int full_content;            /* verify */
    unsigned max_offenders;      /* verify */
};

/* 0, STOR_CLI_HELP, or STOR_EARG after printing what was wrong to stderr. */
int stor_cli_parse(int argc, char **argv, enum stor_cli_command cmd, struct stor_cli *out);

/* Parses both specs and opens both backends (source read from env prefix
 * QSO_SOURCE_, destination QSO_DESTINATION_). */
int stor_cli_open(const struct stor_cli *f, struct stor_backend **src, struct stor_backend **dst,
                  struct stor_error *err);

/* Writes the summary to the termination log (failures are logged, not fatal). */
void stor_cli_termination(const struct stor_cli *f, const char *summary);

#endif
