// The least work a first ingest can do, in two store layouts, for `npm run bench`:
//   loose  one file per object, as ASL's store is (docs/store-format.md): create and
//          write each new object under a staging folder, syncfs, rename each into
//          objects/ab/cdef…, syncfs
//   pack   one pack file of all new objects plus a sorted index (digest, offset,
//          size): append, write the index, fdatasync both, rename both, fsync the folder
// Both read every regular file of TREE (no symlinks followed), hash it with SHA-256
// (OpenSSL, as Node does) and skip contents already seen; no trees, no metadata. The
// difference between the two is what the layout costs. THREADS (default 1) threads
// read, hash and store files taken in walk order from one list; the set of contents
// seen and the pack's end are shared under a lock, the writes happen outside it (as
// ASL's native staging does), so THREADS=2 is what both cores of the machine can do.
//   cc -O2 -pthread -o ingest-floor ingest-floor.c -lcrypto
//   ./ingest-floor loose|pack TREE OUT [THREADS]      (OUT must not exist)
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int mode_pack;
static const char *out;
static int stage_fd, pack_fd;
static unsigned char (*digests)[32];
static uint64_t *offsets, *sizes;
static size_t count, cap;
static uint64_t pack_off;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The walk's regular files, taken by the threads in order. */
static char **paths;
static size_t npaths, paths_cap, next_path;

static void hex(const unsigned char *d, char *h) { for (int i = 0; i < 32; i++) sprintf(h + 2 * i, "%02x", d[i]); }

/* Contents already stored: an open-addressing set of indexes into digests (+1; 0 is empty). */
static size_t *set, set_cap;

static size_t slot_of(const unsigned char *d) { uint64_t h; memcpy(&h, d, 8); return (size_t)h & (set_cap - 1); }

static int seen(const unsigned char *d) {
  for (size_t s = slot_of(d); set[s]; s = (s + 1) & (set_cap - 1)) if (!memcmp(digests[set[s] - 1], d, 32)) return 1;
  return 0;
}

static void remember(size_t i) {
  if ((count + 1) * 2 > set_cap) {
    size_t old_cap = set_cap; size_t *old = set;
    set_cap = set_cap ? set_cap * 2 : 8192; set = calloc(set_cap, sizeof *set);
    for (size_t k = 0; k < old_cap; k++) if (old[k]) { size_t s = slot_of(digests[old[k] - 1]); while (set[s]) s = (s + 1) & (set_cap - 1); set[s] = old[k]; }
    free(old);
  }
  size_t s = slot_of(digests[i]); while (set[s]) s = (s + 1) & (set_cap - 1); set[s] = i + 1;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *f) {
  (void)f;
  if (type != FTW_F || !S_ISREG(st->st_mode)) return 0;
  if (npaths == paths_cap) { paths_cap = paths_cap ? paths_cap * 2 : 4096; paths = realloc(paths, paths_cap * sizeof *paths); }
  paths[npaths++] = strdup(path);
  return 0;
}

static void store_one(const char *path, char **buf, size_t *buf_cap) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0) { close(fd); return; }
  if ((size_t)st.st_size + 1 > *buf_cap) { *buf_cap = st.st_size * 2 + 1; *buf = realloc(*buf, *buf_cap); }
  size_t n = 0; ssize_t r;
  while ((r = read(fd, *buf + n, *buf_cap - n)) > 0) n += r;
  close(fd);
  unsigned char d[32]; unsigned int dl;
  EVP_Digest(*buf, n, d, &dl, EVP_sha256(), NULL);
  pthread_mutex_lock(&lock);
  if (set && seen(d)) { pthread_mutex_unlock(&lock); return; }
  if (count == cap) { cap = cap ? cap * 2 : 4096; digests = realloc(digests, cap * 32); offsets = realloc(offsets, cap * 8); sizes = realloc(sizes, cap * 8); }
  size_t i = count;
  memcpy(digests[i], d, 32);
  uint64_t off = pack_off;
  if (mode_pack) { offsets[i] = off; pack_off += n; }
  sizes[i] = n;
  remember(count++);
  pthread_mutex_unlock(&lock);
  if (mode_pack) {
    if (pwrite(pack_fd, *buf, n, off) != (ssize_t)n) { perror("write"); exit(1); }
  } else {
    char h[65], rel[70]; hex(d, h);
    snprintf(rel, sizeof rel, "%.2s", h);
    mkdirat(stage_fd, rel, 0755);
    snprintf(rel, sizeof rel, "%.2s/%s", h, h + 2);
    int o = openat(stage_fd, rel, O_WRONLY | O_CREAT | O_EXCL, 0444);
    if (o < 0) { perror("create"); exit(1); }
    if (write(o, *buf, n) != (ssize_t)n) { perror("write"); exit(1); }
    close(o);
  }
}

static void *worker(void *arg) {
  (void)arg;
  char *buf = NULL; size_t buf_cap = 0;
  for (;;) {
    size_t k = __atomic_fetch_add(&next_path, 1, __ATOMIC_RELAXED);
    if (k >= npaths) break;
    store_one(paths[k], &buf, &buf_cap);
  }
  free(buf);
  return NULL;
}

static int cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

int main(int argc, char **argv) {
  if (argc != 4 && argc != 5) { fprintf(stderr, "usage: ingest-floor loose|pack TREE OUT [THREADS]\n"); return 2; }
  int threads = argc == 5 ? atoi(argv[4]) : 1;
  if (threads < 1 || threads > 64) { fprintf(stderr, "ingest-floor: THREADS must be 1 to 64\n"); return 2; }
  mode_pack = !strcmp(argv[1], "pack");
  out = argv[3];
  struct timespec t0, t1; clock_gettime(CLOCK_MONOTONIC, &t0);
  char p[4096];
  if (mkdir(out, 0755) != 0) { perror(out); return 2; }
  snprintf(p, sizeof p, "%s/stage", out); mkdir(p, 0755);
  stage_fd = open(p, O_RDONLY | O_DIRECTORY);
  snprintf(p, sizeof p, "%s/objects", out); mkdir(p, 0755);
  int obj_fd = open(p, O_RDONLY | O_DIRECTORY);
  if (mode_pack) pack_fd = openat(stage_fd, "p.pack", O_WRONLY | O_CREAT | O_EXCL, 0444);
  if (nftw(argv[2], visit, 64, FTW_PHYS) != 0) { perror(argv[2]); return 2; }
  pthread_t tid[64];
  for (int t = 1; t < threads; t++) pthread_create(&tid[t], NULL, worker, NULL);
  worker(NULL);
  for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
  if (mode_pack) {
    // The index: sorted (digest, offset, size); then both files durable, then named.
    unsigned char *idx = malloc(count * 48 + 1);
    for (size_t i = 0; i < count; i++) { memcpy(idx + i * 48, digests[i], 32); memcpy(idx + i * 48 + 32, &offsets[i], 8); memcpy(idx + i * 48 + 40, &sizes[i], 8); }
    qsort(idx, count, 48, cmp);
    int i_fd = openat(stage_fd, "p.idx", O_WRONLY | O_CREAT | O_EXCL, 0444);
    if (write(i_fd, idx, count * 48) != (ssize_t)(count * 48)) { perror("write idx"); return 1; }
    fdatasync(pack_fd); fdatasync(i_fd); close(pack_fd); close(i_fd);
    renameat(stage_fd, "p.pack", obj_fd, "p.pack");
    renameat(stage_fd, "p.idx", obj_fd, "p.idx");
    fsync(obj_fd);
  } else {
    syncfs(stage_fd);
    for (size_t i = 0; i < count; i++) {
      char h[65], rel[70]; hex(digests[i], h);
      snprintf(rel, sizeof rel, "%.2s", h); mkdirat(obj_fd, rel, 0755);
      snprintf(rel, sizeof rel, "%.2s/%s", h, h + 2);
      if (renameat(stage_fd, rel, obj_fd, rel) != 0) { perror("rename"); return 1; }
    }
    syncfs(obj_fd);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%s, %d thread%s: %zu objects, %.3f s\n", argv[1], threads, threads == 1 ? "" : "s", count, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
