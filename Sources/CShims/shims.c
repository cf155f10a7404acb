#define _GNU_SOURCE
#include "CShims.h"
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>

static volatile sig_atomic_t signal_count = 0;
static volatile sig_atomic_t signal_last = 0;

static volatile sig_atomic_t wakeup_fd = -1;

static void on_signal(int sig) {
    signal_last = sig;
    signal_count = signal_count + 1;
    int fd = wakeup_fd;
    if (fd >= 0) shutdown(fd, SHUT_RDWR);  /* async-signal-safe */
}

void rpa_set_wakeup_fd(int fd) { wakeup_fd = fd; }

int rpa_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int rpa_pidfd_send_signal(int fd, int sig) { return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0); }

int rpa_set_child_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int rpa_is_child_subreaper(void) {
    int on = 0;
    if (prctl(PR_GET_CHILD_SUBREAPER, &on, 0, 0, 0) != 0) return 0;
    return on != 0;
}

void rpa_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int rpa_signal_count(void) { return (int)signal_count; }
int rpa_signal_last(void) { return (int)signal_last; }

static int spawn_impl(int search, const char *path, char *const argv[], char *const envp[],
                      int fd_in, int fd_out, int fd_err, pid_t *pid_out) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc;
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0) return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) { posix_spawn_file_actions_destroy(&fa); return rc; }

    int fds[3] = { fd_in, fd_out, fd_err };
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) posix_spawn_file_actions_adddup2(&fa, fds[i], i);
        else posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    }
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &empty);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    rc = search ? posix_spawnp(pid_out, path, &fa, &attr, argv, envp)
                : posix_spawn(pid_out, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int rpa_spawn(const char *path, char *const argv[], char *const envp[],
              int fd_in, int fd_out, int fd_err, pid_t *pid_out) {
    return spawn_impl(0, path, argv, envp, fd_in, fd_out, fd_err, pid_out);
}

int rpa_spawnp(const char *file, char *const argv[], char *const envp[],
               int fd_in, int fd_out, int fd_err, pid_t *pid_out) {
    return spawn_impl(1, file, argv, envp, fd_in, fd_out, fd_err, pid_out);
}

int rpa_decode_wait_status(int status, int *code) {
    if (WIFEXITED(status)) { *code = WEXITSTATUS(status); return 1; }
    if (WIFSIGNALED(status)) { *code = WTERMSIG(status); return 2; }
    return 0;
}

int rpa_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int rpa_unread_bytes(int fd) {
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0) return -1;
    return n;
}
