/*
 * libFuzzer target for the simulator's CEL parser and evaluator (sim_cel):
 * CRD rules are user input to the simulator, so neither compiling nor
 * evaluating any byte string may crash, leak or hang.
 *
 * Build and run (not part of the CMake build; needs clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -I tests/kubesim -I/usr/include/cjson \
 *     tests/fuzz/fuzz_sim_cel.c tests/kubesim/sim_cel.c -lcjson -lm -o fuzz_sim_cel
 *   ./fuzz_sim_cel -max_total_time=60 -max_len=512
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim_cel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size + 1);
    if (!src)
        return 0;
    memcpy(src, data, size);
    src[size] = '\0';
    static const char self_json[] =
        "{\"a\":1,\"s\":\"str\",\"l\":[1,2,3],\"m\":{\"k\":\"v\"},\"b\":true,\"d\":1.5,"
        "\"t\":\"2024-01-01T00:00:00Z\",\"o\":{\"x\":{\"y\":[{\"z\":null}]}}}";
    cJSON *self = cJSON_Parse(self_json);
    struct sim_cel_program *prog = NULL;
    char err[SIM_CEL_ERR_MAX];
    if (sim_cel_compile(src, NULL, 0, &prog, err, sizeof(err)) == 0) {
        bool r;
        char *s = NULL;
        sim_cel_eval_bool(prog, self, self, NULL, &r, err, sizeof(err));
        if (sim_cel_eval_string(prog, self, self, NULL, &s, err, sizeof(err)) == 0)
            free(s);
    }
    sim_cel_program_free(prog);
    prog = NULL;
    /* again with a schema, so the compile-time field checks and typed values run too */
    static const char schema_json[] =
        "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},"
        "\"s\":{\"type\":\"string\"},\"l\":{\"type\":\"array\",\"x-kubernetes-list-type\":"
        "\"set\",\"items\":{\"type\":\"integer\"}},\"m\":{\"type\":\"object\","
        "\"additionalProperties\":{\"type\":\"string\"}},\"d\":{\"type\":\"number\"},"
        "\"t\":{\"type\":\"string\",\"format\":\"date-time\"},\"o\":{\"type\":\"object\","
        "\"x-kubernetes-preserve-unknown-fields\":true}}}";
    cJSON *schema = cJSON_Parse(schema_json);
    if (sim_cel_compile(src, schema, SIM_CEL_RESOURCE_ROOT, &prog, err, sizeof(err)) == 0) {
        bool r;
        sim_cel_eval_bool(prog, self, self, schema, &r, err, sizeof(err));
    }
    sim_cel_program_free(prog);
    cJSON_Delete(schema);
    cJSON_Delete(self);
    free(src);
    return 0;
}
