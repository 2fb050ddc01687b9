/*
 * Fuzz image/scan_ignore's parser: no crash; a refusal says why and leaves
 * nothing; every accepted entry has an id, a 10-byte date, a reason, and
 * expires after 1970; applying the entries to a finding keeps counts sane.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/scan_ignore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct scan_ignore ig = {0};
  struct img_err err = {0};
  if (scan_ignore_parse((const char *)data, size, &ig, &err) < 0) {
    if (ig.n || ig.entries || !err.msg[0])
      abort();
    return 0;
  }
  for (size_t i = 0; i < ig.n; i++) {
    const struct scan_ignore_entry *e = &ig.entries[i];
    if (!e->issue[0] || strlen(e->date) != 10 || !e->reason[0] || e->expires <= 0)
      abort();
  }
  struct dpkg_pkg p = {.name = "pkg"};
  struct scan_finding f = {.pkg = &p, .entry = {.issue = ig.n ? ig.entries[0].issue : "X"}};
  struct scan_result r = {.findings = &f, .n = 1};
  size_t hidden = scan_ignore_apply(&ig, &r, 0);
  if (hidden + r.n != 1)
    abort();
  scan_ignore_clear(&ig);
  return 0;
}
