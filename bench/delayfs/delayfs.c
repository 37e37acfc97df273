/*
 * delayfs: a FUSE passthrough that sleeps a fixed time in every file-system operation, so that
 * every copy tool in the copy benchmark pays the same per-operation cost (1 ms: a client-to-cache
 * round trip). Built by bench/copy-bench.ts against Debian's libfuse3-dev:
 *
 *   cc -O2 -Wall delayfs.c $(pkg-config fuse3 --cflags --libs) -o delayfs
 *   delayfs --root=/under --delay-us=1000 /mnt/point -o max_threads=256,allow_other
 *
 * No xattr operations: the kernel then treats ACLs and xattrs as unsupported, which every tool
 * handles quietly (passing them on made cp -a fail on ACLs).
 *
 * One delay per kernel request (see delay_first below: libfuse's high-level API answers a CREATE,
 * MKDIR or SETATTR with two or more calls, which were each delayed before, so a create cost two
 * round trips and 5-op files showed as 7).
 *
 * Requests counted in a shared counter, printed to the file named by --stats (on SIGUSR1 and at
 * unmount): the total on the first line, then one line per operation and the follow-up calls
 * that were not delayed, so the bench can report each tool's operations per file.
 *
 * Threads: libfuse's multi-threaded loop, up to max_threads (the bench gives 256) in flight.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct options {
  const char *root;
  int delay_us;
  const char *stats;
} opt = { NULL, 1000, NULL };

#define OPTION(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt option_spec[] = {
  OPTION("--root=%s", root), OPTION("--delay-us=%d", delay_us), OPTION("--stats=%s", stats), FUSE_OPT_END,
};

static atomic_long ops;

/* per operation, for the stats file's second line on (which calls a tool makes) */
enum { K_GETATTR, K_ACCESS, K_READLINK, K_READDIR, K_MKNOD, K_MKDIR, K_UNLINK, K_RMDIR, K_SYMLINK, K_RENAME, K_LINK,
       K_CHMOD, K_CHOWN, K_TRUNCATE, K_UTIMENS, K_CREATE, K_OPEN, K_READ, K_WRITE, K_STATFS, K_RELEASE, K_FSYNC, K_LSEEK,
       K_OPENDIR, K_RELEASEDIR, K_COUNT };
static const char *op_names[K_COUNT] = { "getattr", "access", "readlink", "readdir", "mknod", "mkdir", "unlink", "rmdir",
  "symlink", "rename", "link", "chmod", "chown", "truncate", "utimens", "create", "open", "read", "write", "statfs",
  "release", "fsync", "lseek", "opendir", "releasedir" };
static atomic_long op_count[K_COUNT];

/*
 * One delay per kernel request. libfuse's high-level API answers one request with several of
 * these calls: a CREATE, MKDIR, MKNOD, SYMLINK or LINK with the operation and then a getattr for
 * the reply's attributes; a SETATTR with chmod, chown, truncate and utimens as asked and then a
 * getattr. Charged per call, a create would cost two round trips (NFS answers a CREATE with the
 * attributes in one). So a call that libfuse makes after another of the same request, in the
 * same thread, is counted as a follow-up and not delayed.
 */
static atomic_long followups;
static __thread int in_request;

static void pause_op(int which) {
  atomic_fetch_add(&op_count[which], 1);
  atomic_fetch_add(&ops, 1);
  if (opt.delay_us > 0) {
    struct timespec ts = { opt.delay_us / 1000000, (long)(opt.delay_us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
  }
}
/* a request of its own */
static void delay_op(int which) { in_request = 0; pause_op(which); }
/* a call that may follow another of its request (the set-attribute family) */
static void delay_first(int which) {
  if (in_request) atomic_fetch_add(&followups, 1);
  else pause_op(which);
}
/* getattr: a request of its own (LOOKUP, GETATTR) or the end of one */
static void delay_getattr(int which) {
  if (in_request) { in_request = 0; atomic_fetch_add(&followups, 1); }
  else pause_op(which);
}
/* after a call that libfuse follows with a getattr when it succeeds */
static int then_getattr(int r) { in_request = r == 0; return r; }

#define delay() delay_op(OP)
static void full(char *out, const char *path) { snprintf(out, PATH_MAX, "%s%s", opt.root, path); }
#define P(var, path) char var[PATH_MAX]; full(var, path); delay()

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) { enum { OP = K_GETATTR };
  if (fi != NULL) { delay_getattr(OP); return fstat(fi->fh, st) == -1 ? -errno : 0; }
  char p[PATH_MAX]; full(p, path); delay_getattr(OP); return lstat(p, st) == -1 ? -errno : 0;
}
static int fs_access(const char *path, int mask) { enum { OP = K_ACCESS }; P(p, path); return access(p, mask) == -1 ? -errno : 0; }
static int fs_readlink(const char *path, char *buf, size_t size) { enum { OP = K_READLINK };
  P(p, path); ssize_t n = readlink(p, buf, size - 1); if (n == -1) return -errno; buf[n] = 0; return 0;
}
static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off, struct fuse_file_info *fi, enum fuse_readdir_flags flags) { enum { OP = K_READDIR };
  (void)off; (void)fi; (void)flags;
  P(p, path);
  DIR *d = opendir(p); if (d == NULL) return -errno;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    struct stat st; memset(&st, 0, sizeof st); st.st_ino = e->d_ino; st.st_mode = (mode_t)(DTTOIF(e->d_type));
    if (filler(buf, e->d_name, &st, 0, 0)) break;
  }
  closedir(d); return 0;
}
static int err(int r) { return r == -1 ? -errno : 0; }
static int fs_mknod(const char *path, mode_t mode, dev_t rdev) { enum { OP = K_MKNOD };
  P(p, path); return then_getattr(err(S_ISFIFO(mode) ? mkfifo(p, mode) : mknod(p, mode, rdev)));
}
static int fs_mkdir(const char *path, mode_t mode) { enum { OP = K_MKDIR }; P(p, path); return then_getattr(err(mkdir(p, mode))); }
static int fs_unlink(const char *path) { enum { OP = K_UNLINK }; P(p, path); return err(unlink(p)); }
static int fs_rmdir(const char *path) { enum { OP = K_RMDIR }; P(p, path); return err(rmdir(p)); }
static int fs_symlink(const char *from, const char *to) { enum { OP = K_SYMLINK }; P(p, to); return then_getattr(err(symlink(from, p))); }
static int fs_rename(const char *from, const char *to, unsigned int flags) { enum { OP = K_RENAME };
  if (flags) return -EINVAL;
  char a[PATH_MAX], b[PATH_MAX]; full(a, from); full(b, to); delay();
  return err(rename(a, b));
}
static int fs_link(const char *from, const char *to) { enum { OP = K_LINK };
  char a[PATH_MAX], b[PATH_MAX]; full(a, from); full(b, to); delay();
  return then_getattr(err(link(a, b)));
}
/* the set-attribute family: one SETATTR request may call several of these, then getattr */
static int fs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) { enum { OP = K_CHMOD };
  delay_first(OP);
  if (fi != NULL) return then_getattr(err(fchmod(fi->fh, mode)));
  char p[PATH_MAX]; full(p, path); return then_getattr(err(chmod(p, mode)));
}
static int fs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) { enum { OP = K_CHOWN };
  delay_first(OP);
  if (fi != NULL) return then_getattr(err(fchown(fi->fh, uid, gid)));
  char p[PATH_MAX]; full(p, path); return then_getattr(err(lchown(p, uid, gid)));
}
static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi) { enum { OP = K_TRUNCATE };
  delay_first(OP);
  if (fi != NULL) return then_getattr(err(ftruncate(fi->fh, size)));
  char p[PATH_MAX]; full(p, path); return then_getattr(err(truncate(p, size)));
}
static int fs_utimens(const char *path, const struct timespec ts[2], struct fuse_file_info *fi) { enum { OP = K_UTIMENS };
  delay_first(OP);
  if (fi != NULL) return then_getattr(err(futimens(fi->fh, ts)));
  char p[PATH_MAX]; full(p, path); return then_getattr(err(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW)));
}
static int fs_create(const char *path, mode_t mode, struct fuse_file_info *fi) { enum { OP = K_CREATE };
  P(p, path); int fd = open(p, fi->flags, mode); if (fd == -1) return -errno; fi->fh = fd; return then_getattr(0);
}
static int fs_open(const char *path, struct fuse_file_info *fi) { enum { OP = K_OPEN };
  P(p, path); int fd = open(p, fi->flags); if (fd == -1) return -errno; fi->fh = fd; return 0;
}
static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) { enum { OP = K_READ };
  (void)path; delay(); ssize_t n = pread(fi->fh, buf, size, off); return n == -1 ? -errno : (int)n;
}
static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) { enum { OP = K_WRITE };
  (void)path; delay(); ssize_t n = pwrite(fi->fh, buf, size, off); return n == -1 ? -errno : (int)n;
}
static int fs_statfs(const char *path, struct statvfs *st) { enum { OP = K_STATFS }; P(p, path); return statvfs(p, st) == -1 ? -errno : 0; }
static int fs_release(const char *path, struct fuse_file_info *fi) { enum { OP = K_RELEASE }; (void)path; delay(); close(fi->fh); return 0; }
static int fs_flush(const char *path, struct fuse_file_info *fi) { (void)path; (void)fi; return 0; }
static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi) { enum { OP = K_FSYNC };
  (void)path; delay(); return (datasync ? fdatasync(fi->fh) : fsync(fi->fh)) == -1 ? -errno : 0;
}
static off_t fs_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi) { enum { OP = K_LSEEK };
  (void)path; delay(); off_t r = lseek(fi->fh, off, whence); return r == -1 ? -errno : r;
}
static void write_stats(void) {
  if (opt.stats == NULL) return;
  char tmp[PATH_MAX]; snprintf(tmp, sizeof tmp, "%s.tmp", opt.stats);
  FILE *f = fopen(tmp, "w"); if (f == NULL) return;
  fprintf(f, "%ld\n", atomic_load(&ops));
  for (int i = 0; i < K_COUNT; i++) fprintf(f, "%s %ld\n", op_names[i], atomic_load(&op_count[i]));
  fprintf(f, "followups %ld\n", atomic_load(&followups));
  fclose(f); rename(tmp, opt.stats);
}
static void on_usr1(int sig) { (void)sig; write_stats(); }

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->use_ino = 1;
  // as NFS with its default attribute cache would: a second per entry and attribute
  cfg->entry_timeout = 1; cfg->attr_timeout = 1; cfg->negative_timeout = 0;
  return NULL;
}
static void fs_destroy(void *data) { (void)data; write_stats(); }

static const struct fuse_operations ops_table = {
  .init = fs_init, .destroy = fs_destroy, .getattr = fs_getattr, .access = fs_access, .readlink = fs_readlink,
  .readdir = fs_readdir, .mknod = fs_mknod, .mkdir = fs_mkdir, .symlink = fs_symlink, .unlink = fs_unlink,
  .rmdir = fs_rmdir, .rename = fs_rename, .link = fs_link, .chmod = fs_chmod, .chown = fs_chown,
  .truncate = fs_truncate, .utimens = fs_utimens, .open = fs_open, .create = fs_create, .read = fs_read,
  .write = fs_write, .statfs = fs_statfs, .release = fs_release, .flush = fs_flush, .fsync = fs_fsync,
  .lseek = fs_lseek,
};

int main(int argc, char *argv[]) {
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  if (fuse_opt_parse(&args, &opt, option_spec, NULL) == -1) return 1;
  if (opt.root == NULL) { fprintf(stderr, "delayfs: --root=DIR is required\n"); return 1; }
  char *real = realpath(opt.root, NULL);
  if (real == NULL) { perror(opt.root); return 1; }
  opt.root = real;
  signal(SIGUSR1, on_usr1);
  umask(0);
  int r = fuse_main(args.argc, args.argv, &ops_table, NULL);
  fuse_opt_free_args(&args);
  return r;
}
