/*
 * The simulator's Job controller (tests/kubesim/sim_jobs.c), seen through the
 * API as a client of a real cluster would see it. The logic cases switch the
 * simulated kubelet off and play it themselves, writing pod status through
 * pods/NAME/status, so every transition is exact: Indexed pods (names,
 * labels, the index env var, owner references, the tracking finalizer),
 * completedIndexes ("0,1", "0-2,4"), SuccessCriteriaMet before Complete, the
 * backoffLimit with its re-created pods, podFailurePolicy FailJob ending the
 * Job at once, activeDeadlineSeconds, backoffLimitPerIndex, suspend, TTL
 * after finished, and what kubectl's and the API's deletes do to the pods.
 * The end-to-end cases let the kubelet run pods as real processes.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

#define NS       "default"
#define JOBS     "/apis/batch/v1/namespaces/" NS "/jobs"
#define PODS     "/api/v1/namespaces/" NS "/pods"
#define TRACKING "batch.kubernetes.io/job-tracking"
#define POLLS    600 /* x 50 ms: a generous 30 s for asynchronous controllers */

/* ---- plumbing ---- */

static int start(void **state, const char *workloads)
{
    struct kubesim_opts o;
    struct kubesim *sim = NULL;
    char *out = NULL;
    long code;
    memset(&o, 0, sizeof(o));
    o.exit_after_seconds = 300;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    code = kubesim_admin(sim, "POST", "/__admin/workloads", workloads, &out);
    if (code != 200) {
        fprintf(stderr, "configure workloads: %ld %s\n", code, out ? out : "");
        free(out);
        kubesim_stop(sim);
        return -1;
    }
    free(out);
    *state = sim;
    return 0;
}

/* The kubelet is off: the tests write pod status themselves. The back-off
 * base is short so re-created pods come quickly. */
static int setup_logic(void **state)
{
    return start(state, "{\"kubelet\":{\"enabled\":false},\"jobs\":{\"backoffBaseMs\":200}}");
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

static void now_ts(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cJSON *get_json(struct kubesim *sim, const char *path, long *code)
{
    struct kubesim_resp r;
    cJSON *j = NULL;
    *code = kubesim_call(sim, "GET", path, NULL, NULL, &r);
    if (r.code == 200)
        j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    return j;
}

static cJSON *get_ok(struct kubesim *sim, const char *path)
{
    long code;
    cJSON *j = get_json(sim, path, &code);
    if (code != 200)
        fprintf(stderr, "GET %s: %ld\n", path, code);
    assert_int_equal(code, 200);
    return j;
}

static void call_ok(struct kubesim *sim, const char *method, const char *path, const char *ctype,
                    const char *body, long want)
{
    struct kubesim_resp r;
    kubesim_call(sim, method, path, ctype, body, &r);
    if (r.code != want)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, want);
    kubesim_resp_free(&r);
}

static const char *jstr(const cJSON *o, ...)
{
    va_list ap;
    const char *k;
    va_start(ap, o);
    while (o && (k = va_arg(ap, const char *)) != NULL)
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    va_end(ap);
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

static const cJSON *jget(const cJSON *o, ...)
{
    va_list ap;
    const char *k;
    va_start(ap, o);
    while (o && (k = va_arg(ap, const char *)) != NULL)
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    va_end(ap);
    return o;
}

static long jnum(const cJSON *o, const char *k, long def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : def;
}

static void create_job(struct kubesim *sim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void create_job(struct kubesim *sim, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    call_ok(sim, "POST", JOBS, "application/json", body, 201);
}

/* A Job with one container "main" whose image no kubelet runs. */
#define SIMPLE_TEMPLATE                                                                            \
    "\"template\":{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\","      \
    "\"image\":\"example.com/none:1\"}]}}"

static cJSON *get_job(struct kubesim *sim, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), JOBS "/%s", name);
    return get_ok(sim, path);
}

/* The Job's pods (those still stored), by the label the controller sets. */
static cJSON *job_pods(struct kubesim *sim, const char *job)
{
    char path[256];
    cJSON *list, *items;
    snprintf(path, sizeof(path), PODS "?labelSelector=batch.kubernetes.io%%2Fjob-name%%3D%s", job);
    list = get_ok(sim, path);
    items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
    cJSON_Delete(list);
    assert_non_null(items);
    return items;
}

static int pod_is_active(const cJSON *p)
{
    const char *ph = jstr(p, "status", "phase", NULL);
    return !jget(p, "metadata", "deletionTimestamp", NULL) && ph &&
           (strcmp(ph, "Pending") == 0 || strcmp(ph, "Running") == 0);
}

static int count_active(const cJSON *items)
{
    const cJSON *p;
    int n = 0;
    cJSON_ArrayForEach(p, items)
    {
        n += pod_is_active(p);
    }
    return n;
}

/* Waits until the Job has exactly `n` active pods; returns the pod list. */
static cJSON *wait_active(struct kubesim *sim, const char *job, int n)
{
    for (int i = 0; i < POLLS; i++) {
        cJSON *items = job_pods(sim, job);
        if (count_active(items) == n)
            return items;
        cJSON_Delete(items);
        usleep(50 * 1000);
    }
    fail_msg("job %s never had %d active pods", job, n);
    return NULL;
}

static const cJSON *pod_with_index(const cJSON *items, int ix)
{
    const cJSON *p;
    char want[16];
    snprintf(want, sizeof(want), "%d", ix);
    cJSON_ArrayForEach(p, items)
    {
        const char *v =
            jstr(p, "metadata", "annotations", "batch.kubernetes.io/job-completion-index", NULL);
        if (v && strcmp(v, want) == 0 && pod_is_active(p))
            return p;
    }
    return NULL;
}

/* Plays the kubelet: the pod ran and its container "main" exited. */
static void finish_pod(struct kubesim *sim, const char *pod, int exit_code)
{
    char path[256], body[2048], ts[32];
    now_ts(ts);
    snprintf(path, sizeof(path), PODS "/%s/status", pod);
    snprintf(body, sizeof(body),
             "{\"status\":{\"phase\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
             "\"False\",\"reason\":\"%s\",\"lastTransitionTime\":\"%s\"}],\"containerStatuses\":"
             "[{\"name\":\"main\",\"image\":\"example.com/none:1\",\"imageID\":\"\",\"ready\":"
             "false,\"restartCount\":0,\"started\":false,\"state\":{\"terminated\":{\"exitCode\":"
             "%d,\"reason\":\"%s\",\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}}}]}}",
             exit_code ? "Failed" : "Succeeded", exit_code ? "PodFailed" : "PodCompleted", ts,
             exit_code, exit_code ? "Error" : "Completed", ts, ts);
    call_ok(sim, "PATCH", path, "application/merge-patch+json", body, 200);
}

/* Plays the kubelet: the pod's container runs and is ready. */
static void run_pod(struct kubesim *sim, const char *pod)
{
    char path[256], body[1024], ts[32];
    now_ts(ts);
    snprintf(path, sizeof(path), PODS "/%s/status", pod);
    snprintf(body, sizeof(body),
             "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"
             "\"True\",\"lastTransitionTime\":\"%s\"}],\"containerStatuses\":[{\"name\":\"main\","
             "\"image\":\"example.com/none:1\",\"imageID\":\"\",\"ready\":true,\"restartCount\":0,"
             "\"started\":true,\"state\":{\"running\":{\"startedAt\":\"%s\"}}}]}}",
             ts, ts);
    call_ok(sim, "PATCH", path, "application/merge-patch+json", body, 200);
}

static int has_cond(const cJSON *job, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(job, "status", "conditions", NULL))
    {
        const char *t = jstr(c, "type", NULL), *s = jstr(c, "status", NULL);
        if (t && s && strcmp(t, type) == 0 && strcmp(s, "True") == 0)
            return 1;
    }
    return 0;
}

static cJSON *wait_cond(struct kubesim *sim, const char *name, const char *type)
{
    for (int i = 0; i < POLLS; i++) {
        cJSON *job = get_job(sim, name);
        if (has_cond(job, type))
            return job;
        cJSON_Delete(job);
        usleep(50 * 1000);
    }
    fail_msg("job %s never got condition %s", name, type);
    return NULL;
}

/* Waits until status.<field> is the string `want`. */
static cJSON *wait_status_str(struct kubesim *sim, const char *name, const char *field,
                              const char *want)
{
    for (int i = 0; i < POLLS; i++) {
        cJSON *job = get_job(sim, name);
        const char *v = jstr(job, "status", field, NULL);
        if (v && strcmp(v, want) == 0)
            return job;
        cJSON_Delete(job);
        usleep(50 * 1000);
    }
    fail_msg("job %s: status.%s never became %s", name, field, want);
    return NULL;
}

static cJSON *wait_status_num(struct kubesim *sim, const char *name, const char *field, long want)
{
    for (int i = 0; i < POLLS; i++) {
        cJSON *job = get_job(sim, name);
        /* Counters are omitted when 0 (omitempty), as the real API serves them. */
        if (jnum(jget(job, "status", NULL), field, 0) == want)
            return job;
        cJSON_Delete(job);
        usleep(50 * 1000);
    }
    fail_msg("job %s: status.%s never became %ld", name, field, want);
    return NULL;
}

/* Asserts the exact condition list: types in order, all True, one reason. */
static void assert_conditions(const cJSON *job, const char *t1, const char *t2, const char *reason,
                              const char *message)
{
    const cJSON *conds = jget(job, "status", "conditions", NULL);
    const char *types[2] = {t1, t2};
    assert_int_equal(cJSON_GetArraySize(conds), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *c = cJSON_GetArrayItem(conds, i);
        assert_string_equal(jstr(c, "type", NULL), types[i]);
        assert_string_equal(jstr(c, "status", NULL), "True");
        assert_string_equal(jstr(c, "reason", NULL), reason);
        assert_string_equal(jstr(c, "message", NULL), message);
        assert_non_null(jstr(c, "lastTransitionTime", NULL));
        assert_non_null(jstr(c, "lastProbeTime", NULL));
    }
}

/* How many Events about the Job have this reason (and type and message,
 * unless NULL). */
static int count_events(struct kubesim *sim, const char *job, const char *type, const char *reason,
                        const char *message)
{
    cJSON *list = get_ok(sim, "/api/v1/namespaces/" NS "/events");
    const cJSON *e;
    int n = 0;
    cJSON_ArrayForEach(e, jget(list, "items", NULL))
    {
        const char *on = jstr(e, "involvedObject", "name", NULL);
        const char *ok = jstr(e, "involvedObject", "kind", NULL);
        const char *r = jstr(e, "reason", NULL), *t = jstr(e, "type", NULL);
        const char *m = jstr(e, "message", NULL), *src = jstr(e, "source", "component", NULL);
        if (!on || strcmp(on, job) != 0 || !ok || strcmp(ok, "Job") != 0 || !r ||
            strcmp(r, reason) != 0)
            continue;
        assert_string_equal(src, "job-controller");
        if ((type && (!t || strcmp(t, type) != 0)) || (message && (!m || strcmp(m, message) != 0)))
            continue;
        n++;
    }
    cJSON_Delete(list);
    return n;
}

static int pod_has_tracking(const cJSON *p)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, jget(p, "metadata", "finalizers", NULL))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, TRACKING) == 0)
            return 1;
    }
    return 0;
}

/* Waits until no pod of the Job keeps the tracking finalizer. */
static void wait_no_tracking(struct kubesim *sim, const char *job)
{
    for (int i = 0; i < POLLS; i++) {
        cJSON *items = job_pods(sim, job);
        const cJSON *p;
        int left = 0;
        cJSON_ArrayForEach(p, items)
        {
            left += pod_has_tracking(p);
        }
        cJSON_Delete(items);
        if (!left)
            return;
        usleep(50 * 1000);
    }
    fail_msg("pods of %s kept the tracking finalizer", job);
}

static int run_kubectl(struct kubesim *sim, const char *const *args)
{
    char *argv[16];
    int n = 0, status = 0;
    pid_t pid;
    argv[n++] = "kubectl";
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        setenv("KUBECONFIG", kubesim_kubeconfig(sim), 1);
        execv("/usr/bin/kubectl", argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- the logic, with the test as the kubelet ---- */

/* An Indexed Job's pods carry what v1.32's controller puts on them, its
 * completedIndexes reads "0,1" then "0-2,4", and its end is
 * SuccessCriteriaMet followed by Complete, both CompletionsReached. */
static void test_indexed_pods_completed_indexes_and_condition_order(void **state)
{
    struct kubesim *sim = *state;
    cJSON *items, *job;
    const char *uid;
    const char *names[5];
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"idx\"},"
                    "\"spec\":{\"completions\":5,\"parallelism\":5,\"completionMode\":\"Indexed\","
                    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"copy\"}},\"spec\":{"
                    "\"restartPolicy\":\"Never\",\"initContainers\":[{\"name\":\"prep\",\"image\":"
                    "\"example.com/none:1\"}],\"containers\":[{\"name\":\"main\",\"image\":"
                    "\"example.com/none:1\",\"env\":[{\"name\":\"A\",\"value\":\"b\"}]}]}}}}");
    job = get_job(sim, "idx");
    uid = jstr(job, "metadata", "uid", NULL);
    assert_non_null(uid);
    items = wait_active(sim, "idx", 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *p = pod_with_index(items, i), *ref, *env, *e;
        char prefix[32], host[32], ixs[8];
        int found = 0;
        assert_non_null(p);
        names[i] = jstr(p, "metadata", "name", NULL);
        snprintf(prefix, sizeof(prefix), "idx-%d-", i);
        snprintf(host, sizeof(host), "idx-%d", i);
        snprintf(ixs, sizeof(ixs), "%d", i);
        assert_int_equal(strncmp(names[i], prefix, strlen(prefix)), 0);
        assert_int_equal(strlen(names[i]), strlen(prefix) + 5);
        assert_string_equal(jstr(p, "metadata", "generateName", NULL), prefix);
        assert_string_equal(jstr(p, "spec", "hostname", NULL), host);
        assert_string_equal(
            jstr(p, "metadata", "labels", "batch.kubernetes.io/job-completion-index", NULL), ixs);
        assert_string_equal(
            jstr(p, "metadata", "labels", "batch.kubernetes.io/controller-uid", NULL), uid);
        assert_string_equal(jstr(p, "metadata", "labels", "controller-uid", NULL), uid);
        assert_string_equal(jstr(p, "metadata", "labels", "batch.kubernetes.io/job-name", NULL),
                            "idx");
        assert_string_equal(jstr(p, "metadata", "labels", "job-name", NULL), "idx");
        assert_string_equal(jstr(p, "metadata", "labels", "app", NULL), "copy");
        assert_true(pod_has_tracking(p));
        ref = cJSON_GetArrayItem(jget(p, "metadata", "ownerReferences", NULL), 0);
        assert_int_equal(cJSON_GetArraySize(jget(p, "metadata", "ownerReferences", NULL)), 1);
        assert_string_equal(jstr(ref, "apiVersion", NULL), "batch/v1");
        assert_string_equal(jstr(ref, "kind", NULL), "Job");
        assert_string_equal(jstr(ref, "name", NULL), "idx");
        assert_string_equal(jstr(ref, "uid", NULL), uid);
        assert_true(cJSON_IsTrue(jget(ref, "controller", NULL)));
        assert_true(cJSON_IsTrue(jget(ref, "blockOwnerDeletion", NULL)));
        /* The env var goes to init containers too, after the template's. */
        env = jget(cJSON_GetArrayItem(jget(p, "spec", "containers", NULL), 0), "env", NULL);
        assert_int_equal(cJSON_GetArraySize(env), 2);
        assert_string_equal(jstr(cJSON_GetArrayItem(env, 0), "name", NULL), "A");
        e = cJSON_GetArrayItem(env, 1);
        assert_string_equal(jstr(e, "name", NULL), "JOB_COMPLETION_INDEX");
        assert_string_equal(jstr(e, "valueFrom", "fieldRef", "fieldPath", NULL),
                            "metadata.labels['batch.kubernetes.io/job-completion-index']");
        cJSON_ArrayForEach(
            e, jget(cJSON_GetArrayItem(jget(p, "spec", "initContainers", NULL), 0), "env", NULL))
        {
            found += strcmp(jstr(e, "name", NULL), "JOB_COMPLETION_INDEX") == 0;
        }
        assert_int_equal(found, 1);
    }
    cJSON_Delete(job);
    job = wait_status_num(sim, "idx", "active", 5);
    assert_non_null(jstr(job, "status", "startTime", NULL));
    assert_null(jget(job, "status", "completionTime", NULL));
    assert_null(jget(job, "status", "conditions", NULL));
    cJSON_Delete(job);

    finish_pod(sim, names[0], 0);
    finish_pod(sim, names[1], 0);
    job = wait_status_str(sim, "idx", "completedIndexes", "0,1");
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 2);
    cJSON_Delete(job);
    finish_pod(sim, names[2], 0);
    finish_pod(sim, names[4], 0);
    job = wait_status_str(sim, "idx", "completedIndexes", "0-2,4");
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 4);
    cJSON_Delete(job);
    job = wait_status_num(sim, "idx", "active", 1);
    assert_false(has_cond(job, "SuccessCriteriaMet"));
    cJSON_Delete(job);

    finish_pod(sim, names[3], 0);
    job = wait_cond(sim, "idx", "Complete");
    assert_conditions(job, "SuccessCriteriaMet", "Complete", "CompletionsReached",
                      "Reached expected number of succeeded pods");
    assert_string_equal(jstr(job, "status", "completedIndexes", NULL), "0-4");
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 5);
    assert_int_equal(jnum(jget(job, "status", NULL), "active", 0), 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "ready", -1), 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "terminating", -1), 0);
    assert_int_equal(cJSON_GetArraySize(jget(job, "status", "uncountedTerminatedPods", NULL)), 0);
    assert_non_null(jstr(job, "status", "completionTime", NULL));
    cJSON_Delete(job);
    cJSON_Delete(items);
    wait_no_tracking(sim, "idx");
    items = job_pods(sim, "idx");
    assert_int_equal(cJSON_GetArraySize(items), 5);
    cJSON_Delete(items);
    assert_int_equal(count_events(sim, "idx", "Normal", "SuccessfulCreate", NULL), 5);
    assert_int_equal(count_events(sim, "idx", "Normal", "Completed", "Job completed"), 1);
}

/* What a watcher sees when the last pod succeeds, write by write: first the
 * pod's UID in uncountedTerminatedPods with SuccessCriteriaMet (and no
 * Complete yet), then the counter and Complete; the pod loses its finalizer
 * in between. */
static void test_watch_sees_uncounted_then_complete(void **state)
{
    struct kubesim *sim = *state;
    struct kubesim_resp r;
    cJSON *job, *items;
    char path[256], uid[64], podname[128];
    const char *rv, *line;
    int saw_uncounted = 0, saw_complete = 0, complete_before_scm = 0;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"seq\"},\"spec\":{" SIMPLE_TEMPLATE "}}");
    items = wait_active(sim, "seq", 1);
    snprintf(uid, sizeof(uid), "%s", jstr(cJSON_GetArrayItem(items, 0), "metadata", "uid", NULL));
    snprintf(podname, sizeof(podname), "%s",
             jstr(cJSON_GetArrayItem(items, 0), "metadata", "name", NULL));
    cJSON_Delete(items);
    job = wait_status_num(sim, "seq", "active", 1);
    rv = jstr(job, "metadata", "resourceVersion", NULL);
    snprintf(path, sizeof(path),
             JOBS "?watch=1&fieldSelector=metadata.name%%3Dseq&timeoutSeconds=1&resourceVersion=%s",
             rv);
    cJSON_Delete(job);
    finish_pod(sim, podname, 0);
    cJSON_Delete(wait_cond(sim, "seq", "Complete"));
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    assert_non_null(r.body);
    for (line = r.body; line && *line;) {
        const char *nl = strchr(line, '\n');
        cJSON *ev = cJSON_ParseWithLength(line, nl ? (size_t)(nl - line) : strlen(line));
        const cJSON *obj = jget(ev, "object", NULL), *u;
        u = jget(obj, "status", "uncountedTerminatedPods", "succeeded", NULL);
        if (cJSON_GetArraySize(u) == 1 && strcmp(cJSON_GetArrayItem(u, 0)->valuestring, uid) == 0) {
            assert_true(has_cond(obj, "SuccessCriteriaMet"));
            assert_false(has_cond(obj, "Complete"));
            assert_int_equal(jnum(jget(obj, "status", NULL), "succeeded", 0), 0);
            saw_uncounted = 1;
        }
        if (has_cond(obj, "Complete")) {
            complete_before_scm |= !saw_uncounted;
            assert_int_equal(jnum(jget(obj, "status", NULL), "succeeded", 0), 1);
            assert_null(jget(obj, "status", "uncountedTerminatedPods", "succeeded", NULL));
            saw_complete = 1;
        }
        cJSON_Delete(ev);
        line = nl ? nl + 1 : NULL;
    }
    kubesim_resp_free(&r);
    assert_true(saw_uncounted);
    assert_true(saw_complete);
    assert_false(complete_before_scm);
}

/* A NonIndexed Job whose pods keep failing is re-created after the back-off
 * until backoffLimit: exactly backoffLimit+1 pods, then FailureTarget and
 * Failed with BackoffLimitExceeded. */
static void test_backoff_limit_exceeded(void **state)
{
    struct kubesim *sim = *state;
    char seen[3][128];
    cJSON *job, *items;
    const cJSON *p;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"bl\"},"
                    "\"spec\":{\"backoffLimit\":2," SIMPLE_TEMPLATE "}}");
    for (int attempt = 0; attempt < 3; attempt++) {
        const char *name = NULL;
        for (int i = 0; i < POLLS && !name; i++) {
            items = job_pods(sim, "bl");
            cJSON_ArrayForEach(p, items)
            {
                const char *n = jstr(p, "metadata", "name", NULL);
                int old = 0;
                for (int k = 0; k < attempt; k++)
                    old |= strcmp(seen[k], n) == 0;
                if (!old && pod_is_active(p)) {
                    snprintf(seen[attempt], sizeof(seen[attempt]), "%s", n);
                    name = seen[attempt];
                }
            }
            cJSON_Delete(items);
            if (!name)
                usleep(50 * 1000);
        }
        assert_non_null(name);
        assert_int_equal(strncmp(name, "bl-", 3), 0);
        assert_int_equal(strlen(name), 3 + 5);
        finish_pod(sim, name, 1);
    }
    job = wait_cond(sim, "bl", "Failed");
    assert_conditions(job, "FailureTarget", "Failed", "BackoffLimitExceeded",
                      "Job has reached the specified backoff limit");
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 3);
    assert_int_equal(jnum(jget(job, "status", NULL), "active", 0), 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 0);
    assert_null(jget(job, "status", "completionTime", NULL));
    cJSON_Delete(job);
    wait_no_tracking(sim, "bl");
    /* No fourth pod, then or later: the failed ones stay, as on a cluster. */
    usleep(500 * 1000);
    items = job_pods(sim, "bl");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    cJSON_ArrayForEach(p, items)
    {
        assert_string_equal(jstr(p, "status", "phase", NULL), "Failed");
    }
    cJSON_Delete(items);
    assert_int_equal(count_events(sim, "bl", "Normal", "SuccessfulCreate", NULL), 3);
    assert_int_equal(count_events(sim, "bl", "Warning", "BackoffLimitExceeded",
                                  "Job has reached the specified backoff limit"),
                     1);
}

/* While the controller waits out the pod-failure back-off, v1.32 reports
 * status.active 0 even though another pod is still running (manageJob
 * returns 0 there); a client computing progress from it sees exactly that. */
static void test_backoff_wait_reports_zero_active(void **state)
{
    struct kubesim *sim = *state;
    cJSON *items, *job;
    const cJSON *p;
    char *out = NULL;
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/workloads",
                                   "{\"jobs\":{\"backoffBaseMs\":600000}}", &out),
                     200);
    free(out);
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"bw\"},\"spec\":{\"completions\":2,\"parallelism\":2," SIMPLE_TEMPLATE "}}");
    items = wait_active(sim, "bw", 2);
    cJSON_Delete(wait_status_num(sim, "bw", "active", 2));
    run_pod(sim, jstr(cJSON_GetArrayItem(items, 0), "metadata", "name", NULL));
    finish_pod(sim, jstr(cJSON_GetArrayItem(items, 1), "metadata", "name", NULL), 1);
    cJSON_Delete(items);
    job = wait_status_num(sim, "bw", "failed", 1);
    cJSON_Delete(job);
    job = wait_status_num(sim, "bw", "active", 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "ready", -1), 1);
    cJSON_Delete(job);
    items = job_pods(sim, "bw");
    assert_int_equal(cJSON_GetArraySize(items), 2); /* no replacement yet */
    assert_int_equal(count_active(items), 1);
    cJSON_ArrayForEach(p, items)
    {
        if (pod_is_active(p))
            assert_string_equal(jstr(p, "status", "phase", NULL), "Running");
    }
    cJSON_Delete(items);
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/workloads",
                                   "{\"jobs\":{\"backoffBaseMs\":200}}", &out),
                     200);
    free(out);
    /* With the short back-off the replacement comes and active is true again. */
    cJSON_Delete(wait_active(sim, "bw", 2));
    cJSON_Delete(wait_status_num(sim, "bw", "active", 2));
}

/* podFailurePolicy: an exit code the FailJob rule does not name is counted
 * and the pod replaced; one it names fails the Job at once, and the active
 * pods are deleted. */
static void test_pod_failure_policy_fail_job(void **state)
{
    struct kubesim *sim = *state;
    cJSON *items, *job;
    const cJSON *p;
    char running[128], failing[128], counted[128], want[512];
    int n = 0;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"pfp\"},\"spec\":{\"completions\":3,\"parallelism\":3,\"backoffLimit\":6,"
                    "\"podReplacementPolicy\":\"Failed\",\"podFailurePolicy\":{\"rules\":["
                    "{\"action\":\"Ignore\",\"onPodConditions\":[{\"type\":\"DisruptionTarget\"}]},"
                    "{\"action\":\"FailJob\",\"onExitCodes\":{\"containerName\":\"main\","
                    "\"operator\":\"In\",\"values\":[3,4]}}]}," SIMPLE_TEMPLATE "}}");
    items = wait_active(sim, "pfp", 3);
    cJSON_ArrayForEach(p, items)
    {
        char *dst = n == 0 ? running : n == 1 ? failing : counted;
        snprintf(dst, 128, "%s", jstr(p, "metadata", "name", NULL));
        n++;
    }
    cJSON_Delete(items);
    run_pod(sim, running);
    finish_pod(sim, counted, 1);
    job = wait_status_num(sim, "pfp", "failed", 1);
    assert_false(has_cond(job, "FailureTarget"));
    cJSON_Delete(job);
    cJSON_Delete(wait_active(sim, "pfp", 3)); /* the replacement */
    cJSON_Delete(wait_status_num(sim, "pfp", "ready", 1));

    finish_pod(sim, failing, 3);
    job = wait_cond(sim, "pfp", "Failed");
    snprintf(want, sizeof(want),
             "Container main for pod default/%s failed with exit code 3 matching FailJob rule at "
             "index 1",
             failing);
    assert_conditions(job, "FailureTarget", "Failed", "PodFailurePolicy", want);
    /* The two deleted active pods count as failed too. */
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 4);
    assert_int_equal(jnum(jget(job, "status", NULL), "active", 0), 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "terminating", -1), 0);
    cJSON_Delete(job);
    items = job_pods(sim, "pfp");
    assert_int_equal(cJSON_GetArraySize(items), 2);
    cJSON_ArrayForEach(p, items)
    {
        const char *name = jstr(p, "metadata", "name", NULL);
        assert_true(strcmp(name, failing) == 0 || strcmp(name, counted) == 0);
    }
    cJSON_Delete(items);
    wait_no_tracking(sim, "pfp");
    assert_int_equal(count_events(sim, "pfp", "Normal", "SuccessfulDelete", NULL), 2);
    assert_int_equal(count_events(sim, "pfp", "Warning", "PodFailurePolicy", want), 1);
}

/* activeDeadlineSeconds: the Job fails with DeadlineExceeded and its pods
 * are deleted. */
static void test_active_deadline(void **state)
{
    struct kubesim *sim = *state;
    cJSON *job, *items;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"ads\"},\"spec\":{\"completions\":2,\"parallelism\":2,"
                    "\"activeDeadlineSeconds\":1," SIMPLE_TEMPLATE "}}");
    cJSON_Delete(wait_active(sim, "ads", 2));
    job = wait_cond(sim, "ads", "Failed");
    assert_conditions(job, "FailureTarget", "Failed", "DeadlineExceeded",
                      "Job was active longer than specified deadline");
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 2);
    assert_int_equal(jnum(jget(job, "status", NULL), "active", 0), 0);
    cJSON_Delete(job);
    items = job_pods(sim, "ads");
    assert_int_equal(cJSON_GetArraySize(items), 0);
    cJSON_Delete(items);
    assert_int_equal(count_events(sim, "ads", "Normal", "SuccessfulDelete", NULL), 2);
    assert_int_equal(count_events(sim, "ads", "Warning", "DeadlineExceeded",
                                  "Job was active longer than specified deadline"),
                     1);
}

/* backoffLimitPerIndex 0: a failed index is not retried, it is listed in
 * failedIndexes, and the Job fails with FailedIndexes once the others are
 * done. */
static void test_backoff_limit_per_index(void **state)
{
    struct kubesim *sim = *state;
    cJSON *items, *job;
    char names[3][128];
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"bpi\"},\"spec\":{\"completions\":3,\"parallelism\":3,"
                    "\"completionMode\":\"Indexed\",\"backoffLimitPerIndex\":0,"
                    "\"backoffLimit\":100," SIMPLE_TEMPLATE "}}");
    items = wait_active(sim, "bpi", 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *p = pod_with_index(items, i);
        assert_non_null(p);
        assert_string_equal(
            jstr(p, "metadata", "annotations", "batch.kubernetes.io/job-index-failure-count", NULL),
            "0");
        snprintf(names[i], sizeof(names[i]), "%s", jstr(p, "metadata", "name", NULL));
    }
    cJSON_Delete(items);
    finish_pod(sim, names[1], 2);
    job = wait_status_str(sim, "bpi", "failedIndexes", "1");
    assert_false(has_cond(job, "Failed"));
    cJSON_Delete(job);
    finish_pod(sim, names[0], 0);
    finish_pod(sim, names[2], 0);
    job = wait_cond(sim, "bpi", "Failed");
    assert_conditions(job, "FailureTarget", "Failed", "FailedIndexes", "Job has failed indexes");
    assert_string_equal(jstr(job, "status", "completedIndexes", NULL), "0,2");
    assert_string_equal(jstr(job, "status", "failedIndexes", NULL), "1");
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 1);
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 2);
    cJSON_Delete(job);
    items = job_pods(sim, "bpi");
    assert_int_equal(cJSON_GetArraySize(items), 3); /* index 1 was never retried */
    cJSON_Delete(items);
}

/* suspend: no pods and Suspended=True; resumed: pods, Suspended=False with
 * JobResumed, and startTime set. */
static void test_suspend_and_resume(void **state)
{
    struct kubesim *sim = *state;
    cJSON *job, *items;
    const cJSON *c;
    create_job(sim,
               "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"sus\"},"
               "\"spec\":{\"suspend\":true,\"parallelism\":2,\"completions\":2," SIMPLE_TEMPLATE
               "}}");
    job = wait_cond(sim, "sus", "Suspended");
    c = cJSON_GetArrayItem(jget(job, "status", "conditions", NULL), 0);
    assert_string_equal(jstr(c, "reason", NULL), "JobSuspended");
    assert_string_equal(jstr(c, "message", NULL), "Job suspended");
    assert_null(jget(job, "status", "startTime", NULL));
    cJSON_Delete(job);
    items = job_pods(sim, "sus");
    assert_int_equal(cJSON_GetArraySize(items), 0);
    cJSON_Delete(items);
    call_ok(sim, "PATCH", JOBS "/sus", "application/merge-patch+json",
            "{\"spec\":{\"suspend\":false}}", 200);
    cJSON_Delete(wait_active(sim, "sus", 2));
    job = wait_status_num(sim, "sus", "active", 2);
    c = cJSON_GetArrayItem(jget(job, "status", "conditions", NULL), 0);
    assert_string_equal(jstr(c, "type", NULL), "Suspended");
    assert_string_equal(jstr(c, "status", NULL), "False");
    assert_string_equal(jstr(c, "reason", NULL), "JobResumed");
    assert_non_null(jstr(job, "status", "startTime", NULL));
    cJSON_Delete(job);
    assert_int_equal(count_events(sim, "sus", "Normal", "Suspended", "Job suspended"), 1);
    assert_int_equal(count_events(sim, "sus", "Normal", "Resumed", "Job resumed"), 1);
}

/* ttlSecondsAfterFinished: the finished Job is deleted, its pods with it. */
static void test_ttl_after_finished(void **state)
{
    struct kubesim *sim = *state;
    cJSON *items;
    long code = 0;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"ttl\"},\"spec\":{\"ttlSecondsAfterFinished\":0," SIMPLE_TEMPLATE "}}");
    items = wait_active(sim, "ttl", 1);
    finish_pod(sim, jstr(cJSON_GetArrayItem(items, 0), "metadata", "name", NULL), 0);
    cJSON_Delete(items);
    for (int i = 0; i < POLLS && code != 404; i++) {
        cJSON_Delete(get_json(sim, JOBS "/ttl", &code));
        if (code != 404)
            usleep(50 * 1000);
    }
    assert_int_equal(code, 404);
    for (int i = 0; i < POLLS; i++) {
        items = job_pods(sim, "ttl");
        code = cJSON_GetArraySize(items);
        cJSON_Delete(items);
        if (code == 0)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal(code, 0);
}

/* `kubectl delete job` sends propagationPolicy=Background: the pods go. A
 * DELETE without a policy orphans a batch/v1 Job's pods: they stay, without
 * their owner reference and without the tracking finalizer. */
static void test_delete_propagation(void **state)
{
    struct kubesim *sim = *state;
    static const char *const del[] = {"delete", "job", "del1", "-n", NS, NULL};
    cJSON *items;
    const cJSON *p;
    int left = -1;
    create_job(sim,
               "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
               "\"del1\"},\"spec\":{\"parallelism\":2,\"completions\":2," SIMPLE_TEMPLATE "}}");
    cJSON_Delete(wait_active(sim, "del1", 2));
    assert_int_equal(run_kubectl(sim, del), 0);
    for (int i = 0; i < POLLS && left != 0; i++) {
        items = job_pods(sim, "del1");
        left = cJSON_GetArraySize(items);
        cJSON_Delete(items);
        if (left)
            usleep(50 * 1000);
    }
    assert_int_equal(left, 0);

    create_job(sim,
               "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
               "\"del2\"},\"spec\":{\"parallelism\":2,\"completions\":2," SIMPLE_TEMPLATE "}}");
    cJSON_Delete(wait_active(sim, "del2", 2));
    call_ok(sim, "DELETE", JOBS "/del2", NULL, NULL, 200);
    for (int i = 0; i < POLLS; i++) {
        long code;
        cJSON *j = get_json(sim, JOBS "/del2", &code);
        cJSON_Delete(j);
        items = job_pods(sim, "del2");
        left = 0;
        cJSON_ArrayForEach(p, items)
        {
            left += pod_has_tracking(p) || jget(p, "metadata", "ownerReferences", NULL) != NULL;
        }
        if (code == 404 && left == 0 && cJSON_GetArraySize(items) == 2) {
            cJSON_Delete(items);
            break;
        }
        cJSON_Delete(items);
        usleep(50 * 1000);
        left = -1;
    }
    assert_int_equal(left, 0);
    items = job_pods(sim, "del2");
    assert_int_equal(count_active(items), 2);
    cJSON_Delete(items);
}

/* ---- end to end: pods as processes ---- */

/* The e2e group's state: the simulator and the directory behind the claim. */
struct e2e {
    struct kubesim *sim;
    char dir[64];
};

/* The kubelet runs pods as processes: an image mapped to /bin/sh, the
 * claim "default/results" mapped to a directory of the test's. */
static int setup_e2e(void **state)
{
    struct e2e *g = calloc(1, sizeof(*g));
    char cfg[1024];
    if (!g)
        return -1;
    snprintf(g->dir, sizeof(g->dir), "/tmp/qso-jobs-e2e-XXXXXX");
    if (!mkdtemp(g->dir)) {
        free(g);
        return -1;
    }
    snprintf(cfg, sizeof(cfg),
             "{\"images\":{\"example.com/sh:1\":\"/bin/sh\"},\"claims\":{\"" NS
             "/results\":\"%s\"},\"jobs\":{\"backoffBaseMs\":200}}",
             g->dir);
    if (start((void **)&g->sim, cfg) != 0) {
        rmdir(g->dir);
        free(g);
        return -1;
    }
    *state = g;
    return 0;
}

static int teardown_e2e(void **state)
{
    struct e2e *g = *state;
    kubesim_stop(g->sim);
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/out-%d", g->dir, i);
        unlink(path);
    }
    rmdir(g->dir);
    free(g);
    return 0;
}

/* An Indexed Job of 4 pods runs a real shell per index: each index writes
 * its own file into the claimed volume (the name by the kubelet's $(VAR)
 * expansion, the content by the shell) and its own line into its log. */
static void test_e2e_indexed_job_runs_real_commands(void **state)
{
    struct e2e *g = *state;
    struct kubesim *sim = g->sim;
    cJSON *job, *items;
    const cJSON *p;
    int seen[4] = {0};
    create_job(sim,
               "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
               "\"e2e-idx\"},\"spec\":{\"completions\":4,\"parallelism\":4,"
               "\"completionMode\":\"Indexed\",\"template\":{\"spec\":{\"restartPolicy\":"
               "\"Never\",\"volumes\":[{\"name\":\"results\",\"persistentVolumeClaim\":{"
               "\"claimName\":\"results\"}}],\"containers\":[{\"name\":\"main\",\"image\":"
               "\"example.com/sh:1\",\"volumeMounts\":[{\"name\":\"results\",\"mountPath\":"
               "\"/results\"}],\"command\":[\"sh\",\"-c\",\"echo index-$JOB_COMPLETION_INDEX "
               "> /results/out-$(JOB_COMPLETION_INDEX) && echo done-$JOB_COMPLETION_INDEX\"]}]}}}"
               "}");
    job = wait_cond(sim, "e2e-idx", "Complete");
    assert_conditions(job, "SuccessCriteriaMet", "Complete", "CompletionsReached",
                      "Reached expected number of succeeded pods");
    assert_string_equal(jstr(job, "status", "completedIndexes", NULL), "0-3");
    assert_int_equal(jnum(jget(job, "status", NULL), "succeeded", 0), 4);
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 0);
    cJSON_Delete(job);
    items = job_pods(sim, "e2e-idx");
    assert_int_equal(cJSON_GetArraySize(items), 4);
    cJSON_ArrayForEach(p, items)
    {
        char path[256], want[64];
        struct kubesim_resp r;
        const char *ix =
            jstr(p, "metadata", "labels", "batch.kubernetes.io/job-completion-index", NULL);
        long i = ix ? strtol(ix, NULL, 10) : -1;
        assert_true(i >= 0 && i < 4);
        seen[i]++;
        assert_string_equal(jstr(p, "status", "phase", NULL), "Succeeded");
        snprintf(path, sizeof(path), PODS "/%s/log", jstr(p, "metadata", "name", NULL));
        kubesim_call(sim, "GET", path, NULL, NULL, &r);
        assert_int_equal(r.code, 200);
        snprintf(want, sizeof(want), "done-%ld\n", i);
        assert_non_null(r.body);
        assert_string_equal(r.body, want);
        kubesim_resp_free(&r);
    }
    cJSON_Delete(items);
    for (int i = 0; i < 4; i++) {
        char path[256], buf[64] = {0}, want[32];
        FILE *f;
        assert_int_equal(seen[i], 1);
        snprintf(path, sizeof(path), "%s/out-%d", g->dir, i);
        f = fopen(path, "r");
        assert_non_null(f);
        assert_non_null(fgets(buf, sizeof(buf), f));
        fclose(f);
        snprintf(want, sizeof(want), "index-%d\n", i);
        assert_string_equal(buf, want);
    }
}

/* A command that always fails is run backoffLimit+1 times. */
static void test_e2e_failing_command_retried_to_backoff_limit(void **state)
{
    struct kubesim *sim = ((struct e2e *)*state)->sim;
    cJSON *job, *items;
    const cJSON *p;
    create_job(sim, "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":"
                    "\"e2e-bl\"},\"spec\":{\"backoffLimit\":2,\"template\":{\"spec\":{"
                    "\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\",\"image\":"
                    "\"example.com/sh:1\",\"command\":[\"/bin/sh\",\"-c\",\"exit 1\"]}]}}}}");
    job = wait_cond(sim, "e2e-bl", "Failed");
    assert_conditions(job, "FailureTarget", "Failed", "BackoffLimitExceeded",
                      "Job has reached the specified backoff limit");
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 3);
    cJSON_Delete(job);
    items = job_pods(sim, "e2e-bl");
    assert_int_equal(cJSON_GetArraySize(items), 3);
    cJSON_ArrayForEach(p, items)
    {
        const cJSON *cs = cJSON_GetArrayItem(jget(p, "status", "containerStatuses", NULL), 0);
        assert_string_equal(jstr(p, "status", "phase", NULL), "Failed");
        assert_int_equal(jnum(jget(cs, "state", "terminated", NULL), "exitCode", -1), 1);
    }
    cJSON_Delete(items);
}

/* podFailurePolicy FailJob on a real exit code ends the Job at once; the
 * pods still sleeping are deleted. */
static void test_e2e_pod_failure_policy_ends_job(void **state)
{
    struct kubesim *sim = ((struct e2e *)*state)->sim;
    cJSON *job, *items = NULL;
    const cJSON *p;
    char want[512];
    create_job(sim,
               "{\"apiVersion\":\"batch/v1\",\"kind\":\"Job\",\"metadata\":{\"name\":\"e2e-pfp\"},"
               "\"spec\":{\"completions\":3,\"parallelism\":3,\"completionMode\":\"Indexed\","
               "\"podFailurePolicy\":{\"rules\":[{\"action\":\"FailJob\",\"onExitCodes\":{"
               "\"operator\":\"In\",\"values\":[3]}}]},\"template\":{\"spec\":{\"restartPolicy\":"
               "\"Never\",\"containers\":[{\"name\":\"main\",\"image\":\"example.com/sh:1\","
               "\"command\":[\"/bin/sh\",\"-c\",\"if [ $JOB_COMPLETION_INDEX = 1 ]; then exit 3; "
               "fi; sleep 60\"]}]}}}}");
    job = wait_cond(sim, "e2e-pfp", "Failed");
    /* The sleeping pods are stopped gracefully and go; the failed one stays. */
    for (int i = 0; i < POLLS; i++) {
        items = job_pods(sim, "e2e-pfp");
        if (cJSON_GetArraySize(items) == 1)
            break;
        cJSON_Delete(items);
        items = NULL;
        usleep(50 * 1000);
    }
    assert_non_null(items);
    p = cJSON_GetArrayItem(items, 0);
    assert_string_equal(
        jstr(p, "metadata", "labels", "batch.kubernetes.io/job-completion-index", NULL), "1");
    assert_string_equal(jstr(p, "status", "phase", NULL), "Failed");
    snprintf(want, sizeof(want),
             "Container main for pod default/%s failed with exit code 3 matching FailJob rule at "
             "index 0",
             jstr(p, "metadata", "name", NULL));
    assert_conditions(job, "FailureTarget", "Failed", "PodFailurePolicy", want);
    assert_int_equal(jnum(jget(job, "status", NULL), "failed", 0), 3);
    assert_int_equal(jnum(jget(job, "status", NULL), "terminating", -1), 0);
    assert_int_equal(jnum(jget(job, "status", NULL), "active", 0), 0);
    cJSON_Delete(job);
    cJSON_Delete(items);
}

int main(void)
{
    const struct CMUnitTest logic[] = {
        cmocka_unit_test(test_indexed_pods_completed_indexes_and_condition_order),
        cmocka_unit_test(test_watch_sees_uncounted_then_complete),
        cmocka_unit_test(test_backoff_limit_exceeded),
        cmocka_unit_test(test_backoff_wait_reports_zero_active),
        cmocka_unit_test(test_pod_failure_policy_fail_job),
        cmocka_unit_test(test_active_deadline),
        cmocka_unit_test(test_backoff_limit_per_index),
        cmocka_unit_test(test_suspend_and_resume),
        cmocka_unit_test(test_ttl_after_finished),
        cmocka_unit_test(test_delete_propagation),
    };
    const struct CMUnitTest e2e[] = {
        cmocka_unit_test(test_e2e_indexed_job_runs_real_commands),
        cmocka_unit_test(test_e2e_failing_command_retried_to_backoff_limit),
        cmocka_unit_test(test_e2e_pod_failure_policy_ends_job),
    };
    int failed = cmocka_run_group_tests_name("jobs_logic", logic, setup_logic, teardown);
    failed += cmocka_run_group_tests_name("jobs_e2e", e2e, setup_e2e, teardown_e2e);
    return failed;
}
