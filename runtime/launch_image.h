/*
 * secret-launch --image: turns "--image REF [--store DIR] [--layer-size SIZE]"
 * into "--rootfs DIR" plus the image config's defaults, before the launcher
 * parses its options. Part of the secret-launch TOOL only (it links image/);
 * the runtime library knows nothing of images.
 */
#pragma once

/* If argv holds --image, resolve it in the store and replace *argc and *argv with
 * a new vector (never freed: it lives as long as the process):
 *   argv[0] --rootfs MERGED [--env K=V (image Env not set by the user)...]
 *   [--user UID:GID] [--workdir DIR] <the user's options> -- ENTRYPOINT... CMD...
 * where a command after "--" replaces the image's Cmd (Docker's rule) and
 * MERGED is an overlay of the stored rootfs (read-only lower layer) and a
 * writable layer on a size-limited tmpfs of this launch's own, mounted in a
 * private mount namespace of the launcher. The image is marked in use (a
 * flock'ed marker in the store that gc respects) until the process exits.
 * Returns 0 (also when there is no --image) or -1 after printing one line.
 */
int launch_image_args(int *argc, char ***argv);
