/*
 * Docker's device allow-list: the v1 rule strings and the equivalent cgroup v2 device
 * program, written as raw BPF instructions (no libbpf, no compiler at run time).
 */
#include "runtime/cgroup_devices.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"

const char *const rt_cgroup_devices_v1_allow[] = {
    "c *:* m", "b *:* m",                                   /* mknod of anything */
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", /* null zero full random urandom */
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm",                  /* tty console ptmx */
    "c 136:* rwm",                                          /* pts */
};
const size_t rt_cgroup_devices_v1_allow_n = ARRAY_SIZE(rt_cgroup_devices_v1_allow);

/* Minimal instruction builders (the kernel's own macros are not in the uapi). */
#define LDX_W(dst, src, o) \
  ((struct bpf_insn){.code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = dst, .src_reg = src, .off = o})
#define MOV_X(dst, src) \
  ((struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = dst, .src_reg = src})
#define MOV_K(dst, k) ((struct bpf_insn){.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = dst, .imm = k})
#define RSH_K(dst, k) ((struct bpf_insn){.code = BPF_ALU64 | BPF_RSH | BPF_K, .dst_reg = dst, .imm = k})
#define AND_K(dst, k) ((struct bpf_insn){.code = BPF_ALU64 | BPF_AND | BPF_K, .dst_reg = dst, .imm = k})
#define JEQ_K(dst, k, o) \
  ((struct bpf_insn){.code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = dst, .off = o, .imm = k})
#define JNE_K(dst, k, o) \
  ((struct bpf_insn){.code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = dst, .off = o, .imm = k})
#define JA(o) ((struct bpf_insn){.code = BPF_JMP | BPF_JA, .off = o})
#define EXIT() ((struct bpf_insn){.code = BPF_JMP | BPF_EXIT})

/* struct bpf_cgroup_dev_ctx { u32 access_type (access << 16 | type); u32 major; u32 minor; }
 * Jump offsets are relative to the next instruction; DENY is insn 20, ALLOW insn 22. */
static const struct bpf_insn devices_prog[] = {
    /*  0 */ LDX_W(BPF_REG_2, BPF_REG_1, 0),
    /*  1 */ LDX_W(BPF_REG_3, BPF_REG_1, 4),
    /*  2 */ LDX_W(BPF_REG_4, BPF_REG_1, 8),
    /*  3 */ MOV_X(BPF_REG_5, BPF_REG_2),
    /*  4 */ RSH_K(BPF_REG_5, 16),                       /* r5 = access */
    /*  5 */ AND_K(BPF_REG_2, 0xffff),                   /* r2 = type */
    /*  6 */ JEQ_K(BPF_REG_5, BPF_DEVCG_ACC_MKNOD, 15),  /* mknod only: allow */
    /*  7 */ JNE_K(BPF_REG_2, BPF_DEVCG_DEV_CHAR, 12),   /* not a char device: deny */
    /*  8 */ JEQ_K(BPF_REG_3, 136, 13),                  /* pts */
    /*  9 */ JNE_K(BPF_REG_3, 1, 6),                     /* major 1? else to 16 */
    /* 10 */ JEQ_K(BPF_REG_4, 3, 11),
    /* 11 */ JEQ_K(BPF_REG_4, 5, 10),
    /* 12 */ JEQ_K(BPF_REG_4, 7, 9),
    /* 13 */ JEQ_K(BPF_REG_4, 8, 8),
    /* 14 */ JEQ_K(BPF_REG_4, 9, 7),
    /* 15 */ JA(4),
    /* 16 */ JNE_K(BPF_REG_3, 5, 3),                     /* major 5? else deny */
    /* 17 */ JEQ_K(BPF_REG_4, 0, 4),
    /* 18 */ JEQ_K(BPF_REG_4, 1, 3),
    /* 19 */ JEQ_K(BPF_REG_4, 2, 2),
    /* 20 */ MOV_K(BPF_REG_0, 0),                        /* DENY */
    /* 21 */ EXIT(),
    /* 22 */ MOV_K(BPF_REG_0, 1),                        /* ALLOW */
    /* 23 */ EXIT(),
};

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int rt_cgroup_devices_bpf_attach(int cgroup_fd) {
  _cleanup_close_ int prog = -1;
  union bpf_attr attr;

  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)devices_prog;
  attr.insn_cnt = ARRAY_SIZE(devices_prog);
  attr.license = (uint64_t)(uintptr_t)"Apache-2.0";
  prog = (int)sys_bpf(BPF_PROG_LOAD, &attr);
  if (prog < 0)
    return -errno;

  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cgroup_fd;
  attr.attach_bpf_fd = (uint32_t)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0)
    return -errno;
  return 0;
}
