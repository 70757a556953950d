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


/*
 * scandir(dirPath) -> Buffer of packed records, one per entry (no "." / ".."):
 *   u32 nameLen, name bytes, u32 mode, u32 uid, u32 gid, u32 nlink,
 *   f64 dev, f64 ino, u32 rdevMajor, u32 rdevMinor, f64 size,
 *   f64 mtimeSec, u32 mtimeNsec, f64 ctimeSec, u32 ctimeNsec, u32 xattrListBytes
 * All little-endian. One call per directory replaces a readdir plus one lstat
 * and one llistxattr per entry from JS, which dominates snapshot time on trees
 * of many small files. Entries that vanish while scanning are skipped.
 */
#define REC_FIXED (4 * 4 + 8 * 2 + 4 * 2 + 8 + 8 + 4 + 8 + 4 + 4)
static void put_u32(char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_f64(char *p, double v) { memcpy(p, &v, 8); }

static napi_value scandir_js(napi_env env, napi_callback_info info) {
  size_t argc = 1; napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_BYTES];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) return bad_arg(env, "scandir: path");
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (dfd < 0) return throw_errno(env, "opendir", errno);
  DIR *dir = fdopendir(dfd);
  if (!dir) { int e = errno; close(dfd); return throw_errno(env, "opendir", e); }
  size_t cap = 16384, len = 0;
  char *buf = malloc(cap);
  if (!buf) { closedir(dir); return throw_errno(env, "malloc", ENOMEM); }
  char full[PATH_MAX_BYTES];
  size_t plen = strlen(path);
  struct dirent *de;
  errno = 0;
  while ((de = readdir(dir)) != NULL) {
    const char *name = de->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) { errno = 0; continue; }
      int e = errno; free(buf); closedir(dir); return throw_errno(env, "lstat", e);
    }
    size_t nlen = strlen(name);
    uint32_t xlen = 0;
    if (plen + 1 + nlen + 1 < sizeof full) {
      memcpy(full, path, plen); full[plen] = '/'; memcpy(full + plen + 1, name, nlen + 1);
      ssize_t x = llistxattr(full, NULL, 0);
      if (x > 0) xlen = (uint32_t)x;
    }
    size_t need = 4 + nlen + REC_FIXED;
    if (len + need > cap) {
      while (len + need > cap) cap *= 2;
      char *nb = realloc(buf, cap);
      if (!nb) { free(buf); closedir(dir); return throw_errno(env, "realloc", ENOMEM); }
      buf = nb;
    }
    char *p = buf + len;
    put_u32(p, (uint32_t)nlen); p += 4;
    memcpy(p, name, nlen); p += nlen;
    put_u32(p, (uint32_t)st.st_mode); p += 4;
    put_u32(p, (uint32_t)st.st_uid); p += 4;
    put_u32(p, (uint32_t)st.st_gid); p += 4;
    put_u32(p, (uint32_t)st.st_nlink); p += 4;
    put_f64(p, (double)st.st_dev); p += 8;
    put_f64(p, (double)st.st_ino); p += 8;
    put_u32(p, (uint32_t)major(st.st_rdev)); p += 4;
    put_u32(p, (uint32_t)minor(st.st_rdev)); p += 4;
    put_f64(p, (double)st.st_size); p += 8;
    put_f64(p, (double)st.st_mtim.tv_sec); p += 8;
    put_u32(p, (uint32_t)st.st_mtim.tv_nsec); p += 4;
    put_f64(p, (double)st.st_ctim.tv_sec); p += 8;
    put_u32(p, (uint32_t)st.st_ctim.tv_nsec); p += 4;
    put_u32(p, xlen); p += 4;
    len = (size_t)(p - buf);
  }
  int e = errno;
  closedir(dir);
  if (e != 0) { free(buf); return throw_errno(env, "readdir", e); }
  napi_value result;
  void *out;
  napi_create_buffer_copy(env, len, buf, &out, &result);
  free(buf);
  return result;
}


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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"lxattrs", NULL, lxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, lsetxattr_js, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, mknod_js, NULL, NULL, NULL, napi_default, NULL},
    {"syncfs", NULL, syncfs_js, NULL, NULL, NULL, napi_default, NULL},
    {"scandir", NULL, scandir_js, NULL, NULL, NULL, napi_default, NULL},
    {"lutimens", NULL, lutimens_js, NULL, NULL, NULL, napi_default, NULL},
    {"childrenMaxRss", NULL, children_max_rss, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
