/*
 * The few POSIX calls Node's fs module does not expose and an exact OS-tree
 * snapshot needs: extended attributes (without following symlinks), mknod for
 * device nodes / fifos / sockets on restore, and syncfs to make a whole batch of
 * objects durable with one call. Plain N-API so the binary stays ABI-stable
 * across Node versions.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <sys/resource.h>
#include <unistd.h>
#include <dirent.h>
#include <stdint.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include "asl_common.h"
#include "asl_pack.h"

#define PATH_MAX_BYTES 8192

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  napi_value error, code, msg, sys, errnum;
  char text[256];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(err));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  const char *name = "EIO";
  switch (err) {
    case ENOENT: name = "ENOENT"; break;
    case EACCES: name = "EACCES"; break;
    case EPERM: name = "EPERM"; break;
    case ENOTSUP: name = "ENOTSUP"; break;
    case ENODATA: name = "ENODATA"; break;
    case EEXIST: name = "EEXIST"; break;
    case ENOTDIR: name = "ENOTDIR"; break;
    case ELOOP: name = "ELOOP"; break;
    case ERANGE: name = "ERANGE"; break;
    case EINVAL: name = "EINVAL"; break;
    default: break;
  }
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_create_int32(env, -err, &errnum);
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "syscall", sys);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

/* Copies a Buffer or string argument into a NUL-terminated path. */
static int get_path(napi_env env, napi_value value, char *out, size_t cap) {
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (is_buffer) {
    void *data; size_t len;
    napi_get_buffer_info(env, value, &data, &len);
    if (len + 1 > cap || memchr(data, 0, len) != NULL) return -1;
    memcpy(out, data, len);
    out[len] = 0;
    return 0;
  }
  size_t len;
  if (napi_get_value_string_utf8(env, value, out, cap, &len) != napi_ok) return -1;
  return len + 1 >= cap ? -1 : 0;
}

static napi_value bad_arg(napi_env env, const char *what) {
  napi_throw_type_error(env, "EINVAL", what);
  return NULL;
}

/* lxattrs(path) -> [[nameBuffer, valueBuffer], ...] (empty where unsupported) */
static napi_value lxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "lxattrs: path");
  napi_value result;
  napi_create_array(env, &result);
  ssize_t size = llistxattr(path, NULL, 0);
  if (size < 0) {
    if (errno == ENOTSUP) return result;
    return throw_errno(env, "llistxattr", errno);
  }
  if (size == 0) return result;
  char *names = malloc((size_t)size);
  if (!names) return throw_errno(env, "malloc", ENOMEM);
  size = llistxattr(path, names, (size_t)size);
  if (size < 0) { int e = errno; free(names); return throw_errno(env, "llistxattr", e); }
  uint32_t index = 0;
  for (char *name = names; name < names + size; name += strlen(name) + 1) {
    ssize_t vlen = lgetxattr(path, name, NULL, 0);
    if (vlen < 0) {
      if (errno == ENODATA) continue; /* removed between list and get */
      int e = errno; free(names); return throw_errno(env, "lgetxattr", e);
    }
    void *vdata = NULL;
    napi_value value, key, pair;
    napi_create_buffer(env, (size_t)vlen, &vdata, &value);
    if (vlen > 0) {
      ssize_t got = lgetxattr(path, name, vdata, (size_t)vlen);
      if (got < 0) { int e = errno; free(names); return throw_errno(env, "lgetxattr", e); }
      if (got != vlen) { free(names); return throw_errno(env, "lgetxattr", ERANGE); }
    }
    void *kdata;
    napi_create_buffer_copy(env, strlen(name), name, &kdata, &key);
    napi_create_array_with_length(env, 2, &pair);
    napi_set_element(env, pair, 0, key);
    napi_set_element(env, pair, 1, value);
    napi_set_element(env, result, index++, pair);
  }
  free(names);
  return result;
}

/* lsetxattr(path, nameBuffer|string, valueBuffer) */
static napi_value lsetxattr_js(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES], name[1024];
  if (argc < 3 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "lsetxattr: path");
  if (get_path(env, argv[1], name, sizeof name) != 0) return bad_arg(env, "lsetxattr: name");
  void *data; size_t len;
  bool is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  if (!is_buffer) return bad_arg(env, "lsetxattr: value must be a Buffer");
  napi_get_buffer_info(env, argv[2], &data, &len);
  if (lsetxattr(path, name, data, len, 0) != 0) return throw_errno(env, "lsetxattr", errno);
  return NULL;
}

/* mknod(path, mode, major, minor): mode carries the file type bits */
static napi_value mknod_js(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  uint32_t mode, major_n, minor_n;
  if (argc < 4 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "mknod: path");
  if (napi_get_value_uint32(env, argv[1], &mode) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &major_n) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &minor_n) != napi_ok) return bad_arg(env, "mknod: numbers");
  if (mknod(path, (mode_t)mode, makedev(major_n, minor_n)) != 0) return throw_errno(env, "mknod", errno);
  return NULL;
}

/* syncfs(path): flush the whole filesystem holding path in one call */
static napi_value syncfs_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "syncfs: path");
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno);
  int rc = syncfs(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return throw_errno(env, "syncfs", e);
  return NULL;
}


/* Fields of the records handed to JS, in native byte order (src/store/native.ts reads them as little-endian). */
static void put_u32(char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_f64(char *p, double v) { memcpy(p, &v, 8); }

/* childrenMaxRss() -> peak resident set (bytes) of the largest waited-for child */
static napi_value children_max_rss(napi_env env, napi_callback_info info) {
  (void)info;
  struct rusage ru;
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0) return throw_errno(env, "getrusage", errno);
  napi_value out;
  napi_create_double(env, (double)ru.ru_maxrss * 1024.0, &out);
  return out;
}


/* lutimens(path, sec, nsec): set atime and mtime to the same instant, exactly to
 * the nanosecond, without following a symlink (Node's lutimes takes a double). */
static napi_value lutimens_js(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  int64_t sec; uint32_t nsec;
  if (argc < 3 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "lutimens: path");
  if (napi_get_value_int64(env, argv[1], &sec) != napi_ok || napi_get_value_uint32(env, argv[2], &nsec) != napi_ok || nsec >= 1000000000u)
    return bad_arg(env, "lutimens: time");
  struct timespec ts[2];
  ts[0].tv_sec = (time_t)sec; ts[0].tv_nsec = (long)nsec;
  ts[1] = ts[0];
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) return throw_errno(env, "utimensat", errno);
  return NULL;
}

/* ------------------------------------------------------------------------
 * Bulk ingest helpers. Per-file work from JS costs ~20-30 us of main-thread
 * time per async fs call (libuv threadpool hops); a tree of 100,000 small files
 * spends most of its time there. These functions do a whole list of files (or
 * a whole directory listing) in one call, on a libuv worker thread where
 * useful, so the main thread only sees one completion per chunk.
 * ------------------------------------------------------------------------ */

static void to_hex(const unsigned char *d, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) { out[2 * i] = digits[d[i] >> 4]; out[2 * i + 1] = digits[d[i] & 15]; }
  out[2 * n] = 0;
}

/* "ab/cdef…" (the object's path under objects-v1/sha256) for a 64-hex digest. */
static void object_rel(const char *hex, char out[67]) {
  out[0] = hex[0]; out[1] = hex[1]; out[2] = '/';
  memcpy(out + 3, hex + 2, 62); out[65] = 0;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

static int object_exists(int obj_fd, const char *hex) {
  char rel[67];
  struct stat st;
  object_rel(hex, rel);
  return fstatat(obj_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Result of staging one file or buffer. */
enum { ST_STAGED = 0, ST_EXISTS = 1, ST_DUPLICATE = 2, ST_ERR_SOURCE = 3, ST_ERR_STAGE = 4, ST_NOT_RUN = 5, ST_PACKED = 6 };
#define ERR_NOT_REGULAR (-1)
/* u32 status, i32 errno, f64 size, 32 digest bytes */
#define STAGE_REC 48

/*
 * A batch stages its objects in its own folder, tmp/<batch>/, under the same
 * fan-out as objects-v1/sha256 (ab/cdef…). Small folders keep lookups cheap, and
 * creations in different folders do not queue on one directory lock, so worker
 * threads stage in parallel. The staging name is derived from the digest, so a
 * second copy of the same content in one batch finds the name taken (EEXIST) and
 * is a duplicate: the kernel does the in-batch dedupe, no shared table needed.
 */
/*
 * Modes are set explicitly, never left to the umask (docs/security.md): folders
 * 0700, objects 0444. mkdir/open apply the umask, so each creation is followed by
 * a chmod of what this call made (a folder that existed is left as it is).
 */
static int open_stage_dir(const char *stage_dir) {
  int fd = open(stage_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (asl_mkdirat_exact(AT_FDCWD, stage_dir, 0700) != 0 && errno != EEXIST) return -1;
    fd = open(stage_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  return fd;
}

/* openat(O_CREAT|O_EXCL) of a fan-out path, creating the fan-out folder on demand. */
static int create_in_fanout(int dir_fd, const char *rel) {
  int fd = openat(dir_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0 && errno == ENOENT) {
    char fan[3] = {rel[0], rel[1], 0};
    if (asl_mkdirat_exact(dir_fd, fan, 0700) != 0 && errno != EEXIST) return -1;
    fd = openat(dir_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  }
  if (fd >= 0 && fchmod(fd, 0444) != 0) {
    int e = errno;
    close(fd);
    unlinkat(dir_fd, rel, 0);
    errno = e;
    return -1;
  }
  return fd;
}

/* The staging folder's fd, opening (creating) it on first use: a batch that
 * stages nothing leaves nothing in tmp/. */
static int stage_fd_get(const char *stage_dir, int *stage_fd) {
  if (*stage_fd < 0) *stage_fd = open_stage_dir(stage_dir);
  return *stage_fd;
}

/*
 * Creates <stage>/ab/cdef… with O_EXCL and writes `len` bytes, unless the store
 * already has the object: loose, or in a committed pack when `packs` is given.
 */
static int stage_bytes_at(const char *stage_dir, int *stage_fdp, int obj_fd, const pack_batch *packs, const unsigned char *digest,
                          const char *hex, const char *data, size_t len, int *err) {
  if ((packs && pack_known(packs, digest)) || object_exists(obj_fd, hex)) return ST_EXISTS;
  int stage_fd = stage_fd_get(stage_dir, stage_fdp);
  if (stage_fd < 0) { *err = errno; return ST_ERR_STAGE; }
  char rel[67];
  object_rel(hex, rel);
  int fd = create_in_fanout(stage_fd, rel);
  if (fd < 0) {
    if (errno == EEXIST) return ST_DUPLICATE;
    *err = errno;
    return ST_ERR_STAGE;
  }
  if (write_all(fd, data, len) != 0) { *err = errno; close(fd); unlinkat(stage_fd, rel, 0); return ST_ERR_STAGE; }
  if (close(fd) != 0) { *err = errno; unlinkat(stage_fd, rel, 0); return ST_ERR_STAGE; }
  return ST_STAGED;
}

/*
 * Appends to the batch's pack unless the store has the object, loose or in a
 * committed pack, or the pack has it already.
 */
static int pack_bytes_at(pack_batch *pb, int obj_fd, const char *hex, const unsigned char *digest, const char *data, size_t len, int *err) {
  if (pack_known(pb, digest) || object_exists(obj_fd, hex)) return ST_EXISTS;
  switch (pack_append(pb, digest, data, len, err)) {
    case PACK_APPENDED: return ST_PACKED;
    case PACK_DUPLICATE: return ST_DUPLICATE;
    default: return ST_ERR_STAGE;
  }
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  pack_batch *pack;     /* the batch's pack: what committed packs hold, and where small files go if pack_small */
  napi_ref pack_ref;
  bool pack_small;
  char *paths;          /* `count` NUL-terminated source paths, back to back */
  uint32_t count;
  char stage_dir[PATH_MAX_BYTES];
  char obj_dir[PATH_MAX_BYTES];
  char tag[128];        /* unique per call: names the temp files of streamed files */
  double limit;         /* files up to this size are read whole, bigger ones streamed */
  unsigned char *out;
  int setup_errno;
  const char *setup_syscall;
} stage_work;

#define STREAM_CHUNK (1024 * 1024)

/* Streams the rest of `sfd` (after `have` bytes already in buf) into a temp file,
 * hashing exactly the bytes written; then names it by digest (or drops it). */
static int stage_large(stage_work *w, asl_sha256_ctx *ctx, int *stage_fdp, int obj_fd, uint32_t index, int sfd,
                       char *buf, size_t have, char **chunk, unsigned char *rec, double *size_out, int *err) {
  char tmpname[256], name[67], hex[65];
  int tmp_fd = stage_fd_get(w->stage_dir, stage_fdp);
  if (tmp_fd < 0) { *err = errno; return ST_ERR_STAGE; }
  snprintf(tmpname, sizeof tmpname, "large-%s-%u", w->tag, index);
  int tfd = openat(tmp_fd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (tfd < 0) { *err = errno; return ST_ERR_STAGE; }
  int status = ST_STAGED;
  if (fchmod(tfd, 0444) != 0) { *err = errno; status = ST_ERR_STAGE; goto fail; }
  double total = (double)have;
  if (asl_sha256_init(ctx) != 0 || asl_sha256_update(ctx, buf, have) != 0) { *err = EIO; status = ST_ERR_STAGE; goto fail; }
  if (write_all(tfd, buf, have) != 0) { *err = errno; status = ST_ERR_STAGE; goto fail; }
  if (!*chunk && !(*chunk = malloc(STREAM_CHUNK))) { *err = ENOMEM; status = ST_ERR_STAGE; goto fail; }
  for (;;) {
    ssize_t n = read(sfd, *chunk, STREAM_CHUNK);
    if (n < 0) { if (errno == EINTR) continue; *err = errno; status = ST_ERR_SOURCE; goto fail; }
    if (n == 0) break;
    if (asl_sha256_update(ctx, *chunk, (size_t)n) != 0) { *err = EIO; status = ST_ERR_STAGE; goto fail; }
    if (write_all(tfd, *chunk, (size_t)n) != 0) { *err = errno; status = ST_ERR_STAGE; goto fail; }
    total += (double)n;
  }
  if (asl_sha256_final(ctx, rec + 16) != 0) { *err = EIO; status = ST_ERR_STAGE; goto fail; }
  if (close(tfd) != 0) { tfd = -1; *err = errno; status = ST_ERR_STAGE; goto fail; }
  tfd = -1;
  *size_out = total;
  to_hex(rec + 16, 32, hex);
  if ((w->pack && pack_known(w->pack, rec + 16)) || object_exists(obj_fd, hex)) { unlinkat(tmp_fd, tmpname, 0); return ST_EXISTS; }
  object_rel(hex, name);
  int rc = renameat2(tmp_fd, tmpname, tmp_fd, name, RENAME_NOREPLACE);
  if (rc != 0 && errno == ENOENT) {
    char fan[3] = {hex[0], hex[1], 0};
    if (asl_mkdirat_exact(tmp_fd, fan, 0700) == 0 || errno == EEXIST) rc = renameat2(tmp_fd, tmpname, tmp_fd, name, RENAME_NOREPLACE);
  }
  if (rc != 0) {
    int e = errno;
    if (e == EEXIST) { unlinkat(tmp_fd, tmpname, 0); return ST_DUPLICATE; }
    if (e != EINVAL && e != ENOSYS) { *err = e; status = ST_ERR_STAGE; goto fail; }
    /* No RENAME_NOREPLACE on this file system: link (fails if taken), then unlink. */
    if (linkat(tmp_fd, tmpname, tmp_fd, name, 0) != 0) {
      e = errno;
      unlinkat(tmp_fd, tmpname, 0);
      if (e == EEXIST) return ST_DUPLICATE;
      *err = e;
      return ST_ERR_STAGE;
    }
    unlinkat(tmp_fd, tmpname, 0);
  }
  return ST_STAGED;
fail:
  if (tfd >= 0) close(tfd);
  unlinkat(tmp_fd, tmpname, 0);
  return status;
}

static void stage_execute(napi_env env, void *data) {
  (void)env;
  stage_work *w = data;
  for (uint32_t i = 0; i < w->count; i++) {
    unsigned char *rec = w->out + (size_t)i * STAGE_REC;
    put_u32((char *)rec, ST_NOT_RUN);
  }
  int tmp_fd = -1;
  int obj_fd = open(w->obj_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (obj_fd < 0) { w->setup_errno = errno; w->setup_syscall = "open objects"; return; }
  asl_sha256_ctx *ctx = asl_sha256_new();
  if (!ctx) { w->setup_errno = ENOMEM; w->setup_syscall = "EVP_MD_CTX_new"; close(obj_fd); return; }
  size_t cap = 0;
  char *buf = NULL, *chunk = NULL;
  const char *path = w->paths;
  for (uint32_t i = 0; i < w->count; i++, path += strlen(path) + 1) {
    unsigned char *rec = w->out + (size_t)i * STAGE_REC;
    int err = 0, status;
    double size = 0;
    /* O_NONBLOCK: if the path became a fifo since the scan, do not hang on it. */
    int sfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (sfd < 0) { err = errno; status = ST_ERR_SOURCE; goto done; }
    struct stat st;
    if (fstat(sfd, &st) != 0) { err = errno; status = ST_ERR_SOURCE; close(sfd); goto done; }
    if (!S_ISREG(st.st_mode)) { err = ERR_NOT_REGULAR; status = ST_ERR_SOURCE; close(sfd); goto done; }
    /* Read up to limit+1 bytes: the file may have grown since it was scanned. */
    size_t want = (double)st.st_size < w->limit ? (size_t)st.st_size + 1 : (size_t)w->limit + 1;
    if (want > cap) {
      size_t ncap = want < 65536 ? 65536 : want;
      char *nb = realloc(buf, ncap);
      if (!nb) { err = ENOMEM; status = ST_ERR_STAGE; close(sfd); goto done; }
      buf = nb; cap = ncap;
    }
    size_t have = 0;
    int eof = 0;
    while (have < cap && (double)have <= w->limit) {
      ssize_t n = read(sfd, buf + have, cap - have);
      if (n < 0) { if (errno == EINTR) continue; err = errno; break; }
      if (n == 0) { eof = 1; break; }
      have += (size_t)n;
      /* Exactly the size fstat saw, and the read came back short: that is the end
       * (saves the read that would return 0). Anything else reads on to a 0. */
      if (have < cap && (off_t)have == st.st_size) { eof = 1; break; }
    }
    if (err) { status = ST_ERR_SOURCE; close(sfd); goto done; }
    if (eof && (double)have <= w->limit) {
      char hex[65];
      if (asl_sha256_buf(ctx, buf, have, rec + 16) != 0) { err = EIO; status = ST_ERR_STAGE; close(sfd); goto done; }
      to_hex(rec + 16, 32, hex);
      size = (double)have;
      status = w->pack && w->pack_small ? pack_bytes_at(w->pack, obj_fd, hex, rec + 16, buf, have, &err)
                                        : stage_bytes_at(w->stage_dir, &tmp_fd, obj_fd, w->pack, rec + 16, hex, buf, have, &err);
    } else {
      status = stage_large(w, ctx, &tmp_fd, obj_fd, i, sfd, buf, have, &chunk, rec, &size, &err);
    }
    close(sfd);
  done:
    put_u32((char *)rec, (uint32_t)status);
    put_u32((char *)rec + 4, (uint32_t)err);
    put_f64((char *)rec + 8, size);
    if (status == ST_ERR_SOURCE || status == ST_ERR_STAGE) break;
    /* Keep memory flat: a rare big file must not pin its buffer for the rest of the chunk. */
    if (cap > 4 * 1024 * 1024) { free(buf); buf = NULL; cap = 0; }
  }
  free(buf);
  free(chunk);
  asl_sha256_free(ctx);
  if (tmp_fd >= 0) close(tmp_fd);
  close(obj_fd);
}

static napi_value make_errno_error(napi_env env, const char *syscall, int err) {
  /* Reuses throw_errno's shape without throwing. */
  throw_errno(env, syscall, err);
  napi_value exc;
  napi_get_and_clear_last_exception(env, &exc);
  return exc;
}

static void stage_complete(napi_env env, napi_status status, void *data) {
  stage_work *w = data;
  if (status != napi_ok) {
    napi_value msg, error;
    napi_create_string_utf8(env, "stageFiles: cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else if (w->setup_errno) {
    napi_reject_deferred(env, w->deferred, make_errno_error(env, w->setup_syscall, w->setup_errno));
  } else {
    napi_value result;
    void *out;
    napi_create_buffer_copy(env, (size_t)w->count * STAGE_REC, w->out, &out, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  if (w->pack_ref) napi_delete_reference(env, w->pack_ref);
  napi_delete_async_work(env, w->work);
  free(w->paths);
  free(w->out);
  free(w);
}

static int get_string_arg(napi_env env, napi_value v, char *out, size_t cap) {
  return get_path(env, v, out, cap);
}

/*
 * stageFiles(paths: Buffer of NUL-terminated paths, count, stageDir, objectsDir,
 *            tag, inMemoryLimit[, pack, packSmall]) -> Promise<Buffer>
 * For each source file in order: read it (small files whole, big ones streamed
 * through a temp file named by `tag`), sha256 exactly the bytes that are stored,
 * and stage it as <stageDir>/ab/cdef… unless the store has it. Result: one 48-byte record per
 * file (u32 status, i32 errno, f64 size, 32-byte digest), see ST_*. Stops at the
 * first failing file (status 3 = the source, 4 = staging); later files are 5.
 * With `pack` (from packCreate), contents in a committed pack count as present;
 * with `packSmall` too, files up to the limit are appended to that pack
 * (status 6) and only bigger ones are staged as files.
 */
static napi_value stage_files_js(napi_env env, napi_callback_info info) {
  size_t argc = 8; napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) return bad_arg(env, "stageFiles: arguments");
  if (!asl_sha256_ready()) return bad_arg(env, "stageFiles: sha256 is not available");
  bool is_buffer = false;
  napi_is_buffer(env, argv[0], &is_buffer);
  if (!is_buffer) return bad_arg(env, "stageFiles: paths must be a Buffer");
  void *pdata; size_t plen;
  napi_get_buffer_info(env, argv[0], &pdata, &plen);
  uint32_t count;
  if (napi_get_value_uint32(env, argv[1], &count) != napi_ok) return bad_arg(env, "stageFiles: count");
  /* Every path must be NUL-terminated inside the buffer. */
  {
    uint32_t seen = 0;
    for (size_t i = 0; i < plen; i++) if (((char *)pdata)[i] == 0) seen++;
    if (seen != count || (plen > 0 && ((char *)pdata)[plen - 1] != 0)) return bad_arg(env, "stageFiles: paths/count mismatch");
  }
  stage_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  if (get_string_arg(env, argv[2], w->stage_dir, sizeof w->stage_dir) != 0 ||
      get_string_arg(env, argv[3], w->obj_dir, sizeof w->obj_dir) != 0 ||
      get_string_arg(env, argv[4], w->tag, sizeof w->tag) != 0 ||
      napi_get_value_double(env, argv[5], &w->limit) != napi_ok) { free(w); return bad_arg(env, "stageFiles: arguments"); }
  if (argc >= 7) {
    napi_valuetype t;
    napi_typeof(env, argv[6], &t);
    if (t != napi_undefined && t != napi_null) {
      if (!(w->pack = pack_from_js(env, argv[6]))) { free(w); return bad_arg(env, "stageFiles: pack"); }
      napi_create_reference(env, argv[6], 1, &w->pack_ref);
    }
  }
  if (argc >= 8 && w->pack) napi_get_value_bool(env, argv[7], &w->pack_small);
  w->count = count;
  w->paths = malloc(plen ? plen : 1);
  w->out = calloc(count ? count : 1, STAGE_REC);
  if (!w->paths || !w->out) {
    if (w->pack_ref) napi_delete_reference(env, w->pack_ref);
    free(w->paths); free(w->out); free(w);
    return throw_errno(env, "malloc", ENOMEM);
  }
  memcpy(w->paths, pdata, plen);
  return asl_queue_promise(env, "asl.stageFiles", stage_execute, stage_complete, w, &w->deferred, &w->work);
}

/*
 * stageBuffer(stageDir, objectsDir, hex, bytes[, pack, packIt]) -> status
 * (ST_STAGED, ST_EXISTS, ST_DUPLICATE, or ST_PACKED with `packIt`); throws on
 * failure. `pack` alone only makes committed packs count as present. Synchronous: one call instead of
 * a stat, an open, a write and a close through the threadpool; for tree objects.
 */
static napi_value stage_buffer_js(napi_env env, napi_callback_info info) {
  size_t argc = 6; napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char tmp_dir[PATH_MAX_BYTES], obj_dir[PATH_MAX_BYTES], hex[80];
  if (argc < 4 || get_path(env, argv[0], tmp_dir, sizeof tmp_dir) != 0 || get_path(env, argv[1], obj_dir, sizeof obj_dir) != 0 ||
      get_path(env, argv[2], hex, sizeof hex) != 0 || strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
    return bad_arg(env, "stageBuffer: arguments");
  bool is_buffer = false;
  napi_is_buffer(env, argv[3], &is_buffer);
  if (!is_buffer) return bad_arg(env, "stageBuffer: bytes must be a Buffer");
  void *data; size_t len;
  napi_get_buffer_info(env, argv[3], &data, &len);
  int tmp_fd = -1;
  int obj_fd = open(obj_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (obj_fd < 0) return throw_errno(env, "open", errno);
  int err = 0;
  pack_batch *pb = argc >= 5 ? pack_from_js(env, argv[4]) : NULL;
  unsigned char digest[32];
  for (int i = 0; i < 32; i++) {
    char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
    digest[i] = (unsigned char)strtoul(byte, NULL, 16);
  }
  bool pack_it = false;
  if (pb && argc >= 6) napi_get_value_bool(env, argv[5], &pack_it);
  int status = pb && pack_it ? pack_bytes_at(pb, obj_fd, hex, digest, data, len, &err)
                             : stage_bytes_at(tmp_dir, &tmp_fd, obj_fd, pb, digest, hex, data, len, &err);
  if (tmp_fd >= 0) close(tmp_fd);
  close(obj_fd);
  if (status == ST_ERR_STAGE) return throw_errno(env, "stage", err);
  napi_value out;
  napi_create_uint32(env, (uint32_t)status, &out);
  return out;
}

/*
 * packBuffers(pack, objectsDir, records: Buffer, count) -> Promise<Buffer>:
 * appends `count` objects to the batch's pack on a libuv worker thread, unless
 * the store or the pack has them. A record is a 32-byte sha256 (taken by the
 * caller from exactly these bytes), u32 length (little-endian), the bytes. The
 * walk's trees and times objects come this way, many per call, so the main
 * thread neither writes nor waits for the pack file's lock. Result: one u32
 * status per record (ST_PACKED, ST_EXISTS, ST_DUPLICATE); rejects with the
 * errno of the first failure.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  pack_batch *pack;
  napi_ref pack_ref;
  char *records;
  size_t len;
  uint32_t count;
  char obj_dir[PATH_MAX_BYTES];
  unsigned char *out;
  int err;
  const char *syscall;
} pack_buffers_work;

static void pack_buffers_execute(napi_env env, void *data) {
  (void)env;
  pack_buffers_work *w = data;
  int obj_fd = open(w->obj_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (obj_fd < 0) { w->err = errno; w->syscall = "open objects"; return; }
  size_t p = 0;
  for (uint32_t i = 0; i < w->count; i++) {
    uint32_t len;
    if (p + 36 > w->len) { w->err = EINVAL; w->syscall = "packBuffers records"; break; }
    memcpy(&len, w->records + p + 32, 4);
    if (p + 36 + len > w->len) { w->err = EINVAL; w->syscall = "packBuffers records"; break; }
    const unsigned char *digest = (const unsigned char *)w->records + p;
    char hex[65];
    to_hex(digest, 32, hex);
    int err = 0;
    int status = pack_bytes_at(w->pack, obj_fd, hex, digest, w->records + p + 36, len, &err);
    if (status == ST_ERR_STAGE) { w->err = err; w->syscall = "write pack"; break; }
    put_u32((char *)w->out + (size_t)i * 4, (uint32_t)status);
    p += 36 + len;
  }
  close(obj_fd);
}

static void pack_buffers_complete(napi_env env, napi_status status, void *data) {
  pack_buffers_work *w = data;
  if (status != napi_ok) {
    napi_value msg, error;
    napi_create_string_utf8(env, "packBuffers: cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else if (w->err) {
    napi_reject_deferred(env, w->deferred, make_errno_error(env, w->syscall, w->err));
  } else {
    napi_value result;
    void *out;
    napi_create_buffer_copy(env, (size_t)w->count * 4, w->out, &out, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_reference(env, w->pack_ref);
  napi_delete_async_work(env, w->work);
  free(w->records);
  free(w->out);
  free(w);
}

static napi_value pack_buffers_js(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return bad_arg(env, "packBuffers: arguments");
  pack_batch *pb = pack_from_js(env, argv[0]);
  if (!pb) return bad_arg(env, "packBuffers: pack");
  bool is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  if (!is_buffer) return bad_arg(env, "packBuffers: records must be a Buffer");
  void *rdata; size_t rlen;
  napi_get_buffer_info(env, argv[2], &rdata, &rlen);
  uint32_t count;
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok) return bad_arg(env, "packBuffers: count");
  pack_buffers_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  if (get_path(env, argv[1], w->obj_dir, sizeof w->obj_dir) != 0) { free(w); return bad_arg(env, "packBuffers: objectsDir"); }
  w->pack = pb;
  w->count = count;
  w->len = rlen;
  w->records = malloc(rlen ? rlen : 1);
  w->out = calloc(count ? count : 1, 4);
  if (!w->records || !w->out) { free(w->records); free(w->out); free(w); return throw_errno(env, "malloc", ENOMEM); }
  memcpy(w->records, rdata, rlen);
  napi_create_reference(env, argv[0], 1, &w->pack_ref);
  return asl_queue_promise(env, "asl.packBuffers", pack_buffers_execute, pack_buffers_complete, w, &w->deferred, &w->work);
}

/* Batches of at most this many objects are made durable file by file, not by syncfs. */
#define SMALL_COMMIT_OBJECTS 64

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  unsigned char *digests;
  uint32_t count;
  char tmp_dir[PATH_MAX_BYTES];
  char obj_dir[PATH_MAX_BYTES];
  int err;
  const char *syscall;
  char failed[300];
} commit_work;

/* fsync of `name` under `dir_fd`; on failure records the call and name in `w` and returns -1. */
static int fsync_at(commit_work *w, int dir_fd, const char *name, int flags) {
  int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | flags);
  if (fd >= 0 && fsync(fd) == 0) { close(fd); return 0; }
  w->err = errno; w->syscall = "fsync"; snprintf(w->failed, sizeof w->failed, "%s", name);
  if (fd >= 0) close(fd);
  return -1;
}

static void commit_execute(napi_env env, void *data) {
  (void)env;
  commit_work *w = data;
  int tmp_fd = open(w->tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (tmp_fd < 0) { w->err = errno; w->syscall = "open tmp"; return; }
  int obj_fd = open(w->obj_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (obj_fd < 0) { w->err = errno; w->syscall = "open objects"; close(tmp_fd); return; }
  /*
   * 1. every staged byte durable; 2. names; 3. the names durable. A small batch
   * (a command's logs and receipt) fsyncs its own files and folders: syncfs would
   * also wait for every other writer's dirty data on the file system.
   */
  bool small = w->count <= SMALL_COMMIT_OBJECTS;
  if (!small) {
    if (syncfs(tmp_fd) != 0) { w->err = errno; w->syscall = "syncfs"; goto out; }
  } else {
    for (uint32_t i = 0; i < w->count; i++) {
      char hex[65], src[67];
      to_hex(w->digests + (size_t)i * 32, 32, hex);
      object_rel(hex, src);
      if (fsync_at(w, tmp_fd, src, O_NOFOLLOW) != 0) goto out;
    }
  }
  bool made_fan = false;
  for (uint32_t i = 0; i < w->count; i++) {
    char hex[65], src[67], dst[67];
    to_hex(w->digests + (size_t)i * 32, 32, hex);
    object_rel(hex, src);
    object_rel(hex, dst);
    if (renameat(tmp_fd, src, obj_fd, dst) == 0) continue;
    if (errno == ENOENT) {
      char fan[3] = {hex[0], hex[1], 0};
      if (asl_mkdirat_exact(obj_fd, fan, 0700) != 0 && errno != EEXIST) { w->err = errno; w->syscall = "mkdir"; snprintf(w->failed, sizeof w->failed, "%s", fan); goto out; }
      made_fan = true;
      if (renameat(tmp_fd, src, obj_fd, dst) == 0) continue;
    }
    w->err = errno; w->syscall = "rename"; snprintf(w->failed, sizeof w->failed, "%s", src);
    goto out;
  }
  if (!small) {
    if (syncfs(obj_fd) != 0) { w->err = errno; w->syscall = "syncfs"; goto out; }
  } else {
    /* The fan-out folders that gained a name, and objects/ itself if one was made. */
    for (uint32_t i = 0; i < w->count; i++) {
      char hex[65];
      to_hex(w->digests + (size_t)i * 32, 32, hex);
      char fan[3] = {hex[0], hex[1], 0};
      bool seen = false;
      for (uint32_t j = 0; j < i && !seen; j++) seen = w->digests[(size_t)j * 32] == w->digests[(size_t)i * 32];
      if (seen) continue;
      if (fsync_at(w, obj_fd, fan, O_DIRECTORY) != 0) goto out;
    }
    if (made_fan && fsync(obj_fd) != 0) { w->err = errno; w->syscall = "fsync"; goto out; }
  }
  /* The staging folder is empty now: remove the fan-out folders it used, and itself. */
  for (uint32_t i = 0; i < w->count; i++) {
    char hex[65];
    to_hex(w->digests + (size_t)i * 32, 32, hex);
    char fan[3] = {hex[0], hex[1], 0};
    unlinkat(tmp_fd, fan, AT_REMOVEDIR); /* fails harmlessly once removed; one still holding something stays for the tmp sweep */
  }
  rmdir(w->tmp_dir);
out:
  close(tmp_fd);
  close(obj_fd);
}

static void commit_complete(napi_env env, napi_status status, void *data) {
  commit_work *w = data;
  if (status != napi_ok) {
    napi_value msg, error;
    napi_create_string_utf8(env, "commitStaged: cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else if (w->err) {
    char what[400];
    snprintf(what, sizeof what, "%s %s", w->syscall, w->failed);
    napi_reject_deferred(env, w->deferred, make_errno_error(env, what, w->err));
  } else {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  }
  napi_delete_async_work(env, w->work);
  free(w->digests);
  free(w);
}

/*
 * commitStaged(stageDir, objectsDir, digests: Buffer of 32-byte digests)
 * -> Promise<void>: syncfs, rename every <stageDir>/ab/cdef… to its object path
 * (creating fan-out folders as needed), syncfs, then remove the (now empty)
 * staging folder. Renames across folders take a per-file-system lock in the
 * kernel, so one thread does them all.
 */
static napi_value commit_staged_js(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return bad_arg(env, "commitStaged: arguments");
  commit_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  bool is_buffer = false;
  napi_is_buffer(env, argv[2], &is_buffer);
  void *data = NULL; size_t len = 0;
  if (is_buffer) napi_get_buffer_info(env, argv[2], &data, &len);
  if (!is_buffer || len % 32 != 0 || get_path(env, argv[0], w->tmp_dir, sizeof w->tmp_dir) != 0 ||
      get_path(env, argv[1], w->obj_dir, sizeof w->obj_dir) != 0) {
    free(w);
    return bad_arg(env, "commitStaged: arguments");
  }
  w->count = (uint32_t)(len / 32);
  w->digests = malloc(len ? len : 1);
  if (!w->digests) { free(w); return throw_errno(env, "malloc", ENOMEM); }
  memcpy(w->digests, data, len);
  return asl_queue_promise(env, "asl.commitStaged", commit_execute, commit_complete, w, &w->deferred, &w->work);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char path[PATH_MAX_BYTES];
  int err;
} syncfs_work;

static void syncfs_execute(napi_env env, void *data) {
  (void)env;
  syncfs_work *w = data;
  int fd = open(w->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) { w->err = errno; return; }
  if (syncfs(fd) != 0) w->err = errno;
  close(fd);
}

static void syncfs_complete(napi_env env, napi_status status, void *data) {
  syncfs_work *w = data;
  if (status != napi_ok || w->err) {
    napi_reject_deferred(env, w->deferred, make_errno_error(env, "syncfs", status != napi_ok ? EINTR : w->err));
  } else {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, w->deferred, undef);
  }
  napi_delete_async_work(env, w->work);
  free(w);
}

/* syncfsAsync(path) -> Promise<void>: syncfs on a libuv worker thread. A batch
 * calls it while it is still staging, so most of the data is on disk by the
 * time commit's own syncfs runs (the write-back overlaps the staging). */
static napi_value syncfs_async_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  syncfs_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  if (argc < 1 || get_path(env, argv[0], w->path, sizeof w->path) != 0) { free(w); return bad_arg(env, "syncfsAsync: path"); }
  return asl_queue_promise(env, "asl.syncfs", syncfs_execute, syncfs_complete, w, &w->deferred, &w->work);
}

static napi_value sha256_available_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, asl_sha256_ready() != 0, &out);
  return out;
}

/*
 * listDirectory(dirPath) -> Buffer: every entry (no "." / ".."), sorted by raw
 * name bytes, with what a tree entry needs, read in C: lstat fields, symlink
 * target, and extended attributes with their values (sorted by name). Record:
 *   u32 recLen, u32 nameLen, u32 mode, uid, gid, nlink, f64 dev, ino,
 *   u32 rdevMajor, rdevMinor, f64 size, f64 mtimeSec, u32 mtimeNsec,
 *   f64 ctimeSec, u32 ctimeNsec, u32 targetLen, u32 xattrCount,
 *   name, target, then per xattr: u32 nameLen, u32 valueLen, name, value.
 * Little-endian, unaligned. Entries that vanish while listing are skipped. The
 * record bytes are stable for an unchanged entry (no atime), so a hash of a
 * listing identifies it.
 */
#define LREC_FIXED 88

typedef struct { char *data; size_t len, cap; } growbuf;

static int gb_reserve(growbuf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t ncap = b->cap ? b->cap : 16384;
  while (b->len + more > ncap) ncap *= 2;
  char *nd = realloc(b->data, ncap);
  if (!nd) return -1;
  b->data = nd; b->cap = ncap;
  return 0;
}

typedef struct { size_t off; uint32_t len; } rec_ref;

static int cmp_rec(const void *a, const void *b, void *base) {
  const rec_ref *x = a, *y = b;
  const char *sort_base = base;
  uint32_t xl, yl;
  memcpy(&xl, sort_base + x->off + 4, 4);
  memcpy(&yl, sort_base + y->off + 4, 4);
  int c = memcmp(sort_base + x->off + LREC_FIXED, sort_base + y->off + LREC_FIXED, xl < yl ? xl : yl);
  if (c) return c;
  return xl < yl ? -1 : xl > yl ? 1 : 0;
}

typedef struct { char *name; size_t nlen; char *value; size_t vlen; } xattr_pair;
static int cmp_xattr(const void *a, const void *b) {
  const xattr_pair *x = a, *y = b;
  int c = memcmp(x->name, y->name, x->nlen < y->nlen ? x->nlen : y->nlen);
  if (c) return c;
  return x->nlen < y->nlen ? -1 : x->nlen > y->nlen ? 1 : 0;
}

/* listxattrat(2) (Linux 6.13+) lists an entry's xattrs relative to its folder,
 * without walking the whole path again; older kernels get llistxattr(path). */
#ifndef __NR_listxattrat
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv) || defined(__i386__) || defined(__arm__) || defined(__powerpc__) || defined(__s390__) || defined(__loongarch__)
#define __NR_listxattrat 465
#endif
#endif
static int have_listxattrat = 1;

static ssize_t list_names(int dfd, const char *name, const char *full, char *buf, size_t size) {
#ifdef __NR_listxattrat
  if (__atomic_load_n(&have_listxattrat, __ATOMIC_RELAXED)) {
    long r = syscall(__NR_listxattrat, dfd, name, AT_SYMLINK_NOFOLLOW, buf, size);
    if (r >= 0 || (errno != ENOSYS && errno != EPERM)) return (ssize_t)r;
    /* ENOSYS: older kernel. EPERM: maybe a seccomp filter that does not know the
     * call; the path-based call gives the real answer either way. */
    int e = errno;
    ssize_t r2 = llistxattr(full, buf, size);
    if (e == ENOSYS || r2 >= 0) __atomic_store_n(&have_listxattrat, 0, __ATOMIC_RELAXED);
    return r2;
  }
#else
  (void)dfd; (void)name;
#endif
  return llistxattr(full, buf, size);
}

/* Appends the xattrs of `full` as (u32 nlen, u32 vlen, name, value)*, sorted.
 * Returns the count, 0 where unsupported, -1 with errno on failure, -2 if gone. */
static int append_xattrs(growbuf *b, int dfd, const char *name, const char *full) {
  for (int attempt = 0; attempt < 5; attempt++) {
    ssize_t size = list_names(dfd, name, full, NULL, 0);
    if (size < 0) {
      if (errno == ENOTSUP || errno == ENODATA) return 0;
      if (errno == ENOENT) return -2;
      return -1;
    }
    if (size == 0) return 0;
    char *names = malloc((size_t)size);
    if (!names) { errno = ENOMEM; return -1; }
    ssize_t got = list_names(dfd, name, full, names, (size_t)size);
    if (got < 0) { int e = errno; free(names); if (e == ERANGE) continue; errno = e; return e == ENOENT ? -2 : -1; }
    int n = 0;
    for (char *p = names; p < names + got; p += strlen(p) + 1) n++;
    xattr_pair *pairs = calloc((size_t)n ? (size_t)n : 1, sizeof *pairs);
    if (!pairs) { free(names); errno = ENOMEM; return -1; }
    int k = 0, retry = 0, fail = 0;
    for (char *p = names; p < names + got; p += strlen(p) + 1) {
      ssize_t vlen = lgetxattr(full, p, NULL, 0);
      if (vlen < 0) { if (errno == ENODATA) continue; fail = errno; break; }
      char *v = malloc(vlen ? (size_t)vlen : 1);
      if (!v) { fail = ENOMEM; break; }
      ssize_t vg = vlen ? lgetxattr(full, p, v, (size_t)vlen) : 0;
      if (vg < 0) { int e = errno; free(v); if (e == ERANGE) { retry = 1; break; } if (e == ENODATA) continue; fail = e; break; }
      pairs[k].name = p; pairs[k].nlen = strlen(p); pairs[k].value = v; pairs[k].vlen = (size_t)vg;
      k++;
    }
    int result = 0;
    if (!fail && !retry) {
      qsort(pairs, (size_t)k, sizeof *pairs, cmp_xattr);
      for (int i = 0; i < k && !fail; i++) {
        if (gb_reserve(b, 8 + pairs[i].nlen + pairs[i].vlen) != 0) { fail = ENOMEM; break; }
        put_u32(b->data + b->len, (uint32_t)pairs[i].nlen);
        put_u32(b->data + b->len + 4, (uint32_t)pairs[i].vlen);
        memcpy(b->data + b->len + 8, pairs[i].name, pairs[i].nlen);
        memcpy(b->data + b->len + 8 + pairs[i].nlen, pairs[i].value, pairs[i].vlen);
        b->len += 8 + pairs[i].nlen + pairs[i].vlen;
      }
      result = k;
    }
    for (int i = 0; i < k; i++) free(pairs[i].value);
    free(pairs);
    free(names);
    if (fail) { errno = fail == ENOENT ? ENOENT : fail; return fail == ENOENT ? -2 : -1; }
    if (retry) continue;
    return result;
  }
  errno = ERANGE;
  return -1;
}

typedef struct {
  char *out; size_t out_len;
  int err; const char *syscall; char where[PATH_MAX_BYTES];
} listing;

static void list_directory(const char *path, listing *res) {
  growbuf b = {0}, sorted = {0};
  rec_ref *refs = NULL;
  size_t nrefs = 0, crefs = 0;
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0) { res->err = errno; res->syscall = "opendir"; snprintf(res->where, sizeof res->where, "%s", path); return; }
  DIR *dir = fdopendir(dfd);
  if (!dir) { res->err = errno; res->syscall = "opendir"; close(dfd); snprintf(res->where, sizeof res->where, "%s", path); return; }
  char full[PATH_MAX_BYTES];
  size_t plen = strlen(path);
  struct dirent *de;
  errno = 0;
  while ((de = readdir(dir)) != NULL) {
    const char *name = de->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t nlen = strlen(name);
    if (plen + 1 + nlen + 1 > sizeof full) { res->err = ENAMETOOLONG; res->syscall = "path"; snprintf(res->where, sizeof res->where, "%s/%s", path, name); goto fail; }
    memcpy(full, path, plen); full[plen] = '/'; memcpy(full + plen + 1, name, nlen + 1);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) { errno = 0; continue; }
      res->err = errno; res->syscall = "lstat"; snprintf(res->where, sizeof res->where, "%s", full); goto fail;
    }
    size_t start = b.len;
    if (gb_reserve(&b, LREC_FIXED + nlen + PATH_MAX_BYTES) != 0) { res->err = ENOMEM; res->syscall = "malloc"; goto fail; }
    char *p = b.data + start;
    put_u32(p + 4, (uint32_t)nlen);
    put_u32(p + 8, (uint32_t)st.st_mode);
    put_u32(p + 12, (uint32_t)st.st_uid);
    put_u32(p + 16, (uint32_t)st.st_gid);
    put_u32(p + 20, (uint32_t)st.st_nlink);
    put_f64(p + 24, (double)st.st_dev);
    put_f64(p + 32, (double)st.st_ino);
    put_u32(p + 40, (uint32_t)major(st.st_rdev));
    put_u32(p + 44, (uint32_t)minor(st.st_rdev));
    put_f64(p + 48, (double)st.st_size);
    put_f64(p + 56, (double)st.st_mtim.tv_sec);
    put_u32(p + 64, (uint32_t)st.st_mtim.tv_nsec);
    put_f64(p + 68, (double)st.st_ctim.tv_sec);
    put_u32(p + 76, (uint32_t)st.st_ctim.tv_nsec);
    memcpy(p + LREC_FIXED, name, nlen);
    uint32_t tlen = 0;
    if (S_ISLNK(st.st_mode)) {
      ssize_t t = readlinkat(dfd, name, p + LREC_FIXED + nlen, PATH_MAX_BYTES);
      if (t < 0) {
        if (errno == ENOENT || errno == EINVAL) { errno = 0; continue; } /* gone or replaced */
        res->err = errno; res->syscall = "readlink"; snprintf(res->where, sizeof res->where, "%s", full); goto fail;
      }
      if (t >= PATH_MAX_BYTES) { res->err = ENAMETOOLONG; res->syscall = "readlink"; snprintf(res->where, sizeof res->where, "%s", full); goto fail; }
      tlen = (uint32_t)t;
    }
    put_u32(p + 80, tlen);
    b.len = start + LREC_FIXED + nlen + tlen;
    int nx = append_xattrs(&b, dfd, name, full);
    if (nx == -2) { b.len = start; errno = 0; continue; }
    if (nx < 0) { res->err = errno; res->syscall = "llistxattr"; snprintf(res->where, sizeof res->where, "%s", full); goto fail; }
    p = b.data + start; /* append_xattrs may have moved the buffer */
    put_u32(p + 84, (uint32_t)nx);
    put_u32(p, (uint32_t)(b.len - start));
    if (nrefs == crefs) {
      size_t nc = crefs ? crefs * 2 : 256;
      rec_ref *nr = realloc(refs, nc * sizeof *refs);
      if (!nr) { res->err = ENOMEM; res->syscall = "malloc"; goto fail; }
      refs = nr; crefs = nc;
    }
    refs[nrefs].off = start; refs[nrefs].len = (uint32_t)(b.len - start); nrefs++;
    errno = 0;
  }
  if (errno != 0) { res->err = errno; res->syscall = "readdir"; snprintf(res->where, sizeof res->where, "%s", path); goto fail; }
  qsort_r(refs, nrefs, sizeof *refs, cmp_rec, b.data);
  if (gb_reserve(&sorted, b.len ? b.len : 1) != 0) { res->err = ENOMEM; res->syscall = "malloc"; goto fail; }
  for (size_t i = 0; i < nrefs; i++) { memcpy(sorted.data + sorted.len, b.data + refs[i].off, refs[i].len); sorted.len += refs[i].len; }
  free(b.data);
  free(refs);
  closedir(dir);
  res->out = sorted.data;
  res->out_len = sorted.len;
  return;
fail:
  free(b.data);
  free(sorted.data);
  free(refs);
  closedir(dir);
}

static napi_value listing_error(napi_env env, listing *res) {
  char what[PATH_MAX_BYTES + 32];
  snprintf(what, sizeof what, "%s", res->syscall);
  napi_value e = make_errno_error(env, what, res->err);
  napi_value where;
  napi_create_buffer_copy(env, strlen(res->where), res->where, NULL, &where);
  napi_set_named_property(env, e, "pathBytes", where);
  return e;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char path[PATH_MAX_BYTES];
  listing res;
} list_work;

static void list_execute(napi_env env, void *data) {
  (void)env;
  list_work *w = data;
  list_directory(w->path, &w->res);
}

static void list_complete(napi_env env, napi_status status, void *data) {
  list_work *w = data;
  if (status != napi_ok) {
    napi_value msg, error;
    napi_create_string_utf8(env, "listDirectoryAsync: cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else if (w->res.err) {
    napi_reject_deferred(env, w->deferred, listing_error(env, &w->res));
  } else {
    napi_value result;
    void *out;
    napi_create_buffer_copy(env, w->res.out_len, w->res.out ? w->res.out : "", &out, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  free(w->res.out);
  napi_delete_async_work(env, w->work);
  free(w);
}

/* listDirectoryAsync(dirPath) -> Promise<Buffer>: listDirectory on a libuv worker
 * thread, so several folders are listed in parallel with the main thread. */
static napi_value list_directory_async_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  list_work *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  if (argc < 1 || get_path(env, argv[0], w->path, sizeof w->path) != 0) { free(w); return bad_arg(env, "listDirectoryAsync: path"); }
  return asl_queue_promise(env, "asl.listDirectory", list_execute, list_complete, w, &w->deferred, &w->work);
}

static napi_value list_directory_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "listDirectory: path");
  listing res = {0};
  list_directory(path, &res);
  if (res.err) { napi_throw(env, listing_error(env, &res)); return NULL; }
  napi_value result;
  void *out;
  napi_create_buffer_copy(env, res.out_len, res.out ? res.out : "", &out, &result);
  free(res.out);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"lxattrs", NULL, lxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, lsetxattr_js, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, mknod_js, NULL, NULL, NULL, napi_default, NULL},
    {"syncfs", NULL, syncfs_js, NULL, NULL, NULL, napi_default, NULL},
    {"lutimens", NULL, lutimens_js, NULL, NULL, NULL, napi_default, NULL},
    {"childrenMaxRss", NULL, children_max_rss, NULL, NULL, NULL, napi_default, NULL},
    {"sha256Available", NULL, sha256_available_js, NULL, NULL, NULL, napi_default, NULL},
    {"stageFiles", NULL, stage_files_js, NULL, NULL, NULL, napi_default, NULL},
    {"stageBuffer", NULL, stage_buffer_js, NULL, NULL, NULL, napi_default, NULL},
    {"packBuffers", NULL, pack_buffers_js, NULL, NULL, NULL, napi_default, NULL},
    {"commitStaged", NULL, commit_staged_js, NULL, NULL, NULL, napi_default, NULL},
    {"listDirectory", NULL, list_directory_js, NULL, NULL, NULL, napi_default, NULL},
    {"listDirectoryAsync", NULL, list_directory_async_js, NULL, NULL, NULL, napi_default, NULL},
    {"syncfsAsync", NULL, syncfs_async_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  pack_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
