/*
 * A batch's pack: the small files of one ingest appended to one file instead of
 * one file each (creating an inode is the dominant cost of a first ingest).
 * Format and crash-safety argument: docs/store-format.md, "Packs".
 */
#ifndef ASL_PACK_H
#define ASL_PACK_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#define PACK_MAGIC "asl-pack v1\n"
#define PACK_MAGIC_LEN 12
#define IDX_MAGIC "asl-pidx v1\n"
#define IDX_MAGIC_LEN 12
/* magic, u64 count, u64 pack size */
#define IDX_HEADER (IDX_MAGIC_LEN + 16)
/* 32-byte digest, u64 offset, u64 size */
#define IDX_REC 48

typedef struct pack_batch pack_batch;

/* Defined in asl_native.c: sha256 through node's OpenSSL (0 on success). */
int asl_sha256(const void *data, size_t len, unsigned char out[32]);

/* Defined in asl_native.c: mkdirat, then the mode set exactly (not left to the umask). */
#include <sys/types.h>
int asl_mkdirat_exact(int dir_fd, const char *name, mode_t mode);

/* Whether a committed pack (as of the batch's start) holds `digest`. Lock-free: that list never changes. */
int pack_known(const pack_batch *pb, const unsigned char digest[32]);

/*
 * Appends `len` bytes whose sha256 is `digest` to the batch's pack unless the
 * batch has them already. Returns ST_STAGED-like codes from asl_native.c:
 * PACK_APPENDED, PACK_DUPLICATE, or -1 with *err set.
 */
#define PACK_APPENDED 0
#define PACK_DUPLICATE 1
int pack_append(pack_batch *pb, const unsigned char digest[32], const char *data, size_t len, int *err);

/* The pack handle behind a JS value made by packCreate, or NULL. */
pack_batch *pack_from_js(napi_env env, napi_value value);

/* Adds packCreate, packHas, packCommit, packClose to `exports`. */
void pack_register(napi_env env, napi_value exports);

#endif
