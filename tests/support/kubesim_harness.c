/*
 * The API simulator harness (see kubesim_harness.h): runs `kubesim` as a
 * child process with its own state directory and talks to its admin endpoint
 * with plain libcurl, not k8sclient, so a client bug cannot hide itself
 * behind the harness.
 *
 * The simulator's output goes to <state dir>/kubesim.log (a test's output
 * stays readable); when it fails to start, the log's tail is printed. Set
 * KUBESIM_KEEP=1 to keep the state directory after the test, and
 * KUBESIM_BIN to run another binary than the build's.
 */
#include "kubesim_harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef QSO_BINARY_DIR
#define QSO_BINARY_DIR "."
#endif

#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS  10000
#define MAX_ADMIN_BODY   (64u * 1024u * 1024u)

struct kubesim {
    pid_t pid;
    char dir[512];
    char kubeconfig[600];
    char ca_file[600];
    char url[64];
    char token[512];
};

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Reads a whole small file into buf (NUL-terminated); -1 if absent/too big. */
static int read_small_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    int big = !feof(f);
    fclose(f);
    buf[n] = '\0';
    return big ? -1 : 0;
}

static void print_log_tail(const struct kubesim *sim)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/kubesim.log", sim->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[4096];
    if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
        rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "kubesim log (%s), last bytes:\n%s\n", path, buf);
}

/* The admin user's bearer token, from the `token:` line of the kubeconfig
 * the simulator wrote. Never printed. */
static int read_admin_token(struct kubesim *sim)
{
    FILE *f = fopen(sim->kubeconfig, "r");
    if (!f)
        return -1;
    char line[4096];
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '-')
            p++;
        if (strncmp(p, "token:", 6) != 0)
            continue;
        p += 6;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, "\r\n");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len >= 2 && (p[0] == '"' || p[0] == '\'') && p[len - 1] == p[0]) {
            p++;
            len -= 2;
        }
        if (len == 0 || len >= sizeof(sim->token))
            break;
        memcpy(sim->token, p, len);
        sim->token[len] = '\0';
        rc = 0;
        break;
    }
    explicit_bzero(line, sizeof(line));
    fclose(f);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *kubesim_binary(void)
{
    const char *bin = getenv("KUBESIM_BIN");
    return bin && *bin ? bin : QSO_BINARY_DIR "/tests/kubesim/kubesim";
}

int kubesim_start(const struct kubesim_opts *opts, struct kubesim **out)
{
    *out = NULL;
    const char *bin = kubesim_binary();
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "kubesim: %s is not built (%s)\n", bin, strerror(errno));
        return -1;
    }
    struct kubesim *sim = calloc(1, sizeof(*sim));
    if (!sim)
        return -1;
    sim->pid = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(sim->dir, sizeof(sim->dir), "%s/kubesim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(sim->dir)) {
        fprintf(stderr, "kubesim: mkdtemp: %s\n", strerror(errno));
        sim->dir[0] = '\0';
        goto fail;
    }
    snprintf(sim->kubeconfig, sizeof(sim->kubeconfig), "%s/kubeconfig", sim->dir);
    snprintf(sim->ca_file, sizeof(sim->ca_file), "%s/ca.crt", sim->dir);

    char exit_after[32];
    snprintf(exit_after, sizeof(exit_after), "%d",
             opts && opts->exit_after_seconds > 0 ? opts->exit_after_seconds : 600);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = bin;
    argv[argc++] = "--state-dir";
    argv[argc++] = sim->dir;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    argv[argc++] = "--exit-after";
    argv[argc++] = exit_after;
    for (int i = 0; opts && i < 16 && opts->extra_args[i] && argc < 31; i++)
        argv[argc++] = opts->extra_args[i];
    argv[argc] = NULL;

    char logpath[700];
    snprintf(logpath, sizeof(logpath), "%s/kubesim.log", sim->dir);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (logfd < 0) {
        fprintf(stderr, "kubesim: %s: %s\n", logpath, strerror(errno));
        goto fail;
    }
    fflush(NULL);
    sim->pid = fork();
    if (sim->pid < 0) {
        fprintf(stderr, "kubesim: fork: %s\n", strerror(errno));
        close(logfd);
        goto fail;
    }
    if (sim->pid == 0) {
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(logfd);

    char ready[700], port[32];
    snprintf(ready, sizeof(ready), "%s/ready", sim->dir);
    for (int waited = 0;; waited += 20) {
        int status;
        if (waitpid(sim->pid, &status, WNOHANG) == sim->pid) {
            fprintf(stderr, "kubesim: exited before serving (status %d)\n", status);
            sim->pid = -1;
            print_log_tail(sim);
            goto fail;
        }
        if (read_small_file(ready, port, sizeof(port)) == 0) {
            char *end;
            errno = 0;
            long p = strtol(port, &end, 10);
            while (*end == '\n' || *end == ' ')
                end++;
            if (errno == 0 && end != port && *end == '\0' && p > 0 && p < 65536) {
                snprintf(sim->url, sizeof(sim->url), "https://127.0.0.1:%ld", p);
                break;
            }
        }
        if (waited >= START_TIMEOUT_MS) {
            fprintf(stderr, "kubesim: not serving after %d ms\n", START_TIMEOUT_MS);
            print_log_tail(sim);
            goto fail;
        }
        sleep_ms(20);
    }
    if (read_admin_token(sim) != 0) {
        fprintf(stderr, "kubesim: no bearer token in %s\n", sim->kubeconfig);
        goto fail;
    }
    *out = sim;
    return 0;
fail:
    kubesim_stop(sim);
    return -1;
}

void kubesim_stop(struct kubesim *sim)
{
    if (!sim)
        return;
    if (sim->pid > 0) {
        kill(sim->pid, SIGTERM);
        int status, waited = 0;
        while (waitpid(sim->pid, &status, WNOHANG) != sim->pid) {
            if (waited >= STOP_TIMEOUT_MS) {
                fprintf(stderr, "kubesim: pid %d ignored SIGTERM; killing it\n", (int)sim->pid);
                kill(sim->pid, SIGKILL);
                waitpid(sim->pid, &status, 0);
                break;
            }
            sleep_ms(10);
            waited += 10;
        }
    }
    const char *keep = getenv("KUBESIM_KEEP");
    if (keep && strcmp(keep, "1") == 0)
        fprintf(stderr, "kubesim: state kept in %s\n", sim->dir);
    else
        remove_tree(sim->dir);
    explicit_bzero(sim->token, sizeof(sim->token));
    free(sim);
}

const char *kubesim_kubeconfig(const struct kubesim *sim)
{
    return sim->kubeconfig;
}

const char *kubesim_url(const struct kubesim *sim)
{
    return sim->url;
}

const char *kubesim_dir(const struct kubesim *sim)
{
    return sim->dir;
}

const char *kubesim_ca_file(const struct kubesim *sim)
{
    return sim->ca_file;
}

const char *kubesim_admin_token(const struct kubesim *sim)
{
    return sim->token;
}

pid_t kubesim_pid(const struct kubesim *sim)
{
    return sim->pid;
}

struct admin_body {
    char *data;
    size_t len;
    int overflow;
};

static size_t admin_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct admin_body *b = user;
    size_t n = size * nmemb;
    if (b->len + n > MAX_ADMIN_BODY) {
        b->overflow = 1;
        return 0;
    }
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    b->data = p;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

long kubesim_admin(struct kubesim *sim, const char *method, const char *path, const char *body,
                   char **out)
{
    long status = -1;
    struct admin_body b = {0};
    struct curl_slist *hd = NULL;
    char url[2048], auth[600];
    if (out)
        *out = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    snprintf(url, sizeof(url), "%s%s", sim->url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", sim->token);
    hd = curl_slist_append(hd, auth);
    explicit_bzero(auth, sizeof(auth));
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CAINFO, sim->ca_file);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, admin_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    if (cc != CURLE_OK) {
        fprintf(stderr, "kubesim admin %s %s: %s\n", method, path, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (out) {
        *out = b.data ? b.data : calloc(1, 1);
        b.data = NULL;
    }
out:
    for (struct curl_slist *i = hd; i; i = i->next)
        explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    free(b.data);
    return status;
}
