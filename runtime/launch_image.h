/*
 * secret-launch --image: turns "--image REF [--store DIR]" into "--rootfs DIR"
 * plus the image config's defaults, before the launcher parses its options.
 * Part of the secret-launch TOOL only (it links image/); the runtime library
 * knows nothing of images.
 */
#pragma once

/* If argv holds --image, resolve it in the store and replace *argc and *argv with
 * a new vector (never freed: it lives as long as the process):
 *   argv[0] [run] --rootfs STORED [--env K=V (image Env not set by the user)...]
 *   [--user UID:GID] [--workdir DIR] <the user's options> -- ENTRYPOINT... CMD...
 * where a command after "--" replaces the image's Cmd (Docker's rule) and
 * STORED is the image's rootfs in the store, which the launcher's per-container
 * layer (runtime/rootfs_layer.h) never writes; with --userns it is covered, in a
 * private mount namespace of the launcher, by an idmapped mount with the
 * container's maps. --rootfs and --rootfs-writable are refused with --image.
 * The image is marked in use (a flock'ed marker in the store that gc respects)
 * while this process or a fork of it (a detached container's supervisor) runs.
 * Returns 0 (also when there is no --image) or -1 after printing one line.
 */
int launch_image_args(int *argc, char ***argv);

/* In a detached container's supervisor, after it closed every inherited fd:
 * take the image's use marker again (shared flock) for the supervisor's life.
 * No-op without --image. */
void launch_image_after_close(void);
