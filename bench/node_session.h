/*
 * What the benches that play agents share (listen_load, deliver_load): a
 * node's TLS client context from a joined state directory, and a process's
 * resident memory.
 */
#pragma once

#include <stdbool.h>

struct wire_tls_ctx;

/* A client context with the node certificate, key and cluster root that
 * `secret-agent join` wrote to dir (node.crt, node.key, ca.crt; DER). The key
 * bytes are wiped once parsed. NULL when a file is missing or does not parse. */
struct wire_tls_ctx *bench_node_tls_ctx(const char *dir);

/* Process pid's VmRSS in KiB, or with anon its RssAnon part (the heap, not
 * the mapped file pages); -1 when it cannot be read. */
long bench_rss_kib(int pid, bool anon);
