/*
 * Progress lines and the bounded summary. The summary is built with cJSON
 * and shrunk until it fits: first failures are dropped from the end, then
 * every string is shortened, so the kubelet never truncates it into
 * invalid JSON.
 */
#include "stor_progress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stor_internal.h"

double stor_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int stor_progress_init(struct stor_progress *p, const char *command, FILE *out, double interval_s)
{
    memset(p, 0, sizeof(*p));
    if (pthread_mutex_init(&p->mu, NULL))
        return STOR_ENOMEM;
    p->command = command;
    p->out = out;
    p->interval_s = interval_s;
    p->max_failures = STOR_FAILURES_KEPT;
    p->started = p->last_line = stor_now();
    return 0;
}

void stor_progress_destroy(struct stor_progress *p)
{
    pthread_mutex_destroy(&p->mu);
}

void stor_progress_lock(struct stor_progress *p)
{
    pthread_mutex_lock(&p->mu);
}

void stor_progress_unlock(struct stor_progress *p)
{
    pthread_mutex_unlock(&p->mu);
}

/*
 * Copies at most `max` bytes of `src` (and fewer than `cap`), never ending
 * inside a UTF-8 sequence: keys and server messages are UTF-8, and a cut
 * character would make the summary invalid UTF-8 for whoever reads the
 * termination message.
 */
static void copy_utf8(char *dst, size_t cap, const char *src, size_t max)
{
    size_t n = strlen(src);
    if (n > max)
        n = max;
    if (n >= cap)
        n = cap - 1;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
        n--;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void stor_progress_fail(struct stor_progress *p, const char *key, uint64_t bytes,
                        const struct stor_error *err)
{
    char line[STOR_MSG_MAX + 40];
    snprintf(line, sizeof(line), "%.30s: %s", stor_err_name(err ? err->code : STOR_EIO),
             err ? err->message : "");
    stor_progress_lock(p);
    p->failed.objects++;
    p->failed.bytes += bytes;
    if (p->nfailures < p->max_failures && p->nfailures < STOR_FAILURES_MAX) {
        copy_utf8(p->failures[p->nfailures].key, sizeof(p->failures[0].key), key ? key : "",
                  SIZE_MAX);
        copy_utf8(p->failures[p->nfailures].error, sizeof(p->failures[0].error), line, SIZE_MAX);
        p->nfailures++;
    }
    stor_progress_unlock(p);
}

static void add_count(cJSON *o, const char *name, const struct stor_count *c)
{
    cJSON *x = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(x, "objects", (double)c->objects);
    cJSON_AddNumberToObject(x, "bytes", (double)c->bytes);
}

static void add_requests(cJSON *o, const uint64_t *r)
{
    static const char *const names[] = {"list", "get",       "put",   "head",
                                        "copy", "multipart", "delete"};
    cJSON *x = cJSON_AddObjectToObject(o, "requests");
    for (int i = 0; i < STOR_RQ_KINDS; i++)
        cJSON_AddNumberToObject(x, names[i], (double)r[i]);
}

/* Builds the common counters; caller holds the lock. */
static cJSON *counters(struct stor_progress *p, const char *kind)
{
    double now = stor_now();
    double elapsed = now - p->started;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "command", p->command);
    if (p->dry_run)
        cJSON_AddBoolToObject(o, "dryRun", 1);
    cJSON_AddNumberToObject(o, "elapsedSeconds", (double)(long)(elapsed * 10) / 10);
    add_count(o, "listedSource", &p->listed_src);
    add_count(o, "listedDestination", &p->listed_dst);
    if (strcmp(p->command, "verify") == 0) {
        add_count(o, "missing", &p->missing);
        add_count(o, "differ", &p->differ);
        add_count(o, "same", &p->same);
        add_count(o, "skipped", &p->skipped);
        add_count(o, "onlyAtDestination", &p->extra);
        cJSON_AddNumberToObject(o, "contentChecked", (double)p->content_checked);
        cJSON_AddNumberToObject(o, "contentMismatch", (double)p->content_bad);
        cJSON_AddNumberToObject(o, "retries", (double)p->retries);
        add_requests(o, p->requests);
        return o;
    }
    add_count(o, "planned", &p->planned);
    add_count(o, "copied", &p->done);
    add_count(o, "same", &p->same);
    add_count(o, "skipped", &p->skipped);
    add_count(o, "failed", &p->failed);
    add_count(o, "vanished", &p->vanished);
    if (p->extra.objects)
        add_count(o, "onlyAtDestination", &p->extra);
    cJSON_AddNumberToObject(o, "serverSideCopies", (double)p->server_side);
    cJSON_AddNumberToObject(o, "retries", (double)p->retries);
    double rate = elapsed > 0 ? (double)p->done.bytes / elapsed : 0;
    cJSON_AddNumberToObject(o, "bytesPerSecond", (double)(long long)rate);
    cJSON_AddNumberToObject(o, "objectsPerSecond",
                            elapsed > 0 ? (double)(long long)((double)p->done.objects / elapsed)
                                        : 0);
    if (p->listing_done && rate > 0 && p->planned.bytes >= p->done.bytes)
        cJSON_AddNumberToObject(
            o, "etaSeconds",
            (double)(long long)((double)(p->planned.bytes - p->done.bytes) / rate));
    add_requests(o, p->requests);
    return o;
}

void stor_progress_tick(struct stor_progress *p, int force)
{
    if (!p->out)
        return;
    stor_progress_lock(p);
    double now = stor_now();
    if (!force && now - p->last_line < p->interval_s) {
        stor_progress_unlock(p);
        return;
    }
    p->last_line = now;
    cJSON *o = counters(p, "progress");
    stor_progress_unlock(p);
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    if (line) {
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    }
    free(line);
    cJSON_Delete(o);
}

size_t stor_progress_summary(struct stor_progress *p, const char *status, const char *error,
                             char *buf, size_t cap)
{
    if (cap == 0)
        return 0;
    size_t limit = cap - 1 < STOR_SUMMARY_MAX ? cap - 1 : STOR_SUMMARY_MAX;
    stor_progress_lock(p);
    unsigned nfail = p->nfailures;
    size_t shorten = 0; /* 0: full strings; else the max length of each string */
    for (;;) {
        cJSON *o = counters(p, "summary");
        if (!o)
            break;
        char tmp[600];
        cJSON_AddStringToObject(o, "status", status);
        if (error) {
            copy_utf8(tmp, sizeof(tmp), error, shorten ? shorten : 500);
            cJSON_AddStringToObject(o, "error", tmp);
        }
        if (nfail) {
            cJSON *arr = cJSON_AddArrayToObject(
                o, strcmp(p->command, "verify") == 0 ? "firstOffenders" : "firstFailures");
            for (unsigned i = 0; i < nfail; i++) {
                cJSON *f = cJSON_CreateObject();
                copy_utf8(tmp, sizeof(tmp), p->failures[i].key, shorten ? shorten : 255);
                cJSON_AddStringToObject(f, "key", tmp);
                copy_utf8(tmp, sizeof(tmp), p->failures[i].error, shorten ? shorten : 199);
                cJSON_AddStringToObject(f, "error", tmp);
                cJSON_AddItemToArray(arr, f);
            }
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s)
            break;
        size_t n = strlen(s);
        if (n <= limit) {
            memcpy(buf, s, n + 1);
            free(s);
            stor_progress_unlock(p);
            return n;
        }
        free(s);
        if (nfail > 1)
            nfail--;
        else if (shorten == 0)
            shorten = 120;
        else if (shorten > 16)
            shorten /= 2;
        else if (nfail)
            nfail = 0;
        else
            break;
    }
    stor_progress_unlock(p);
    int n = snprintf(buf, cap, "{\"kind\":\"summary\",\"status\":\"%s\"}", status);
    return n > 0 ? (size_t)n : 0;
}

int stor_progress_write_termination(const char *path, const char *summary)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return STOR_EIO;
    size_t n = strlen(summary);
    int rc = fwrite(summary, 1, n, f) == n ? 0 : STOR_EIO;
    if (fclose(f) != 0)
        rc = STOR_EIO;
    return rc;
}
