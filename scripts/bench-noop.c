/* The cheapest persistent-mode handler, for scripts/bench: one request line in, one answer out.
   Measures the worker's own cost per job (the issue-8 table's "C no-op handler"). */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') continue;  /* the rest of a long line comes next */
        fputs("{\"status\":\"ok\"}\n", stdout);
        fflush(stdout);
    }
    return 0;
}
