#!/bin/sh
# Smallest persistent-mode handler: one long-lived process (where a real one keeps a logged-in
# browser), one JSON request line in, one JSON answer line out. A real handler would parse the
# request with a JSON library; this one just answers ok with its own pid.
while IFS= read -r request; do
  printf '{"status":"ok","output":"handled by %s"}\n' "$$"
done
