/*
 * Tests of the configuration layer: kubeconfig parsing (every auth form, CA as
 * a path or as data, relative paths, merging of several files, contexts and
 * namespaces), the errors bad files give (each naming the file and the field,
 * none echoing a secret), the in-cluster configuration, and k8s_config_load's
 * resolution order.
 *
 * Fixtures in tests/fixtures/kubeconfig/ were generated for these tests and
 * protect nothing: a self-signed CA (ca.crt), a client certificate it signed
 * (client.crt with client.key), an unrelated key (other.key), and kubeconfigs
 * like those `oc login` and kind write. Other kubeconfigs are written into a
 * mkdtemp directory under /tmp, removed after each test.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "k8s_buf.h"
#include "k8s_config.h"
#include "k8s_token.h"

#define FIXTURES QSO_SOURCE_DIR "/tests/fixtures/kubeconfig"

struct env {
    char dir[64];
    char *ca; /* fixture PEM contents */
    char *crt;
    char *key;
    char *ca_b64; /* and their base64 */
    char *crt_b64;
    char *key_b64;
    char *other_key_b64;
};

/* ---- helpers ---- */

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    struct k8s_error err;
    if (k8s_config_read_file(path, 1 << 20, &data, &len, &err) != 0)
        fail_msg("reading fixture %s: %s", path, err.message);
    return data;
}

static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void clear_environment(void)
{
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("POD_NAMESPACE");
    unsetenv("HOME");
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    snprintf(e->dir, sizeof(e->dir), "/tmp/qso-kubeconfig-XXXXXX");
    if (!mkdtemp(e->dir)) {
        free(e);
        return -1;
    }
    e->ca = slurp(FIXTURES "/ca.crt");
    e->crt = slurp(FIXTURES "/client.crt");
    e->key = slurp(FIXTURES "/client.key");
    char *other = slurp(FIXTURES "/other.key");
    e->ca_b64 = b64(e->ca);
    e->crt_b64 = b64(e->crt);
    e->key_b64 = b64(e->key);
    e->other_key_b64 = b64(other);
    free(other);
    clear_environment();
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(e->ca);
    free(e->crt);
    free(e->key);
    free(e->ca_b64);
    free(e->crt_b64);
    free(e->key_b64);
    free(e->other_key_b64);
    free(e);
    clear_environment();
    return 0;
}

/* e->dir + "/" + name, in a static ring of buffers: a test may hold on to
 * the last 64 results (no test makes nearly that many). */
static const char *in_dir(const struct env *e, const char *name)
{
    static char bufs[64][512];
    static int next;
    char *b = bufs[next++ % 64];
    int n = snprintf(b, sizeof(bufs[0]), "%s/%s", e->dir, name);
    assert_true(n > 0 && (size_t)n < sizeof(bufs[0]));
    return b;
}

static void write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(s), off = 0;
    while (off < len) {
        ssize_t n = write(fd, s + off, len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(close(fd), 0);
}

/* Writes a printf-formatted file under the temp dir and returns its path. */
__attribute__((format(printf, 3, 4))) static const char *put(const struct env *e, const char *name,
                                                             const char *fmt, ...)
{
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    const char *path = in_dir(e, name);
    write_file(path, text);
    free(text);
    return path;
}

static struct k8s_config *load_ok(const char *paths, const char *context)
{
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    k8s_error_clear(&err);
    int rc = k8s_config_from_kubeconfig(paths, context, &cfg, &err);
    if (rc != 0)
        fail_msg("k8s_config_from_kubeconfig(%s): %d %s", paths, rc, err.message);
    assert_non_null(cfg);
    return cfg;
}

/* Loads expecting failure `code` and a message containing each of the
 * NULL-terminated strings; returns nothing (the message is checked here). */
static void load_fails(const char *paths, const char *context, int code, ...)
{
    struct k8s_config *cfg = (struct k8s_config *)1;
    struct k8s_error err;
    k8s_error_clear(&err);
    int rc = k8s_config_from_kubeconfig(paths, context, &cfg, &err);
    if (rc != code)
        fail_msg("expected %d, got %d: %s", code, rc, err.message);
    assert_null(cfg);
    assert_int_equal(err.code, code);
    if (getenv("QSO_TEST_SHOW_ERRORS")) /* to read the messages themselves */
        fprintf(stderr, "    -> %s\n", err.message);
    va_list ap;
    va_start(ap, code);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(err.message, want))
            fail_msg("message \"%s\" lacks \"%s\"", err.message, want);
    va_end(ap);
}

/* A one-cluster, one-user kubeconfig whose cluster and user bodies are given. */
static const char *simple(const struct env *e, const char *name, const char *cluster,
                          const char *user)
{
    return put(e, name,
               "apiVersion: v1\n"
               "kind: Config\n"
               "clusters:\n"
               "- name: c\n"
               "  cluster:\n%s"
               "users:\n"
               "- name: u\n"
               "  user:\n%s"
               "contexts:\n"
               "- name: ctx\n"
               "  context: {cluster: c, user: u}\n"
               "current-context: ctx\n",
               cluster, user);
}

static char *token_of(const struct k8s_config *cfg)
{
    struct k8s_token_source *ts = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_token_source(cfg, &ts, &err), 0);
    assert_non_null(ts);
    char *tok = NULL;
    if (k8s_token_source_get(ts, &tok, &err) != 0)
        fail_msg("token: %s", err.message);
    k8s_token_source_free(ts);
    return tok;
}

/* ---- what kubectl and oc write ---- */

static void oc_login_kubeconfig_gives_server_token_ca_and_namespace(void **state)
{
    struct env *e = *state;
    const char *path = FIXTURES "/oc-login.yaml";
    struct k8s_config *cfg = load_ok(path, NULL);
    assert_string_equal(cfg->server, "https://api.crc.testing:6443");
    assert_string_equal(cfg->token, "sha256~fixture-token-not-a-real-secret");
    assert_null(cfg->token_file);
    assert_null(cfg->username);
    assert_null(cfg->client_cert_pem);
    assert_non_null(cfg->ca_pem);
    assert_int_equal(cfg->ca_pem_len, strlen(e->ca));
    assert_string_equal(cfg->ca_pem, e->ca);
    assert_int_equal(cfg->insecure_skip_tls_verify, 0);
    assert_string_equal(cfg->namespace, "quay-enterprise");
    assert_string_equal(cfg->context, "quay-enterprise/api-crc-testing:6443/kubeadmin");
    assert_string_equal(cfg->source, path);
    k8s_config_free(cfg);
}

static void loaded_config_has_client_go_defaults(void **state)
{
    (void)state;
    struct k8s_config *cfg = load_ok(FIXTURES "/oc-login.yaml", NULL);
    assert_true(cfg->qps == 20.0);
    assert_int_equal(cfg->burst, 30);
    assert_int_equal(cfg->connect_timeout_ms, 10000);
    assert_int_equal(cfg->request_timeout_ms, 60000);
    assert_non_null(cfg->user_agent);
    assert_memory_equal(cfg->user_agent, "quay-storage-operator/", 22);
    assert_true(strlen(cfg->user_agent) > 22);
    k8s_config_free(cfg);

    cfg = k8s_config_new();
    assert_non_null(cfg);
    assert_null(cfg->server);
    assert_string_equal(cfg->namespace, "default");
    assert_int_equal(cfg->burst, 30);
    k8s_config_free(cfg);
    k8s_config_free(NULL);
}

static void json_kubeconfig_with_client_certificate_data_loads(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg = load_ok(FIXTURES "/client-cert.json", NULL);
    assert_string_equal(cfg->server, "https://127.0.0.1:38443"); /* trailing slash dropped */
    assert_string_equal(cfg->tls_server_name, "kubernetes");
    assert_string_equal(cfg->client_cert_pem, e->crt);
    assert_int_equal(cfg->client_cert_pem_len, strlen(e->crt));
    assert_string_equal(cfg->client_key_pem, e->key);
    assert_int_equal(cfg->client_key_pem_len, strlen(e->key));
    assert_string_equal(cfg->ca_pem, e->ca);
    assert_null(cfg->token);
    assert_null(cfg->token_file);
    assert_string_equal(cfg->namespace, "default");
    k8s_config_free(cfg);
}

static void relative_paths_resolve_against_the_kubeconfig_directory(void **state)
{
    struct env *e = *state;
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    /* From elsewhere: the working directory must not matter. */
    assert_int_equal(chdir("/"), 0);
    struct k8s_config *cfg = load_ok(FIXTURES "/relative/config", NULL);
    assert_string_equal(cfg->ca_pem, e->ca);
    assert_string_equal(cfg->client_cert_pem, e->crt);
    assert_string_equal(cfg->client_key_pem, e->key);
    k8s_config_free(cfg);

    /* A kubeconfig named by a relative path: its directory is still the base. */
    assert_int_equal(mkdir(in_dir(e, "sub"), 0700), 0);
    write_file(in_dir(e, "sub/ca.pem"), e->ca);
    write_file(in_dir(e, "sub/tok"), "relative-token\n");
    put(e, "sub/config",
        "clusters:\n- name: c\n  cluster:\n    server: https://k\n"
        "    certificate-authority: ca.pem\n"
        "users:\n- name: u\n  user:\n    tokenFile: tok\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
        "current-context: x\n");
    assert_int_equal(chdir(e->dir), 0);
    cfg = load_ok("sub/config", NULL);
    assert_string_equal(cfg->ca_pem, e->ca);
    assert_string_equal(cfg->token_file, in_dir(e, "sub/tok"));
    char *tok = token_of(cfg);
    assert_string_equal(tok, "relative-token");
    free(tok);
    k8s_config_free(cfg);
    assert_int_equal(chdir(cwd), 0);
}

static void ca_file_and_ca_data_give_the_same_pem(void **state)
{
    struct env *e = *state;
    write_file(in_dir(e, "ca.crt"), e->ca);
    char body[8192];
    snprintf(body, sizeof(body), "    server: https://k:6443\n    certificate-authority: %s\n",
             in_dir(e, "ca.crt"));
    struct k8s_config *by_path = load_ok(simple(e, "a", body, "    token: t\n"), NULL);
    snprintf(body, sizeof(body), "    server: https://k:6443\n    certificate-authority-data: %s\n",
             e->ca_b64);
    struct k8s_config *by_data = load_ok(simple(e, "b", body, "    token: t\n"), NULL);
    assert_int_equal(by_path->ca_pem_len, by_data->ca_pem_len);
    assert_memory_equal(by_path->ca_pem, by_data->ca_pem, by_data->ca_pem_len);
    assert_string_equal(by_path->ca_pem, e->ca);
    k8s_config_free(by_path);
    k8s_config_free(by_data);
}

static void no_ca_means_system_trust_store_not_insecure(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k:6443\n", "    token: t\n"), NULL);
    assert_null(cfg->ca_pem);
    assert_int_equal(cfg->insecure_skip_tls_verify, 0);
    k8s_config_free(cfg);
}

static void client_certificate_files_load(void **state)
{
    struct env *e = *state;
    write_file(in_dir(e, "client.crt"), e->crt);
    write_file(in_dir(e, "client.key"), e->key);
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k\n",
                       "    client-certificate: client.crt\n    client-key: client.key\n"),
                NULL);
    assert_string_equal(cfg->client_cert_pem, e->crt);
    assert_string_equal(cfg->client_key_pem, e->key);
    k8s_config_free(cfg);
}

static void token_file_user_is_referenced_not_copied(void **state)
{
    struct env *e = *state;
    write_file(in_dir(e, "sa-token"), "file-token-1\n");
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k\n", "    tokenFile: sa-token\n"), NULL);
    assert_null(cfg->token);
    assert_string_equal(cfg->token_file, in_dir(e, "sa-token"));
    char *tok = token_of(cfg);
    assert_string_equal(tok, "file-token-1");
    free(tok);
    k8s_config_free(cfg);
}

static void token_and_token_file_keep_the_rotating_file(void **state)
{
    struct env *e = *state;
    write_file(in_dir(e, "sa-token"), "from-file\n");
    struct k8s_config *cfg = load_ok(
        simple(e, "kc", "    server: https://k\n", "    token: inline\n    tokenFile: sa-token\n"),
        NULL);
    assert_null(cfg->token);
    assert_non_null(cfg->token_file);
    char *tok = token_of(cfg);
    assert_string_equal(tok, "from-file");
    free(tok);
    k8s_config_free(cfg);
}

static void static_token_gives_a_fixed_token_source(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k\n", "    token: abc.def\n"), NULL);
    char *tok = token_of(cfg);
    assert_string_equal(tok, "abc.def");
    free(tok);
    k8s_config_free(cfg);
}

static void basic_auth_user_loads(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg = load_ok(
        simple(e, "kc", "    server: https://k\n", "    username: admin\n    password: pw\n"),
        NULL);
    assert_string_equal(cfg->username, "admin");
    assert_string_equal(cfg->password, "pw");
    assert_null(cfg->token);
    struct k8s_token_source *ts = (void *)1;
    struct k8s_error err;
    assert_int_equal(k8s_config_token_source(cfg, &ts, &err), 0);
    assert_null(ts);
    k8s_config_free(cfg);

    cfg = load_ok(simple(e, "kc2", "    server: https://k\n", "    username: admin\n"), NULL);
    assert_string_equal(cfg->password, "");
    k8s_config_free(cfg);
}

static void context_without_user_is_anonymous(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
                           "contexts:\n- name: anon\n  context: {cluster: c}\n"
                           "current-context: anon\n");
    struct k8s_config *cfg = load_ok(path, NULL);
    assert_null(cfg->token);
    assert_null(cfg->token_file);
    assert_null(cfg->username);
    assert_null(cfg->client_cert_pem);
    k8s_config_free(cfg);
}

static void insecure_skip_tls_verify_without_ca_is_kept(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k\n    insecure-skip-tls-verify: true\n",
                       "    token: t\n"),
                NULL);
    assert_int_equal(cfg->insecure_skip_tls_verify, 1);
    assert_null(cfg->ca_pem);
    k8s_config_free(cfg);
}

static void insecure_skip_tls_verify_with_a_ca_is_refused(void **state)
{
    struct env *e = *state;
    char body[8192];
    snprintf(body, sizeof(body),
             "    server: https://k\n    insecure-skip-tls-verify: true\n"
             "    certificate-authority-data: %s\n",
             e->ca_b64);
    const char *path = simple(e, "kc", body, "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters[0].cluster", "insecure-skip-tls-verify",
               "certificate-authority-data", "not allowed", NULL);
    write_file(in_dir(e, "ca.crt"), e->ca);
    path = simple(e, "kc2",
                  "    server: https://k\n    insecure-skip-tls-verify: yes\n"
                  "    certificate-authority: ca.crt\n",
                  "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "certificate-authority", "not allowed", NULL);
}

static void non_boolean_insecure_flag_is_refused(void **state)
{
    struct env *e = *state;
    const char *path =
        simple(e, "kc", "    server: https://k\n    insecure-skip-tls-verify: \"true\"\n",
               "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path,
               "clusters[0].cluster.insecure-skip-tls-verify must be true or false", NULL);
}

static void tls_server_name_and_proxy_url_are_kept(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg = load_ok(simple(e, "kc",
                                            "    server: https://10.0.0.1:6443\n"
                                            "    tls-server-name: api.example.com\n"
                                            "    proxy-url: http://proxy.example.com:3128\n",
                                            "    token: t\n"),
                                     NULL);
    assert_string_equal(cfg->tls_server_name, "api.example.com");
    assert_string_equal(cfg->proxy_url, "http://proxy.example.com:3128");
    k8s_config_free(cfg);
}

static void bad_proxy_url_is_refused_without_echoing_it(void **state)
{
    struct env *e = *state;
    const char *path =
        simple(e, "kc", "    server: https://k\n    proxy-url: ftp://user:sekret@proxy\n",
               "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters[0].cluster.proxy-url", NULL);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_from_kubeconfig(path, NULL, &cfg, &err), K8S_ECONFIG);
    assert_null(strstr(err.message, "sekret"));
}

static void server_without_scheme_means_https(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: 10.0.0.1:6443\n", "    token: t\n"), NULL);
    assert_string_equal(cfg->server, "https://10.0.0.1:6443");
    k8s_config_free(cfg);
    cfg = load_ok(simple(e, "kc2", "    server: HTTPS://rancher.example/k8s/clusters/c-1/\n",
                         "    token: t\n"),
                  NULL);
    assert_string_equal(cfg->server, "https://rancher.example/k8s/clusters/c-1");
    k8s_config_free(cfg);
    const char *path = simple(e, "kc3", "    server: ftp://k\n", "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters[0].cluster.server", NULL);
}

/* ---- merging, contexts, namespaces ---- */

static const char *merge_file_a(const struct env *e)
{
    return put(e, "a",
               "current-context: ctx-a\n"
               "clusters:\n"
               "- name: shared\n  cluster: {server: 'https://a.example'}\n"
               "users:\n"
               "- name: ua\n  user: {token: token-a}\n"
               "- name: shared-user\n  user: {token: shared-from-a}\n"
               "contexts:\n"
               "- name: ctx-a\n  context: {cluster: shared, user: ua, namespace: ns-a}\n"
               "- name: cross\n  context: {cluster: only-b, user: shared-user}\n");
}

static const char *merge_file_b(const struct env *e)
{
    return put(e, "b",
               "current-context: ctx-b\n"
               "clusters:\n"
               "- name: shared\n  cluster: {server: 'https://b.example'}\n"
               "- name: only-b\n  cluster: {server: 'https://only-b.example'}\n"
               "users:\n"
               "- name: ub\n  user: {token: token-b}\n"
               "- name: shared-user\n  user: {token: shared-from-b}\n"
               "contexts:\n"
               "- name: ctx-b\n  context: {cluster: only-b, user: ub}\n"
               "- name: ctx-a\n  context: {cluster: only-b, user: ub}\n");
}

static void merged_files_first_definition_and_current_context_win(void **state)
{
    struct env *e = *state;
    char list[1200];
    const char *a = merge_file_a(e);
    const char *b = merge_file_b(e);
    snprintf(list, sizeof(list), "%s:%s", a, b);
    struct k8s_config *cfg = load_ok(list, NULL);
    assert_string_equal(cfg->context, "ctx-a");
    assert_string_equal(cfg->server, "https://a.example");
    assert_string_equal(cfg->token, "token-a");
    assert_string_equal(cfg->namespace, "ns-a");
    assert_string_equal(cfg->source, list);
    k8s_config_free(cfg);

    /* Reversed order: b's current-context, and b's "ctx-a" shadows a's. */
    snprintf(list, sizeof(list), "%s:%s", b, a);
    cfg = load_ok(list, NULL);
    assert_string_equal(cfg->context, "ctx-b");
    assert_string_equal(cfg->server, "https://only-b.example");
    assert_string_equal(cfg->token, "token-b");
    k8s_config_free(cfg);
    cfg = load_ok(list, "ctx-a");
    assert_string_equal(cfg->server, "https://only-b.example");
    assert_string_equal(cfg->token, "token-b");
    k8s_config_free(cfg);
}

static void merged_files_resolve_references_across_files(void **state)
{
    struct env *e = *state;
    char list[1200];
    snprintf(list, sizeof(list), "%s:%s", merge_file_a(e), merge_file_b(e));
    struct k8s_config *cfg = load_ok(list, "cross");
    assert_string_equal(cfg->server, "https://only-b.example"); /* cluster from b */
    assert_string_equal(cfg->token, "shared-from-a");           /* user as a defined it */
    k8s_config_free(cfg);
}

static void current_context_comes_from_the_first_file_that_sets_it(void **state)
{
    struct env *e = *state;
    char list[1200];
    const char *none = put(e, "none", "preferences: {}\n");
    snprintf(list, sizeof(list), "%s:%s", none, merge_file_b(e));
    struct k8s_config *cfg = load_ok(list, NULL);
    assert_string_equal(cfg->context, "ctx-b");
    k8s_config_free(cfg);
}

static void missing_files_in_a_list_are_skipped_but_not_all(void **state)
{
    struct env *e = *state;
    char list[1200];
    const char *a = merge_file_a(e);
    snprintf(list, sizeof(list), "%s::%s:%s", in_dir(e, "does-not-exist"), a, a);
    struct k8s_config *cfg = load_ok(list, NULL);
    assert_string_equal(cfg->server, "https://a.example");
    assert_string_equal(cfg->source, a);
    k8s_config_free(cfg);

    snprintf(list, sizeof(list), "%s:%s", in_dir(e, "nope1"), in_dir(e, "nope2"));
    load_fails(list, NULL, K8S_EIO, "no kubeconfig file found", in_dir(e, "nope1"),
               in_dir(e, "nope2"), NULL);
}

static void explicit_context_overrides_current_context(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n"
                           "- name: prod\n  cluster: {server: 'https://prod'}\n"
                           "- name: stage\n  cluster: {server: 'https://stage'}\n"
                           "users:\n- name: u\n  user: {token: t}\n"
                           "contexts:\n"
                           "- name: prod\n  context: {cluster: prod, user: u}\n"
                           "- name: stage\n  context: {cluster: stage, user: u, namespace: qa}\n"
                           "current-context: prod\n");
    struct k8s_config *cfg = load_ok(path, NULL);
    assert_string_equal(cfg->server, "https://prod");
    assert_string_equal(cfg->namespace, "default");
    k8s_config_free(cfg);
    cfg = load_ok(path, "stage");
    assert_string_equal(cfg->server, "https://stage");
    assert_string_equal(cfg->context, "stage");
    assert_string_equal(cfg->namespace, "qa");
    k8s_config_free(cfg);
}

static void namespace_defaults_to_default(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg =
        load_ok(simple(e, "kc", "    server: https://k\n", "    token: t\n"), NULL);
    assert_string_equal(cfg->namespace, "default");
    k8s_config_free(cfg);
}

static void invalid_namespace_is_refused(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
                           "contexts:\n- name: x\n  context: {cluster: c, namespace: ../etc}\n"
                           "current-context: x\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "contexts[0].context.namespace", NULL);
}

/* ---- unsupported auth forms ---- */

static void exec_plugin_user_is_refused_naming_user_file_and_form(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc", "    server: https://eks.example\n",
                              "    exec:\n"
                              "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                              "      command: aws\n"
                              "      args: [eks, get-token, --cluster-name, x]\n");
    char want[600];
    snprintf(want, sizeof(want), "user \"u\" in %s uses an exec credential plugin", path);
    load_fails(path, NULL, K8S_ECONFIG, want,
               "not supported yet; use a token, tokenFile or client certificate", NULL);
}

static void auth_provider_user_is_refused_naming_the_provider(void **state)
{
    struct env *e = *state;
    const char *path =
        simple(e, "kc", "    server: https://gke.example\n",
               "    auth-provider:\n      name: gcp\n      config: {access-token: ya29.sekret}\n");
    load_fails(path, NULL, K8S_ECONFIG, "user \"u\"", path, "auth-provider \"gcp\"",
               "not supported", NULL);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_from_kubeconfig(path, NULL, &cfg, &err), K8S_ECONFIG);
    assert_null(strstr(err.message, "sekret"));
}

static void impersonation_is_refused(void **state)
{
    struct env *e = *state;
    const char *path =
        simple(e, "kc", "    server: https://k\n", "    token: t\n    as: system:admin\n");
    load_fails(path, NULL, K8S_ECONFIG, "user \"u\"", path, "impersonation", "users[0].user.as",
               NULL);
}

static void exec_user_of_an_unused_context_does_not_matter(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
                           "users:\n"
                           "- name: eks\n  user: {exec: {command: aws}}\n"
                           "- name: ok\n  user: {token: t}\n"
                           "contexts:\n"
                           "- name: eks\n  context: {cluster: c, user: eks}\n"
                           "- name: ok\n  context: {cluster: c, user: ok}\n"
                           "- name: stale\n  context: {cluster: deleted, user: ok}\n"
                           "current-context: ok\n");
    struct k8s_config *cfg = load_ok(path, NULL);
    assert_string_equal(cfg->token, "t");
    k8s_config_free(cfg);
}

/* ---- bad files: each error names the file and the field ---- */

static void missing_server_names_file_and_field(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc", "    tls-server-name: x\n", "    token: t\n");
    char want[600];
    snprintf(want, sizeof(want), "%s: clusters[0].cluster.server is missing", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
}

static void unknown_cluster_reference_names_file_and_field(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
                           "contexts:\n"
                           "- name: good\n  context: {cluster: c}\n"
                           "- name: bad\n  context: {cluster: nope}\n"
                           "current-context: bad\n");
    char want[600];
    snprintf(want, sizeof(want), "%s: contexts[1].context.cluster \"nope\" not found", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
}

static void unknown_user_reference_names_file_and_field(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
                           "contexts:\n- name: x\n  context: {cluster: c, user: ghost}\n"
                           "current-context: x\n");
    char want[600];
    snprintf(want, sizeof(want), "%s: contexts[0].context.user \"ghost\" not found", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
}

static void context_without_cluster_names_the_field(void **state)
{
    struct env *e = *state;
    const char *path =
        put(e, "kc", "contexts:\n- name: x\n  context: {namespace: a}\ncurrent-context: x\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "contexts[0].context.cluster is missing", NULL);
}

static void unknown_contexts_are_reported(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc", "    server: https://k\n", "    token: t\n");
    load_fails(path, "zzz", K8S_ECONFIG, path, "context \"zzz\" not found", NULL);
    path = put(e, "kc2",
               "clusters:\n- name: c\n  cluster: {server: 'https://k'}\n"
               "contexts:\n- name: x\n  context: {cluster: c}\n"
               "current-context: gone\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "current-context \"gone\" not found", NULL);
    path = in_dir(e, "kc3");
    write_file(path, "");
    load_fails(path, NULL, K8S_ECONFIG, path, "no current-context", NULL);
}

static void bad_base64_names_file_and_field(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc",
                              "    server: https://k\n"
                              "    certificate-authority-data: 'not base64!'\n",
                              "    token: t\n");
    char want[600];
    snprintf(want, sizeof(want),
             "%s: clusters[0].cluster.certificate-authority-data is not valid base64", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
    /* Wrong length (not a multiple of four once whitespace is dropped). */
    path = simple(e, "kc2", "    server: https://k\n    certificate-authority-data: QUJDRA\n",
                  "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "certificate-authority-data is not valid base64",
               NULL);
}

static void pem_pasted_into_a_data_field_is_explained(void **state)
{
    struct env *e = *state;
    char body[8192];
    /* A literal block scalar holding the PEM itself instead of its base64. */
    snprintf(body, sizeof(body), "    server: https://k\n    certificate-authority-data: |\n");
    size_t off = strlen(body);
    for (const char *l = e->ca; *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l);
        off += (size_t)snprintf(body + off, sizeof(body) - off, "      %.*s\n", (int)n, l);
        l += n + (nl ? 1 : 0);
    }
    const char *path = simple(e, "kc", body, "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "certificate-authority-data is not valid base64",
               "PEM", NULL);
}

static void ca_data_without_a_certificate_is_refused(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc",
                              "    server: https://k\n"
                              "    certificate-authority-data: aGVsbG8gd29ybGQK\n",
                              "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path,
               "clusters[0].cluster.certificate-authority-data contains no PEM certificate", NULL);
}

static void yaml_syntax_error_names_file_and_line(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "apiVersion: v1\n"
                           "clusters:\n"
                           "- name: c\n"
                           "  cluster: {server: https://k\n" /* unclosed flow mapping */
                           "users: []\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "YAML syntax error at line", NULL);
    path = put(e, "kc2",
               "apiVersion: v1\n"
               "kind: Config\n"
               "clusters:\n"
               "  - name: c\n"
               " bad: indentation\n");
    char want[600];
    snprintf(want, sizeof(want), "%s: YAML syntax error at line 5", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
    path = put(e, "kc3", "clusters: []\nusers: \xc3\x28\n");
    snprintf(want, sizeof(want), "%s: not valid UTF-8/UTF-16 text at byte 21", path);
    load_fails(path, NULL, K8S_ECONFIG, want, NULL);
}

static void deep_nesting_is_refused_naming_the_line(void **state)
{
    struct env *e = *state;
    /* libyaml's cost is quadratic in depth; a 1 MiB file of '[' must fail fast. */
    size_t depth = 1u << 20;
    char *text = malloc(2 * depth + 16);
    assert_non_null(text);
    memcpy(text, "a: 1\nb: ", 8);
    memset(text + 8, '[', depth);
    memset(text + 8 + depth, ']', depth);
    memcpy(text + 8 + 2 * depth, "\n", 2);
    const char *path = in_dir(e, "deep");
    write_file(path, text);
    free(text);
    load_fails(path, NULL, K8S_ECONFIG, path, "nested deeper than 64 levels at line 2", NULL);
}

static void thousands_of_entries_resolve_by_name(void **state)
{
    struct env *e = *state;
    const int n = 5000;
    struct k8s_buf b;
    k8s_buf_init(&b, 8u << 20);
    assert_int_equal(k8s_buf_appendf(&b, "clusters:\n"), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(
            k8s_buf_appendf(&b, "- name: c%d\n  cluster: {server: 'https://c%d'}\n", i, i), 0);
    assert_int_equal(k8s_buf_appendf(&b, "users:\n"), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(k8s_buf_appendf(&b, "- name: u%d\n  user: {token: t%d}\n", i, i), 0);
    assert_int_equal(k8s_buf_appendf(&b, "contexts:\n"), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(k8s_buf_appendf(&b, "- name: x%d\n  context: {cluster: c%d, user: u%d}\n",
                                         i, (i * 7) % n, (i * 13) % n),
                         0);
    assert_int_equal(k8s_buf_appendf(&b, "current-context: x%d\n", n - 1), 0);
    const char *path = in_dir(e, "big");
    write_file(path, b.data);
    k8s_buf_free(&b);
    struct k8s_config *cfg = load_ok(path, NULL);
    char want[64];
    snprintf(want, sizeof(want), "https://c%d", ((n - 1) * 7) % n);
    assert_string_equal(cfg->server, want);
    snprintf(want, sizeof(want), "t%d", ((n - 1) * 13) % n);
    assert_string_equal(cfg->token, want);
    k8s_config_free(cfg);
    cfg = load_ok(path, "x1234");
    assert_string_equal(cfg->server, "https://c3638"); /* 1234 * 7 % 5000 */
    assert_string_equal(cfg->token, "t1042");          /* 1234 * 13 % 5000 */
    k8s_config_free(cfg);
}

static void wrong_types_name_the_field(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc", "clusters: {c: {server: x}}\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters must be a list, not a mapping", NULL);
    path = put(e, "kc2", "users:\n- name: u\n  user: [token]\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "users[0].user must be a mapping, not a list", NULL);
    path = put(e, "kc3", "contexts:\n- context: {cluster: c}\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "contexts[0].name is missing", NULL);
    path = put(e, "kc4", "- just\n- a list\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "top level must be a mapping", NULL);
    path = simple(e, "kc5", "    server: [https://k]\n", "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters[0].cluster.server must be a string", NULL);
}

static void duplicate_names_and_keys_in_one_file_are_refused(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n"
                           "- name: c\n  cluster: {server: 'https://one'}\n"
                           "- name: c\n  cluster: {server: 'https://two'}\n");
    load_fails(path, NULL, K8S_ECONFIG, path,
               "clusters[1].name \"c\" is also the name of clusters[0]", NULL);
    path = simple(e, "kc2", "    server: https://one\n    server: https://two\n", "    token: t\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "clusters[0].cluster.server is given twice", NULL);
}

static void unreadable_files_give_io_errors_naming_them(void **state)
{
    struct env *e = *state;
    const char *missing = in_dir(e, "missing");
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    struct k8s_config_options opts = {.kubeconfig = missing};
    assert_int_equal(k8s_config_load(&opts, &cfg, &err), K8S_EIO);
    assert_null(cfg);
    assert_non_null(strstr(err.message, missing));
    assert_non_null(strstr(err.message, "No such file"));

    assert_int_equal(mkdir(in_dir(e, "adir"), 0700), 0);
    load_fails(in_dir(e, "adir"), NULL, K8S_EIO, in_dir(e, "adir"), "not a regular file", NULL);

    if (geteuid() != 0) { /* root reads anything: the mode test means nothing then */
        const char *locked = simple(e, "locked", "    server: https://k\n", "    token: t\n");
        assert_int_equal(chmod(locked, 0), 0);
        load_fails(locked, NULL, K8S_EIO, locked, "Permission denied", NULL);
    }
}

static void missing_referenced_files_name_the_field_and_file(void **state)
{
    struct env *e = *state;
    const char *path = simple(
        e, "kc", "    server: https://k\n    certificate-authority: no-ca.crt\n", "    token: t\n");
    load_fails(path, NULL, K8S_EIO, path, "clusters[0].cluster.certificate-authority",
               in_dir(e, "no-ca.crt"), "No such file", NULL);
    path = simple(e, "kc2", "    server: https://k\n", "    tokenFile: no-token\n");
    load_fails(path, NULL, K8S_EIO, path, "users[0].user.tokenFile", in_dir(e, "no-token"), NULL);
    path = simple(e, "kc3", "    server: https://k\n",
                  "    client-certificate: no.crt\n    client-key: no.key\n");
    load_fails(path, NULL, K8S_EIO, path, "users[0].user.client-certificate", NULL);
}

static void client_certificate_problems_are_caught_at_load(void **state)
{
    struct env *e = *state;
    char user[16384];
    snprintf(user, sizeof(user), "    client-certificate-data: %s\n    client-key-data: %s\n",
             e->crt_b64, e->other_key_b64);
    const char *path = simple(e, "kc", "    server: https://k\n", user);
    load_fails(path, NULL, K8S_ECONFIG, path, "users[0].user", "does not match", NULL);

    snprintf(user, sizeof(user), "    client-certificate-data: %s\n", e->crt_b64);
    path = simple(e, "kc2", "    server: https://k\n", user);
    load_fails(path, NULL, K8S_ECONFIG, path, "client-certificate-data but no client-key", NULL);

    snprintf(user, sizeof(user), "    client-certificate-data: %s\n    client-key-data: %s\n",
             e->key_b64, e->key_b64);
    path = simple(e, "kc3", "    server: https://k\n", user);
    load_fails(path, NULL, K8S_ECONFIG, path, "client-certificate-data contains no PEM certificate",
               NULL);
}

static void two_auth_methods_are_refused(void **state)
{
    struct env *e = *state;
    const char *path = simple(e, "kc", "    server: https://k\n",
                              "    token: t\n    username: a\n    password: b\n");
    load_fails(path, NULL, K8S_ECONFIG, path, "users[0].user", "only one", NULL);
}

static void secrets_never_appear_in_error_messages(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    const char *paths[4];
    paths[0] = simple(e, "kc", "    server: https://k\n", "    token: \"sekret\\r\\nX: y\"\n");
    paths[1] = simple(e, "kc2", "    server: https://k\n", "    password: sekret-pw\n");
    paths[2] = simple(e, "kc3", "    server: https://k\n",
                      "    client-certificate-data: c2VrcmV0!!\n    client-key-data: c2VrcmV0!!\n");
    paths[3] = simple(e, "kc4", "    server: https://k\n",
                      "    token: sekret-tok\n    username: a\n    password: sekret-pw\n");
    for (size_t i = 0; i < 4; i++) {
        k8s_error_clear(&err);
        assert_int_equal(k8s_config_from_kubeconfig(paths[i], NULL, &cfg, &err), K8S_ECONFIG);
        assert_null(cfg);
        assert_non_null(strstr(err.message, paths[i]));
        if (strstr(err.message, "sekret") || strstr(err.message, "c2VrcmV0"))
            fail_msg("secret in message: %s", err.message);
    }
}

/* ---- in-cluster ---- */

static const char *service_account_dir(const struct env *e, const char *ns)
{
    const char *sa = in_dir(e, "sa");
    assert_int_equal(mkdir(sa, 0700), 0);
    write_file(in_dir(e, "sa/ca.crt"), e->ca);
    write_file(in_dir(e, "sa/token"), "in-cluster-token\n");
    if (ns)
        write_file(in_dir(e, "sa/namespace"), ns);
    return in_dir(e, "sa");
}

static void in_cluster_config_from_env_and_service_account_dir(void **state)
{
    struct env *e = *state;
    const char *sa = service_account_dir(e, "quay-ops\n");
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    assert_null(cfg->token);
    assert_string_equal(cfg->token_file, in_dir(e, "sa/token"));
    assert_string_equal(cfg->ca_pem, e->ca);
    assert_string_equal(cfg->namespace, "quay-ops");
    assert_string_equal(cfg->context, "in-cluster");
    assert_int_equal(cfg->insecure_skip_tls_verify, 0);
    assert_int_equal(cfg->burst, 30);
    char *tok = token_of(cfg);
    assert_string_equal(tok, "in-cluster-token");
    free(tok);
    /* Rotation is seen through the referenced file. */
    struct k8s_token_source *ts = NULL;
    assert_int_equal(k8s_config_token_source(cfg, &ts, &err), 0);
    write_file(in_dir(e, "sa/token.new"), "rotated-token\n");
    assert_int_equal(rename(in_dir(e, "sa/token.new"), in_dir(e, "sa/token")), 0);
    assert_int_equal(k8s_token_source_get(ts, &tok, &err), 0);
    assert_string_equal(tok, "rotated-token");
    free(tok);
    k8s_token_source_free(ts);
    k8s_config_free(cfg);
}

static void in_cluster_ipv6_host_gets_brackets(void **state)
{
    struct env *e = *state;
    const char *sa = service_account_dir(e, NULL);
    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), 0);
    assert_string_equal(cfg->server, "https://[fd00:10:96::1]:6443");
    assert_string_equal(cfg->namespace, "default"); /* no namespace file */
    k8s_config_free(cfg);
}

static void in_cluster_namespace_prefers_pod_namespace(void **state)
{
    struct env *e = *state;
    const char *sa = service_account_dir(e, "from-file");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    setenv("POD_NAMESPACE", "from-env", 1);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), 0);
    assert_string_equal(cfg->namespace, "from-env");
    k8s_config_free(cfg);
}

static void in_cluster_problems_are_reported(void **state)
{
    struct env *e = *state;
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    const char *sa = service_account_dir(e, NULL);
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), K8S_ECONFIG);
    assert_non_null(strstr(err.message, "KUBERNETES_SERVICE_HOST"));
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), K8S_ECONFIG);
    assert_non_null(strstr(err.message, "KUBERNETES_SERVICE_PORT"));
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(unlink(in_dir(e, "sa/token")), 0);
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), K8S_EIO);
    assert_non_null(strstr(err.message, in_dir(e, "sa/token")));
    write_file(in_dir(e, "sa/token"), "t\n");
    write_file(in_dir(e, "sa/ca.crt"), "not a certificate\n");
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), K8S_ECONFIG);
    assert_non_null(strstr(err.message, in_dir(e, "sa/ca.crt")));
    assert_null(cfg);
    /* Without ca.crt the system trust store verifies; nothing turns insecure. */
    assert_int_equal(unlink(in_dir(e, "sa/ca.crt")), 0);
    assert_int_equal(k8s_config_in_cluster(sa, &cfg, &err), 0);
    assert_null(cfg->ca_pem);
    assert_int_equal(cfg->insecure_skip_tls_verify, 0);
    k8s_config_free(cfg);
}

/* ---- k8s_config_load's resolution order ---- */

static char *load_server(const struct k8s_config_options *opts)
{
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    k8s_error_clear(&err);
    if (k8s_config_load(opts, &cfg, &err) != 0)
        fail_msg("k8s_config_load: %s", err.message);
    char *s = strdup(cfg->server);
    k8s_config_free(cfg);
    return s;
}

static void load_order_is_flag_env_in_cluster_then_home(void **state)
{
    struct env *e = *state;
    const char *flag = simple(e, "flag", "    server: https://flag\n", "    token: t\n");
    const char *envfile = simple(e, "env", "    server: https://env\n", "    token: t\n");
    assert_int_equal(mkdir(in_dir(e, "home"), 0700), 0);
    assert_int_equal(mkdir(in_dir(e, "home/.kube"), 0700), 0);
    simple(e, "home/.kube/config", "    server: https://home\n", "    token: t\n");
    const char *sa = service_account_dir(e, NULL);
    struct k8s_config_options opts = {.serviceaccount_dir = sa, .home = in_dir(e, "home")};

    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.9", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    setenv("KUBECONFIG", envfile, 1);
    opts.kubeconfig = flag;
    char *s = load_server(&opts);
    assert_string_equal(s, "https://flag");
    free(s);

    opts.kubeconfig = NULL;
    s = load_server(&opts);
    assert_string_equal(s, "https://env");
    free(s);

    unsetenv("KUBECONFIG");
    s = load_server(&opts);
    assert_string_equal(s, "https://10.0.0.9:443");
    free(s);

    unsetenv("KUBERNETES_SERVICE_HOST");
    s = load_server(&opts);
    assert_string_equal(s, "https://home");
    free(s);

    /* $HOME is used when no home is given. */
    opts.home = NULL;
    setenv("HOME", in_dir(e, "home"), 1);
    s = load_server(&opts);
    assert_string_equal(s, "https://home");
    free(s);
}

static void load_with_nothing_configured_says_what_was_tried(void **state)
{
    struct env *e = *state;
    struct k8s_config_options opts = {.home = e->dir};
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_load(&opts, &cfg, &err), K8S_ECONFIG);
    assert_null(cfg);
    assert_non_null(strstr(err.message, "KUBECONFIG"));
    assert_non_null(strstr(err.message, in_dir(e, ".kube/config")));
    assert_int_equal(k8s_config_load(NULL, &cfg, &err), K8S_ECONFIG); /* no $HOME either */
}

static void load_passes_the_context_and_refuses_it_in_cluster(void **state)
{
    struct env *e = *state;
    const char *path = put(e, "kc",
                           "clusters:\n"
                           "- name: a\n  cluster: {server: 'https://a'}\n"
                           "- name: b\n  cluster: {server: 'https://b'}\n"
                           "contexts:\n"
                           "- name: a\n  context: {cluster: a}\n"
                           "- name: b\n  context: {cluster: b}\n"
                           "current-context: a\n");
    setenv("KUBECONFIG", path, 1);
    struct k8s_config_options opts = {.context = "b"};
    char *s = load_server(&opts);
    assert_string_equal(s, "https://b");
    free(s);
    unsetenv("KUBECONFIG");
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    struct k8s_config *cfg = NULL;
    struct k8s_error err;
    assert_int_equal(k8s_config_load(&opts, &cfg, &err), K8S_ECONFIG);
    assert_non_null(strstr(err.message, "context \"b\""));
}

static void dup_copies_every_field(void **state)
{
    struct env *e = *state;
    struct k8s_config *orig = load_ok(FIXTURES "/client-cert.json", NULL);
    orig->token = strdup("tok");
    orig->proxy_url = strdup("http://p:1");
    orig->qps = 5.5;
    struct k8s_config *copy = k8s_config_dup(orig);
    assert_non_null(copy);
    assert_ptr_not_equal(copy->server, orig->server);
    k8s_config_free(orig); /* the copy must not share anything */
    assert_string_equal(copy->server, "https://127.0.0.1:38443");
    assert_string_equal(copy->client_key_pem, e->key);
    assert_int_equal(copy->client_key_pem_len, strlen(e->key));
    assert_string_equal(copy->ca_pem, e->ca);
    assert_string_equal(copy->token, "tok");
    assert_string_equal(copy->proxy_url, "http://p:1");
    assert_string_equal(copy->tls_server_name, "kubernetes");
    assert_true(copy->qps == 5.5);
    assert_int_equal(copy->burst, 30);
    assert_string_equal(copy->context, "kind");
    assert_non_null(copy->user_agent);
    k8s_config_free(copy);
    assert_null(k8s_config_dup(NULL));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(oc_login_kubeconfig_gives_server_token_ca_and_namespace),
        T(loaded_config_has_client_go_defaults),
        T(json_kubeconfig_with_client_certificate_data_loads),
        T(relative_paths_resolve_against_the_kubeconfig_directory),
        T(ca_file_and_ca_data_give_the_same_pem),
        T(no_ca_means_system_trust_store_not_insecure),
        T(client_certificate_files_load),
        T(token_file_user_is_referenced_not_copied),
        T(token_and_token_file_keep_the_rotating_file),
        T(static_token_gives_a_fixed_token_source),
        T(basic_auth_user_loads),
        T(context_without_user_is_anonymous),
        T(insecure_skip_tls_verify_without_ca_is_kept),
        T(insecure_skip_tls_verify_with_a_ca_is_refused),
        T(non_boolean_insecure_flag_is_refused),
        T(tls_server_name_and_proxy_url_are_kept),
        T(bad_proxy_url_is_refused_without_echoing_it),
        T(server_without_scheme_means_https),
        T(merged_files_first_definition_and_current_context_win),
        T(merged_files_resolve_references_across_files),
        T(current_context_comes_from_the_first_file_that_sets_it),
        T(missing_files_in_a_list_are_skipped_but_not_all),
        T(explicit_context_overrides_current_context),
        T(namespace_defaults_to_default),
        T(invalid_namespace_is_refused),
        T(exec_plugin_user_is_refused_naming_user_file_and_form),
        T(auth_provider_user_is_refused_naming_the_provider),
        T(impersonation_is_refused),
        T(exec_user_of_an_unused_context_does_not_matter),
        T(missing_server_names_file_and_field),
        T(unknown_cluster_reference_names_file_and_field),
        T(unknown_user_reference_names_file_and_field),
        T(context_without_cluster_names_the_field),
        T(unknown_contexts_are_reported),
        T(bad_base64_names_file_and_field),
        T(pem_pasted_into_a_data_field_is_explained),
        T(ca_data_without_a_certificate_is_refused),
        T(yaml_syntax_error_names_file_and_line),
        T(wrong_types_name_the_field),
        T(deep_nesting_is_refused_naming_the_line),
        T(thousands_of_entries_resolve_by_name),
        T(duplicate_names_and_keys_in_one_file_are_refused),
        T(unreadable_files_give_io_errors_naming_them),
        T(missing_referenced_files_name_the_field_and_file),
        T(client_certificate_problems_are_caught_at_load),
        T(two_auth_methods_are_refused),
        T(secrets_never_appear_in_error_messages),
        T(in_cluster_config_from_env_and_service_account_dir),
        T(in_cluster_ipv6_host_gets_brackets),
        T(in_cluster_namespace_prefers_pod_namespace),
        T(in_cluster_problems_are_reported),
        T(load_order_is_flag_env_in_cluster_then_home),
        T(load_with_nothing_configured_says_what_was_tried),
        T(load_passes_the_context_and_refuses_it_in_cluster),
        T(dup_copies_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
