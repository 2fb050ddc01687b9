/*
 * Frames: a 4-byte big-endian payload length, then exactly one msgpack
 * value. The one framing for admin (Unix socket) and agent (TLS) traffic.
 *
 * The reader never allocates more than the declared length, refuses length 0
 * and lengths over its maximum as soon as the header is in, and wipes every
 * payload buffer when the frame is consumed or the reader freed, because
 * frames carry secret values.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Large enough for the largest secret (500 KiB) with its envelope. */
#define WIRE_MAX_FRAME ((1u << 20) + (64u << 10))
#define WIRE_HEADER_BYTES 4

struct wire_reader;

/* New reader for frames of at most max_frame bytes (0: WIRE_MAX_FRAME).
 * Returns 0 or -ENOMEM. */
int wire_reader_new(size_t max_frame, struct wire_reader **ret);
/* Wipes and frees any partial or complete frame. NULL ok. */
void wire_reader_free(struct wire_reader *r);

/*
 * Feed up to n bytes. *ret_used tells how many were taken (less than n once a
 * frame is complete: call again with the rest after wire_reader_consume()).
 * Returns 1 when a complete frame is ready (see wire_reader_frame), 0 when
 * more bytes are needed, SD_E_PROTO for a length of 0 or over the maximum
 * (the stream cannot be resynchronised: close it), -ENOMEM.
 */
int wire_reader_feed(struct wire_reader *r, const uint8_t *p, size_t n, size_t *ret_used);
/* The complete frame's payload; valid until wire_reader_consume(). */
void wire_reader_frame(const struct wire_reader *r, const uint8_t **ret_p, size_t *ret_len);
/* Wipe and release the complete frame; the reader then waits for the next. */
void wire_reader_consume(struct wire_reader *r);
/* The length declared by the header of the frame being read (0: none yet). */
size_t wire_reader_pending(const struct wire_reader *r);

/* Write the header for a payload of len bytes. */
static inline void wire_frame_header(uint32_t len, uint8_t out[WIRE_HEADER_BYTES]) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}
