/*
 * `quay-storage-operator verify`: compares a destination with its source
 * after a copy (see storage/stor_verify.h) and writes the same kind of
 * bounded summary as `copy`.
 *
 * Exit codes: 0 the destination holds every source object (and the sampled
 * content is intact); 1 offenders found (listed in the summary); 2 usage;
 * 3 could not run (credentials, missing bucket, unreachable endpoint).
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "k8s_log.h"
#include "stor_cli.h"
#include "stor_verify.h"

static void verify_usage(FILE *out)
{
    fprintf(out,
            "usage: quay-storage-operator verify --source SPEC --destination SPEC [flags]\n"
            "\n"
            "SPEC and credentials as for `copy` (see `copy --help`).\n"
            "flags:\n"
            "  --sample N            blobs to download from the destination and sha256-check\n"
            "                        (default 16)\n"
            "  --full-content        check every blob's content instead of a sample\n"
            "  --max-offenders N     offenders named in the summary (default 10, at most 100;\n"
            "                        as many as fit in its 4 KiB)\n"
            "  --layout auto|quay|registry|plain\n"
            "  --shard i/N | --shards N   verify one shard only\n"
            "  --termination-log PATH     --progress-interval SECONDS\n"
            "\n"
            "exit: 0 complete, 1 offenders found, 2 usage, 3 could not run\n");
}

int cmd_verify(int argc, char **argv)
{
    struct stor_cli f;
    int rc = stor_cli_parse(argc, argv, STOR_CLI_VERIFY, &f);
    if (rc == STOR_CLI_HELP) {
        verify_usage(stdout);
        return 0;
    }
    if (rc) {
        verify_usage(stderr);
        return 2;
    }
    struct stor_backend *src = NULL, *dst = NULL;
    struct stor_error err;
    stor_error_clear(&err);
    struct stor_progress prog;
    stor_progress_init(&prog, "verify", stdout, f.progress_interval);
    rc = stor_cli_open(&f, &src, &dst, &err);
    if (!rc) {
        struct stor_verify_opts o;
        memset(&o, 0, sizeof(o));
        o.layout = f.layout;
        o.shard = f.shard;
        o.sample = f.sample;
        o.full_content = f.full_content;
        o.max_offenders = f.max_offenders;
        rc = stor_verify_run(src, dst, &o, &prog, &err);
    }
    int offenders = prog.missing.objects || prog.differ.objects || prog.content_bad;
    const char *status = rc ? "error" : offenders ? "failed" : "done";
    if (rc)
        k8s_log(K8S_LOG_ERROR, NULL, NULL, "verify could not run",
                (const char *[]){"reason", stor_err_name(rc), "error", err.message, NULL});
    char summary[STOR_SUMMARY_MAX + 1];
    char errline[STOR_MSG_MAX + 40];
    snprintf(errline, sizeof(errline), "%s: %s", stor_err_name(rc), err.message);
    stor_progress_summary(&prog, status, rc ? errline : NULL, summary, sizeof(summary));
    printf("%s\n", summary);
    fflush(stdout);
    stor_cli_termination(&f, summary);
    stor_backend_close(src);
    stor_backend_close(dst);
    stor_progress_destroy(&prog);
    return rc == STOR_EARG ? 2 : rc ? 3 : offenders ? 1 : 0;
}
