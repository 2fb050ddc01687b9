/*
 * libFuzzer harness for the audit file's tail parser (store/audit.c,
 * store_audit_file_last_seq): secretd reads the last line of the JSON audit
 * file at start to know which chain records the file lacks. The input is the
 * whole file, placed in a memfd. Invariants: no crash or leak; on success
 * the file is either empty or ends with a newline, and only a partial last
 * line (no newline after it) was cut off; on error nothing was cut.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "store/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("audit-tail", MFD_CLOEXEC);
  if (fd < 0)
    abort();
  if (size && sd_write_all(fd, data, size) < 0)
    abort();
  uint64_t seq = 0;
  int r = store_audit_file_last_seq(fd, &seq);
  struct stat st;
  if (fstat(fd, &st) < 0)
    abort();
  size_t len = (size_t)st.st_size;
  if (len > size)
    abort();
  uint8_t *back = malloc(len ? len : 1);
  if (!back || pread(fd, back, len, 0) != (ssize_t)len || memcmp(back, data, len) != 0)
    abort(); /* what remains is a prefix of the input */
  free(back);
  if (r < 0 && len != size)
    abort(); /* an error cuts nothing */
  if (r == 0) {
    if (len && data[len - 1] != '\n')
      abort(); /* a complete last line remains */
    if (memchr(data + len, '\n', size - len))
      abort(); /* only a partial line (no newline in it) was cut */
    if (len == 0 && seq != 0)
      abort();
  }
  close(fd);
  return 0;
}
