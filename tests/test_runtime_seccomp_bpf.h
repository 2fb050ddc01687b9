/*
 * Test helper: a classic-BPF interpreter for seccomp programs, enough for what
 * libseccomp emits (LD|W|ABS, ALU AND/OR/etc. with K, JMP JA/JEQ/JGT/JGE/JSET with K,
 * LD/ST scratch memory, RET|K). Lets unit tests ask "what does this filter answer for
 * (arch, nr, args)" without loading it, so whole tables can be compared.
 */
#pragma once

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BPF_SIM_BAD 0xdeadbeefu

static inline uint32_t bpf_sim(const struct sock_filter *f, size_t n, uint32_t arch, int nr,
                               const uint64_t args[6]) {
  struct seccomp_data d;
  uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = {0};

  memset(&d, 0, sizeof(d));
  d.nr = nr;
  d.arch = arch;
  for (int i = 0; i < 6; i++)
    d.args[i] = args ? args[i] : 0;
  for (size_t pc = 0; pc < n; pc++) {
    const struct sock_filter *i = &f[pc];
    switch (i->code) {
    case BPF_LD | BPF_W | BPF_ABS:
      if (i->k + 4 > sizeof(d))
        return BPF_SIM_BAD;
      memcpy(&a, (const char *)&d + i->k, 4);
      break;
    case BPF_LD | BPF_MEM: a = mem[i->k % BPF_MEMWORDS]; break;
    case BPF_LDX | BPF_MEM: x = mem[i->k % BPF_MEMWORDS]; break;
    case BPF_ST: mem[i->k % BPF_MEMWORDS] = a; break;
    case BPF_STX: mem[i->k % BPF_MEMWORDS] = x; break;
    case BPF_LD | BPF_IMM: a = i->k; break;
    case BPF_ALU | BPF_AND | BPF_K: a &= i->k; break;
    case BPF_ALU | BPF_OR | BPF_K: a |= i->k; break;
    case BPF_ALU | BPF_ADD | BPF_K: a += i->k; break;
    case BPF_ALU | BPF_SUB | BPF_K: a -= i->k; break;
    case BPF_MISC | BPF_TAX: x = a; break;
    case BPF_MISC | BPF_TXA: a = x; break;
    case BPF_JMP | BPF_JA: pc += i->k; break;
    case BPF_JMP | BPF_JEQ | BPF_K: pc += (a == i->k) ? i->jt : i->jf; break;
    case BPF_JMP | BPF_JGT | BPF_K: pc += (a > i->k) ? i->jt : i->jf; break;
    case BPF_JMP | BPF_JGE | BPF_K: pc += (a >= i->k) ? i->jt : i->jf; break;
    case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i->k) ? i->jt : i->jf; break;
    case BPF_RET | BPF_K: return i->k;
    case BPF_RET | BPF_A: return a;
    default: return BPF_SIM_BAD;
    }
  }
  return BPF_SIM_BAD;
}
