/*
 * `quay-storage-operator copy`: the work inside a copy Job. Parses flags,
 * opens both stores, runs the copy engine (or the probe), prints progress
 * lines and writes the bounded summary as the container's termination
 * message.
 *
 * Exit codes (a Job's podFailurePolicy maps them):
 *   0  done: every object is at the destination
 *   1  done with failed objects (retrying the Job may help)
 *   2  usage error (also a malformed --source/--destination spec)
 *   3  could not run: bad credentials, missing bucket, read-only destination,
 *      unreachable endpoint (retrying will not help: FailJob)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "k8s_log.h"
#include "stor_cli.h"
#include "stor_copy.h"
#include "stor_probe.h"

static void copy_usage(FILE *out)
{
    fprintf(out, "usage: quay-storage-operator copy --source SPEC --destination SPEC [flags]\n"
                 "\n"
                 "SPEC: s3://bucket[/prefix][?endpoint=URL&region=R&path_style=1&ca_file=PATH]\n"
                 "      swift://container[/prefix][?auth=URL]   file:///dir  (or /dir)\n"
                 "      (also from $QSO_SOURCE / $QSO_DESTINATION; options from\n"
                 "      $QSO_SOURCE_<OPTION> or files in $QSO_SOURCE_CONFIG_DIR)\n"
                 "Credentials only from the environment ($QSO_SOURCE_AWS_ACCESS_KEY_ID, ...)\n"
                 "or files in $QSO_SOURCE_CREDENTIALS_DIR / $QSO_DESTINATION_CREDENTIALS_DIR.\n"
                 "\n"
                 "flags:\n"
                 "  --shard i/N                 copy shard i of N (default: all; with --shards N\n"
                 "                              the index comes from $JOB_COMPLETION_INDEX)\n"
                 "  --shards N\n"
                 "  --layout auto|quay|registry|plain   (default auto)\n"
                 "  --concurrency N             transfers in flight (default 16)\n"
                 "  --max-bytes-per-second N    bandwidth cap (default none)\n"
                 "  --verify-content            sha256 every blob against its key while streaming\n"
                 "                              (alias --verify-digests)\n"
                 "  --dry-run                   list and plan, copy nothing\n"
                 "  --probe                     list both sides, write/read/delete a probe object\n"
                 "  --termination-log PATH      summary file (default /dev/termination-log)\n"
                 "  --progress-interval SECONDS (default 5)\n"
                 "  --max-attempts N            per request (default 6)\n"
                 "  --no-server-side-copy       always stream, even inside one account\n"
                 "\n"
                 "exit: 0 done, 1 done with failed objects, 2 usage, 3 could not run\n");
}

int cmd_copy(int argc, char **argv)
{
    struct stor_cli f;
    int rc = stor_cli_parse(argc, argv, STOR_CLI_COPY, &f);
    if (rc == STOR_CLI_HELP) {
        copy_usage(stdout);
        return 0;
    }
    if (rc) {
        copy_usage(stderr);
        return 2;
    }
    struct stor_backend *src = NULL, *dst = NULL;
    struct stor_error err;
    stor_error_clear(&err);
    int exit_code = 3;
    struct stor_progress prog;
    stor_progress_init(&prog, "copy", stdout, f.progress_interval);

    rc = stor_cli_open(&f, &src, &dst, &err);
    if (rc)
        goto done;

    if (f.probe) {
        struct stor_probe_report rep;
        rc = stor_probe_run(src, dst, &rep);
        char *json = stor_probe_json(&rep);
        if (json) {
            printf("%s\n", json);
            stor_cli_termination(&f, json);
            free(json);
        }
        exit_code = rc ? 3 : 0;
        goto out;
    }

    struct stor_copy_opts o;
    memset(&o, 0, sizeof(o));
    o.layout = f.layout;
    o.shard = f.shard;
    o.pool.concurrency = f.concurrency;
    o.pool.max_bytes_per_second = f.max_bps;
    o.pool.verify_content = f.verify_content;
    o.pool.dry_run = f.dry_run;
    o.pool.max_attempts = f.max_attempts;
    o.pool.backoff_base_s = f.backoff_base;
    o.pool.no_server_side = f.no_server_side;
    rc = stor_copy_run(src, dst, &o, &prog, &err);
done:;
    const char *status = rc ? "error" : prog.failed.objects ? "failed" : "done";
    exit_code = rc == STOR_EARG ? 2 : rc ? 3 : prog.failed.objects ? 1 : 0;
    if (rc)
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "copy could not run",
                (const char *[]){"reason", stor_err_name(rc), "error", err.message, NULL});
    char summary[STOR_SUMMARY_MAX + 1];
    char errline[STOR_MSG_MAX + 40];
    snprintf(errline, sizeof(errline), "%s: %s", stor_err_name(rc), err.message);
    stor_progress_summary(&prog, status, rc ? errline : NULL, summary, sizeof(summary));
    printf("%s\n", summary);
    fflush(stdout);
    stor_cli_termination(&f, summary);
out:
    stor_backend_close(src);
    stor_backend_close(dst);
    stor_progress_destroy(&prog);
    return exit_code;
}
