/*
 * Where and at what cost a benchmark figure was measured: the file system a
 * directory lives on, and CPU time of this process and of a server process.
 * Used by every C program in bench/ so that each printed figure names its file
 * system and the CPU it cost on both sides. Header only states contracts;
 * measure.c has the code. No logging; errors are negative errno.
 */
#pragma once

#include <stdio.h>
#include <sys/types.h>

struct bench_fs {
  unsigned long magic;  /* statfs(2) f_type */
  char magic_name[24];  /* "ext2/3/4", "tmpfs", ... or "unknown" */
  char type[64];        /* fstype from /proc/self/mountinfo, "?" if not found */
  char source[512];     /* mount source (device), "?" if not found */
  char mountpoint[1024]; /* "?" if not found */
};

/* Fill *ret for the file system holding path (which must exist). The mount is
 * the /proc/self/mountinfo entry with path's st_dev whose mount point is the
 * longest prefix of realpath(path) (any device when no entry has that st_dev,
 * e.g. btrfs subvolumes). Returns 0, or -errno from realpath/stat/statfs;
 * a missing mountinfo entry is not an error (fields are "?"). */
int bench_fs_of(const char *path, struct bench_fs *ret);

/* Parse one line of /proc/self/mountinfo (NUL-terminated): device numbers,
 * mount point and source with octal escapes undone, fstype. Fields longer
 * than the buffers are cut. Returns 0 or -EINVAL (not a mountinfo line). */
int bench_mountinfo_line(const char *line, unsigned *ret_major, unsigned *ret_minor,
                         char ret_mountpoint[1024], char ret_type[64], char ret_source[512]);

/* Print "fs: ext4 (statfs 0xef53 ext2/3/4), /dev/vda mounted at /" for path,
 * followed by a newline, prefixed by `prefix`. Returns 0 or -errno. */
int bench_fs_print(FILE *f, const char *prefix, const char *path);

/* User + system CPU seconds of this process so far (all threads). */
double bench_cpu_self(void);

/* User + system CPU seconds of process pid so far (all threads, from
 * /proc/PID/stat). Returns 0 with *ret_s set, -ESRCH (gone), -EPROTO
 * (unparsable), -errno. */
int bench_cpu_pid(pid_t pid, double *ret_s);
