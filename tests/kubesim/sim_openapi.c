/*
 * OpenAPI v2/v3 documents (see sim_openapi.h).
 */
#include "sim_openapi.h"

#include <string.h>

#include "sim_api.h"
#include "sim_server.h"

int sim_openapi_serve(struct sim_server *srv, const struct sim_request *req,
                      struct sim_response *resp)
{
    (void)srv;
    (void)req;
    (void)resp;
    return -1;
}
