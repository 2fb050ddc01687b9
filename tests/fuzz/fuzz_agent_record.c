/*
 * libFuzzer harness for the agent's task record reader (ac_record_parse, agent/core):
 * any bytes as tasks/NAME.json. It must return a record or -EBADMSG/-ENOMEM, never
 * crash, hang or leak; a parsed record must satisfy what the reconciler relies on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ac_record rec;
  if (ac_record_parse((const char *)data, size, &rec) == 0) {
    if (!rec.task_id || !*rec.task_id || !rec.service || rec.exit_code < -1 ||
        rec.exit_code > 255 || (unsigned)rec.restart > LAUNCH_RESTART_ALWAYS)
      abort();
    for (size_t i = 0; i < rec.n_files; i++)
      if (!rec.files[i].secret || !*rec.files[i].target || rec.files[i].mode > 0777)
        abort();
    ac_record_clear(&rec);
  }
  return 0;
}
