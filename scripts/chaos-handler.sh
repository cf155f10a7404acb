#!/bin/sh
# Chaos handler: records that it ran (for counting re-executions), works 0-50 ms, echoes the payload.
payload=$(cat)
printf '%s\n' "$payload" >> "$CHAOS_DIR/executions"
sleep "0.0$(( $(od -An -N1 -tu1 /dev/urandom) % 5 ))$(( $(od -An -N1 -tu1 /dev/urandom) % 10 ))"
printf '%s' "$payload"
