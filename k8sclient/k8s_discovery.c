/*
 * Discovery: whether the API server serves a group/version/resource. The
 * operator asks this once at start-up (is QuayRegistry installed? is this
 * OpenShift with its image-registry API?), so the answer is not cached here.
 *
 * It reads the group/version's APIResourceList (GET /api/v1 or
 * /apis/<group>/<version>). A 404 means the group/version is not served,
 * which is an answer, not an error; anything else that fails is an error.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "k8s_client.h"

int k8s_discover_resource(struct k8s_client *c, const char *group, const char *version,
                          const char *resource, int *served, int *namespaced, struct k8s_error *err)
{
    int rc = 0;
    char path[1024];
    struct k8s_response resp = {0};
    cJSON *list = NULL;
    *served = 0;
    if (namespaced)
        *namespaced = 0;
    if (!version || !*version || !resource || !*resource || strpbrk(version, "/?#%") ||
        (group && strpbrk(group, "/?#%")))
        return k8s_error_set(err, K8S_EARG, "discovery needs a valid version and resource");
    int n = group && *group ? snprintf(path, sizeof(path), "/apis/%s/%s", group, version)
                            : snprintf(path, sizeof(path), "/api/%s", version);
    if (n < 0 || (size_t)n >= sizeof(path))
        return k8s_error_set(err, K8S_EARG, "group name too long");
    rc = k8s_request(c, "GET", path, NULL, NULL, 0, NULL, &resp, err);
    if (rc == K8S_ENOTFOUND) {
        k8s_error_clear(err);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    list = cJSON_ParseWithLength(resp.body, resp.body_len);
    const cJSON *resources = cJSON_GetObjectItemCaseSensitive(list, "resources");
    if (!cJSON_IsArray(resources)) {
        rc = k8s_error_set(err, K8S_EDECODE, "GET %s: not an APIResourceList", path);
        goto out;
    }
    const cJSON *r;
    cJSON_ArrayForEach(r, resources)
    {
        /* Subresources are listed as "pods/log": an exact match on the name
         * tells them apart from the resource itself. */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, resource) != 0)
            continue;
        *served = 1;
        if (namespaced)
            *namespaced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "namespaced"));
        break;
    }
out:
    cJSON_Delete(list);
    k8s_response_free(&resp);
    return rc;
}
