#!/bin/sh
# Demo exec-mode handler: reads the job payload on stdin, "works" for 0.2-0.5 s (where a real
# robot would drive a browser), and prints one JSON line, which becomes the result's output.
payload=$(cat)
sleep "0.$(( $(od -An -N1 -tu1 /dev/urandom) % 4 + 2 ))"
printf '{"queue":"%s","attempt":%s,"job":"%s","pid":%s}\n' "$JOB_QUEUE" "$JOB_ATTEMPT" "$payload" "$$"
