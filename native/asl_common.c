/*
 * Helpers asl_native.c and asl_pack.c share (declared in asl_common.h).
 */
#define _GNU_SOURCE
#include "asl_common.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

/* SHA-256 through the OpenSSL already linked into the node binary, resolved at
 * run time so the addon has no link-time dependency on it. If the symbols are
 * missing (an exotic node build), sha256Available() is false and JS keeps its
 * own path. */
typedef struct evp_md_st EVP_MD;
typedef asl_sha256_ctx EVP_MD_CTX;
static struct {
  int ok;
  const EVP_MD *md;
  EVP_MD_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_MD_CTX *);
  int (*init)(EVP_MD_CTX *, const EVP_MD *, void *);
  int (*update)(EVP_MD_CTX *, const void *, size_t);
  int (*final)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} ossl;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

#define LOAD_SYM(dst, name) (*(void **)(&(dst)) = dlsym(RTLD_DEFAULT, name))

int asl_sha256_buf(EVP_MD_CTX *ctx, const void *data, size_t len, unsigned char out[32]) {
  unsigned int n = 0;
  if (ossl.init(ctx, ossl.md, NULL) != 1 || ossl.update(ctx, data, len) != 1 || ossl.final(ctx, out, &n) != 1 || n != 32) return -1;
  return 0;
}

static void ossl_load(void) {
  const EVP_MD *(*fetch)(void *, const char *, const char *) = NULL;
  const EVP_MD *(*legacy)(void) = NULL;
  LOAD_SYM(fetch, "EVP_MD_fetch");
  LOAD_SYM(legacy, "EVP_sha256");
  LOAD_SYM(ossl.ctx_new, "EVP_MD_CTX_new");
  LOAD_SYM(ossl.ctx_free, "EVP_MD_CTX_free");
  LOAD_SYM(ossl.init, "EVP_DigestInit_ex");
  LOAD_SYM(ossl.update, "EVP_DigestUpdate");
  LOAD_SYM(ossl.final, "EVP_DigestFinal_ex");
  /* An explicitly fetched digest avoids OpenSSL 3's implicit fetch on every init. */
  if (fetch) ossl.md = fetch(NULL, "SHA256", NULL);
  if (!ossl.md && legacy) ossl.md = legacy();
  if (!ossl.md || !ossl.ctx_new || !ossl.ctx_free || !ossl.init || !ossl.update || !ossl.final) return;
  /* Known-answer test: never trust a digest function we have not seen work. */
  static const unsigned char abc[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  unsigned char got[32];
  EVP_MD_CTX *ctx = ossl.ctx_new();
  if (!ctx) return;
  int rc = asl_sha256_buf(ctx, "abc", 3, got);
  ossl.ctx_free(ctx);
  if (rc == 0 && memcmp(got, abc, 32) == 0) ossl.ok = 1;
}

int asl_sha256_ready(void) {
  pthread_once(&ossl_once, ossl_load);
  return ossl.ok;
}

int asl_sha256(const void *data, size_t len, unsigned char out[32]) {
  if (!asl_sha256_ready()) return -1;
  EVP_MD_CTX *ctx = ossl.ctx_new();
  if (!ctx) return -1;
  int rc = asl_sha256_buf(ctx, data, len, out);
  ossl.ctx_free(ctx);
  return rc;
}

asl_sha256_ctx *asl_sha256_new(void) {
  return asl_sha256_ready() ? ossl.ctx_new() : NULL;
}

void asl_sha256_free(asl_sha256_ctx *ctx) {
  if (ctx) ossl.ctx_free(ctx);
}

int asl_sha256_init(asl_sha256_ctx *ctx) {
  return ossl.init(ctx, ossl.md, NULL) == 1 ? 0 : -1;
}

int asl_sha256_update(asl_sha256_ctx *ctx, const void *data, size_t len) {
  return ossl.update(ctx, data, len) == 1 ? 0 : -1;
}

int asl_sha256_final(asl_sha256_ctx *ctx, unsigned char out[32]) {
  unsigned int n = 0;
  return ossl.final(ctx, out, &n) == 1 && n == 32 ? 0 : -1;
}

int asl_mkdirat_exact(int dir_fd, const char *name, mode_t mode) {
  if (mkdirat(dir_fd, name, mode) != 0) return -1;
  return fchmodat(dir_fd, name, mode, 0);
}


napi_value asl_queue_promise(napi_env env, const char *name, napi_async_execute_callback execute,
                             napi_async_complete_callback complete, void *data, napi_deferred *deferred,
                             napi_async_work *work) {
  napi_value promise, resource_name;
  napi_create_promise(env, deferred, &promise);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_create_async_work(env, NULL, resource_name, execute, complete, data, work);
  napi_queue_async_work(env, *work);
  return promise;
}
