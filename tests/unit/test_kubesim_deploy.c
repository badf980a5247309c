/*
 * The simulator's Deployment controller (tests/kubesim/sim_deploy.c) against
 * the behaviour of kube-controller-manager: a template change rolls out
 * through a new ReplicaSet revision (hash-named, owned, annotated) to
 * NewReplicaSetAvailable; the real kubectl's `rollout status` and `rollout
 * undo` work (undo reuses the old ReplicaSet under a new revision); scale to
 * 0 and back keeps the ReplicaSet; Recreate scales the old one down before
 * the new one up; revisionHistoryLimit prunes; a stalled rollout ends in
 * ProgressDeadlineExceeded and resumes once unstalled; a paused Deployment
 * does not roll out until resumed. Asynchronous results are polled with a
 * generous deadline, never timed.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

#define DEPLOYS "/apis/apps/v1/namespaces/default/deployments"
#define RSS     "/apis/apps/v1/namespaces/default/replicasets"
#define KUBECTL "/usr/bin/kubectl"
#define WAIT_MS 30000

static int setup(void **state)
{
    struct kubesim_opts o;
    struct kubesim *sim = NULL;
    memset(&o, 0, sizeof(o));
    o.exit_after_seconds = 300;
    if (kubesim_start(&o, &sim) != 0)
        return -1;
    /* Short readiness so rollouts take a fraction of a second per step. */
    if (kubesim_admin(sim, "POST", "/__admin/workloads",
                      "{\"deployments\":{\"rolloutDelayMs\":150}}", NULL) != 200) {
        kubesim_stop(sim);
        return -1;
    }
    *state = sim;
    return 0;
}

static int teardown(void **state)
{
    kubesim_stop(*state);
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static cJSON *get_json(struct kubesim *sim, const char *path)
{
    struct kubesim_resp r;
    cJSON *j;
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    if (r.code != 200)
        fprintf(stderr, "GET %s: %ld %s\n", path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, 200);
    j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    return j;
}

static void expect_call(struct kubesim *sim, const char *method, const char *path,
                        const char *ctype, const char *body, long want)
{
    struct kubesim_resp r;
    kubesim_call(sim, method, path, ctype, body, &r);
    if (r.code != want)
        fprintf(stderr, "%s %s: %ld %s\n", method, path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, want);
    kubesim_resp_free(&r);
}

static void merge_patch(struct kubesim *sim, const char *name, const char *patch)
{
    char path[256];
    snprintf(path, sizeof(path), DEPLOYS "/%s", name);
    expect_call(sim, "PATCH", path, "application/merge-patch+json", patch, 200);
}

static void create_deploy(struct kubesim *sim, const char *name, long replicas, const char *image,
                          const char *extra_spec)
{
    char body[2048];
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"%s\","
             "\"annotations\":{\"team\":\"storage\"}},\"spec\":{\"replicas\":%ld,%s"
             "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}},\"template\":{\"metadata\":"
             "{\"labels\":{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
             "\"image\":\"%s\"}]}}}}",
             name, replicas, extra_spec ? extra_spec : "", name, name, image);
    expect_call(sim, "POST", DEPLOYS, "application/json", body, 201);
}

static long num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

static const cJSON *cond(const cJSON *d, const char *type)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(d, "status"), "conditions"))
    {
        const char *t = kubesim_jstr(c, "type", NULL);
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static int cond_is(const cJSON *d, const char *type, const char *status, const char *reason)
{
    const cJSON *c = cond(d, type);
    const char *s = kubesim_jstr(c, "status", NULL), *r = kubesim_jstr(c, "reason", NULL);
    return s && r && strcmp(s, status) == 0 && strcmp(r, reason) == 0;
}

/* The rollout is over: observed, every replica updated and available, and
 * the Progressing condition says so. */
static int rolled_out(const cJSON *d, void *arg)
{
    long want = num(d, "spec", "replicas");
    (void)arg;
    return num(d, "status", "observedGeneration") == num(d, "metadata", "generation") &&
           num(d, "status", "updatedReplicas") == want && num(d, "status", "replicas") == want &&
           num(d, "status", "availableReplicas") == want &&
           cond_is(d, "Progressing", "True", "NewReplicaSetAvailable") &&
           cond_is(d, "Available", "True", "MinimumReplicasAvailable");
}

/* Polls a GET until `pred` holds (the controllers act asynchronously). */
static cJSON *wait_for(struct kubesim *sim, const char *path, int (*pred)(const cJSON *, void *),
                       void *arg)
{
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        struct kubesim_resp r;
        cJSON *j = NULL;
        kubesim_call(sim, "GET", path, NULL, NULL, &r);
        if (r.code == 200)
            j = kubesim_resp_json(&r);
        kubesim_resp_free(&r);
        if (j && pred(j, arg))
            return j;
        cJSON_Delete(j);
        sleep_ms(50);
    }
    fprintf(stderr, "timed out waiting on %s\n", path);
    fail();
    return NULL;
}

static cJSON *wait_rolled_out(struct kubesim *sim, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), DEPLOYS "/%s", name);
    return wait_for(sim, path, rolled_out, NULL);
}

/* The ReplicaSets a Deployment owns (by its uid). */
static cJSON *owned_rs(struct kubesim *sim, const cJSON *d)
{
    cJSON *list = get_json(sim, RSS), *out = cJSON_CreateArray(), *rs;
    const char *uid = kubesim_jstr(d, "metadata", "uid");
    cJSON_ArrayForEach(rs, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const cJSON *ref;
        cJSON_ArrayForEach(
            ref, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rs, "metadata"),
                                                  "ownerReferences"))
        {
            const char *u = kubesim_jstr(ref, "uid", NULL);
            if (u && uid && strcmp(u, uid) == 0)
                cJSON_AddItemToArray(out, cJSON_Duplicate(rs, 1));
        }
    }
    cJSON_Delete(list);
    return out;
}

static const char *annotation(const cJSON *o, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(o, "metadata"), "annotations");
    return kubesim_jstr(a, key, NULL);
}

static const cJSON *rs_with_revision(const cJSON *list, const char *rev)
{
    const cJSON *rs;
    cJSON_ArrayForEach(rs, list)
    {
        const char *r = annotation(rs, "deployment.kubernetes.io/revision");
        if (r && strcmp(r, rev) == 0)
            return rs;
    }
    return NULL;
}

static const cJSON *member(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *template_image(const cJSON *o)
{
    const cJSON *c = cJSON_GetArrayItem(
        member(member(member(member(o, "spec"), "template"), "spec"), "containers"), 0);
    return kubesim_jstr(c, "image", NULL);
}

/* Whether some event of the Deployment carries exactly this message. */
static int has_event(struct kubesim *sim, const char *msg)
{
    cJSON *list = get_json(sim, "/api/v1/namespaces/default/events"), *e;
    int found = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const char *m = kubesim_jstr(e, "message", NULL);
        const char *r = kubesim_jstr(e, "reason", NULL);
        const char *src = kubesim_jstr(e, "source", "component");
        if (m && strcmp(m, msg) == 0 && r && strcmp(r, "ScalingReplicaSet") == 0 && src &&
            strcmp(src, "deployment-controller") == 0)
            found = 1;
    }
    cJSON_Delete(list);
    return found;
}

/* Index of the event with this message in creation order, or -1. */
static int event_index(struct kubesim *sim, const char *msg)
{
    cJSON *list = get_json(sim, "/api/v1/namespaces/default/events"), *e;
    int i = 0, at = -1;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(list, "items"))
    {
        const char *m = kubesim_jstr(e, "message", NULL);
        if (at < 0 && m && strcmp(m, msg) == 0)
            at = i;
        i++;
    }
    cJSON_Delete(list);
    return at;
}

static void test_template_change_rolls_out_a_new_revision(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *rss, *d2;
    const cJSON *rs1, *rs2, *sel;
    char msg[256], hash_name[128];
    const char *hash;

    create_deploy(sim, "roll", 2, "registry:1", NULL);
    d = wait_rolled_out(sim, "roll");
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "1");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 1);
    rs1 = cJSON_GetArrayItem(rss, 0);
    /* <deployment>-<pod-template-hash>, the hash also on labels and selector. */
    hash = kubesim_jstr(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(rs1, "metadata"), "labels"),
                        "pod-template-hash", NULL);
    assert_non_null(hash);
    snprintf(hash_name, sizeof(hash_name), "roll-%s", hash);
    assert_string_equal(kubesim_jstr(rs1, "metadata", "name"), hash_name);
    sel = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rs1, "spec"), "selector"),
        "matchLabels");
    assert_string_equal(kubesim_jstr(sel, "pod-template-hash", NULL), hash);
    assert_string_equal(kubesim_jstr(sel, "app", NULL), "roll");
    assert_string_equal(annotation(rs1, "deployment.kubernetes.io/desired-replicas"), "2");
    assert_string_equal(annotation(rs1, "deployment.kubernetes.io/max-replicas"), "3");
    assert_string_equal(annotation(rs1, "team"), "storage"); /* copied from the Deployment */
    {
        const cJSON *ref = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rs1, "metadata"),
                                             "ownerReferences"),
            0);
        assert_string_equal(kubesim_jstr(ref, "kind", NULL), "Deployment");
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "blockOwnerDeletion")));
    }
    snprintf(msg, sizeof(msg), "Scaled up replica set %s from 0 to 2", hash_name);
    assert_true(has_event(sim, msg));

    merge_patch(sim, "roll",
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                "\"image\":\"registry:2\"}]}}}}");
    d2 = wait_rolled_out(sim, "roll");
    assert_string_equal(annotation(d2, "deployment.kubernetes.io/revision"), "2");
    assert_int_equal(num(d2, "metadata", "generation"), 2);
    assert_int_equal(num(d2, "status", "unavailableReplicas"), 0);
    cJSON_Delete(rss);
    rss = owned_rs(sim, d2);
    assert_int_equal(cJSON_GetArraySize(rss), 2);
    rs2 = rs_with_revision(rss, "2");
    assert_non_null(rs2);
    assert_string_equal(template_image(rs2), "registry:2");
    assert_int_equal(num(rs2, "spec", "replicas"), 2);
    assert_int_equal(num(rs_with_revision(rss, "1"), "spec", "replicas"), 0);
    snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.",
             kubesim_jstr(rs2, "metadata", "name"));
    assert_string_equal(kubesim_jstr(cond(d2, "Progressing"), "message", NULL), msg);
    snprintf(msg, sizeof(msg), "Scaled up replica set %s from 0 to 1",
             kubesim_jstr(rs2, "metadata", "name"));
    assert_true(has_event(sim, msg));
    snprintf(msg, sizeof(msg), "Scaled down replica set %s from 2 to 1", hash_name);
    assert_true(has_event(sim, msg));
    cJSON_Delete(rss);
    cJSON_Delete(d);
    cJSON_Delete(d2);
}

/* Runs the real kubectl against the simulator; output (both streams) in out. */
static int kubectl(struct kubesim *sim, char *out, size_t cap, ...)
{
    const char *argv[32];
    char cache[700];
    int fds[2], status = 0, n = 0;
    size_t len = 0;
    pid_t pid;
    va_list ap;
    snprintf(cache, sizeof(cache), "--cache-dir=%s/kubectl-cache", kubesim_dir(sim));
    argv[n++] = KUBECTL;
    argv[n++] = "--kubeconfig";
    argv[n++] = kubesim_kubeconfig(sim);
    argv[n++] = cache;
    va_start(ap, cap);
    for (const char *a; n < 31 && (a = va_arg(ap, const char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(KUBECTL, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        ssize_t r = read(fds[0], out + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len + 1 >= cap)
            len = 0; /* keep the tail of long output */
    }
    out[len] = '\0';
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_kubectl_rollout_status_and_undo(void **state)
{
    struct kubesim *sim = *state;
    char out[16384];
    cJSON *d, *rss;
    const cJSON *rs;
    int rc;
    if (access(KUBECTL, X_OK) != 0) {
        skip();
        return;
    }
    create_deploy(sim, "kc", 3, "registry:1", NULL);
    rc = kubectl(sim, out, sizeof(out), "-n", "default", "rollout", "status", "deployment/kc",
                 "--timeout=60s", (const char *)NULL);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "deployment \"kc\" successfully rolled out"));

    rc = kubectl(sim, out, sizeof(out), "-n", "default", "set", "image", "deployment/kc",
                 "c=registry:2", (const char *)NULL);
    assert_int_equal(rc, 0);
    rc = kubectl(sim, out, sizeof(out), "-n", "default", "rollout", "status", "deployment/kc",
                 "--timeout=60s", (const char *)NULL);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "successfully rolled out"));

    /* Undo: the template of revision 1 comes back; its ReplicaSet is reused
     * under revision 3 and remembers it was revision 1. */
    rc = kubectl(sim, out, sizeof(out), "-n", "default", "rollout", "undo", "deployment/kc",
                 (const char *)NULL);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "rolled back"));
    rc = kubectl(sim, out, sizeof(out), "-n", "default", "rollout", "status", "deployment/kc",
                 "--timeout=60s", (const char *)NULL);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    d = wait_rolled_out(sim, "kc");
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "3");
    assert_string_equal(template_image(d), "registry:1");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 2);
    rs = rs_with_revision(rss, "3");
    assert_non_null(rs);
    assert_string_equal(template_image(rs), "registry:1");
    assert_string_equal(annotation(rs, "deployment.kubernetes.io/revision-history"), "1");
    assert_int_equal(num(rs, "spec", "replicas"), 3);
    assert_int_equal(num(rs_with_revision(rss, "2"), "spec", "replicas"), 0);
    /* kubectl sees the ReplicaSets (kind, short name and table). */
    rc = kubectl(sim, out, sizeof(out), "-n", "default", "get", "rs", (const char *)NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, kubesim_jstr(rs, "metadata", "name")));
    cJSON_Delete(rss);
    cJSON_Delete(d);
}

static int scaled_to_zero(const cJSON *d, void *arg)
{
    (void)arg;
    return num(d, "status", "observedGeneration") == num(d, "metadata", "generation") &&
           cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "status"),
                                            "replicas") == NULL &&
           cond_is(d, "Available", "True", "MinimumReplicasAvailable") &&
           cond_is(d, "Progressing", "True", "NewReplicaSetAvailable");
}

static void test_scale_to_zero_and_back(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *rss;
    const cJSON *rs;
    char msg[256];
    create_deploy(sim, "zero", 2, "registry:1", NULL);
    cJSON_Delete(wait_rolled_out(sim, "zero"));
    merge_patch(sim, "zero", "{\"spec\":{\"replicas\":0}}");
    d = wait_for(sim, DEPLOYS "/zero", scaled_to_zero, NULL);
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 1);
    rs = cJSON_GetArrayItem(rss, 0);
    assert_int_equal(num(rs, "spec", "replicas"), 0);
    assert_string_equal(annotation(rs, "deployment.kubernetes.io/desired-replicas"), "0");
    snprintf(msg, sizeof(msg), "Scaled down replica set %s from 2 to 0",
             kubesim_jstr(rs, "metadata", "name"));
    assert_true(has_event(sim, msg));
    cJSON_Delete(rss);
    cJSON_Delete(d);

    merge_patch(sim, "zero", "{\"spec\":{\"replicas\":1}}");
    d = wait_rolled_out(sim, "zero");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 1); /* same template, same ReplicaSet */
    assert_int_equal(num(cJSON_GetArrayItem(rss, 0), "status", "availableReplicas"), 1);
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "1");
    cJSON_Delete(rss);
    cJSON_Delete(d);
}

static void test_recreate_scales_down_before_up(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *rss;
    char down[256], up[256];
    const cJSON *old, *cur;
    create_deploy(sim, "recreate", 2, "registry:1", "\"strategy\":{\"type\":\"Recreate\"},");
    cJSON_Delete(wait_rolled_out(sim, "recreate"));
    merge_patch(sim, "recreate",
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                "\"image\":\"registry:2\"}]}}}}");
    d = wait_rolled_out(sim, "recreate");
    rss = owned_rs(sim, d);
    old = rs_with_revision(rss, "1");
    cur = rs_with_revision(rss, "2");
    assert_non_null(old);
    assert_non_null(cur);
    snprintf(down, sizeof(down), "Scaled down replica set %s from 2 to 0",
             kubesim_jstr(old, "metadata", "name"));
    snprintf(up, sizeof(up), "Scaled up replica set %s from 0 to 2",
             kubesim_jstr(cur, "metadata", "name"));
    assert_true(event_index(sim, down) >= 0);
    assert_true(event_index(sim, up) > event_index(sim, down));
    cJSON_Delete(rss);
    cJSON_Delete(d);
}

static int has_n_rs(const cJSON *list, void *arg)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(list, "items")) == *(int *)arg;
}

static void test_revision_history_limit_prunes_old_sets(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *rss;
    int two = 2;
    char path[256];
    create_deploy(sim, "hist", 1, "registry:1", "\"revisionHistoryLimit\":1,");
    cJSON_Delete(wait_rolled_out(sim, "hist"));
    for (int i = 2; i <= 4; i++) {
        char patch[256];
        snprintf(patch, sizeof(patch),
                 "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                 "\"image\":\"registry:%d\"}]}}}}",
                 i);
        merge_patch(sim, "hist", patch);
        cJSON_Delete(wait_rolled_out(sim, "hist"));
    }
    /* The new ReplicaSet and one old one remain; the oldest revisions went. */
    snprintf(path, sizeof(path), RSS "?labelSelector=app%%3Dhist");
    cJSON_Delete(wait_for(sim, path, has_n_rs, &two));
    d = get_json(sim, DEPLOYS "/hist");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 2);
    assert_non_null(rs_with_revision(rss, "4"));
    assert_non_null(rs_with_revision(rss, "3"));
    cJSON_Delete(rss);
    cJSON_Delete(d);
}

static int timed_out(const cJSON *d, void *arg)
{
    (void)arg;
    return cond_is(d, "Progressing", "False", "ProgressDeadlineExceeded");
}

static void test_stalled_rollout_exceeds_its_deadline(void **state)
{
    struct kubesim *sim = *state;
    char out[16384], msg[256];
    cJSON *d, *rss;
    const cJSON *rs2;
    int rc;
    create_deploy(sim, "stuck", 1, "registry:1", "\"progressDeadlineSeconds\":2,");
    cJSON_Delete(wait_rolled_out(sim, "stuck"));
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/workloads",
                                   "{\"deployments\":{\"stall\":{\"default/stuck\":true}}}", NULL),
                     200);
    merge_patch(sim, "stuck",
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                "\"image\":\"registry:broken\"}]}}}}");
    d = wait_for(sim, DEPLOYS "/stuck", timed_out, NULL);
    rss = owned_rs(sim, d);
    rs2 = rs_with_revision(rss, "2");
    assert_non_null(rs2);
    snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has timed out progressing.",
             kubesim_jstr(rs2, "metadata", "name"));
    assert_string_equal(kubesim_jstr(cond(d, "Progressing"), "message", NULL), msg);
    /* The new pod never got ready; the old one still serves. */
    assert_int_equal(num(rs2, "status", "replicas"), 1);
    assert_int_equal(num(rs2, "status", "readyReplicas"), 0);
    assert_int_equal(num(d, "status", "availableReplicas"), 1);
    assert_int_equal(num(d, "status", "unavailableReplicas"), 1);
    assert_true(cond_is(d, "Available", "True", "MinimumReplicasAvailable"));
    if (access(KUBECTL, X_OK) == 0) {
        rc = kubectl(sim, out, sizeof(out), "-n", "default", "rollout", "status",
                     "deployment/stuck", "--timeout=30s", (const char *)NULL);
        assert_int_not_equal(rc, 0);
        assert_non_null(strstr(out, "exceeded its progress deadline"));
    }
    cJSON_Delete(rss);
    cJSON_Delete(d);
    /* Once the pods can start, the rollout resumes and completes. */
    assert_int_equal(kubesim_admin(sim, "POST", "/__admin/workloads",
                                   "{\"deployments\":{\"stall\":{\"default/stuck\":null}}}", NULL),
                     200);
    d = wait_rolled_out(sim, "stuck");
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "2");
    cJSON_Delete(d);
}

static int paused_observed(const cJSON *d, void *arg)
{
    (void)arg;
    return num(d, "status", "observedGeneration") == num(d, "metadata", "generation") &&
           cond_is(d, "Progressing", "Unknown", "DeploymentPaused");
}

static void test_paused_deployment_waits_for_resume(void **state)
{
    struct kubesim *sim = *state;
    cJSON *d, *rss;
    create_deploy(sim, "pause", 1, "registry:1", NULL);
    cJSON_Delete(wait_rolled_out(sim, "pause"));
    merge_patch(sim, "pause", "{\"spec\":{\"paused\":true}}");
    merge_patch(sim, "pause",
                "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\","
                "\"image\":\"registry:2\"}]}}}}");
    /* The controller saw the new generation while paused: no new revision. */
    d = wait_for(sim, DEPLOYS "/pause", paused_observed, NULL);
    assert_string_equal(kubesim_jstr(cond(d, "Progressing"), "message", NULL),
                        "Deployment is paused");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 1);
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "1");
    cJSON_Delete(rss);
    cJSON_Delete(d);
    merge_patch(sim, "pause", "{\"spec\":{\"paused\":false}}");
    d = wait_rolled_out(sim, "pause");
    assert_string_equal(annotation(d, "deployment.kubernetes.io/revision"), "2");
    rss = owned_rs(sim, d);
    assert_int_equal(cJSON_GetArraySize(rss), 2);
    cJSON_Delete(rss);
    cJSON_Delete(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_change_rolls_out_a_new_revision),
        cmocka_unit_test(test_kubectl_rollout_status_and_undo),
        cmocka_unit_test(test_scale_to_zero_and_back),
        cmocka_unit_test(test_recreate_scales_down_before_up),
        cmocka_unit_test(test_revision_history_limit_prunes_old_sets),
        cmocka_unit_test(test_stalled_rollout_exceeds_its_deadline),
        cmocka_unit_test(test_paused_deployment_waits_for_resume),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
