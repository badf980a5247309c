/*
 * `quay-storage-operator version`: the operator's version and the versions of
 * the libraries it was built against, so a bug report says what ran.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libwebsockets.h>
#include <openssl/crypto.h>
#include <string.h>
#include <yaml.h>

#include "cmd.h"

#ifndef QSO_VERSION
#define QSO_VERSION "0.0.0-dev"
#endif

int cmd_version(int argc, char **argv)
{
    int json = argc > 1 && strcmp(argv[1], "-o=json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "version: unknown flag \"%s\" (the only flag is -o=json)\n", argv[1]);
        return 2;
    }
    if (json) {
        printf("{\"version\":\"%s\",\"curl\":\"%s\",\"openssl\":\"%s\",\"cjson\":\"%s\","
               "\"yaml\":\"%s\",\"libwebsockets\":\"%s\"}\n",
               QSO_VERSION, curl_version_info(CURLVERSION_NOW)->version,
               OpenSSL_version(OPENSSL_VERSION_STRING), cJSON_Version(),
               yaml_get_version_string(), lws_get_library_version());
        return 0;
    }
    printf("quay-storage-operator %s\n", QSO_VERSION);
    printf("  libcurl %s, OpenSSL %s, cJSON %s, libyaml %s, libwebsockets %s\n",
           curl_version_info(CURLVERSION_NOW)->version, OpenSSL_version(OPENSSL_VERSION_STRING),
           cJSON_Version(), yaml_get_version_string(), lws_get_library_version());
    return 0;
}
