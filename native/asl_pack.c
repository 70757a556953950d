/*
 * One pack per object batch: the small files a tree snapshot stages are appended
 * to one staging file (tmp/<batch>/<name>.pack) instead of one file each, and
 * committed with their index as objects-v1/packs/<H>.pack + <H>.idx, where H is
 * the sha256 of the index file. Several libuv worker threads append at once:
 * they share this struct behind a mutex, which only covers the bookkeeping (the
 * in-batch dedupe table, the entry list, the end offset); each thread writes its
 * bytes with pwrite at the offset it reserved, outside the lock.
 */
#define _GNU_SOURCE
#include "asl_common.h"
#include "asl_pack.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PACK_PATH_MAX 8192

typedef struct {
  unsigned char digest[32];
  uint64_t offset, size;
} pack_entry;

struct pack_batch {
  pthread_mutex_t lock;
  char stage_dir[PACK_PATH_MAX];
  char packs_dir[PACK_PATH_MAX];
  char name[64];              /* staging name of the pack and its index, without suffix */
  int fd;                     /* -1 until the first append */
  uint64_t end;               /* next free offset */
  int failed;                 /* errno of a failed write: the batch can no longer commit */
  bool closed;
  pack_entry *entries;
  size_t count, cap;
  uint32_t *slots;            /* open addressing over entries: index + 1, 0 = empty */
  size_t nslots;
  unsigned char *known;       /* sorted digests of every committed pack, 32 bytes each */
  size_t nknown;
};

static void put_be64(unsigned char *p, uint64_t v) {
  for (int i = 7; i >= 0; i--) { p[i] = (unsigned char)(v & 0xff); v >>= 8; }
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

static int cmp_digest(const void *a, const void *b) { return memcmp(a, b, 32); }
static int cmp_entry(const void *a, const void *b) { return memcmp(((const pack_entry *)a)->digest, ((const pack_entry *)b)->digest, 32); }

/* Digests are uniformly random: their first bytes are a good hash. */
static size_t slot_of(const unsigned char *digest, size_t nslots) {
  uint64_t h;
  memcpy(&h, digest, 8);
  return (size_t)h & (nslots - 1);
}

static long table_find(const pack_batch *pb, const unsigned char *digest) {
  if (pb->nslots == 0) return -1;
  for (size_t s = slot_of(digest, pb->nslots);; s = (s + 1) & (pb->nslots - 1)) {
    uint32_t v = pb->slots[s];
    if (v == 0) return -1;
    if (memcmp(pb->entries[v - 1].digest, digest, 32) == 0) return (long)(v - 1);
  }
}

static void table_put(uint32_t *slots, size_t nslots, const unsigned char *digest, uint32_t value) {
  size_t s = slot_of(digest, nslots);
  while (slots[s] != 0) s = (s + 1) & (nslots - 1);
  slots[s] = value;
}

/* Room for one more entry, in the list and in the table (kept at most half full). */
static int reserve_entry(pack_batch *pb) {
  if (pb->count == pb->cap) {
    size_t ncap = pb->cap ? pb->cap * 2 : 1024;
    pack_entry *n = realloc(pb->entries, ncap * sizeof *n);
    if (!n) return ENOMEM;
    pb->entries = n; pb->cap = ncap;
  }
  if ((pb->count + 1) * 2 > pb->nslots) {
    size_t nn = pb->nslots ? pb->nslots * 2 : 2048;
    uint32_t *ns = calloc(nn, sizeof *ns);
    if (!ns) return ENOMEM;
    for (size_t i = 0; i < pb->count; i++) table_put(ns, nn, pb->entries[i].digest, (uint32_t)(i + 1));
    free(pb->slots);
    pb->slots = ns; pb->nslots = nn;
  }
  return 0;
}

static int read_whole(int fd, unsigned char *buf, size_t len) {
  size_t have = 0;
  while (have < len) {
    ssize_t n = pread(fd, buf + have, len - have, (off_t)have);
    if (n < 0) { if (errno == EINTR) continue; return -1; }
    if (n == 0) return -1;
    have += (size_t)n;
  }
  return 0;
}

/*
 * The digests of every committed pack, read once when the batch starts so
 * workers can skip contents the store already has without touching the disk.
 * An index that does not parse is skipped: its objects are then written again,
 * which is safe (verify reports the bad index).
 */
static void load_known(pack_batch *pb) {
  DIR *d = opendir(pb->packs_dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t nlen = strlen(e->d_name);
    if (nlen != 68 || strcmp(e->d_name + 64, ".idx") != 0) continue;
    int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    unsigned char *buf = NULL;
    if (fstat(fd, &st) == 0 && st.st_size >= IDX_HEADER && (buf = malloc((size_t)st.st_size)) != NULL &&
        read_whole(fd, buf, (size_t)st.st_size) == 0 && memcmp(buf, IDX_MAGIC, IDX_MAGIC_LEN) == 0) {
      uint64_t count = get_be64(buf + IDX_MAGIC_LEN);
      if (count <= (uint64_t)st.st_size / IDX_REC && (uint64_t)st.st_size == IDX_HEADER + count * IDX_REC) {
        unsigned char *nk = realloc(pb->known, (pb->nknown + count) * 32 + 1);
        if (nk) {
          pb->known = nk;
          for (uint64_t i = 0; i < count; i++) memcpy(nk + (pb->nknown + i) * 32, buf + IDX_HEADER + i * IDX_REC, 32);
          pb->nknown += count;
        }
      }
    }
    free(buf);
    close(fd);
  }
  closedir(d);
  if (pb->nknown > 1) qsort(pb->known, pb->nknown, 32, cmp_digest);
}

int pack_known(const pack_batch *pb, const unsigned char digest[32]) {
  return pb->nknown > 0 && bsearch(digest, pb->known, pb->nknown, 32, cmp_digest) != NULL;
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w; off += (uint64_t)w;
  }
  return 0;
}

/* Creates the staging pack on first use (under the lock): a batch of trees only writes no pack. */
static int open_pack(pack_batch *pb) {
  if (asl_mkdirat_exact(AT_FDCWD, pb->stage_dir, 0700) != 0 && errno != EEXIST) return errno;
  char path[PACK_PATH_MAX + 80];
  snprintf(path, sizeof path, "%s/%s.pack", pb->stage_dir, pb->name);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) return errno;
  if (fchmod(fd, 0444) != 0) { int e = errno; close(fd); unlink(path); return e; }
  if (pwrite_all(fd, PACK_MAGIC, PACK_MAGIC_LEN, 0) != 0) { int e = errno; close(fd); unlink(path); return e; }
  pb->fd = fd;
  pb->end = PACK_MAGIC_LEN;
  return 0;
}

int pack_append(pack_batch *pb, const unsigned char digest[32], const char *data, size_t len, int *err) {
  pthread_mutex_lock(&pb->lock);
  if (pb->failed || pb->closed) { *err = pb->failed ? pb->failed : EBADF; pthread_mutex_unlock(&pb->lock); return -1; }
  if (table_find(pb, digest) >= 0) { pthread_mutex_unlock(&pb->lock); return PACK_DUPLICATE; }
  int e = pb->fd < 0 ? open_pack(pb) : 0;
  if (!e) e = reserve_entry(pb);
  if (e) { pb->failed = e; *err = e; pthread_mutex_unlock(&pb->lock); return -1; }
  pack_entry *entry = &pb->entries[pb->count];
  memcpy(entry->digest, digest, 32);
  entry->offset = pb->end;
  entry->size = len;
  uint64_t off = pb->end;
  pb->end += len;
  pb->count++;
  table_put(pb->slots, pb->nslots, digest, (uint32_t)pb->count);
  int fd = pb->fd;
  pthread_mutex_unlock(&pb->lock);
  /* The fd stays open until commit or close, which only run once every append has returned. */
  if (pwrite_all(fd, data, len, off) != 0) {
    *err = errno;
    pthread_mutex_lock(&pb->lock);
    pb->failed = *err;
    pthread_mutex_unlock(&pb->lock);
    return -1;
  }
  return PACK_APPENDED;
}

static void pack_free(pack_batch *pb) {
  if (pb->fd >= 0) close(pb->fd);
  pthread_mutex_destroy(&pb->lock);
  free(pb->entries);
  free(pb->slots);
  free(pb->known);
  free(pb);
}

static void pack_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  pack_free(data);
}

pack_batch *pack_from_js(napi_env env, napi_value value) {
  napi_valuetype t;
  if (napi_typeof(env, value, &t) != napi_ok || t != napi_external) return NULL;
  void *p = NULL;
  napi_get_value_external(env, value, &p);
  return p;
}

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static int get_str(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok || len + 1 >= cap) return -1;
  return 0;
}

/* packCreate(stageDir, packsDir, name) -> handle; reads the committed packs' indexes. */
static napi_value pack_create_js(napi_env env, napi_callback_info info) {
  size_t argc = 3; napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pack_batch *pb = calloc(1, sizeof *pb);
  if (!pb) return throw_msg(env, "packCreate: out of memory");
  if (argc < 3 || get_str(env, argv[0], pb->stage_dir, sizeof pb->stage_dir) != 0 ||
      get_str(env, argv[1], pb->packs_dir, sizeof pb->packs_dir) != 0 || get_str(env, argv[2], pb->name, sizeof pb->name) != 0) {
    free(pb);
    return throw_msg(env, "packCreate: arguments");
  }
  pthread_mutex_init(&pb->lock, NULL);
  pb->fd = -1;
  load_known(pb);
  napi_value out;
  if (napi_create_external(env, pb, pack_finalize, NULL, &out) != napi_ok) { pack_free(pb); return throw_msg(env, "packCreate: external"); }
  return out;
}

/* packHas(handle, digest: 32-byte Buffer) -> whether this batch's pack holds it. */
static napi_value pack_has_js(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pack_batch *pb = argc >= 2 ? pack_from_js(env, argv[0]) : NULL;
  bool is_buffer = false;
  void *d = NULL; size_t len = 0;
  if (pb) napi_is_buffer(env, argv[1], &is_buffer);
  if (is_buffer) napi_get_buffer_info(env, argv[1], &d, &len);
  if (!pb || !is_buffer || len != 32) return throw_msg(env, "packHas: arguments");
  pthread_mutex_lock(&pb->lock);
  bool has = table_find(pb, d) >= 0;
  pthread_mutex_unlock(&pb->lock);
  napi_value out;
  napi_get_boolean(env, has, &out);
  return out;
}

/* packClose(handle): closes the staging pack (abort removes the folder it is in). */
static napi_value pack_close_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pack_batch *pb = argc >= 1 ? pack_from_js(env, argv[0]) : NULL;
  if (!pb) return throw_msg(env, "packClose: arguments");
  pthread_mutex_lock(&pb->lock);
  if (pb->fd >= 0) close(pb->fd);
  pb->fd = -1;
  pb->closed = true;
  pthread_mutex_unlock(&pb->lock);
  return NULL;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref ref;               /* keeps the handle alive while the work runs */
  pack_batch *pb;
  int err;
  const char *syscall;
  bool none;
  char hex[65];
} commit_pack_work;

static int write_all_fd(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w; n -= (size_t)w;
  }
  return 0;
}

/* The packs folder, created (and its creation made durable) on first use. */
static int open_packs_dir(const char *packs_dir) {
  int fd = open(packs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  if (asl_mkdirat_exact(AT_FDCWD, packs_dir, 0700) != 0 && errno != EEXIST) return -1;
  char parent[PACK_PATH_MAX];
  snprintf(parent, sizeof parent, "%s", packs_dir);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) return -1;
    int rc = fsync(pfd);
    close(pfd);
    if (rc != 0) return -1;
  }
  return open(packs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

#define FAIL(call) do { w->err = errno; w->syscall = call; goto out; } while (0)

/*
 * Index, then: pack and index data durable; the pack renamed into packs/ and
 * that name durable; only then the index renamed and made durable. The index is
 * what makes a pack visible, so a crash leaves no pack, an invisible pack
 * (garbage verify notes), or a complete pack with its index.
 */
static void commit_pack_execute(napi_env env, void *data) {
  (void)env;
  commit_pack_work *w = data;
  pack_batch *pb = w->pb;
  unsigned char *idx = NULL;
  int stage_fd = -1, packs_fd = -1, idx_fd = -1;
  char src[100], dst[80];
  pthread_mutex_lock(&pb->lock);
  if (pb->failed) { w->err = pb->failed; w->syscall = "write pack"; goto out; }
  if (pb->closed) { w->err = EBADF; w->syscall = "commit pack"; goto out; }
  if (pb->count == 0) { w->none = true; goto out; }
  pack_entry *sorted = pb->entries; /* sorting in place is fine: nothing appends any more */
  qsort(sorted, pb->count, sizeof *sorted, cmp_entry);
  size_t idx_len = IDX_HEADER + pb->count * IDX_REC;
  if (!(idx = malloc(idx_len))) { errno = ENOMEM; FAIL("malloc"); }
  memcpy(idx, IDX_MAGIC, IDX_MAGIC_LEN);
  put_be64(idx + IDX_MAGIC_LEN, pb->count);
  put_be64(idx + IDX_MAGIC_LEN + 8, pb->end);
  for (size_t i = 0; i < pb->count; i++) {
    unsigned char *r = idx + IDX_HEADER + i * IDX_REC;
    memcpy(r, sorted[i].digest, 32);
    put_be64(r + 32, sorted[i].offset);
    put_be64(r + 40, sorted[i].size);
  }
  /* The table indexes entries by position: it is stale now, and never needed again. */
  free(pb->slots); pb->slots = NULL; pb->nslots = 0;
  unsigned char h[32];
  if (asl_sha256(idx, idx_len, h) != 0) { errno = EIO; FAIL("sha256"); }
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) { w->hex[2 * i] = digits[h[i] >> 4]; w->hex[2 * i + 1] = digits[h[i] & 15]; }
  w->hex[64] = 0;
  if ((stage_fd = open(pb->stage_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) FAIL("open tmp");
  snprintf(src, sizeof src, "%s.idx", pb->name);
  if ((idx_fd = openat(stage_fd, src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444)) < 0) FAIL("create index");
  if (fchmod(idx_fd, 0444) != 0) FAIL("chmod index");
  if (write_all_fd(idx_fd, idx, idx_len) != 0) FAIL("write index");
  if (fdatasync(idx_fd) != 0) FAIL("fdatasync index");
  if (fdatasync(pb->fd) != 0) FAIL("fdatasync pack");
  if ((packs_fd = open_packs_dir(pb->packs_dir)) < 0) FAIL("open packs");
  snprintf(src, sizeof src, "%s.pack", pb->name);
  snprintf(dst, sizeof dst, "%s.pack", w->hex);
  if (renameat(stage_fd, src, packs_fd, dst) != 0) FAIL("rename pack");
  if (fsync(packs_fd) != 0) FAIL("fsync packs");
  snprintf(src, sizeof src, "%s.idx", pb->name);
  snprintf(dst, sizeof dst, "%s.idx", w->hex);
  if (renameat(stage_fd, src, packs_fd, dst) != 0) FAIL("rename index");
  if (fsync(packs_fd) != 0) FAIL("fsync packs");
  close(pb->fd);
  pb->fd = -1;
  pb->closed = true;
out:
  if (w->err && !pb->failed) pb->failed = w->err;
  pthread_mutex_unlock(&pb->lock);
  free(idx);
  if (idx_fd >= 0) close(idx_fd);
  if (stage_fd >= 0) close(stage_fd);
  if (packs_fd >= 0) close(packs_fd);
}

static void commit_pack_complete(napi_env env, napi_status status, void *data) {
  commit_pack_work *w = data;
  if (status != napi_ok || w->err) {
    char msg[200];
    if (status != napi_ok) snprintf(msg, sizeof msg, "packCommit: cancelled");
    else snprintf(msg, sizeof msg, "%s: %s", w->syscall, strerror(w->err));
    napi_value m, error;
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &error);
    napi_reject_deferred(env, w->deferred, error);
  } else {
    napi_value result;
    if (w->none) napi_get_null(env, &result);
    else napi_create_string_utf8(env, w->hex, 64, &result);
    napi_resolve_deferred(env, w->deferred, result);
  }
  napi_delete_reference(env, w->ref);
  napi_delete_async_work(env, w->work);
  free(w);
}

/* packCommit(handle) -> Promise<string | null>: the committed pack's name H, or null if nothing was appended. */
static napi_value pack_commit_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pack_batch *pb = argc >= 1 ? pack_from_js(env, argv[0]) : NULL;
  if (!pb) return throw_msg(env, "packCommit: arguments");
  commit_pack_work *w = calloc(1, sizeof *w);
  if (!w) return throw_msg(env, "packCommit: out of memory");
  w->pb = pb;
  napi_create_reference(env, argv[0], 1, &w->ref);
  return asl_queue_promise(env, "asl.packCommit", commit_pack_execute, commit_pack_complete, w, &w->deferred, &w->work);
}

void pack_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"packCreate", NULL, pack_create_js, NULL, NULL, NULL, napi_default, NULL},
    {"packHas", NULL, pack_has_js, NULL, NULL, NULL, napi_default, NULL},
    {"packCommit", NULL, pack_commit_js, NULL, NULL, NULL, napi_default, NULL},
    {"packClose", NULL, pack_close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
