/*
 * Flag parsing for `copy` and `verify`: `--flag value` and `--flag=value`,
 * strict numbers, and no flag that could carry a secret.
 */
#include "stor_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "k8s_log.h"
#include "stor_internal.h"
#include "stor_progress.h"

static int num(const char *flag, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (!v || stor_parse_u64(v, &x) || x < min || x > max) {
        fprintf(stderr, "%s: want a whole number in %llu..%llu, got \"%s\"\n", flag,
                (unsigned long long)min, (unsigned long long)max, v ? v : "");
        return STOR_EARG;
    }
    *out = x;
    return 0;
}

static int seconds(const char *flag, const char *v, double *out)
{
    char *end = NULL;
    errno = 0;
    double d = v ? strtod(v, &end) : -1;
    if (!v || errno || !end || *end || d < 0 || d > 3600) {
        fprintf(stderr, "%s: want seconds (0..3600), got \"%s\"\n", flag, v ? v : "");
        return STOR_EARG;
    }
    *out = d;
    return 0;
}

int stor_cli_parse(int argc, char **argv, enum stor_cli_command cmd, struct stor_cli *out)
{
    memset(out, 0, sizeof(*out));
    out->command = cmd;
    out->shard.count = 1;
    out->concurrency = 16;
    out->max_attempts = 6;
    out->backoff_base = 0.5;
    out->progress_interval = 5;
    out->sample = 16;
    out->max_offenders = 10;
    unsigned shards = 0;
    int have_shard = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return STOR_CLI_HELP;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "unexpected argument \"%s\"\n", a);
            return STOR_EARG;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof(name)) {
            fprintf(stderr, "unknown flag \"%.60s\"\n", a);
            return STOR_EARG;
        }
        memcpy(name, a, nl);
        name[nl] = '\0';
        int is_bool = strcmp(name, "--verify-content") == 0 ||
                      strcmp(name, "--verify-digests") == 0 || strcmp(name, "--dry-run") == 0 ||
                      strcmp(name, "--probe") == 0 || strcmp(name, "--full-content") == 0 ||
                      strcmp(name, "--no-server-side-copy") == 0;
        if (eq) {
            val = eq + 1;
        } else if (!is_bool) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s needs a value\n", name);
                return STOR_EARG;
            }
            val = argv[++i];
        }
        if (is_bool && eq) {
            fprintf(stderr, "%s takes no value\n", name);
            return STOR_EARG;
        }
        uint64_t n = 0;
        int rc = 0;
        if (strcmp(name, "--source") == 0) {
            out->source = val;
        } else if (strcmp(name, "--destination") == 0) {
            out->destination = val;
        } else if (strcmp(name, "--layout") == 0) {
            if (stor_layout_parse(val, &out->layout)) {
                fprintf(stderr, "--layout: one of auto, quay, registry, plain\n");
                return STOR_EARG;
            }
        } else if (strcmp(name, "--verify-content") == 0 || strcmp(name, "--verify-digests") == 0) {
            if (cmd != STOR_CLI_COPY)
                goto unknown;
            out->verify_content = 1;
        } else if (strcmp(name, "--full-content") == 0 && cmd == STOR_CLI_VERIFY) {
            out->full_content = 1;
        } else if (strcmp(name, "--sample") == 0 && cmd == STOR_CLI_VERIFY) {
            rc = num(name, val, 0, 1000000, &n);
            out->sample = (unsigned)n;
        } else if (strcmp(name, "--max-offenders") == 0 && cmd == STOR_CLI_VERIFY) {
            rc = num(name, val, 0, 100, &n);
            out->max_offenders = (unsigned)n;
        } else if (strcmp(name, "--dry-run") == 0 && cmd == STOR_CLI_COPY) {
            out->dry_run = 1;
        } else if (strcmp(name, "--probe") == 0 && cmd == STOR_CLI_COPY) {
            out->probe = 1;
        } else if (strcmp(name, "--no-server-side-copy") == 0 && cmd == STOR_CLI_COPY) {
            out->no_server_side = 1;
        } else if (strcmp(name, "--shard") == 0) {
            if (stor_shard_parse(val, &out->shard)) {
                fprintf(stderr, "--shard: want i/N with 0 <= i < N <= 256, got \"%s\"\n", val);
                return STOR_EARG;
            }
            have_shard = 1;
        } else if (strcmp(name, "--shards") == 0) {
            rc = num(name, val, 1, 256, &n);
            shards = (unsigned)n;
        } else if (strcmp(name, "--concurrency") == 0) {
            rc = num(name, val, 1, 1024, &n);
            out->concurrency = (unsigned)n;
        } else if (strcmp(name, "--max-bytes-per-second") == 0 && cmd == STOR_CLI_COPY) {
            rc = num(name, val, 0, UINT64_MAX, &out->max_bps);
        } else if (strcmp(name, "--max-attempts") == 0) {
            rc = num(name, val, 1, 100, &n);
            out->max_attempts = (unsigned)n;
        } else if (strcmp(name, "--retry-base-seconds") == 0) {
            rc = seconds(name, val, &out->backoff_base);
        } else if (strcmp(name, "--progress-interval") == 0) {
            rc = seconds(name, val, &out->progress_interval);
        } else if (strcmp(name, "--termination-log") == 0) {
            out->termination_log = val;
        } else {
        unknown:
            fprintf(stderr, "unknown flag \"%s\"\n", name);
            return STOR_EARG;
        }
        if (rc)
            return rc;
    }
    if (!have_shard && shards) {
        if (stor_shard_from_env(shards, &out->shard)) {
            fprintf(stderr, "--shards %u needs JOB_COMPLETION_INDEX in 0..%u\n", shards,
                    shards - 1);
            return STOR_EARG;
        }
    }
    if (!out->source)
        out->source = getenv("QSO_SOURCE");
    if (!out->destination)
        out->destination = getenv("QSO_DESTINATION");
    if (!out->source || !*out->source || !out->destination || !*out->destination) {
        fprintf(stderr, "--source and --destination are required\n");
        return STOR_EARG;
    }
    return 0;
}

int stor_cli_open(const struct stor_cli *f, struct stor_backend **src, struct stor_backend **dst,
                  struct stor_error *err)
{
    struct stor_spec *s = calloc(2, sizeof(*s));
    if (!s)
        return stor_error_set(err, STOR_ENOMEM, "out of memory");
    int rc = stor_spec_parse(f->source, "QSO_SOURCE_", &s[0], err);
    if (!rc)
        rc = stor_spec_parse(f->destination, "QSO_DESTINATION_", &s[1], err);
    if (!rc) {
        k8s_log(K8S_LOG_INFO, NULL, NULL, "opening stores",
                (const char *[]){"source", s[0].display, "destination", s[1].display, NULL});
        rc = stor_backend_open(&s[0], src, err);
    }
    if (!rc)
        rc = stor_backend_open(&s[1], dst, err);
    if (rc) {
        stor_backend_close(*src);
        *src = NULL;
    }
    free(s);
    return rc;
}

void stor_cli_termination(const struct stor_cli *f, const char *summary)
{
    const char *path = f->termination_log;
    if (!path) {
        path = "/dev/termination-log";
        if (access(path, W_OK) != 0)
            return; /* not in a pod: nothing to write */
    }
    if (stor_progress_write_termination(path, summary))
        k8s_log(K8S_LOG_WARN, NULL, NULL, "cannot write the termination message",
                (const char *[]){"path", path, NULL});
}
