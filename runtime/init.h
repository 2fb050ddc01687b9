/*
 * --init: a minimal init that stays PID 1 of the container. It runs launcher code but
 * only after every setup step (uid, capabilities, no_new_privs, seccomp) has been
 * applied to it, it is made non-dumpable (no ptrace or /proc/1/{mem,exe,fd} access
 * for the container's processes, which lack CAP_SYS_PTRACE), and it holds no fd but
 * 0, 1, 2 (and the error pipe, close-on-exec, which it closes after the fork).
 */
#pragma once

/*
 * Child, as the very last step: fork the command (which resets its signal mask and
 * execs path), then loop: reap every exited child (orphans included), forward every
 * catchable signal it receives to the command, and exit with the command's status
 * (128+N when it died of signal N) once the command has exited. If the exec fails,
 * the command child writes errno to err_fd and exits 127 (ENOENT) or 126.
 * Never returns.
 */
_Noreturn void rt_init_run(const char *path, char *const argv[], char *const envp[], int err_fd);
