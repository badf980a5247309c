/*
 * The simulator's kubelet: Pods run as local processes, seen through the API
 * as on a real node. One simulator serves every case; its image map sends
 * "qso-test/sh:1" to /bin/sh (so a pod's command is a shell script) and the
 * claim "default/data" to a temporary directory, where pods leave what the
 * test checks. Every wait polls with a generous deadline; nothing asserts
 * how long the simulator took.
 *
 * Proves: a secretKeyRef env and a Secret volume at a made-up mountPath
 * (which never appears on the host); the exit code and the termination
 * message (4 KiB cap: the file's tail, FallbackToLogsOnError: the log's
 * tail); no service-account token unless the pod asks for one, and a token
 * the API accepts when it does; an unmapped image stays Pending with
 * ErrImagePull/ImagePullBackOff and its events, then starts once mapped;
 * graceful deletion kills the process and removes the object; logs and
 * logs -f with real kubectl, the kubelet's refusals for a waiting container;
 * init containers, OnFailure restarts, activeDeadlineSeconds, config errors,
 * downward API and $(VAR) expansion, read-only mounts and subPath.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kubesim_harness.h"
#include "kubesim_http.h"

#define PODS   "/api/v1/namespaces/default/pods"
#define IMAGE  "qso-test/sh:1"
#define WAIT_S 30

struct fixture {
    struct kubesim *sim;
    char claim[256];
};

static char *file_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    if (!f)
        return NULL;
    buf = calloc(1, 65536);
    n = buf ? fread(buf, 1, 65535, f) : 0;
    (void)n;
    fclose(f);
    return buf;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void rm_claim_files(const char *dir)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct kubesim_opts o;
    char body[1024];
    long code;
    if (!fx)
        return -1;
    snprintf(fx->claim, sizeof(fx->claim), "/tmp/qso-pods-claim-XXXXXX");
    if (!mkdtemp(fx->claim))
        return -1;
    memset(&o, 0, sizeof(o));
    o.exit_after_seconds = 300;
    if (kubesim_start(&o, &fx->sim) != 0)
        return -1;
    snprintf(body, sizeof(body),
             "{\"images\":{\"" IMAGE "\":\"/bin/sh\"},\"claims\":{\"default/data\":\"%s\"},"
             "\"kubelet\":{\"backOffBaseMs\":300,\"backOffMaxMs\":1000,\"volumeSyncMs\":500}}",
             fx->claim);
    code = kubesim_admin(fx->sim, "POST", "/__admin/workloads", body, NULL);
    if (code != 200)
        return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    kubesim_stop(fx->sim);
    rm_claim_files(fx->claim);
    free(fx);
    return 0;
}

static void post(struct kubesim *sim, const char *path, const char *body)
{
    struct kubesim_resp r;
    kubesim_call(sim, "POST", path, "application/json", body, &r);
    if (r.code != 201)
        fprintf(stderr, "POST %s: %ld %s\n", path, r.code, r.body ? r.body : "");
    assert_int_equal(r.code, 201);
    kubesim_resp_free(&r);
}

/* A pod named `name` with one container "main" running `script` in sh;
 * `extra_ctr` and `extra_spec` are JSON members added to the container and
 * the pod spec (each "" or starting with a comma). */
static void run_pod(struct kubesim *sim, const char *name, const char *script,
                    const char *extra_ctr, const char *extra_spec)
{
    char *body = malloc(65536);
    cJSON *cmd = cJSON_CreateArray();
    char *cmd_text;
    assert_non_null(body);
    cJSON_AddItemToArray(cmd, cJSON_CreateString("sh"));
    cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
    cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
    cmd_text = cJSON_PrintUnformatted(cmd);
    snprintf(body, 65536,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":{\"app\":\"qso\",\"tier\":\"test\"}},\"spec\":{\"restartPolicy\":"
             "\"Never\",\"terminationGracePeriodSeconds\":5,\"containers\":[{\"name\":\"main\","
             "\"image\":\"" IMAGE "\",\"command\":%s%s}]%s}}",
             name, cmd_text, extra_ctr, extra_spec);
    post(sim, PODS, body);
    free(cmd_text);
    cJSON_Delete(cmd);
    free(body);
}

static cJSON *get_pod(struct kubesim *sim, const char *name)
{
    struct kubesim_resp r;
    char path[256];
    cJSON *j = NULL;
    snprintf(path, sizeof(path), PODS "/%s", name);
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    if (r.code == 200)
        j = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    return j;
}

static const char *pod_phase(const cJSON *pod)
{
    return kubesim_jstr(cJSON_GetObjectItem(pod, "status"), "phase", NULL);
}

/* Polls until the pod's phase is `phase`; returns the pod (caller frees). */
static cJSON *wait_phase(struct kubesim *sim, const char *name, const char *phase)
{
    for (int i = 0; i < WAIT_S * 10; i++) {
        cJSON *pod = get_pod(sim, name);
        const char *p = pod_phase(pod);
        if (p && strcmp(p, phase) == 0)
            return pod;
        cJSON_Delete(pod);
        usleep(100 * 1000);
    }
    {
        cJSON *pod = get_pod(sim, name);
        char *t = pod ? cJSON_Print(cJSON_GetObjectItem(pod, "status")) : NULL;
        fprintf(stderr, "pod %s never reached %s; status: %s\n", name, phase, t ? t : "(none)");
        free(t);
        cJSON_Delete(pod);
    }
    fail();
    return NULL;
}

static const cJSON *ctr_status(const cJSON *pod, const char *list, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), list))
    {
        const char *n = kubesim_jstr(c, "name", NULL);
        if (n && strcmp(n, name) == 0)
            return c;
    }
    return NULL;
}

static const cJSON *terminated(const cJSON *pod, const char *name)
{
    const cJSON *st = ctr_status(pod, "containerStatuses", name);
    return cJSON_GetObjectItem(cJSON_GetObjectItem(st, "state"), "terminated");
}

static char *pod_log(struct kubesim *sim, const char *name, const char *query, long *code)
{
    struct kubesim_resp r;
    char path[512];
    char *out;
    snprintf(path, sizeof(path), PODS "/%s/log%s%s", name, query ? "?" : "", query ? query : "");
    *code = kubesim_call(sim, "GET", path, NULL, NULL, &r);
    out = strdup(r.body ? r.body : "");
    kubesim_resp_free(&r);
    return out;
}

static void delete_pod(struct kubesim *sim, const char *name)
{
    struct kubesim_resp r;
    char path[256];
    snprintf(path, sizeof(path), PODS "/%s", name);
    kubesim_call(sim, "DELETE", path, NULL, NULL, &r);
    kubesim_resp_free(&r);
}

static int wait_gone(struct kubesim *sim, const char *name)
{
    for (int i = 0; i < WAIT_S * 10; i++) {
        cJSON *pod = get_pod(sim, name);
        if (!pod)
            return 1;
        cJSON_Delete(pod);
        usleep(100 * 1000);
    }
    return 0;
}

/* Whether an event about `pod` with this reason has a message containing
 * `needle`. */
static int has_event(struct kubesim *sim, const char *pod, const char *reason, const char *needle)
{
    struct kubesim_resp r;
    char path[512];
    cJSON *list;
    const cJSON *e;
    int found = 0;
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%%3D%s", pod);
    kubesim_call(sim, "GET", path, NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    list = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(list, "items"))
    {
        const char *rs = kubesim_jstr(e, "reason", NULL), *m = kubesim_jstr(e, "message", NULL);
        if (rs && m && strcmp(rs, reason) == 0 && strstr(m, needle))
            found = 1;
    }
    cJSON_Delete(list);
    return found;
}

static int wait_event(struct kubesim *sim, const char *pod, const char *reason, const char *needle)
{
    for (int i = 0; i < WAIT_S * 10; i++) {
        if (has_event(sim, pod, reason, needle))
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

/* ---- cases ---- */

static void test_secret_env_and_volume_at_made_up_path(void **state)
{
    struct fixture *fx = *state;
    struct stat st;
    char path[400], *text, *log;
    cJSON *pod;
    long code;
    post(fx->sim, "/api/v1/namespaces/default/secrets",
         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"creds\"},"
         "\"stringData\":{\"password\":\"hunter2\",\"user\":\"quay\"}}");
    run_pod(fx->sim, "secret-reader",
            "echo PW=$PW; cat /etc/qso-test-xyz/password > /data/copied; "
            "ls /etc/qso-test-xyz > /data/listing",
            ",\"env\":[{\"name\":\"PW\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"creds\","
            "\"key\":\"password\"}}}],\"volumeMounts\":[{\"name\":\"sec\",\"mountPath\":"
            "\"/etc/qso-test-xyz\"},{\"name\":\"data\",\"mountPath\":\"/data\"}]",
            ",\"volumes\":[{\"name\":\"sec\",\"secret\":{\"secretName\":\"creds\"}},"
            "{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"data\"}}]");
    pod = wait_phase(fx->sim, "secret-reader", "Succeeded");
    assert_int_equal(cJSON_GetObjectItem(terminated(pod, "main"), "exitCode")->valueint, 0);
    assert_string_equal(kubesim_jstr(terminated(pod, "main"), "reason", NULL), "Completed");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "secret-reader", NULL, &code);
    assert_int_equal(code, 200);
    assert_string_equal(log, "PW=hunter2\n");
    free(log);
    snprintf(path, sizeof(path), "%s/copied", fx->claim);
    text = file_text(path);
    assert_non_null(text);
    assert_string_equal(text, "hunter2");
    free(text);
    snprintf(path, sizeof(path), "%s/listing", fx->claim);
    text = file_text(path);
    assert_non_null(text);
    assert_string_equal(text, "password\nuser\n");
    free(text);
    /* The mount point existed only inside the pod. */
    assert_int_equal(stat("/etc/qso-test-xyz", &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_exit_code_and_termination_message(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    const cJSON *t;
    const char *msg;
    run_pod(fx->sim, "exit-seven", "printf 'disk full' > /dev/termination-log; exit 7", "", "");
    pod = wait_phase(fx->sim, "exit-seven", "Failed");
    t = terminated(pod, "main");
    assert_int_equal(cJSON_GetObjectItem(t, "exitCode")->valueint, 7);
    assert_string_equal(kubesim_jstr(t, "reason", NULL), "Error");
    assert_string_equal(kubesim_jstr(t, "message", NULL), "disk full");
    assert_non_null(kubesim_jstr(t, "containerID", NULL));
    assert_non_null(strstr(kubesim_jstr(t, "containerID", NULL), "containerd://"));
    cJSON_Delete(pod);

    /* 5000 bytes written: the last 4096 are kept, as tail.ReadAtMost does. */
    run_pod(fx->sim, "long-message",
            "i=0; while [ $i -lt 1000 ]; do printf 'abcd'; i=$((i+1)); done > "
            "/dev/termination-log; printf 'E' >> /dev/termination-log; "
            "printf 'X%.0s' $(seq 999) >> /dev/termination-log; exit 1",
            "", "");
    pod = wait_phase(fx->sim, "long-message", "Failed");
    msg = kubesim_jstr(terminated(pod, "main"), "message", NULL);
    assert_non_null(msg);
    assert_int_equal(strlen(msg), 4096);
    assert_int_equal(msg[4096 - 1000], 'E');
    assert_int_equal(msg[4095], 'X');
    cJSON_Delete(pod);

    /* A program the image does not have: containerd's StartError, 128, and
     * its zero startedAt. */
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"no-such-cmd\"},"
         "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\",\"image\":"
         "\"" IMAGE "\",\"command\":[\"qso-no-such-program\"]}]}}");
    pod = wait_phase(fx->sim, "no-such-cmd", "Failed");
    t = terminated(pod, "main");
    assert_int_equal(cJSON_GetObjectItem(t, "exitCode")->valueint, 128);
    assert_string_equal(kubesim_jstr(t, "reason", NULL), "StartError");
    assert_string_equal(kubesim_jstr(t, "startedAt", NULL), "1970-01-01T00:00:00Z");
    assert_non_null(strstr(kubesim_jstr(t, "message", NULL),
                           "exec: \"qso-no-such-program\": executable file not found in $PATH"));
    cJSON_Delete(pod);

    /* FallbackToLogsOnError: no file content, a failure: the log's tail. */
    run_pod(fx->sim, "fallback", "echo first; echo 'the real reason'; exit 2",
            ",\"terminationMessagePolicy\":\"FallbackToLogsOnError\"", "");
    pod = wait_phase(fx->sim, "fallback", "Failed");
    assert_string_equal(kubesim_jstr(terminated(pod, "main"), "message", NULL),
                        "first\nthe real reason\n");
    cJSON_Delete(pod);
}

static void test_service_account_token_only_when_asked(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    char *log;
    long code;
    static const char probe[] =
        "D=/var/run/secrets/kubernetes.io/serviceaccount; "
        "if [ -e $D/token ]; then echo token; else echo no-token; fi; "
        "if [ -e $D/token ]; then "
        "curl -s -o /dev/null -w '%{http_code}\\n' --cacert $D/ca.crt "
        "-H \"Authorization: Bearer $(cat $D/token)\" "
        "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/$(cat "
        "$D/namespace)/pods/$HOSTNAME; "
        "curl -s -o /dev/null -w '%{http_code}\\n' --cacert $D/ca.crt "
        "-H 'Authorization: Bearer not-a-token' "
        "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/default/pods;"
        " fi";
    run_pod(fx->sim, "no-token", probe, "", ",\"automountServiceAccountToken\":false");
    pod = wait_phase(fx->sim, "no-token", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "no-token", NULL, &code);
    assert_string_equal(log, "no-token\n");
    free(log);

    /* The default (true): a token the API server accepts for the pod's
     * ServiceAccount, and the in-cluster variables that find it. */
    run_pod(fx->sim, "with-token", probe, "", "");
    pod = wait_phase(fx->sim, "with-token", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "with-token", NULL, &code);
    assert_string_equal(log, "token\n200\n401\n");
    free(log);
}

static void test_unmapped_image_waits_then_starts_when_mapped(void **state)
{
    struct fixture *fx = *state;
    char body[1024], *log;
    const cJSON *st, *waiting;
    cJSON *pod = NULL;
    long code;
    int seen = 0;
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"unmapped\"},"
         "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"main\","
         "\"image\":\"quay.io/qso/not-mapped:2\",\"args\":[\"-c\",\"echo args-only\"]}]}}");
    for (int i = 0; i < WAIT_S * 10 && !seen; i++) {
        const char *reason;
        cJSON_Delete(pod);
        pod = get_pod(fx->sim, "unmapped");
        st = ctr_status(pod, "containerStatuses", "main");
        waiting = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "state"), "waiting");
        reason = kubesim_jstr(waiting, "reason", NULL);
        seen = reason &&
               (strcmp(reason, "ErrImagePull") == 0 || strcmp(reason, "ImagePullBackOff") == 0);
        if (!seen)
            usleep(100 * 1000);
    }
    assert_true(seen);
    assert_string_equal(pod_phase(pod), "Pending");
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(pod, "spec"), "nodeName", NULL),
                        "kubesim-node");
    cJSON_Delete(pod);
    assert_true(wait_event(fx->sim, "unmapped", "Failed",
                           "Failed to pull image \"quay.io/qso/not-mapped:2\""));
    assert_true(wait_event(fx->sim, "unmapped", "Scheduled",
                           "Successfully assigned default/unmapped to kubesim-node"));
    /* The kubelet's refusal for logs of a container that never started. */
    log = pod_log(fx->sim, "unmapped", NULL, &code);
    assert_int_equal(code, 400);
    assert_true(strstr(log, "container \\\"main\\\" in pod \\\"unmapped\\\" is waiting to start: "
                            "image can't be pulled") ||
                strstr(log, "container \\\"main\\\" in pod \\\"unmapped\\\" is waiting to start: "
                            "trying and failing to pull image"));
    free(log);
    /* Mapped now: the next pull attempt succeeds; args only run the
     * image's entrypoint (the mapped binary). */
    snprintf(body, sizeof(body), "{\"images\":{\"quay.io/qso/*\":\"/bin/sh\"}}");
    assert_int_equal(kubesim_admin(fx->sim, "POST", "/__admin/workloads", body, NULL), 200);
    pod = wait_phase(fx->sim, "unmapped", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "unmapped", NULL, &code);
    assert_string_equal(log, "args-only\n");
    free(log);
}

static void test_delete_kills_the_process(void **state)
{
    struct fixture *fx = *state;
    struct kubesim_resp r;
    char path[400], *pidtext = NULL;
    cJSON *pod, *resp;
    long pid;
    run_pod(
        /* "$$$$": Kubernetes reads "$$" in a command as an escaped "$". */
        fx->sim, "long-runner", "echo $$$$ > /data/long-runner.pid; while true; do sleep 0.2; done",
        ",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}]",
        ",\"volumes\":[{\"name\":\"data\",\"persistentVolumeClaim\":{\"claimName\":\"data\"}}]");
    pod = wait_phase(fx->sim, "long-runner", "Running");
    cJSON_Delete(pod);
    snprintf(path, sizeof(path), "%s/long-runner.pid", fx->claim);
    for (int i = 0; i < WAIT_S * 10 && !(pidtext && *pidtext); i++) {
        free(pidtext);
        pidtext = file_text(path);
        if (!pidtext || !*pidtext)
            usleep(100 * 1000);
    }
    assert_non_null(pidtext);
    pid = strtol(pidtext, NULL, 10);
    free(pidtext);
    assert_true(pid > 1);
    assert_int_equal(kill((pid_t)pid, 0), 0);
    /* Graceful: the API keeps the pod, marked, for its kubelet. */
    kubesim_call(fx->sim, "DELETE", PODS "/long-runner", NULL, NULL, &r);
    assert_int_equal(r.code, 200);
    resp = kubesim_resp_json(&r);
    kubesim_resp_free(&r);
    assert_non_null(kubesim_jstr(resp, "metadata", "deletionTimestamp"));
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "metadata"), "deletionGracePeriodSeconds")
            ->valueint,
        5);
    cJSON_Delete(resp);
    assert_true(wait_gone(fx->sim, "long-runner"));
    /* The kubelet has reaped it before deleting the object. */
    assert_int_equal(kill((pid_t)pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(has_event(fx->sim, "long-runner", "Killing", "Stopping container main"));
}

/* Runs kubectl with the simulator's kubeconfig; returns its output. */
static char *kubectl(struct kubesim *sim, const char *args)
{
    char cmd[1024];
    FILE *p;
    char *out = calloc(1, 65536);
    size_t n = 0;
    assert_non_null(out);
    snprintf(cmd, sizeof(cmd), "kubectl --kubeconfig '%s' %s 2>&1", kubesim_kubeconfig(sim), args);
    p = popen(cmd, "r");
    assert_non_null(p);
    while (n < 65535) {
        size_t got = fread(out + n, 1, 65535 - n, p);
        if (got == 0)
            break;
        n += got;
    }
    pclose(p);
    return out;
}

static void test_logs_and_follow_with_kubectl(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    char *out, *log;
    long code;
    run_pod(fx->sim, "talker",
            "for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done; echo done >&2", "", "");
    pod = wait_phase(fx->sim, "talker", "Running");
    cJSON_Delete(pod);
    /* Follows while the container runs, ends when it ends. */
    out = kubectl(fx->sim, "logs -f talker");
    assert_string_equal(out, "line 1\nline 2\nline 3\nline 4\nline 5\ndone\n");
    free(out);
    pod = wait_phase(fx->sim, "talker", "Succeeded");
    cJSON_Delete(pod);
    out = kubectl(fx->sim, "logs talker --tail=2");
    assert_string_equal(out, "line 5\ndone\n");
    free(out);
    out = kubectl(fx->sim, "logs talker --timestamps --limit-bytes=40");
    assert_int_equal(strlen(out), 40);
    assert_non_null(strstr(out, "Z line 1\n"));
    free(out);
    log = pod_log(fx->sim, "talker", "previous=true", &code);
    assert_int_equal(code, 400);
    assert_non_null(strstr(log, "previous terminated container \\\"main\\\" in pod \\\"talker\\\" "
                                "not found"));
    free(log);
    log = pod_log(fx->sim, "talker", "container=nope", &code);
    assert_int_equal(code, 400);
    assert_non_null(strstr(log, "container nope is not valid for pod talker"));
    free(log);
}

static void test_init_containers_then_main(void **state)
{
    struct fixture *fx = *state;
    char *log;
    cJSON *pod;
    const cJSON *c;
    long code;
    int initialized = 0;
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"with-init\"},"
         "\"spec\":{\"restartPolicy\":\"Never\",\"initContainers\":["
         "{\"name\":\"one\",\"image\":\"" IMAGE "\",\"command\":[\"sh\",\"-c\",\"echo one >> "
         "/w/order\"],\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]},"
         "{\"name\":\"two\",\"image\":\"" IMAGE "\",\"command\":[\"sh\",\"-c\",\"echo two >> "
         "/w/order\"],\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]}],"
         "\"containers\":[{\"name\":\"main\",\"image\":\"" IMAGE "\",\"command\":[\"sh\",\"-c\","
         "\"cat /w/order\"],\"volumeMounts\":[{\"name\":\"w\",\"mountPath\":\"/w\"}]}],"
         "\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}}]}}");
    pod = wait_phase(fx->sim, "with-init", "Succeeded");
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "conditions"))
    {
        if (strcmp(kubesim_jstr(c, "type", NULL), "Initialized") == 0 &&
            strcmp(kubesim_jstr(c, "status", NULL), "True") == 0)
            initialized = 1;
    }
    assert_true(initialized);
    assert_non_null(ctr_status(pod, "initContainerStatuses", "two"));
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "with-init", "container=main", &code);
    assert_string_equal(log, "one\ntwo\n");
    free(log);
}

static void test_on_failure_restarts_with_last_state(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    const cJSON *st;
    char *log;
    long code;
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"flaky\"},"
         "\"spec\":{\"restartPolicy\":\"OnFailure\",\"containers\":[{\"name\":\"main\","
         "\"image\":\"" IMAGE "\",\"command\":[\"sh\",\"-c\",\"if [ -e /w/ran ]; then echo "
         "second; exit 0; fi; touch /w/ran; echo first; exit 3\"],\"volumeMounts\":[{\"name\":"
         "\"w\",\"mountPath\":\"/w\"}]}],\"volumes\":[{\"name\":\"w\",\"emptyDir\":{}}]}}");
    pod = wait_phase(fx->sim, "flaky", "Succeeded");
    st = ctr_status(pod, "containerStatuses", "main");
    assert_int_equal(cJSON_GetObjectItem(st, "restartCount")->valueint, 1);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "lastState"), "terminated"),
                            "exitCode")
            ->valueint,
        3);
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "flaky", NULL, &code);
    assert_string_equal(log, "second\n");
    free(log);
    log = pod_log(fx->sim, "flaky", "previous=true", &code);
    assert_int_equal(code, 200);
    assert_string_equal(log, "first\n");
    free(log);
}

static void test_active_deadline_exceeded(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    const cJSON *t;
    run_pod(fx->sim, "too-slow", "while true; do sleep 0.2; done", "",
            ",\"activeDeadlineSeconds\":1");
    pod = wait_phase(fx->sim, "too-slow", "Failed");
    assert_string_equal(kubesim_jstr(cJSON_GetObjectItem(pod, "status"), "reason", NULL),
                        "DeadlineExceeded");
    t = terminated(pod, "main");
    assert_non_null(t);
    assert_true(cJSON_GetObjectItem(t, "exitCode")->valueint >= 128);
    cJSON_Delete(pod);
}

static void test_config_error_then_start(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod = NULL;
    const char *msg = NULL;
    char *log;
    long code;
    run_pod(fx->sim, "needs-config", "echo $A-$B",
            ",\"env\":[{\"name\":\"A\",\"valueFrom\":{\"configMapKeyRef\":{\"name\":\"later\","
            "\"key\":\"a\"}}},{\"name\":\"B\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"nope\","
            "\"key\":\"b\",\"optional\":true}}}]",
            "");
    for (int i = 0; i < WAIT_S * 10 && !msg; i++) {
        const cJSON *w;
        cJSON_Delete(pod);
        pod = get_pod(fx->sim, "needs-config");
        w = cJSON_GetObjectItem(
            cJSON_GetObjectItem(ctr_status(pod, "containerStatuses", "main"), "state"), "waiting");
        if (kubesim_jstr(w, "reason", NULL) &&
            strcmp(kubesim_jstr(w, "reason", NULL), "CreateContainerConfigError") == 0)
            msg = kubesim_jstr(w, "message", NULL);
        else
            usleep(100 * 1000);
    }
    assert_non_null(msg);
    assert_string_equal(msg, "configmap \"later\" not found");
    cJSON_Delete(pod);
    post(fx->sim, "/api/v1/namespaces/default/configmaps",
         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"later\"},"
         "\"data\":{\"a\":\"x\"}}");
    pod = wait_phase(fx->sim, "needs-config", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "needs-config", NULL, &code);
    assert_string_equal(log, "x-\n");
    free(log);
}

static void test_downward_api_expansion_readonly_and_subpath(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    char *log;
    long code;
    post(fx->sim, "/api/v1/namespaces/default/configmaps",
         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"conf\"},"
         "\"data\":{\"app.yaml\":\"k: v\",\"other\":\"o\"}}");
    run_pod(fx->sim, "downward",
            "echo $GREETING; cat /info/labels; echo; cat /etc/app.yaml; echo; "
            "touch /info/x 2>/dev/null && echo writable || echo read-only; "
            "ls /proj; echo $(hostname) $POD_NS",
            ",\"env\":[{\"name\":\"POD\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
            "\"metadata.name\"}}},{\"name\":\"POD_NS\",\"valueFrom\":{\"fieldRef\":{\"fieldPath\":"
            "\"metadata.namespace\"}}},{\"name\":\"GREETING\",\"value\":\"hi $(POD) "
            "$$(POD) $(UNSET)\"}],\"volumeMounts\":[{\"name\":\"info\",\"mountPath\":\"/info\"},"
            "{\"name\":\"conf\",\"mountPath\":\"/etc/app.yaml\",\"subPath\":\"app.yaml\"},"
            "{\"name\":\"proj\",\"mountPath\":\"/proj\"}]",
            ",\"volumes\":[{\"name\":\"info\",\"downwardAPI\":{\"items\":[{\"path\":\"labels\","
            "\"fieldRef\":{\"fieldPath\":\"metadata.labels\"}}]}},{\"name\":\"conf\","
            "\"configMap\":{\"name\":\"conf\"}},{\"name\":\"proj\",\"projected\":{\"sources\":["
            "{\"configMap\":{\"name\":\"conf\",\"items\":[{\"key\":\"other\",\"path\":"
            "\"sub/other\"}]}},{\"secret\":{\"name\":\"creds\",\"items\":[{\"key\":\"user\","
            "\"path\":\"user\"}]}}]}}]");
    pod = wait_phase(fx->sim, "downward", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "downward", NULL, &code);
    assert_string_equal(log, "hi downward $(POD) $(UNSET)\n"
                             "app=\"qso\"\ntier=\"test\"\n"
                             "k: v\n"
                             "read-only\n"
                             "sub\nuser\n"
                             "downward default\n");
    free(log);
}

static void test_kubelet_disabled_leaves_pods_alone(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    assert_int_equal(kubesim_admin(fx->sim, "POST", "/__admin/workloads",
                                   "{\"kubelet\":{\"enabled\":false}}", NULL),
                     200);
    run_pod(fx->sim, "unscheduled", "echo never", "", "");
    usleep(500 * 1000);
    pod = get_pod(fx->sim, "unscheduled");
    assert_string_equal(pod_phase(pod), "Pending");
    assert_null(kubesim_jstr(cJSON_GetObjectItem(pod, "spec"), "nodeName", NULL));
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "status"), "containerStatuses"));
    cJSON_Delete(pod);
    /* Never bound, so nothing will confirm a graceful deletion: it goes at once. */
    delete_pod(fx->sim, "unscheduled");
    pod = get_pod(fx->sim, "unscheduled");
    assert_null(pod);
    assert_int_equal(kubesim_admin(fx->sim, "POST", "/__admin/workloads",
                                   "{\"kubelet\":{\"enabled\":true}}", NULL),
                     200);
}

static void test_crash_loop_back_off(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod = NULL;
    int looping = 0;
    /* restartPolicy left to its default, Always. */
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"crasher\"},"
         "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"" IMAGE "\","
         "\"command\":[\"sh\",\"-c\",\"echo boom; exit 1\"]}]}}");
    for (int i = 0; i < WAIT_S * 10 && !looping; i++) {
        const cJSON *st, *w;
        cJSON_Delete(pod);
        pod = get_pod(fx->sim, "crasher");
        st = ctr_status(pod, "containerStatuses", "main");
        w = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "state"), "waiting");
        looping = kubesim_jstr(w, "reason", NULL) &&
                  strcmp(kubesim_jstr(w, "reason", NULL), "CrashLoopBackOff") == 0 &&
                  cJSON_GetObjectItem(st, "restartCount")->valueint >= 1;
        if (!looping)
            usleep(100 * 1000);
    }
    assert_true(looping);
    /* restartPolicy Always: a pod in back-off is still Running. */
    assert_string_equal(pod_phase(pod), "Running");
    assert_int_equal(
        cJSON_GetObjectItem(
            cJSON_GetObjectItem(
                cJSON_GetObjectItem(ctr_status(pod, "containerStatuses", "main"), "lastState"),
                "terminated"),
            "exitCode")
            ->valueint,
        1);
    cJSON_Delete(pod);
    assert_true(wait_event(fx->sim, "crasher", "BackOff",
                           "Back-off restarting failed container main in pod crasher_default"));
    delete_pod(fx->sim, "crasher");
    assert_true(wait_gone(fx->sim, "crasher"));
}

static void test_env_from_labels_and_working_dir(void **state)
{
    struct fixture *fx = *state;
    struct stat st;
    cJSON *pod;
    char *log;
    long code;
    post(fx->sim, "/api/v1/namespaces/default/configmaps",
         "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"settings\"},"
         "\"data\":{\"MODE\":\"fast\",\"bad-key!\":\"skipped\"}}");
    run_pod(fx->sim, "env-from", "echo $CFG_MODE $TIER; pwd",
            ",\"workingDir\":\"/qso-made-up/wd\",\"envFrom\":[{\"prefix\":\"CFG_\","
            "\"configMapRef\":{\"name\":\"settings\"}}],\"env\":[{\"name\":\"TIER\","
            "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"metadata.labels['tier']\"}}}]",
            "");
    pod = wait_phase(fx->sim, "env-from", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "env-from", NULL, &code);
    assert_string_equal(log, "fast test\n/qso-made-up/wd\n");
    free(log);
    assert_true(wait_event(fx->sim, "env-from", "InvalidEnvironmentVariableNames", "CFG_bad-key!"));
    assert_int_equal(stat("/qso-made-up", &st), -1);
}

static void test_unmapped_claim_fails_mount(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    const cJSON *w;
    run_pod(fx->sim, "no-volume", "echo never", "",
            ",\"volumes\":[{\"name\":\"v\",\"persistentVolumeClaim\":{\"claimName\":"
            "\"unmapped-claim\"}}]");
    assert_true(wait_event(fx->sim, "no-volume", "FailedMount",
                           "MountVolume.SetUp failed for volume \"v\" : persistentvolumeclaim "
                           "\"unmapped-claim\""));
    pod = get_pod(fx->sim, "no-volume");
    assert_string_equal(pod_phase(pod), "Pending");
    w = cJSON_GetObjectItem(
        cJSON_GetObjectItem(ctr_status(pod, "containerStatuses", "main"), "state"), "waiting");
    assert_string_equal(kubesim_jstr(w, "reason", NULL), "ContainerCreating");
    cJSON_Delete(pod);
    delete_pod(fx->sim, "no-volume");
    assert_true(wait_gone(fx->sim, "no-volume"));
}

static void test_log_refusals_and_since(void **state)
{
    struct fixture *fx = *state;
    cJSON *pod;
    char *log;
    long code;
    post(fx->sim, PODS,
         "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"two-ctrs\"},"
         "\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"a\",\"image\":\"" IMAGE
         "\",\"command\":[\"sh\",\"-c\",\"echo from-a\"]},{\"name\":\"b\",\"image\":\"" IMAGE
         "\",\"command\":[\"sh\",\"-c\",\"echo from-b\"]}]}}");
    pod = wait_phase(fx->sim, "two-ctrs", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "two-ctrs", NULL, &code);
    assert_int_equal(code, 400);
    assert_non_null(
        strstr(log, "a container name must be specified for pod two-ctrs, choose one of: [a b]"));
    free(log);
    log = pod_log(fx->sim, "two-ctrs", "container=b", &code);
    assert_string_equal(log, "from-b\n");
    free(log);
    log = pod_log(fx->sim, "two-ctrs", "container=a&tailLines=-1", &code);
    assert_int_equal(code, 422);
    assert_non_null(
        strstr(log, "tailLines: Invalid value: -1: must be greater than or equal to 0"));
    free(log);
    /* The line was written more than a second ago by the time this asks. */
    sleep(2);
    log = pod_log(fx->sim, "two-ctrs", "container=a&sinceSeconds=1", &code);
    assert_int_equal(code, 200);
    assert_string_equal(log, "");
    free(log);
}

static void test_term_ignored_then_killed(void **state)
{
    struct fixture *fx = *state;
    char path[400], *pidtext = NULL;
    cJSON *pod;
    long pid;
    run_pod(fx->sim, "stubborn",
            "trap '' TERM; echo $$$$ > /data/stubborn.pid; while true; do sleep 0.2; done",
            ",\"volumeMounts\":[{\"name\":\"data\",\"mountPath\":\"/data\"}]",
            ",\"terminationGracePeriodSeconds\":1,\"volumes\":[{\"name\":\"data\","
            "\"persistentVolumeClaim\":{\"claimName\":\"data\"}}]");
    pod = wait_phase(fx->sim, "stubborn", "Running");
    cJSON_Delete(pod);
    snprintf(path, sizeof(path), "%s/stubborn.pid", fx->claim);
    for (int i = 0; i < WAIT_S * 10 && !(pidtext && *pidtext); i++) {
        free(pidtext);
        pidtext = file_text(path);
        if (!pidtext || !*pidtext)
            usleep(100 * 1000);
    }
    assert_non_null(pidtext);
    pid = strtol(pidtext, NULL, 10);
    free(pidtext);
    assert_true(pid > 1);
    delete_pod(fx->sim, "stubborn");
    assert_true(wait_gone(fx->sim, "stubborn"));
    assert_int_equal(kill((pid_t)pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

static void test_secret_edit_reaches_the_volume(void **state)
{
    struct fixture *fx = *state;
    struct kubesim_resp r;
    cJSON *pod;
    char *log;
    long code;
    post(fx->sim, "/api/v1/namespaces/default/secrets",
         "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"rotating\"},"
         "\"stringData\":{\"key\":\"old\"}}");
    run_pod(fx->sim, "watcher",
            "cat /s/key; echo; while [ \"$(cat /s/key)\" = old ]; do sleep 0.1; done; cat /s/key",
            ",\"volumeMounts\":[{\"name\":\"s\",\"mountPath\":\"/s\"}]",
            ",\"volumes\":[{\"name\":\"s\",\"secret\":{\"secretName\":\"rotating\"}}]");
    pod = wait_phase(fx->sim, "watcher", "Running");
    cJSON_Delete(pod);
    kubesim_call(fx->sim, "PATCH", "/api/v1/namespaces/default/secrets/rotating",
                 "application/merge-patch+json", "{\"stringData\":{\"key\":\"new\"}}", &r);
    assert_int_equal(r.code, 200);
    kubesim_resp_free(&r);
    pod = wait_phase(fx->sim, "watcher", "Succeeded");
    cJSON_Delete(pod);
    log = pod_log(fx->sim, "watcher", NULL, &code);
    assert_string_equal(log, "old\nnew");
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_env_and_volume_at_made_up_path),
        cmocka_unit_test(test_exit_code_and_termination_message),
        cmocka_unit_test(test_service_account_token_only_when_asked),
        cmocka_unit_test(test_unmapped_image_waits_then_starts_when_mapped),
        cmocka_unit_test(test_delete_kills_the_process),
        cmocka_unit_test(test_logs_and_follow_with_kubectl),
        cmocka_unit_test(test_init_containers_then_main),
        cmocka_unit_test(test_on_failure_restarts_with_last_state),
        cmocka_unit_test(test_active_deadline_exceeded),
        cmocka_unit_test(test_config_error_then_start),
        cmocka_unit_test(test_downward_api_expansion_readonly_and_subpath),
        cmocka_unit_test(test_crash_loop_back_off),
        cmocka_unit_test(test_env_from_labels_and_working_dir),
        cmocka_unit_test(test_unmapped_claim_fails_mount),
        cmocka_unit_test(test_log_refusals_and_since),
        cmocka_unit_test(test_term_ignored_then_killed),
        cmocka_unit_test(test_secret_edit_reaches_the_volume),
        cmocka_unit_test(test_kubelet_disabled_leaves_pods_alone),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
