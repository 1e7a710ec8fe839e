#!/bin/sh
# chat.sh: a chat room over stdio. Every line a client sends is appended to one shared
# file, and every session follows that file: one process per session, and the file is
# the room. Appends of short lines (O_APPEND, under PIPE_BUF) do not interleave.
#
#   sockhop exec -passenv PATH,CHAT_LOG -- ./chat.sh   # open http://127.0.0.1:8080/ in two tabs
log=${CHAT_LOG:-${TMPDIR:-/tmp}/sockhop-chat.log}
touch "$log" || exit 1
name="guest-$(printf '%s' "$SOCKHOP_SESSION" | tr -cd 'A-Za-z0-9' | cut -c1-4)"
echo "you are $name"
size=$(wc -c <"$log")
tail -c "+$((size + 1))" -f "$log" & # from here on, however late tail gets going
follower=$!
trap 'kill "$follower" 2>/dev/null' EXIT
echo "$name joined" >>"$log"
while IFS= read -r line; do
  printf '%s: %.500s\n' "$name" "$line" >>"$log"
done
echo "$name left" >>"$log"
