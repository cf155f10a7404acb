/* The floor for scripts/bench: a plain C loop over hiredis doing what a worker must do per job at
 * the least (BLMOVE into a processing list, LPUSH a result, LREM the job), so the worker's figures
 * can be printed as a ratio to it. Usage: bench-floor PORT QUEUE CLIENTS; exits when the queue
 * stays empty for 1 s. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run(int port, const char *queue, int id) {
    redisContext *c = redisConnect("127.0.0.1", port);
    if (!c || c->err) { fprintf(stderr, "bench-floor: cannot connect\n"); return 1; }
    char processing[256], results[256];
    snprintf(processing, sizeof processing, "%s:processing:floor-%d", queue, id);
    snprintf(results, sizeof results, "%s:results", queue);
    for (;;) {
        redisReply *r = redisCommand(c, "BLMOVE %s %s RIGHT LEFT 1", queue, processing);
        if (!r) return 1;
        if (r->type != REDIS_REPLY_STRING) { freeReplyObject(r); return 0; }
        redisReply *p = redisCommand(c, "LPUSH %s %b", results, r->str, (size_t)r->len);
        freeReplyObject(p);
        p = redisCommand(c, "LREM %s 1 %b", processing, r->str, (size_t)r->len);
        freeReplyObject(p);
        freeReplyObject(r);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: bench-floor PORT QUEUE CLIENTS\n"); return 64; }
    int port = atoi(argv[1]), clients = atoi(argv[3]);
    for (int i = 0; i < clients; i++) if (fork() == 0) return run(port, argv[2], i);
    int status, failed = 0;
    while (wait(&status) > 0) if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
    return failed;
}
