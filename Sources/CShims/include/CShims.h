#ifndef RPA_CSHIMS_H
#define RPA_CSHIMS_H
#include <sys/types.h>
#include <signal.h>

/// prctl is variadic, so Swift cannot call it directly. Makes this process the reaper of its
/// orphaned descendants, so a handler's browser processes stay visible (and killable) after the
/// handler itself exits.
int rpa_set_child_subreaper(void);
/// 1 when this process is a child subreaper (its children that are not workers are orphans).
int rpa_is_child_subreaper(void);

/// Installs TERM/INT/HUP handlers that only count what arrived (SA_RESTART), unblocks those
/// signals (Foundation.Process children start with them blocked, and may inherit SIG_IGN), and
/// ignores SIGPIPE so a handler that closes stdin early cannot kill the worker.
void rpa_install_signal_handlers(void);
/// How many TERM/INT/HUP signals arrived so far.
int rpa_signal_count(void);
/// The last of them.
int rpa_signal_last(void);

/// posix_spawn `path` with `argv`/`envp` in a new process group, with an empty signal mask and
/// default dispositions, fds 0/1/2 taken from `fd_in`/`fd_out`/`fd_err` (-1 = /dev/null) and
/// every other descriptor closed. Returns 0 or an errno value.
int rpa_spawn(const char *path, char *const argv[], char *const envp[],
              int fd_in, int fd_out, int fd_err, pid_t *pid_out);
/// The same, searching PATH (from `envp`'s caller environment) for `file`.
int rpa_spawnp(const char *file, char *const argv[], char *const envp[],
               int fd_in, int fd_out, int fd_err, pid_t *pid_out);

/// pipe2(fds, O_CLOEXEC): pipe2 needs _GNU_SOURCE, which Swift's Glibc import lacks.
int rpa_pipe_cloexec(int fds[2]);

/// pidfd_open(2): a descriptor that polls readable when `pid` exits (-1 where unsupported).
int rpa_pidfd_open(pid_t pid);
/// pidfd_send_signal(2) (Linux >= 5.1): signals the process `fd` refers to; once that process has
/// been reaped it fails with ESRCH, whoever holds its pid now. 0 or -1 (errno set).
int rpa_pidfd_send_signal(int fd, int sig);

/// The Redis socket to shut down when TERM/INT/HUP arrives while the worker is idle in BLMOVE,
/// so it wakes in milliseconds instead of at the end of the blocking timeout (-1 = none).
void rpa_set_wakeup_fd(int fd);

/// Decoded wait status: returns 1 and sets *code when exited normally, 2 and sets *code to the
/// signal when killed, 0 otherwise.
int rpa_decode_wait_status(int status, int *code);

/// Bytes written to a pipe and not yet read by the other side (FIONREAD works on either end of
/// a Linux pipe), or -1. Tells whether a handler that died had read the job line sent to it.
int rpa_unread_bytes(int fd);

#endif
