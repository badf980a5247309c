/*
 * quay_keyjob: the Job that runs a service-key SQL script (quay_servicekey.h)
 * against the registry's database — the three objects it is made of, built
 * as JSON for the reconciler to create, and how to read its outcome.
 *
 * Why a Job: the operator never connects to a registry's database itself
 * (it may sit behind a NetworkPolicy only Quay's pods pass, and the operator
 * would otherwise need every registry's database credentials in memory). The
 * Job runs the registry's OWN Quay image, which ships psql (nothing new to
 * mirror for disconnected clusters), next to the registry.
 *
 *   ConfigMap <name>      <op>.sql        the script (no secret in it)
 *   Secret    <name>      pg_service.conf the libpq service file (password)
 *   Job       <name>      psql -X -q -w -v ON_ERROR_STOP=1 -d service=quay -f ...
 *
 * <name> is "qso-sk-<op>-<10 hex of sha256(namespace/window, op, script)>":
 * deterministic, so a restarted operator finds (AlreadyExists) the Job it
 * created before instead of running the script twice, and a new script (an
 * extended expiry) gets a new Job. The password never takes part in a name.
 * All three are owned by the ReadOnlyWindow (controller reference) so they go
 * with it; the reconciler deletes them once it has read the outcome.
 *
 * The pod gets no service-account token, no service links, a read-only
 * root, no privilege escalation and no capabilities; credentials arrive only
 * as a mounted Secret (never env, never the command line). psql's error
 * becomes the termination message (FallbackToLogsOnError), which
 * quay_keyjob_outcome returns for the window's condition.
 */
#ifndef QSO_QUAY_KEYJOB_H
#define QSO_QUAY_KEYJOB_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "k8s_error.h"

enum quay_keyjob_op {
    QUAY_KEYJOB_REGISTER,
    QUAY_KEYJOB_EXTEND,
    QUAY_KEYJOB_EXPIRE,
};

/* "register", "extend", "expire". */
const char *quay_keyjob_op_name(enum quay_keyjob_op op);

#define QUAY_KEYJOB_NAME_MAX 32 /* "qso-sk-register-" + 10 hex + NUL fits */

/* Where the pod finds its inputs. */
#define QUAY_KEYJOB_SQL_DIR     "/run/qso/sql"
#define QUAY_KEYJOB_SERVICE_DIR "/run/qso/db"
#define QUAY_KEYJOB_SERVICE_KEY "pg_service.conf"

struct quay_keyjob_spec {
    const char *namespace;   /* the registry's (and the window's) namespace */
    const char *window_name; /* owner */
    const char *window_uid;  /* owner */
    enum quay_keyjob_op op;
    const char *image;               /* the registry's Quay image (from its quay-app Deployment) */
    const cJSON *image_pull_secrets; /* the quay-app pod's imagePullSecrets array, or NULL */
    const char *sql;                 /* the script (quay_servicekey_sql_*) */
    const char *pg_service;          /* SECRET: quay_pg_service_from_db_uri()'s output */
    long active_deadline_seconds;    /* 0: 300 */
};

struct quay_keyjob {
    char name[QUAY_KEYJOB_NAME_MAX];
    cJSON *config_map;
    cJSON *secret; /* holds the password: never log it */
    cJSON *job;
};

/* Builds the three objects; K8S_EARG naming the missing input. */
int quay_keyjob_build(const struct quay_keyjob_spec *spec, struct quay_keyjob *out,
                      struct k8s_error *err);
void quay_keyjob_clear(struct quay_keyjob *kj);

enum quay_keyjob_state {
    QUAY_KEYJOB_RUNNING,
    QUAY_KEYJOB_SUCCEEDED,
    QUAY_KEYJOB_FAILED,
};

/*
 * The outcome of the Job `job` (as read from the API). Terminal only on the
 * Complete / Failed conditions (v1.31+ first adds SuccessCriteriaMet /
 * FailureTarget while pods still terminate: not yet terminal). For a failure,
 * `message` receives the Job's reason and message and, when `pods` (a
 * PodList's items, or NULL) has a failed container with a termination
 * message, psql's own words.
 */
enum quay_keyjob_state quay_keyjob_outcome(const cJSON *job, const cJSON *pods, char *message,
                                           size_t cap);

#endif
