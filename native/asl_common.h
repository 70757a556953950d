/*
 * What asl_native.c and asl_pack.c both use, defined in asl_common.c so that
 * neither of them depends on the other's definitions: SHA-256 through the
 * OpenSSL linked into node, mkdirat with an exact mode, and the one way a call
 * hands its work to a worker thread and returns a promise.
 */
#ifndef ASL_COMMON_H
#define ASL_COMMON_H

#include <node_api.h>
#include <stddef.h>
#include <sys/types.h>

/* OpenSSL's EVP_MD_CTX, opaque here. */
typedef struct evp_md_ctx_st asl_sha256_ctx;

/* Whether sha256 through node's OpenSSL is there and passed its known-answer test (1) or not (0). */
int asl_sha256_ready(void);

/* A digest context (NULL when out of memory or not ready), freed with asl_sha256_free. */
asl_sha256_ctx *asl_sha256_new(void);
void asl_sha256_free(asl_sha256_ctx *ctx);

/* Streaming: init, update..., final. Each returns 0 on success, -1 on failure. */
int asl_sha256_init(asl_sha256_ctx *ctx);
int asl_sha256_update(asl_sha256_ctx *ctx, const void *data, size_t len);
int asl_sha256_final(asl_sha256_ctx *ctx, unsigned char out[32]);

/* One buffer through an existing context (0 on success). */
int asl_sha256_buf(asl_sha256_ctx *ctx, const void *data, size_t len, unsigned char out[32]);

/* One buffer (0 on success). */
int asl_sha256(const void *data, size_t len, unsigned char out[32]);

/*
 * mkdirat, then the mode set exactly (not left to the umask; docs/security.md).
 * A folder that existed is left as it is (-1 with errno EEXIST).
 */
int asl_mkdirat_exact(int dir_fd, const char *name, mode_t mode);

/*
 * Queues `execute` on a libuv worker thread and `complete` after it on the main
 * thread, and returns the promise that `complete` settles through `*deferred`
 * (the caller's work struct keeps the deferred and the work handle).
 */
napi_value asl_queue_promise(napi_env env, const char *name, napi_async_execute_callback execute,
                             napi_async_complete_callback complete, void *data, napi_deferred *deferred,
                             napi_async_work *work);

#endif
