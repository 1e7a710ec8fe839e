#!/bin/sh
# counter.sh: counts from 1 to 10 (or to ?to=N, at most 1000), one number a second, then
# exits: status 0, so the session closes with 1000. Each session counts on its own.
#
#   sockhop exec -- ./counter.sh        # then open http://127.0.0.1:8080/?to=5
to=$(printf '%s\n' "$QUERY_STRING" | tr '&' '\n' | sed -n 's/^to=\([0-9][0-9]*\)$/\1/p' | head -n 1)
to=${to:-10}
[ "$to" -gt 1000 ] && to=1000
i=1
while [ "$i" -le "$to" ]; do
  echo "$i"
  i=$((i + 1))
  sleep "${COUNTER_DELAY:-1}"
done
