/*
 * Frames: a 4-byte big-endian payload length, then exactly one msgpack
 * value. The one framing for admin (Unix socket) and agent (TLS) traffic,
 * and the first thing an unauthenticated network peer reaches: bytes in,
 * frames out, no transport and no clock inside.
 *
 * Memory is spent only as bytes arrive, never on a peer's word: the header
 * alone allocates nothing; the payload buffer starts at WIRE_READER_CHUNK
 * bytes (or the declared length, if smaller) and doubles as bytes arrive, up
 * to the declared length. A peer holding a frame half-sent therefore holds
 * at most twice what it sent. Payload buffers are secret memory (secbuf:
 * locked, never dumped, wiped when the frame is consumed or the reader
 * freed), because frames carry secret values.
 *
 * Across readers, an optional budget (struct wire_budget) caps the bytes held
 * by incomplete frames. When a reader must grow past the cap, the readers
 * that have gone longest without receiving a byte of their frame are evicted
 * first (their partial frame is wiped and dropped, their owner told to close
 * the stream); if the cap still cannot be met the growing reader itself
 * fails with -ENOBUFS. Timeouts (idle peers, frames sent too slowly) are the
 * session's (wire/session.h); wire_reader_in_frame() tells it when a frame
 * is under way.
 *
 * Not thread-safe: a budget and its readers belong to one thread (one loop).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Large enough for the largest secret (500 KiB) with its envelope. */
#define WIRE_MAX_FRAME ((1u << 20) + (64u << 10))
#define WIRE_HEADER_BYTES 4
/* The first payload allocation of a frame larger than this. */
#define WIRE_READER_CHUNK 4096u
/* Default cap on the bytes of incomplete frames across a budget's readers. */
#define WIRE_BUDGET_DEFAULT (64u << 20)

struct wire_reader;
struct wire_budget;

/* New budget of cap bytes (0: WIRE_BUDGET_DEFAULT). Returns 0 or -ENOMEM. */
int wire_budget_new(size_t cap, struct wire_budget **ret);
/* Free a budget; every reader using it must have been freed (or moved off
 * with wire_reader_set_budget(r, NULL, ...)) first. NULL ok. */
void wire_budget_free(struct wire_budget *b);
/* Bytes held now by incomplete (and complete, unconsumed) frames. */
size_t wire_budget_used(const struct wire_budget *b);
/* Readers evicted so far. */
uint64_t wire_budget_evictions(const struct wire_budget *b);

/* Called when r is evicted to make room for another reader: r's partial
 * frame is already wiped and released and every later feed returns -ENOBUFS.
 * The owner should close r's stream; it may free r (and its owner) inside
 * the callback: r is never the reader being fed. */
typedef void (*wire_evict_fn)(struct wire_reader *r, void *ud);

/* New reader for frames of at most max_frame bytes (0: WIRE_MAX_FRAME).
 * Returns 0 or -ENOMEM. */
int wire_reader_new(size_t max_frame, struct wire_reader **ret);
/* Wipes and frees any partial or complete frame; leaves its budget. NULL ok. */
void wire_reader_free(struct wire_reader *r);
/* Account r's payload bytes to budget b (NULL: none), with the eviction
 * callback. Call before the first feed. */
void wire_reader_set_budget(struct wire_reader *r, struct wire_budget *b, wire_evict_fn on_evict,
                            void *ud);

/*
 * Feed up to n bytes. *ret_used tells how many were taken (less than n once a
 * frame is complete: call again with the rest after wire_reader_consume()).
 * Returns 1 when a complete frame is ready (see wire_reader_frame), 0 when
 * more bytes are needed, SD_E_PROTO for a length of 0 or over the maximum
 * (the stream cannot be resynchronised: close it), -ENOBUFS when the budget
 * cannot hold this frame (or the reader was evicted): close it, -ENOMEM.
 */
int wire_reader_feed(struct wire_reader *r, const uint8_t *p, size_t n, size_t *ret_used);
/* The complete frame's payload; valid until wire_reader_consume(). */
void wire_reader_frame(const struct wire_reader *r, const uint8_t **ret_p, size_t *ret_len);
/* Wipe and release the complete frame; the reader then waits for the next. */
void wire_reader_consume(struct wire_reader *r);
/* The length declared by the header of the frame being read (0: none yet). */
size_t wire_reader_pending(const struct wire_reader *r);
/* Payload bytes received of the frame being read. */
size_t wire_reader_received(const struct wire_reader *r);
/* Bytes of payload buffer held now (what the budget counts for r). */
size_t wire_reader_held(const struct wire_reader *r);
/* True from the first header byte of a frame until it is complete. */
bool wire_reader_in_frame(const struct wire_reader *r);

/* Write the header for a payload of len bytes. */
static inline void wire_frame_header(uint32_t len, uint8_t out[WIRE_HEADER_BYTES]) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}
