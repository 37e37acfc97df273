/*
 * clfsload's own N-API addon: the file-system calls Node does not offer and an exact copy needs.
 *   lseek(fd, offset, whence)                 synchronous, SEEK_DATA / SEEK_HOLE included
 *   dataExtents(fd, start, end)               the data extents of [start, end) (SEEK_DATA/SEEK_HOLE);
 *                                             null when the file system cannot tell (EINVAL)
 *   futimens(fd, atimeNs, mtimeNs)            times to the nanosecond (BigInt ns since the epoch)
 *   utimensat(path, atimeNs, mtimeNs, nofollow)
 *   getXattrs(path | fd, nofollow)            [name, value, name, value, ...] as Buffers
 *   setXattrs(path | fd, nofollow, names, values, removeOthers)
 *   copySmall(src | null, data | null, size, dest, mode, uid, gid, flags, atimeNs, mtimeNs)
 *                                             a small file in one call: the source opened, read
 *                                             whole and closed (or `data` given), DEST created
 *                                             exclusive with its final mode, written, fchown,
 *                                             fchmod, futimens, closed; on any failure after the
 *                                             create DEST is closed and removed. Resolves with the
 *                                             calls made (source + 256 * dest); a failure carries
 *                                             `side` ('source' | 'dest'), `ops` as that, and a
 *                                             source that changed size rejects with `changed`
 *                                             ('grew' | 'shrank') and errno 0.
 *   copyBatch(srcDir, destDir, names, count, out, maxSize, uid, gid, flags)
 *                                             the regular files of a directory this run created,
 *                                             one after another in one call: each lstat'ed and,
 *                                             when plain and small, copied as copySmall copies one;
 *                                             a result row per name in `out` (do_copy_batch)
 *   batchThread()                             the calling thread's scheduling policy set to
 *                                             SCHED_BATCH (Linux): true when set
 *   lz4SmallBlock(src, dst, dstPos, capacity) synchronous: the LZ4 block of src (under 65,547
 *                                             bytes) into dst[dstPos, dstPos + capacity), its
 *                                             length, or 0 when it does not fit; the same bytes
 *                                             as lz4SmallBlockCompress in src/codec/lz4-block.ts
 *   lz4BlockDecode(src, srcStart, srcEnd, out, windowStart, outPos, outLimit)
 *                                             synchronous: the LZ4 block src[srcStart, srcEnd)
 *                                             decoded into out from outPos (matches may reach back
 *                                             to windowStart, no byte written at or past
 *                                             outLimit); the output position after it, or -1 when
 *                                             the block is malformed (the TypeScript decoder then
 *                                             says how)
 *   readSmall(path, buf, stat)                synchronous: the file at path (a Buffer) opened, read into buf
 *                                             until it ends or buf is full, fstat'ed and closed, in
 *                                             one call; the bytes read, stat = [size, mtime s,
 *                                             mtime ns] (Float64Array; size -1: not a regular
 *                                             file, opened without blocking), or -errno (stat[3]:
 *                                             the call that failed, 1 open 2 read 3 fstat 4 close)
 * Every call but lseek, batchThread, lz4SmallBlock, lz4BlockDecode and readSmall returns a Promise and runs on libuv's pool (napi async work), as Node's own
 * asynchronous fs calls do. A failure rejects with an Error carrying `errno` (the number),
 * `syscall` and, for an attribute, `attr` (its name, latin1).
 * Only node_api.h (N-API 8): one build serves Node 20, 22 and 24.
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      napi_throw_error(env, NULL, "clfsload_native: N-API call failed: " #call);                   \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

enum op { OP_EXTENTS, OP_FUTIMENS, OP_UTIMENSAT, OP_GETXATTRS, OP_SETXATTRS, OP_COPY_SMALL, OP_COPY_BATCH };

/* copySmall's flags */
#define CS_CHOWN 1
#define CS_FCHMOD 2

typedef struct {
  char *data;
  size_t len;
} bytes_t;

typedef struct {
  enum op op;
  napi_async_work work;
  napi_deferred deferred;
  int fd;          /* -1: by path */
  char *path;      /* NUL-terminated copy */
  int nofollow;
  int64_t a, b, c; /* extents: start, end; times: atime ns, mtime ns */
  /* results / arguments */
  int64_t *ext;
  size_t next, cap;
  int unsupported;
  bytes_t *names, *values;
  size_t count;
  int remove_others;
  /* copySmall: the source path (NULL: `data` holds the bytes), DEST, its mode, owner, flags */
  char *src;
  char *data;
  int64_t size;
  napi_ref data_ref;
  napi_ref out_ref; /* copyBatch: the caller's result array (j->ext points into it) */
  int mode, uid, gid, flags;
  int src_ops, dst_ops;
  const char *side;
  const char *changed;
  /* failure */
  int err;
  const char *syscall;
  char *attr;
} job_t;

static void free_bytes(bytes_t *v, size_t n) {
  if (v == NULL) return;
  for (size_t i = 0; i < n; i++) free(v[i].data);
  free(v);
}

static void job_free(job_t *j) {
  if (j->out_ref != NULL) j->ext = NULL; /* the caller's array: never ours to free */
  free(j->path);
  free(j->src);
  if (j->data_ref == NULL) free(j->data);
  free(j->ext);
  free_bytes(j->names, j->count);
  free_bytes(j->values, j->count);
  free(j->attr);
  free(j);
}

static void fail(job_t *j, const char *syscall, const char *attr) {
  j->err = errno;
  j->syscall = syscall;
  if (attr != NULL && j->attr == NULL) j->attr = strdup(attr);
}

static int push_extent(job_t *j, int64_t s, int64_t e) {
  if (j->next + 2 > j->cap) {
    size_t cap = j->cap == 0 ? 16 : j->cap * 2;
    int64_t *n = realloc(j->ext, cap * sizeof(int64_t));
    if (n == NULL) {
      errno = ENOMEM;
      return -1;
    }
    j->ext = n;
    j->cap = cap;
  }
  j->ext[j->next++] = s;
  j->ext[j->next++] = e;
  return 0;
}

static void do_extents(job_t *j) {
  off_t off = (off_t)j->a;
  const off_t end = (off_t)j->b;
  while (off < end) {
    off_t d = lseek(j->fd, off, SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) return; /* no data after off: a hole to the end */
      if (errno == EINVAL || errno == EOPNOTSUPP) {
        j->unsupported = 1;
        return;
      }
      fail(j, "lseek", NULL);
      return;
    }
    if (d >= end) return;
    off_t h = lseek(j->fd, d, SEEK_HOLE);
    if (h < 0) {
      if (errno == EINVAL || errno == EOPNOTSUPP) {
        j->unsupported = 1;
        return;
      }
      fail(j, "lseek", NULL);
      return;
    }
    if (h > end) h = end;
    if (h <= d) { /* cannot happen on a sane file system: ask the caller to copy it all */
      j->unsupported = 1;
      return;
    }
    if (push_extent(j, d, h) < 0) {
      fail(j, "lseek", NULL);
      return;
    }
    off = h;
  }
}

static struct timespec ts_of(int64_t ns) {
  struct timespec t;
  int64_t s = ns / 1000000000;
  int64_t r = ns % 1000000000;
  if (r < 0) {
    r += 1000000000;
    s -= 1;
  }
  t.tv_sec = (time_t)s;
  t.tv_nsec = (long)r;
  return t;
}

static void do_times(job_t *j) {
  struct timespec t[2] = {ts_of(j->a), ts_of(j->b)};
  if (j->op == OP_FUTIMENS) {
    if (futimens(j->fd, t) < 0) fail(j, "futimens", NULL);
  } else if (utimensat(AT_FDCWD, j->path, t, j->nofollow ? AT_SYMLINK_NOFOLLOW : 0) < 0) {
    fail(j, "utimensat", NULL);
  }
}

static ssize_t x_list(job_t *j, char *buf, size_t size) {
  if (j->fd >= 0) return flistxattr(j->fd, buf, size);
  return j->nofollow ? llistxattr(j->path, buf, size) : listxattr(j->path, buf, size);
}
static ssize_t x_get(job_t *j, const char *name, void *buf, size_t size) {
  if (j->fd >= 0) return fgetxattr(j->fd, name, buf, size);
  return j->nofollow ? lgetxattr(j->path, name, buf, size) : getxattr(j->path, name, buf, size);
}
static int x_set(job_t *j, const char *name, const void *v, size_t size) {
  if (j->fd >= 0) return fsetxattr(j->fd, name, v, size, 0);
  return j->nofollow ? lsetxattr(j->path, name, v, size, 0) : setxattr(j->path, name, v, size, 0);
}
static int x_remove(job_t *j, const char *name) {
  if (j->fd >= 0) return fremovexattr(j->fd, name);
  return j->nofollow ? lremovexattr(j->path, name) : removexattr(j->path, name);
}

/* The names, NUL-separated, in a malloc'd buffer; *len 0 and NULL when there are none. */
static char *list_names(job_t *j, ssize_t *len) {
  for (int tries = 0; tries < 8; tries++) {
    ssize_t n = x_list(j, NULL, 0);
    if (n < 0) {
      fail(j, "listxattr", NULL);
      return NULL;
    }
    if (n == 0) {
      *len = 0;
      return NULL;
    }
    char *buf = malloc((size_t)n);
    if (buf == NULL) {
      errno = ENOMEM;
      fail(j, "listxattr", NULL);
      return NULL;
    }
    ssize_t m = x_list(j, buf, (size_t)n);
    if (m >= 0) {
      *len = m;
      return buf;
    }
    free(buf);
    if (errno != ERANGE) { /* ERANGE: the list grew in between, ask again */
      fail(j, "listxattr", NULL);
      return NULL;
    }
  }
  errno = ERANGE;
  fail(j, "listxattr", NULL);
  return NULL;
}

static void do_getxattrs(job_t *j) {
  ssize_t len = 0;
  char *names = list_names(j, &len);
  if (j->err != 0) return;
  size_t count = 0;
  for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) count++;
  j->names = calloc(count + 1, sizeof(bytes_t));
  j->values = calloc(count + 1, sizeof(bytes_t));
  if (j->names == NULL || j->values == NULL) {
    errno = ENOMEM;
    fail(j, "getxattr", NULL);
    free(names);
    return;
  }
  size_t k = 0;
  for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
    const char *name = names + i;
    ssize_t size = -1;
    char *v = NULL;
    for (int tries = 0; tries < 8; tries++) {
      ssize_t n = x_get(j, name, NULL, 0);
      if (n < 0) break;
      v = malloc(n > 0 ? (size_t)n : 1);
      if (v == NULL) {
        errno = ENOMEM;
        break;
      }
      size = x_get(j, name, v, (size_t)n);
      if (size >= 0 || errno != ERANGE) break;
      free(v);
      v = NULL;
    }
    if (size < 0) {
      free(v);
      if (errno == ENODATA) continue; /* removed since the listing */
      fail(j, "getxattr", name);
      break;
    }
    j->names[k].len = strlen(name);
    j->names[k].data = malloc(j->names[k].len + 1);
    if (j->names[k].data == NULL) {
      free(v);
      errno = ENOMEM;
      fail(j, "getxattr", name);
      break;
    }
    memcpy(j->names[k].data, name, j->names[k].len + 1);
    j->values[k].data = v;
    j->values[k].len = (size_t)size;
    k++;
    j->count = k;
  }
  j->count = k;
  free(names);
}

static void do_setxattrs(job_t *j) {
  if (j->remove_others) {
    ssize_t len = 0;
    char *names = list_names(j, &len);
    if (j->err != 0) {
      if (j->err != ENOTSUP && j->err != EOPNOTSUPP) return;
      j->err = 0; /* nothing can be there: set what is asked, which says what the fs keeps */
      j->syscall = NULL;
    }
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1) {
      const char *name = names + i;
      int keep = 0;
      for (size_t k = 0; k < j->count && !keep; k++) keep = strcmp(j->names[k].data, name) == 0;
      if (!keep && x_remove(j, name) < 0 && errno != ENODATA) {
        /* one the caller may not see (not root: only user.*) is not its to remove */
        if (errno == EPERM || errno == EACCES || errno == ENOTSUP || errno == EOPNOTSUPP) continue;
        fail(j, "removexattr", name);
        free(names);
        return;
      }
    }
    free(names);
  }
  for (size_t k = 0; k < j->count; k++) {
    if (x_set(j, j->names[k].data, j->values[k].data, j->values[k].len) < 0) {
      fail(j, "setxattr", j->names[k].data);
      return;
    }
  }
}

static void cs_fail(job_t *j, const char *side, const char *syscall) {
  j->err = errno;
  j->side = side;
  j->syscall = syscall;
}

/* A read-only descriptor's close: nothing of the copy depends on it (its error is not one). */
static void close_quiet(int fd) {
  int e = errno;
  close(fd);
  errno = e;
}

/* One small file's copy, as copySmall and copyBatch make it: the source `src` read whole into
 * `buf` (at least size + 1 bytes; NULL src: `buf` already holds the bytes), DEST created exclusive
 * with `mode`, written, given its owner (CS_CHOWN) and set-id bits again (CS_FCHMOD), its times,
 * and closed; DEST removed on any failure after the create, a failed close included. 0 when it is
 * copied; else errno (0 for a size change, which `c->changed` names), with `c->side` and
 * `c->syscall` set. */
typedef struct {
  int src_ops, dst_ops;
  const char *side;
  const char *syscall;
  const char *changed;
} cs_t;

static int cs_err(cs_t *c, const char *side, const char *syscall) {
  c->side = side;
  c->syscall = syscall;
  return errno != 0 ? errno : EIO;
}

static int copy_one(cs_t *c, const char *src, const char *dst, char *buf, size_t size, int mode, int uid, int gid, int flags, int64_t atime_ns, int64_t mtime_ns) {
  if (src != NULL) {
    /* non-blocking: a file swapped for a fifo since its lstat must not hang a thread in open */
    int in = open(src, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    c->src_ops++;
    if (in < 0) return cs_err(c, "source", "open");
    /* one byte more is asked for: a file that grew since its lstat shows without an extra call */
    size_t n = 0;
    while (n < size) {
      ssize_t r = pread(in, buf + n, size + 1 - n, (off_t)n);
      c->src_ops++;
      if (r < 0) {
        if (errno == EINTR) continue;
        int e = cs_err(c, "source", "read");
        close_quiet(in);
        c->src_ops++;
        return e;
      }
      if (r == 0) break;
      n += (size_t)r;
    }
    close(in);
    c->src_ops++;
    if (n != size) {
      c->side = "source";
      c->syscall = "read";
      c->changed = n < size ? "shrank" : "grew";
      return 0;
    }
  }
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
  c->dst_ops++;
  if (out < 0) return cs_err(c, "dest", "open");
  const char *step = NULL;
  size_t done = 0;
  if (size > 0) c->dst_ops++;
  while (done < size) {
    ssize_t w = pwrite(out, buf + done, size - done, (off_t)done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      step = "write";
      break;
    }
    done += (size_t)w;
  }
  if (step == NULL && (flags & CS_CHOWN) != 0) {
    c->dst_ops++;
    if (fchown(out, (uid_t)uid, (gid_t)gid) < 0) step = "fchown";
  }
  /* set-id bits after the owner: chown clears them */
  if (step == NULL && (flags & CS_FCHMOD) != 0) {
    c->dst_ops++;
    if (fchmod(out, (mode_t)mode) < 0) step = "fchmod";
  }
  /* the times last: a file gets the source's mtime only when it is complete */
  if (step == NULL) {
    struct timespec t[2] = {ts_of(atime_ns), ts_of(mtime_ns)};
    c->dst_ops++;
    if (futimens(out, t) < 0) step = "futimens";
  }
  if (step != NULL) {
    int e = cs_err(c, "dest", step);
    close_quiet(out);
    unlink(dst);
    return e;
  }
  c->dst_ops++;
  if (close(out) < 0) {
    /* a close that fails (NFS reports a failed write-back there) leaves nothing that looks complete */
    int e = cs_err(c, "dest", "close");
    unlink(dst);
    return e;
  }
  return 0;
}

static void do_copy_small(job_t *j) {
  const size_t size = (size_t)j->size;
  if (j->src != NULL) {
    j->data = malloc(size + 1);
    if (j->data == NULL) {
      j->src_ops++;
      errno = ENOMEM;
      return cs_fail(j, "source", "read");
    }
  }
  cs_t c = {0};
  j->err = copy_one(&c, j->src, j->path, j->data, size, j->mode, j->uid, j->gid, j->flags, j->a, j->b);
  j->src_ops = c.src_ops;
  j->dst_ops = c.dst_ops;
  j->side = c.side;
  j->syscall = c.syscall;
  j->changed = c.changed;
}

/*
 * copyBatch: the regular files of one directory this run created (nothing is in DEST), copied one
 * after another on one pool thread, each lstat'ed first. Per file, BATCH_FIELDS int64 in `out`:
 *   [0] BS_* status, [1] errno, [2] step (index in STEPS; side is source for lstat..close),
 *   [3] size, [4] mtime ns, [5] uid, [6] gid, [7] calls (source + 65536 * dest)
 * and it resolves with the failure's strerror text ("grew"/"shrank" for a size change: errno -1/-2),
 * null when none failed.
 * A file that is not a plain small one (not regular, more than one link, over max_size, sparse)
 * is BS_OTHER, left for the caller's own path. The batch stops at the first failure: the files
 * after it are BS_NOT_TRIED.
 */
#define BATCH_FIELDS 8
enum { BS_NOT_TRIED = 0, BS_COPIED = 1, BS_OTHER = 2, BS_FAILED = 3 };
static const char *const STEPS[] = {"lstat", "open", "read", "close", "open", "write", "fchown", "fchmod", "futimens", "close"};
#define SOURCE_STEPS 4
#define CB_ROOT 1    /* the copying process is root: owners are copied */
#define CB_SETGID 2  /* the directory is set-group-id: a new file takes its group, so chown always */

static int step_index(const char *side, const char *syscall) {
  int from = strcmp(side, "source") == 0 ? 0 : SOURCE_STEPS;
  int to = strcmp(side, "source") == 0 ? SOURCE_STEPS : (int)(sizeof STEPS / sizeof STEPS[0]);
  for (int i = from; i < to; i++)
    if (strcmp(STEPS[i], syscall) == 0) return i;
  return from;
}

static void do_copy_batch(job_t *j) {
  const size_t max = (size_t)j->size;
  size_t slen = strlen(j->src), dlen = strlen(j->path), nmax = 0;
  for (size_t i = 0, off = 0; i < j->count; i++) {
    size_t n = strlen(j->data + off);
    if (n > nmax) nmax = n;
    off += n + 1;
  }
  char *sp = malloc(slen + nmax + 2), *dp = malloc(dlen + nmax + 2), *buf = malloc(max + 1);
  if (sp == NULL || dp == NULL || buf == NULL) {
    free(sp);
    free(dp);
    free(buf);
    errno = ENOMEM;
    fail(j, "malloc", NULL);
    return;
  }
  memcpy(sp, j->src, slen);
  sp[slen] = '/';
  memcpy(dp, j->path, dlen);
  dp[dlen] = '/';
  const char *name = j->data;
  for (size_t i = 0; i < j->count; i++, name += strlen(name) + 1) {
    int64_t *r = j->ext + i * BATCH_FIELDS;
    size_t n = strlen(name);
    memcpy(sp + slen + 1, name, n + 1);
    memcpy(dp + dlen + 1, name, n + 1);
    struct stat st;
    if (lstat(sp, &st) < 0) {
      r[0] = BS_FAILED;
      r[1] = errno;
      r[2] = 0;
      r[7] = 1;
      j->attr = strdup(strerror(errno));
      break;
    }
    r[3] = (int64_t)st.st_size;
    r[4] = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    r[5] = (int64_t)st.st_uid;
    r[6] = (int64_t)st.st_gid;
    size_t size = (size_t)st.st_size;
    if (!S_ISREG(st.st_mode) || st.st_nlink > 1 || size > max || (size > 0 && (size_t)st.st_blocks * 512 < size)) {
      r[0] = BS_OTHER;
      r[7] = 1;
      continue;
    }
    int mode = (int)(st.st_mode & 07777), flags = 0;
    if ((j->flags & CB_ROOT) != 0 && (st.st_uid != (uid_t)j->uid || st.st_gid != (gid_t)j->gid || (j->flags & CB_SETGID) != 0)) {
      flags = CS_CHOWN | ((mode & 06000) != 0 ? CS_FCHMOD : 0);
    }
    int64_t atime = (int64_t)st.st_atim.tv_sec * 1000000000 + st.st_atim.tv_nsec;
    cs_t c = {0};
    errno = 0;
    /* an empty file needs no read: a later change shows in its size and mtime */
    int e = copy_one(&c, size > 0 ? sp : NULL, dp, buf, size, mode, (int)st.st_uid, (int)st.st_gid, flags, atime, r[4]);
    r[7] = 1 + c.src_ops + ((int64_t)c.dst_ops << 16);
    if (e == 0 && c.changed == NULL) {
      r[0] = BS_COPIED;
      continue;
    }
    r[0] = BS_FAILED;
    /* a size change: -1 grew, -2 shrank (step "read") */
    r[1] = c.changed != NULL ? (strcmp(c.changed, "grew") == 0 ? -1 : -2) : e;
    r[2] = step_index(c.side, c.syscall);
    j->attr = strdup(c.changed != NULL ? c.changed : strerror(e));
    break;
  }
  free(sp);
  free(dp);
  free(buf);
}

static void execute(napi_env env, void *data) {
  job_t *j = data;
  errno = 0;
  switch (j->op) {
    case OP_EXTENTS: do_extents(j); break;
    case OP_FUTIMENS:
    case OP_UTIMENSAT: do_times(j); break;
    case OP_GETXATTRS: do_getxattrs(j); break;
    case OP_SETXATTRS: do_setxattrs(j); break;
    case OP_COPY_SMALL: do_copy_small(j); break;
    case OP_COPY_BATCH: do_copy_batch(j); break;
  }
}

static napi_value make_error(napi_env env, job_t *j) {
  napi_value msg, err, v;
  const char *text = j->changed != NULL ? j->changed : strerror(j->err);
  char buf[512];
  snprintf(buf, sizeof buf, "%s: %s%s%s", j->syscall, text, j->attr != NULL ? " (attribute " : "", j->attr != NULL ? j->attr : "");
  if (j->attr != NULL) strncat(buf, ")", sizeof buf - strlen(buf) - 1);
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &err);
  napi_create_int32(env, j->err, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, j->syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  if (j->attr != NULL) {
    napi_create_string_latin1(env, j->attr, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "attr", v);
  }
  if (j->op == OP_COPY_SMALL) {
    napi_create_string_utf8(env, j->side, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "side", v);
    napi_create_int32(env, j->src_ops + 256 * j->dst_ops, &v);
    napi_set_named_property(env, err, "ops", v);
    if (j->changed != NULL) {
      napi_create_string_utf8(env, j->changed, NAPI_AUTO_LENGTH, &v);
      napi_set_named_property(env, err, "changed", v);
    }
  }
  return err;
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result = NULL;
  if (status != napi_ok) {
    j->err = ECANCELED;
    j->syscall = "napi";
  }
  if (j->data_ref != NULL) {
    napi_delete_reference(env, j->data_ref);
    j->data_ref = NULL;
    j->data = NULL;
  }
  if (j->out_ref != NULL) {
    napi_delete_reference(env, j->out_ref);
    j->out_ref = NULL;
    j->ext = NULL;
  }
  if (j->err != 0 || j->changed != NULL) {
    napi_reject_deferred(env, j->deferred, make_error(env, j));
  } else {
    switch (j->op) {
      case OP_EXTENTS:
        if (j->unsupported) napi_get_null(env, &result);
        else {
          napi_create_array_with_length(env, j->next, &result);
          for (size_t i = 0; i < j->next; i++) {
            napi_value n;
            napi_create_double(env, (double)j->ext[i], &n);
            napi_set_element(env, result, (uint32_t)i, n);
          }
        }
        break;
      case OP_GETXATTRS:
        napi_create_array_with_length(env, j->count * 2, &result);
        for (size_t i = 0; i < j->count; i++) {
          napi_value n, v;
          void *ignored;
          napi_create_buffer_copy(env, j->names[i].len, j->names[i].data, &ignored, &n);
          napi_create_buffer_copy(env, j->values[i].len, j->values[i].len > 0 ? j->values[i].data : "", &ignored, &v);
          napi_set_element(env, result, (uint32_t)(2 * i), n);
          napi_set_element(env, result, (uint32_t)(2 * i + 1), v);
        }
        break;
      case OP_COPY_SMALL:
        napi_create_int32(env, j->src_ops + 256 * j->dst_ops, &result);
        break;
      case OP_COPY_BATCH:
        if (j->attr != NULL) napi_create_string_utf8(env, j->attr, NAPI_AUTO_LENGTH, &result);
        else napi_get_null(env, &result);
        break;
      default:
        napi_get_undefined(env, &result);
    }
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  job_free(j);
}

static napi_value start(napi_env env, job_t *j) {
  napi_value promise, name;
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
    job_free(j);
    napi_throw_error(env, NULL, "clfsload_native: cannot create a promise");
    return NULL;
  }
  napi_create_string_utf8(env, "clfsload_native", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok || napi_queue_async_work(env, j->work) != napi_ok) {
    napi_throw_error(env, NULL, "clfsload_native: cannot queue the call");
    return NULL;
  }
  return promise;
}

static job_t *new_job(enum op op) {
  job_t *j = calloc(1, sizeof(job_t));
  if (j != NULL) {
    j->op = op;
    j->fd = -1;
  }
  return j;
}

/* A Buffer's bytes as a NUL-terminated string (a path or an attribute name: no NUL inside). */
static int c_string(napi_env env, napi_value v, char **out, size_t *out_len) {
  bool is;
  void *data;
  size_t len;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, NULL, "clfsload_native: expected a Buffer");
    return -1;
  }
  napi_get_buffer_info(env, v, &data, &len);
  if (memchr(data, 0, len) != NULL) {
    napi_throw_type_error(env, NULL, "clfsload_native: a path or name holds a NUL byte");
    return -1;
  }
  *out = malloc(len + 1);
  if (*out == NULL) {
    napi_throw_error(env, NULL, "clfsload_native: out of memory");
    return -1;
  }
  memcpy(*out, data, len);
  (*out)[len] = 0;
  if (out_len != NULL) *out_len = len;
  return 0;
}

/* A target: a descriptor (number) or a path (Buffer). */
static int target(napi_env env, napi_value v, job_t *j) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_number) {
    int32_t fd;
    napi_get_value_int32(env, v, &fd);
    j->fd = fd;
    return 0;
  }
  return c_string(env, v, &j->path, NULL);
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok ? 0 : -1;
  }
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok ? 0 : -1;
  napi_throw_type_error(env, NULL, "clfsload_native: expected a number or a BigInt");
  return -1;
}

static napi_value js_lseek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  int32_t fd, whence;
  int64_t off;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "lseek(fd, offset, whence)");
    return NULL;
  }
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (get_i64(env, argv[1], &off) < 0) return NULL;
  CHECK(napi_get_value_int32(env, argv[2], &whence));
  off_t r = lseek(fd, (off_t)off, whence);
  if (r < 0) {
    job_t j = {0};
    j.err = errno;
    j.syscall = "lseek";
    napi_throw(env, make_error(env, &j));
    return NULL;
  }
  CHECK(napi_create_double(env, (double)r, &result));
  return result;
}

static napi_value js_extents(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_EXTENTS);
  if (j == NULL || argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_i64(env, argv[1], &j->a) < 0 || get_i64(env, argv[2], &j->b) < 0) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "dataExtents(fd, start, end)");
    return NULL;
  }
  j->fd = fd;
  return start(env, j);
}

static napi_value js_futimens(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_FUTIMENS);
  if (j == NULL || argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || get_i64(env, argv[1], &j->a) < 0 || get_i64(env, argv[2], &j->b) < 0) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "futimens(fd, atimeNs, mtimeNs)");
    return NULL;
  }
  j->fd = fd;
  return start(env, j);
}

static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  bool nofollow = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_UTIMENSAT);
  if (j == NULL || argc < 4) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "utimensat(path, atimeNs, mtimeNs, nofollow)");
    return NULL;
  }
  if (c_string(env, argv[0], &j->path, NULL) < 0 || get_i64(env, argv[1], &j->a) < 0 || get_i64(env, argv[2], &j->b) < 0) {
    job_free(j);
    return NULL;
  }
  napi_get_value_bool(env, argv[3], &nofollow);
  j->nofollow = nofollow;
  return start(env, j);
}

static napi_value js_getxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  bool nofollow = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_GETXATTRS);
  if (j == NULL || argc < 2) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "getXattrs(pathOrFd, nofollow)");
    return NULL;
  }
  if (target(env, argv[0], j) < 0) {
    job_free(j);
    return NULL;
  }
  napi_get_value_bool(env, argv[1], &nofollow);
  j->nofollow = nofollow;
  return start(env, j);
}

static napi_value js_setxattrs(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  bool nofollow = false, remove_others = false;
  uint32_t n = 0, m = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_SETXATTRS);
  if (j == NULL || argc < 5 || napi_get_array_length(env, argv[2], &n) != napi_ok || napi_get_array_length(env, argv[3], &m) != napi_ok || n != m) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "setXattrs(pathOrFd, nofollow, names[], values[], removeOthers)");
    return NULL;
  }
  if (target(env, argv[0], j) < 0) {
    job_free(j);
    return NULL;
  }
  napi_get_value_bool(env, argv[1], &nofollow);
  napi_get_value_bool(env, argv[4], &remove_others);
  j->nofollow = nofollow;
  j->remove_others = remove_others;
  j->names = calloc(n + 1, sizeof(bytes_t));
  j->values = calloc(n + 1, sizeof(bytes_t));
  if (j->names == NULL || j->values == NULL) {
    job_free(j);
    napi_throw_error(env, NULL, "clfsload_native: out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value name, value;
    void *data;
    size_t len;
    bool is;
    napi_get_element(env, argv[2], i, &name);
    napi_get_element(env, argv[3], i, &value);
    j->count = i + 1;
    if (c_string(env, name, &j->names[i].data, &j->names[i].len) < 0) {
      job_free(j);
      return NULL;
    }
    if (napi_is_buffer(env, value, &is) != napi_ok || !is) {
      job_free(j);
      napi_throw_type_error(env, NULL, "setXattrs: a value is not a Buffer");
      return NULL;
    }
    napi_get_buffer_info(env, value, &data, &len);
    j->values[i].data = malloc(len > 0 ? len : 1);
    if (j->values[i].data == NULL) {
      job_free(j);
      napi_throw_error(env, NULL, "clfsload_native: out of memory");
      return NULL;
    }
    if (len > 0) memcpy(j->values[i].data, data, len);
    j->values[i].len = len;
  }
  return start(env, j);
}

static napi_value js_copy_small(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_valuetype t0, t1;
  int32_t mode, uid, gid, flags;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_COPY_SMALL);
  if (j == NULL || argc < 10 || napi_typeof(env, argv[0], &t0) != napi_ok || napi_typeof(env, argv[1], &t1) != napi_ok || (t0 == napi_null) == (t1 == napi_null) ||
      get_i64(env, argv[2], &j->size) < 0 || j->size < 0 || napi_get_value_int32(env, argv[4], &mode) != napi_ok || napi_get_value_int32(env, argv[5], &uid) != napi_ok ||
      napi_get_value_int32(env, argv[6], &gid) != napi_ok || napi_get_value_int32(env, argv[7], &flags) != napi_ok || get_i64(env, argv[8], &j->a) < 0 || get_i64(env, argv[9], &j->b) < 0) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, "copySmall(src | null, data | null, size, dest, mode, uid, gid, flags, atimeNs, mtimeNs)");
    return NULL;
  }
  j->mode = mode;
  j->uid = uid;
  j->gid = gid;
  j->flags = flags;
  if (c_string(env, argv[3], &j->path, NULL) < 0) {
    job_free(j);
    return NULL;
  }
  if (t0 != napi_null) {
    if (c_string(env, argv[0], &j->src, NULL) < 0) {
      job_free(j);
      return NULL;
    }
  } else {
    bool is;
    void *data;
    size_t len;
    if (napi_is_buffer(env, argv[1], &is) != napi_ok || !is || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len < (size_t)j->size) {
      job_free(j);
      napi_throw_type_error(env, NULL, "copySmall: data is not a Buffer of `size` bytes");
      return NULL;
    }
    /* the caller's bytes, kept alive (not copied) until the call completes */
    if (napi_create_reference(env, argv[1], 1, &j->data_ref) != napi_ok) {
      job_free(j);
      napi_throw_error(env, NULL, "clfsload_native: cannot hold the data");
      return NULL;
    }
    j->data = data;
  }
  return start(env, j);
}

static napi_value js_copy_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  uint32_t count;
  int32_t uid, gid, flags;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job_t *j = new_job(OP_COPY_BATCH);
  static const char *usage = "copyBatch(srcDir, destDir, names, count, out, maxSize, uid, gid, flags)";
  if (j == NULL || argc < 9 || napi_get_value_uint32(env, argv[3], &count) != napi_ok || get_i64(env, argv[5], &j->size) < 0 || j->size < 0 ||
      napi_get_value_int32(env, argv[6], &uid) != napi_ok || napi_get_value_int32(env, argv[7], &gid) != napi_ok || napi_get_value_int32(env, argv[8], &flags) != napi_ok) {
    if (j != NULL) job_free(j);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  j->count = count;
  j->uid = uid;
  j->gid = gid;
  j->flags = flags;
  if (c_string(env, argv[0], &j->src, NULL) < 0 || c_string(env, argv[1], &j->path, NULL) < 0) {
    job_free(j);
    return NULL;
  }
  /* names: `count` NUL-terminated names, back to back */
  bool is;
  void *data;
  size_t len;
  if (napi_is_buffer(env, argv[2], &is) != napi_ok || !is || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    job_free(j);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  size_t seen = 0;
  for (size_t off = 0; off < len; off++)
    if (((char *)data)[off] == 0) seen++;
  if (seen != count || len == 0 || ((char *)data)[len - 1] != 0) {
    job_free(j);
    napi_throw_type_error(env, NULL, "copyBatch: names must be `count` NUL-terminated names");
    return NULL;
  }
  napi_typedarray_type type;
  size_t elems;
  void *out;
  napi_value ab;
  size_t byte_offset;
  if (napi_is_typedarray(env, argv[4], &is) != napi_ok || !is || napi_get_typedarray_info(env, argv[4], &type, &elems, &out, &ab, &byte_offset) != napi_ok || type != napi_bigint64_array ||
      elems < (size_t)count * BATCH_FIELDS) {
    job_free(j);
    napi_throw_type_error(env, NULL, "copyBatch: out must be a BigInt64Array of count * 8");
    return NULL;
  }
  /* both kept alive (not copied) until the call completes */
  if (napi_create_reference(env, argv[2], 1, &j->data_ref) != napi_ok || napi_create_reference(env, argv[4], 1, &j->out_ref) != napi_ok) {
    job_free(j);
    napi_throw_error(env, NULL, "clfsload_native: cannot hold the arguments");
    return NULL;
  }
  j->data = data;
  j->ext = out;
  memset(out, 0, (size_t)count * BATCH_FIELDS * sizeof(int64_t));
  return start(env, j);
}

/*
 * SCHED_BATCH for the calling thread (the folder target's reader threads): woken by a message, it
 * no longer preempts the thread that sent it, which keeps its core until its time slice ends. The
 * nice value is unchanged (src/targets/thread-policy.ts).
 */
static napi_value js_batch_thread(napi_env env, napi_callback_info info) {
  (void)info;
  int ok = 0;
#ifdef SCHED_BATCH
  struct sched_param param;
  memset(&param, 0, sizeof param);
  ok = sched_setscheduler(0, SCHED_BATCH, &param) == 0;
#endif
  napi_value v;
  CHECK(napi_get_boolean(env, ok, &v));
  return v;
}

/*
 * An LZ4 block of a small input, as liblz4's LZ4_compress_generic makes it for the first block of
 * the reference's linked LZ4F stream: a 4,096-entry table of 32-bit positions, the 5-byte hash,
 * acceleration 1, limited output. The TypeScript version in src/codec/lz4-block.ts is the
 * specification (checked against python-lz4 byte for byte) and the fallback when this addon is
 * not built; test/codec/lz4-native.test.ts holds the two to the same bytes. One table per thread
 * (the encode workers compress side by side), zeroed for each block.
 */
#define LZ4S_HASH_LOG 12
#define LZ4S_MIN_MATCH 4
#define LZ4S_MF_LIMIT 12
#define LZ4S_LAST_LITERALS 5
#define LZ4S_SKIP_TRIGGER 6
#define LZ4S_MAX_DISTANCE 65535
#define LZ4S_LIMIT (65536 + LZ4S_MF_LIMIT - 1)

static _Thread_local uint32_t lz4s_table[1 << LZ4S_HASH_LOG];

static inline uint32_t lz4s_read32(const uint8_t *b, size_t i) {
  return (uint32_t)b[i] | ((uint32_t)b[i + 1] << 8) | ((uint32_t)b[i + 2] << 16) | ((uint32_t)b[i + 3] << 24);
}

/* liblz4's LZ4_hash5 on a little-endian 64-bit machine: of the 8 bytes it reads, the shift keeps 5 */
static inline uint32_t lz4s_hash5(const uint8_t *b, size_t i) {
  uint64_t v = (uint64_t)lz4s_read32(b, i) | ((uint64_t)b[i + 4] << 32);
  return (uint32_t)(((v << 24) * 889523592379ULL) >> (64 - LZ4S_HASH_LOG));
}

static size_t lz4s_compress(const uint8_t *src, size_t n, uint8_t *dst, size_t capacity) {
  uint32_t *table = lz4s_table;
  const size_t olimit = capacity;
  size_t op = 0, anchor = 0, ip = 0, match = 0;
  if (n >= LZ4S_MF_LIMIT + 1) {
    const size_t mflimit_plus_one = n - LZ4S_MF_LIMIT + 1;
    const size_t match_limit = n - LZ4S_LAST_LITERALS;
    memset(table, 0, sizeof lz4s_table);
    table[lz4s_hash5(src, 0)] = 0;
    ip = 1;
    uint32_t forward_h = lz4s_hash5(src, ip);
    for (;;) {
      size_t forward_ip = ip;
      unsigned step = 1;
      unsigned search_match_nb = 1u << LZ4S_SKIP_TRIGGER;
      for (;;) {
        uint32_t h = forward_h;
        size_t current = forward_ip;
        size_t match_index = table[h];
        ip = forward_ip;
        forward_ip += step;
        step = search_match_nb++ >> LZ4S_SKIP_TRIGGER;
        if (forward_ip > mflimit_plus_one) goto last_literals;
        match = match_index;
        forward_h = lz4s_hash5(src, forward_ip);
        table[h] = (uint32_t)current;
        if (match_index + LZ4S_MAX_DISTANCE < current) continue;
        if (lz4s_read32(src, match) == lz4s_read32(src, ip)) break;
      }
      while (ip > anchor && match > 0 && src[ip - 1] == src[match - 1]) {
        ip--;
        match--;
      }
      size_t lit_length = ip - anchor;
      size_t token = op++;
      if (op + lit_length + (2 + 1 + LZ4S_LAST_LITERALS) + lit_length / 255 > olimit) return 0;
      if (lit_length >= 15) {
        size_t len = lit_length - 15;
        dst[token] = 15 << 4;
        for (; len >= 255; len -= 255) dst[op++] = 255;
        dst[op++] = (uint8_t)len;
      } else {
        dst[token] = (uint8_t)(lit_length << 4);
      }
      memcpy(dst + op, src + anchor, lit_length);
      op += lit_length;
      for (;;) {
        size_t distance = ip - match;
        dst[op] = (uint8_t)(distance & 0xff);
        dst[op + 1] = (uint8_t)(distance >> 8);
        op += 2;
        size_t a = ip + LZ4S_MIN_MATCH, b = match + LZ4S_MIN_MATCH;
        while (a < match_limit && src[a] == src[b]) {
          a++;
          b++;
        }
        size_t match_code = a - (ip + LZ4S_MIN_MATCH);
        ip = a;
        if (op + (1 + LZ4S_LAST_LITERALS) + (match_code + 240) / 255 > olimit) return 0;
        if (match_code >= 15) {
          dst[token] = (uint8_t)(dst[token] + 15);
          match_code -= 15;
          for (; match_code >= 255; match_code -= 255) dst[op++] = 255;
          dst[op++] = (uint8_t)match_code;
        } else {
          dst[token] = (uint8_t)(dst[token] + match_code);
        }
        anchor = ip;
        if (ip >= mflimit_plus_one) goto last_literals;
        table[lz4s_hash5(src, ip - 2)] = (uint32_t)(ip - 2);
        uint32_t h = lz4s_hash5(src, ip);
        size_t match_index = table[h];
        match = match_index;
        table[h] = (uint32_t)ip;
        if (match_index + LZ4S_MAX_DISTANCE >= ip && lz4s_read32(src, match) == lz4s_read32(src, ip)) {
          token = op++;
          dst[token] = 0;
          continue;
        }
        break;
      }
      forward_h = lz4s_hash5(src, ++ip);
    }
  }
last_literals:;
  size_t last_run = n - anchor;
  if (op + last_run + 1 + (last_run + 255 - 15) / 255 > olimit) return 0;
  if (last_run >= 15) {
    size_t acc = last_run - 15;
    dst[op++] = 15 << 4;
    for (; acc >= 255; acc -= 255) dst[op++] = 255;
    dst[op++] = (uint8_t)acc;
  } else {
    dst[op++] = (uint8_t)(last_run << 4);
  }
  memcpy(dst + op, src + anchor, last_run);
  op += last_run;
  return op;
}

/* A typed array of `want`'s type: its data and element count; 0 when `v` is anything else. */
static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == want;
}

static int typed_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  return typed_array(env, v, napi_uint8_array, (void **)data, len);
}

static napi_value js_lz4_small_block(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *src, *dst;
  size_t src_len, dst_len;
  int64_t pos, capacity;
  if (argc < 4 || !typed_bytes(env, argv[0], &src, &src_len) || !typed_bytes(env, argv[1], &dst, &dst_len)) {
    napi_throw_type_error(env, NULL, "lz4SmallBlock(src: Uint8Array, dst: Uint8Array, dstPos: number, capacity: number)");
    return NULL;
  }
  if (get_i64(env, argv[2], &pos) != 0 || get_i64(env, argv[3], &capacity) != 0) return NULL;
  if (src_len >= LZ4S_LIMIT || pos < 0 || capacity < 0 || (uint64_t)pos + (uint64_t)capacity > dst_len) {
    napi_throw_range_error(env, NULL, "lz4SmallBlock: src must be under 65,547 bytes and dst[dstPos, dstPos + capacity) inside dst");
    return NULL;
  }
  size_t got = lz4s_compress(src, src_len, dst + pos, (size_t)capacity);
  napi_value v;
  CHECK(napi_create_int64(env, (int64_t)got, &v));
  return v;
}

/*
 * An LZ4 block decoded with every length and offset checked against the input, the output limit
 * and the window, as lz4BlockDecode in src/codec/lz4-block.ts checks them: -1 on the first
 * violation (the caller runs the TypeScript decoder, which names it), never a read or a write
 * outside src[src_start, src_end) or out[window_start, out_limit). Each step consumes input.
 */
static int64_t lz4s_decode(const uint8_t *src, size_t s, size_t src_end, uint8_t *out, size_t window_start, size_t d, size_t out_limit) {
  for (;;) {
    if (s >= src_end) return -1;
    unsigned token = src[s++];
    size_t lit = token >> 4;
    if (lit == 15) {
      unsigned b;
      do {
        if (s >= src_end) return -1;
        b = src[s++];
        lit += b;
      } while (b == 255);
    }
    if (lit > 0) {
      if (lit > src_end - s || lit > out_limit - d) return -1;
      memcpy(out + d, src + s, lit);
      s += lit;
      d += lit;
    }
    if (s == src_end) return (int64_t)d;
    if (src_end - s < 2) return -1;
    size_t offset = (size_t)src[s] | ((size_t)src[s + 1] << 8);
    if (offset == 0 || offset > d - window_start) return -1;
    s += 2;
    size_t len = (token & 15) + LZ4S_MIN_MATCH;
    if ((token & 15) == 15) {
      unsigned b;
      do {
        if (s >= src_end) return -1;
        b = src[s++];
        len += b;
      } while (b == 255);
    }
    if (len > out_limit - d) return -1;
    const uint8_t *m = out + d - offset;
    uint8_t *o = out + d;
    if (offset >= len) {
      memcpy(o, m, len);
    } else {
      /* overlapping: byte by byte repeats the last `offset` bytes, as the format means */
      for (size_t i = 0; i < len; i++) o[i] = m[i];
    }
    d += len;
  }
}

static napi_value js_lz4_block_decode(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *src, *out;
  size_t src_len, out_len;
  if (argc < 7 || !typed_bytes(env, argv[0], &src, &src_len) || !typed_bytes(env, argv[3], &out, &out_len)) {
    napi_throw_type_error(env, NULL, "lz4BlockDecode(src: Uint8Array, srcStart, srcEnd, out: Uint8Array, windowStart, outPos, outLimit)");
    return NULL;
  }
  int64_t v[7];
  for (int i = 1; i < 7; i++) {
    if (i == 3) continue;
    if (get_i64(env, argv[i], &v[i]) != 0) return NULL;
  }
  int64_t src_start = v[1], src_end = v[2], window_start = v[4], out_pos = v[5], out_limit = v[6];
  if (src_start < 0 || src_end < src_start || (uint64_t)src_end > src_len || window_start < 0 || out_pos < window_start || out_limit < out_pos || (uint64_t)out_limit > out_len) {
    napi_throw_range_error(env, NULL, "lz4BlockDecode: ranges outside src or out");
    return NULL;
  }
  int64_t got = lz4s_decode(src, (size_t)src_start, (size_t)src_end, out, (size_t)window_start, (size_t)out_pos, (size_t)out_limit);
  napi_value r;
  CHECK(napi_create_int64(env, got, &r));
  return r;
}

static napi_value js_read_small(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *buf;
  size_t blen;
  void *st_data;
  size_t st_len;
  if (argc < 3 || !typed_bytes(env, argv[1], &buf, &blen) || !typed_array(env, argv[2], napi_float64_array, &st_data, &st_len) || st_len < 4) {
    napi_throw_type_error(env, NULL, "readSmall(path: Buffer, buf: Uint8Array, stat: Float64Array(4))");
    return NULL;
  }
  double *st_out = (double *)st_data;
  char *path;
  if (c_string(env, argv[0], &path, NULL) != 0) return NULL;
  int64_t result;
  /* O_NONBLOCK: a fifo put where the file was must not hang the thread (no effect on a file) */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    result = -errno;
    st_out[3] = 1;
  } else {
    size_t got = 0;
    int statted = 0;
    struct stat st;
    result = 0;
    while (got < blen) {
      ssize_t n = read(fd, buf + got, blen - got);
      if (n < 0) {
        if (errno == EINTR) continue;
        result = -errno;
        st_out[3] = 2;
        break;
      }
      if (n == 0) break;
      got += (size_t)n;
      if (got < blen && !statted) {
        /* a short read that reached the size fstat gives is the end: no read more to see 0
         * (a file that grows after the fstat is the case of one that grows after the read) */
        if (fstat(fd, &st) != 0) {
          result = -errno;
          st_out[3] = 3;
          break;
        }
        statted = 1;
        if ((uint64_t)st.st_size == got) break;
      }
    }
    if (result == 0 && !statted && fstat(fd, &st) != 0) {
      result = -errno;
      st_out[3] = 3;
    }
    if (close(fd) != 0 && result == 0 && errno != EINTR) {
      result = -errno;
      st_out[3] = 4;
    }
    if (result == 0) {
      /* not a regular file any more: a size no read can match, so the caller sees it changed */
      st_out[0] = S_ISREG(st.st_mode) ? (double)st.st_size : -1;
      st_out[1] = (double)st.st_mtim.tv_sec;
      st_out[2] = (double)st.st_mtim.tv_nsec;
      result = (int64_t)got;
    }
  }
  free(path);
  napi_value v;
  CHECK(napi_create_int64(env, result, &v));
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"lseek", NULL, js_lseek, NULL, NULL, NULL, napi_default, NULL},
      {"dataExtents", NULL, js_extents, NULL, NULL, NULL, napi_default, NULL},
      {"futimens", NULL, js_futimens, NULL, NULL, NULL, napi_default, NULL},
      {"utimensat", NULL, js_utimensat, NULL, NULL, NULL, napi_default, NULL},
      {"getXattrs", NULL, js_getxattrs, NULL, NULL, NULL, napi_default, NULL},
      {"setXattrs", NULL, js_setxattrs, NULL, NULL, NULL, napi_default, NULL},
      {"copySmall", NULL, js_copy_small, NULL, NULL, NULL, napi_default, NULL},
      {"copyBatch", NULL, js_copy_batch, NULL, NULL, NULL, napi_default, NULL},
      {"batchThread", NULL, js_batch_thread, NULL, NULL, NULL, napi_default, NULL},
      {"lz4SmallBlock", NULL, js_lz4_small_block, NULL, NULL, NULL, napi_default, NULL},
      {"lz4BlockDecode", NULL, js_lz4_block_decode, NULL, NULL, NULL, napi_default, NULL},
      {"readSmall", NULL, js_read_small, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  napi_value v;
  CHECK(napi_create_int32(env, SEEK_DATA, &v));
  CHECK(napi_set_named_property(env, exports, "SEEK_DATA", v));
  CHECK(napi_create_int32(env, SEEK_HOLE, &v));
  CHECK(napi_set_named_property(env, exports, "SEEK_HOLE", v));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
