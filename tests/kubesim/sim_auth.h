/*
 * Who is calling and may they: bearer-token authentication (static tokens
 * added by the admin endpoint, and ServiceAccount tokens issued through the
 * TokenRequest subresource, which expire and die with their ServiceAccount),
 * and RBAC authorization from the Role/ClusterRole/binding objects in the
 * store, with kube-apiserver's 403 wording.
 */
#ifndef QSO_SIM_AUTH_H
#define QSO_SIM_AUTH_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

struct sim_server;
struct sim_err;
struct sim_auth;

#define SIM_MAX_GROUPS 16

struct sim_user {
    char name[256];
    char groups[SIM_MAX_GROUPS][256];
    size_t ngroups;
};

/* The attributes RBAC decides on (authorizer.Attributes). */
struct sim_attrs {
    int resource_request;
    const char *verb;
    const char *group;
    const char *resource;
    const char *subresource;
    const char *name;
    const char *ns;
    const char *path; /* non-resource requests */
};

struct sim_auth *sim_auth_new(void);
void sim_auth_free(struct sim_auth *a);

/* Adds or replaces a token. expires 0 = never; sa_uid non-NULL ties the token
 * to that ServiceAccount's existence. */
int sim_auth_add_token(struct sim_auth *a, const char *token, const char *user,
                       const char *const *groups, size_t ngroups, int64_t expires,
                       const char *sa_uid);
int sim_auth_revoke(struct sim_auth *a, const char *token);

/* From an Authorization header value. 0 and *out filled, or -1 (401). */
int sim_authenticate(struct sim_server *srv, const char *authorization, struct sim_user *out);
int sim_user_in_group(const struct sim_user *u, const char *group);

/* serviceaccounts/<name>/token: issues a token for the ServiceAccount object
 * `sa` from the TokenRequest `req`; *out is the TokenRequest answered. */
int sim_auth_token_request(struct sim_server *srv, const cJSON *sa, const cJSON *req, cJSON **out,
                           struct sim_err *e);

/*
 * 1 when allowed. When denied, fills `e` with the real 403: `<resource>.<group>
 * "<name>" is forbidden: User "<u>" cannot <verb> resource "<r>" in API group
 * "<g>" in the namespace "<ns>"` (or "at the cluster scope", or "path").
 */
int sim_authorize(struct sim_server *srv, const struct sim_user *u, const struct sim_attrs *at,
                  struct sim_err *e);

/* Persistence of tokens (an array of objects). */
cJSON *sim_auth_save(const struct sim_auth *a);
int sim_auth_restore(struct sim_auth *a, const cJSON *arr);

#endif
